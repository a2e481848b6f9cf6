"""generate@<corpus>: sample new music from the trained model.

Writes sample_NNN.{mid,abc,musicxml} and samples.csv (seed, sampler, temperature,
primer, length, decoded) to --out.
"""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.pipeline.common import parser, run


def main(args, params: dict) -> None:
    from tunesmith.pipeline.generate import generate_stage

    generate_stage(args.corpus, params, args.model, args.out, test_pieces=args.test)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--model", type=Path, required=True, help="the train stage's folder")
    p.add_argument("--test", type=Path, required=True, help="encoded test pieces (for primer mode 'test')")
    p.add_argument("--out", type=Path, required=True, help="samples folder to write")
    run(main, p.parse_args())
