"""bl_evaluate@<benchmark>: Kneser-Ney order chosen on validation, then test NLL per frame (full context),
per token and frame accuracy of every model, scored once; samples as piano rolls and MIDI."""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from bl_common import benchmark_config, parser
from tunesmith.core import io
from tunesmith.pipeline.common import run


def main(args, params: dict) -> None:
    from tunesmith.benchmark.pipeline import evaluate

    cfg = benchmark_config(params, args.benchmark)
    metrics = evaluate(args.benchmark, args.encoded, args.lstm, args.frame_lstm, cfg, args.out)
    io.write_json(args.metrics, {k: v for k, v in metrics.items() if k != "samples"})


if __name__ == "__main__":
    p = parser(__doc__)
    for name, what in (("encoded", "the bl_encode folder"), ("lstm", "the token LSTM's folder"),
                       ("frame-lstm", "the frame-wise LSTM's folder"), ("out", "folder to write (samples)"),
                       ("metrics", "metrics JSON to write")):
        p.add_argument(f"--{name}", type=Path, required=True, help=what)
    run(main, p.parse_args())
