"""evaluate@<corpus>: test-split metrics beside n-gram baselines, musical statistics of
the samples beside real held-out pieces, playability and novelty; plots.

Writes --metrics (JSON, a DVC metric), --out/histograms.json and the PNG plots in --out.
"""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.config.load import build, section
from tunesmith.config.stages import EvaluateConfig
from tunesmith.core import io
from tunesmith.pipeline.common import parser, run


def main(args, params: dict) -> None:
    from tunesmith.pipeline.evaluate import evaluate_stage, headline

    key = f"evaluate.{args.corpus}"
    cfg = build(EvaluateConfig, section(params, key), key)
    with io.atomic_path(args.out) as tmp:
        tmp.mkdir()
        metrics, histograms = evaluate_stage(args.corpus, model_dir=args.model, vocab_dir=args.vocab,
                                             encoded_dir=args.encoded, samples_dir=args.samples,
                                             live_dir=args.live, cfg=cfg, plots_dir=tmp)
        io.write_json(tmp / "histograms.json", histograms)
        io.write_json(tmp / "evaluate.json", metrics)  # the whole record: the report reads it
    io.write_json(args.metrics, headline(metrics))


if __name__ == "__main__":
    p = parser(__doc__)
    for name, what in (("model", "the train stage's folder"), ("vocab", "the vocab stage's folder"),
                       ("encoded", "the encode stage's folder"), ("samples", "the generate stage's folder"),
                       ("live", "the DVCLive folder of training"), ("out", "plots folder to write"),
                       ("metrics", "metrics JSON to write")):
        p.add_argument(f"--{name}", type=Path, required=True, help=what)
    run(main, p.parse_args())
