"""prepare@<corpus>: parse, filter and transpose the raw pieces.

Writes pieces.jsonl, rejected.csv and meta.json to --out and the counts to --metrics.
"""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.config.load import build, section
from tunesmith.config.stages import PrepareConfig
from tunesmith.pipeline.common import parser, run
from tunesmith.pipeline.prepare import prepare_stage


def main(args, params: dict) -> None:
    key = f"prepare.{args.corpus}"
    prepare_stage(args.corpus, args.raw, args.out, args.metrics, build(PrepareConfig, section(params, key), key))


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--raw", type=Path, required=True, help="the fetch stage's folder")
    p.add_argument("--out", type=Path, required=True, help="prepared folder to write")
    p.add_argument("--metrics", type=Path, required=True, help="counts (JSON); the timing goes to the log")
    run(main, p.parse_args())
