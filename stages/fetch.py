"""fetch@<corpus>: raw pieces (one per file) + manifest.csv + rejected.csv in --out."""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.config.load import build, section
from tunesmith.config.stages import FetchConfig
from tunesmith.pipeline.common import parser, run
from tunesmith.pipeline.fetch import fetch_stage


def main(args, params: dict) -> None:
    key = f"fetch.{args.corpus}"
    fetch_stage(args.corpus, build(FetchConfig, section(params, key), key), args.out, cache_dir=args.cache, key=key)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--out", type=Path, required=True, help="raw folder to write, e.g. data/raw/essen")
    p.add_argument("--cache", type=Path, default=Path(".cache/downloads"),
                   help="where downloads are kept between runs (resumable)")
    run(main, p.parse_args())
