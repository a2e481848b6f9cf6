"""train@<corpus>: fit the model on the vocab stage's token ids.

Writes model.keras, vocab.json, config.json and metrics.json to --out (resuming from
--checkpoints after an interruption, or retraining nothing when they hold the finished run) and
DVCLive logs to --live. --checkpoints lies outside the stage's outputs, which DVC deletes before a
run: so the outputs need no ``persist`` and DVC's run-cache can restore them on another machine.
"""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.config.load import section
from tunesmith.pipeline.common import fix_threads, parser, run, shared_checkpoints


def main(args, params: dict) -> None:
    fix_threads(getattr(args, "threads", None))  # stage functions' tests call main with fewer options
    from tunesmith.pipeline.train import train_stage

    checkpoints = shared_checkpoints(getattr(args, "checkpoints", None))
    train_stage(args.corpus, section(params, f"train.{args.corpus}"), args.vocab, args.out,
                live_dir=args.live, metrics=args.metrics, checkpoints=checkpoints)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--vocab", type=Path, required=True, help="the vocab stage's folder")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--live", type=Path, required=True, help="DVCLive folder (loss curves)")
    p.add_argument("--metrics", type=Path, required=True, help="summary metrics (JSON)")
    p.add_argument("--checkpoints", type=Path, default=None,
                   help="resumable checkpoints (default: --out/checkpoints); keep it outside DVC's outputs")
    p.add_argument("--threads", type=int, default=None, choices=range(1, 1025), metavar="N",
                   help="TensorFlow threads (repro.threads; default: TensorFlow's own, one per core)")
    run(main, p.parse_args())
