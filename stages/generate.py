"""generate@<corpus>: sample new music from the trained model.

Writes sample_NNN.{mid,abc,musicxml} and samples.csv (seed, sampler, temperature,
primer, length, decoded) to --out.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.config.load import build, section
from tunesmith.config.stages import GenerateConfig
from tunesmith.pipeline.common import parser, run


def main(args, params: dict) -> None:
    from tunesmith.generation.samples import generate_samples

    key = f"generate.{args.corpus}"
    cfg = build(GenerateConfig, section(params, key), key)
    generate_samples(args.corpus, args.model, cfg, args.out, test_pieces=args.test)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--model", type=Path, required=True, help="the train stage's folder")
    p.add_argument("--test", type=Path, required=True, help="encoded test pieces (for primer mode 'test')")
    p.add_argument("--out", type=Path, required=True, help="samples folder to write")
    run(main, p.parse_args())
