"""seeds@<corpus> (``make noise``): the ``train.<corpus>`` recipe trained once per seed of
``noise.seeds``, each scored on test like the evaluate stage's headline.

Writes one model folder per seed under --out (resumable) and --metrics (seeds.json: each
seed's figures, their mean, sd and n, and the hash of the params they belong to).
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.config.load import build, section
from tunesmith.config.stages import EvaluateConfig
from tunesmith.pipeline.common import parser, run


def main(args, params: dict) -> None:
    from tunesmith.pipeline.seeds import seeds_stage

    key = f"evaluate.{args.corpus}"
    evaluate = build(EvaluateConfig, section(params, key), key)
    seeds_stage(args.corpus, section(params, f"train.{args.corpus}"), section(params, "noise.seeds"),
                evaluate.ngram_order, args.vocab, args.out, args.metrics)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--vocab", type=Path, required=True, help="the vocab stage's folder")
    p.add_argument("--out", type=Path, required=True, help="folder for the seeds' model folders")
    p.add_argument("--metrics", type=Path, required=True, help="seeds.json to write")
    run(main, p.parse_args())
