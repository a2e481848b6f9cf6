"""seeds@<corpus> (``make noise``): seeds.json from whatever seeds of ``noise.seeds`` the seed stages
have trained with the current ``train.<corpus>`` recipe.

Reads each --runs/seed-<s>/seed.json, fits the n-gram baselines once and writes --metrics
(seeds.json: each seed's figures, their mean, sd and n, and the hash of the params they belong to).
"""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.config.load import build, section
from tunesmith.config.stages import EvaluateConfig
from tunesmith.pipeline.common import parser, run


def main(args, params: dict) -> None:
    from tunesmith.pipeline.seeds import summary_stage

    key = f"evaluate.{args.corpus}"
    evaluate = build(EvaluateConfig, section(params, key), key)
    summary_stage(args.corpus, section(params, f"train.{args.corpus}"), section(params, "noise.seeds"),
                  evaluate.ngram_order, args.vocab, args.runs, args.metrics)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--vocab", type=Path, required=True, help="the vocab stage's folder")
    p.add_argument("--runs", type=Path, required=True, help="the folder of the seeds' model folders")
    p.add_argument("--metrics", type=Path, required=True, help="seeds.json to write")
    run(main, p.parse_args())
