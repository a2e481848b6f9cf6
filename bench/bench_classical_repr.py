"""Classical track: chord tokens (Lorinczi & Brailovsky's Lorinczi & Brailovsky) vs notes per frame (Walder 2016),
compared by validation NLL per FRAME with full context.

Both runs read the same prepared pieces (``data/prepared/classical``, the prepare stage's output),
split them with the same ``encode.classical`` seed, and train the ``train.classical`` model with
the same settings; only the representation differs. A chord token is one frame, so its NLL per
token is its NLL per frame; notes per frame sums the tokens of each frame
(:func:`tunesmith.evaluation.full_context.frame_nll`). Frames whose chord is ``<unk>`` are scored with the
``<unk>`` class's probability, which flatters chord tokens (the class stands for every unseen
chord at once): the share of such frames is printed beside, and both representations are also
scored on the frames whose chord is in the chord vocabulary only (the same frames: both encode
frame ``k`` of a piece as its ``k``-th frame). ``--reuse`` scores models already trained in ``--out``.

Usage::

    python bench/bench_classical_repr.py --prepared data/prepared/classical --out /tmp/classical_repr
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def run(representation: str, pieces: list[dict], params: dict, out: Path, epochs: int | None,
        reuse: bool = False) -> dict:
    from tunesmith.config.load import build, section
    from tunesmith.config.model import ModelConfig
    from tunesmith.config.stages import EncodeConfig
    from tunesmith.config.train import TrainConfig
    from tunesmith.data.encode import encode_corpus
    from tunesmith.data.vocab import build_vocab
    from tunesmith.evaluation.full_context import frame_nll, score_pieces
    from tunesmith.modeling.models import any_length_model
    from tunesmith.tracks.piano import notes_per_frame as npf
    from tunesmith.training.loop import train

    enc = dict(section(params, "encode.classical"), representation=representation)
    cfg = build(EncodeConfig, enc, "encode.classical")
    by_split, _, _ = encode_corpus("classical", pieces, cfg)
    train_pieces = [p["symbols"] for p in by_split["train"]]
    val_pieces = [p["symbols"] for p in by_split["validation"]]
    notes = representation == "notes"
    min_count = 1 if notes else section(params, "vocab.classical")["min_count"]
    vocab = build_vocab(train_pieces, end="<end>", min_count=min_count, always=npf.SYMBOLS if notes else (),
                        meta={"corpus": "classical", "encode": {"representation": representation}})
    train_ids, val_ids = vocab.corpus_ids(train_pieces), vocab.corpus_ids(val_pieces)

    data = dict(section(params, "train.classical"))
    model_cfg = build(ModelConfig, data.pop("model", {}), "train.classical.model")
    data.pop("cache", None)  # fitted after training by the train stage; this bench compares the LSTMs alone
    if epochs:
        data["epochs"] = epochs
    train_cfg = build(TrainConfig, data, "train.classical")
    start = time.perf_counter()
    if reuse and (out / representation / "model.keras").is_file():
        summary = json.loads((out / representation / "metrics.json").read_text())
    else:
        summary = train(model_cfg, train_cfg, vocab.to_json(), train_ids, val_ids, out / representation)
    seconds = time.perf_counter() - start

    from tunesmith.training.bundle import load_model_bundle

    model, _, _, _ = load_model_bundle(out / representation)
    full = any_length_model(model, model_cfg, len(vocab))
    scores = score_pieces(lambda x: full.predict_on_batch(x), val_ids, vocab.end_id, len(vocab))
    targets = val_ids[1:]
    if notes:
        per_frame = frame_nll(scores.nll, targets, vocab.index[npf.FRAME_END], vocab.end_id)
        unk_share = 0.0
    else:
        per_frame = scores.nll[targets != vocab.end_id]
        unk_share = float(np.mean(targets[targets != vocab.end_id] == vocab.unk_id))
    # which validation frames have an in-vocabulary chord (computed from the chord encoding)
    chord_cfg = build(EncodeConfig, dict(enc, representation="chords"), "encode.classical")
    chords, _, _ = encode_corpus("classical", pieces, chord_cfg)
    chord_vocab = build_vocab([p["symbols"] for p in chords["train"]], end="<end>",
                              min_count=section(params, "vocab.classical")["min_count"])
    known = np.array([s in chord_vocab.index for p in chords["validation"] for s in p["symbols"]])
    if known.size != per_frame.size:
        raise RuntimeError(f"frame counts differ: {known.size} chord frames, {per_frame.size} scored frames")
    return {"representation": representation, "val_nll_per_known_frame": float(per_frame[known].mean()),
            "vocab": len(vocab), "train_tokens": int(train_ids.size),
            "val_frames": int(per_frame.size), "val_nll_per_frame": float(per_frame.mean()),
            "val_nll_per_token": scores.mean_nll, "val_unk_frame_share": unk_share,
            "best_epoch": summary["best_epoch"], "epochs_run": summary["epochs_run"],
            "train_seconds": round(seconds, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prepared", type=Path, required=True, help="the prepare stage's classical folder")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--out", type=Path, required=True, help="scratch folder for the two models")
    p.add_argument("--epochs", type=int, default=None, help="override train.classical.epochs")
    p.add_argument("--representations", nargs="+", default=["chords", "notes"])
    p.add_argument("--reuse", action="store_true", help="score the models already in --out, no training")
    args = p.parse_args()

    from tunesmith.config.load import load_params

    params = load_params(args.params)
    with open(args.prepared / "pieces.jsonl", encoding="utf-8") as fh:
        pieces = [json.loads(line) for line in fh]
    rows = [run(r, pieces, params, args.out, args.epochs, args.reuse) for r in args.representations]
    print("| representation | vocabulary | train tokens | validation NLL per frame | ... on in-vocabulary chords "
          "| per token | <unk> frames | best epoch / run | train time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['representation']} | {r['vocab']} | {r['train_tokens']} | {r['val_nll_per_frame']:.3f} | "
              f"{r['val_nll_per_known_frame']:.3f} | "
              f"{r['val_nll_per_token']:.3f} | {r['val_unk_frame_share']:.1%} | {r['best_epoch']} / "
              f"{r['epochs_run']} | {r['train_seconds'] / 60:.1f} min |")
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
