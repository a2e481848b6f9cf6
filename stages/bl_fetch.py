"""bl_fetch@<benchmark>: the published .mat file (checksum-pinned) into --out."""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from bl_common import parser
from tunesmith.core import io
from tunesmith.pipeline.common import run


def main(args, params: dict) -> None:
    from tunesmith.benchmark.data import BenchFetchConfig, fetch_download, fetch_local
    from tunesmith.config.load import build, section

    key = f"fetch.{args.benchmark}"
    cfg = build(BenchFetchConfig, section(params, key), key)
    if cfg.source == "download":
        fetch_download(args.benchmark, args.out, cache_dir=args.cache, mirror=cfg.mirror)
        return
    with io.atomic_path(args.out) as tmp:
        fetch_local(args.benchmark, cfg.local_dir, tmp, check_sha256=cfg.check_sha256)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--out", type=Path, required=True, help="folder to write the .mat file into")
    p.add_argument("--cache", type=Path, default=Path(".cache/downloads/bl"), help="download cache")
    run(main, p.parse_args())
