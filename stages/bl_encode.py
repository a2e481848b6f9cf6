"""bl_encode@<benchmark>: the .mat file -> notes-per-frame token ids and piano rolls per split."""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from bl_common import parser
from tunesmith.core import io
from tunesmith.pipeline.common import run


def main(args, params: dict) -> None:
    from tunesmith.benchmark.data import MANIFEST
    from tunesmith.benchmark.pipeline import encode

    stats = encode(args.benchmark, args.raw / MANIFEST[args.benchmark].name, args.out)
    io.write_json(args.metrics, stats)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--raw", type=Path, required=True, help="the bl_fetch folder")
    p.add_argument("--out", type=Path, required=True, help="encoded folder to write")
    p.add_argument("--metrics", type=Path, required=True, help="pieces, frames and tokens per split (JSON)")
    run(main, p.parse_args())
