"""encode@<corpus>: symbols per piece, split by piece into train/validation/test.

Writes {train,validation,test}.jsonl ({"id", "title", "symbols"} per line),
split.csv, rejected.csv and meta.json to --out; counts to --metrics.
"""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.config.load import build, section
from tunesmith.config.stages import EncodeConfig
from tunesmith.pipeline.common import parser, run
from tunesmith.pipeline.encode import encode_stage


def main(args, params: dict) -> None:
    key = f"encode.{args.corpus}"
    encode_stage(args.corpus, args.prepared, args.out, args.metrics, build(EncodeConfig, section(params, key), key))


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--prepared", type=Path, required=True, help="the prepare stage's folder")
    p.add_argument("--out", type=Path, required=True, help="encoded folder to write")
    p.add_argument("--metrics", type=Path, required=True, help="pieces and symbols per split (JSON)")
    run(main, p.parse_args())
