"""bl_train@<benchmark>: the LSTM over notes per frame (early stopping on validation)."""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from bl_common import benchmark_config, parser
from tunesmith.core import io
from tunesmith.pipeline.common import run


def main(args, params: dict) -> None:
    from tunesmith.benchmark.pipeline import train_frame, train_lstm

    cfg = benchmark_config(params, args.benchmark)
    if args.family == "frame":
        summary = train_frame(args.encoded, cfg, args.out)
    else:
        summary = train_lstm(args.encoded, cfg, args.out, args.live)
    io.write_json(args.metrics, {k: v for k, v in summary.items() if k != "history"})


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--family", choices=["tokens", "frame"], default="tokens",
                   help="tokens: LSTM over notes per frame; frame: frame-wise LSTM with 88 sigmoids")
    p.add_argument("--encoded", type=Path, required=True, help="the bl_encode folder")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--live", type=Path, default=None, help="DVCLive folder (tokens only)")
    p.add_argument("--metrics", type=Path, required=True, help="training summary (JSON)")
    run(main, p.parse_args())
