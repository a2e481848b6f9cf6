"""train@<corpus>: fit the model on the vocab stage's token ids.

Writes model.keras, vocab.json, config.json and metrics.json to --out (resuming from
--out/checkpoints after an interruption) and DVCLive logs to --live.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith import io
from tunesmith.config import build, section
from tunesmith.errors import ArtifactError
from tunesmith.stage import parser, run


def main(args, params: dict) -> None:
    from tunesmith.dataset import load_split
    from tunesmith.models import ModelConfig
    from tunesmith.training import TrainConfig, train

    key = f"train.{args.corpus}"
    data = dict(section(params, key))
    model_cfg = build(ModelConfig, data.pop("model", {}), f"{key}.model")
    train_cfg = build(TrainConfig, data, key)
    vocab = io.read_json(args.vocab / "vocab.json")
    if vocab.get("corpus") not in (None, args.corpus):
        raise ArtifactError(f"{args.vocab / 'vocab.json'} is the {vocab.get('corpus')} vocabulary, "
                            f"not {args.corpus}'s: check --vocab")
    try:
        summary = train(model_cfg, train_cfg, vocab, load_split(args.vocab, "train"),
                        load_split(args.vocab, "validation"), args.out, live_dir=args.live)
    except ArtifactError as exc:
        raise ArtifactError(f"train@{args.corpus}: {exc} ({args.vocab})") from exc
    io.write_json(args.metrics, summary)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--vocab", type=Path, required=True, help="the vocab stage's folder")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--live", type=Path, required=True, help="DVCLive folder (loss curves)")
    p.add_argument("--metrics", type=Path, required=True, help="summary metrics (JSON)")
    run(main, p.parse_args())
