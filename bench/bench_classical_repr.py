"""Classical track: chord tokens (Lorinczi & Brailovsky) vs notes per frame (Walder 2016) and its variants,
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
Any frame representation (``notes``, ``onsets``, ``metered``) sums its tokens per frame, whichever
of its frame ends closes the frame. ``--seed`` trains one seed into ``<representation>-s<seed>``,
and each representation's splits are written to ``encoded-<representation>/`` for
``bench/bench_form.py --encoded``. Representations with onsets (``60`` struck, ``60~`` held) are also
scored with each pitch's two classes counted as one (``log(p("60") + p("60~"))``, printed below the
table): what they say about which pitches sound, the question the ones without marks answer.

Usage::

    python bench/bench_classical_repr.py --prepared data/prepared/classical --out /tmp/classical_repr
    python bench/bench_classical_repr.py --prepared data/prepared/classical --out /tmp/crepr \
        --representations metered --seed 1 --threads 1
    python bench/bench_form.py classical --model /tmp/crepr/metered-s1 --encoded /tmp/crepr/encoded-metered
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def run(representation: str, pieces: list[dict], params: dict, out: Path, epochs: int | None,
        reuse: bool = False, seed: int | None = None) -> dict:
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
    encoded = out / f"encoded-{representation}"  # for bench/bench_form.py --encoded
    encoded.mkdir(parents=True, exist_ok=True)
    for split, rows in by_split.items():
        (encoded / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train_pieces = [p["symbols"] for p in by_split["train"]]
    val_pieces = [p["symbols"] for p in by_split["validation"]]
    from tunesmith.tracks.piano.track import FRAMES

    notes = representation in FRAMES
    min_count = 1 if notes else section(params, "vocab.classical")["min_count"]
    vocab = build_vocab(train_pieces, end="<end>", min_count=min_count,
                        always=FRAMES[representation][0].SYMBOLS if notes else (),
                        meta={"corpus": "classical", "representation": FRAMES.get(representation, (0, "pianoroll"))[1],
                              "prepare": section(params, "prepare.classical"),
                              "encode": {"representation": representation}})
    train_ids, val_ids = vocab.corpus_ids(train_pieces), vocab.corpus_ids(val_pieces)

    data = dict(section(params, "train.classical"))
    model_cfg = build(ModelConfig, data.pop("model", {}), "train.classical.model")
    data.pop("cache", None)  # fitted after training by the train stage; this bench compares the LSTMs alone
    if epochs:
        data["epochs"] = epochs
    if seed is not None:
        data["seed"] = seed
    folder = out / (representation if seed is None else f"{representation}-s{seed}")
    train_cfg = build(TrainConfig, data, "train.classical")
    start = time.perf_counter()
    if reuse and (folder / "model.keras").is_file():
        summary = json.loads((folder / "metrics.json").read_text())
    else:
        summary = train(model_cfg, train_cfg, vocab.to_json(), train_ids, val_ids, folder)
    seconds = time.perf_counter() - start

    from tunesmith.training.bundle import load_model_bundle

    model, _, _, _ = load_model_bundle(folder)
    full = any_length_model(model, model_cfg, len(vocab))
    scores = score_pieces(lambda x: full.predict_on_batch(x), val_ids, vocab.end_id, len(vocab))
    targets = val_ids[1:]
    extra: dict = {}
    if notes:
        ends = [vocab.index[s] for s in vocab.symbols if s.startswith(npf.FRAME_END)]
        targets_as_plain = np.where(np.isin(targets, ends), ends[0], targets)
        per_frame = frame_nll(scores.nll, targets_as_plain, ends[0], vocab.end_id)
        unk_share = 0.0
        held = [k for k, s in enumerate(vocab.symbols) if s.endswith("~")]
        if held:  # onsets: the same frames with each pitch's struck/held mark summed out, comparable with
            # representations that have no marks (the model still reads the true marks of the frames before)
            marks = marks_summed_nll(full, val_ids, vocab, held)
            extra["val_nll_per_frame_marks_summed"] = float(frame_nll(marks, targets_as_plain, ends[0],
                                                                      vocab.end_id).mean())
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
    return {"representation": representation, "seed": seed, "val_nll_per_known_frame": float(per_frame[known].mean()),
            "vocab": len(vocab), "train_tokens": int(train_ids.size),
            "val_frames": int(per_frame.size), "val_nll_per_frame": float(per_frame.mean()),
            "val_nll_per_token": scores.mean_nll, "val_unk_frame_share": unk_share,
            "best_epoch": summary["best_epoch"], "epochs_run": summary["epochs_run"],
            "train_seconds": round(seconds, 1), **extra}


def marks_summed_nll(full, ids: np.ndarray, vocab, held: list[int]) -> np.ndarray:
    """NLL of each target of ``ids`` (``ids[1:]``) with full context, a pitch's struck and held
    classes counted as one (``log(p("60") + p("60~"))``): what a model of onsets says about which
    pitches sound, the question representations without marks answer."""
    from tunesmith.core.numeric import log_softmax
    from tunesmith.data.pieces import piece_spans

    struck = np.array([vocab.index[vocab.symbols[k][:-1]] for k in held])
    fold = np.arange(len(vocab))
    fold[held] = struck
    out = np.zeros(ids.size - 1)
    for a, b in piece_spans(ids, vocab.end_id):
        logp = log_softmax(np.asarray(full.predict_on_batch(ids[None, a:b].astype(np.int32)))[0])
        logp[:, struck] = np.logaddexp(logp[:, struck], logp[:, held])
        targets = fold[ids[a + 1:b + 1]]
        out[a:b] = -logp[np.arange(b - a), targets]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prepared", type=Path, required=True, help="the prepare stage's classical folder")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--out", type=Path, required=True, help="scratch folder for the two models")
    p.add_argument("--epochs", type=int, default=None, help="override train.classical.epochs")
    p.add_argument("--representations", nargs="+", default=["chords", "notes"])
    p.add_argument("--reuse", action="store_true", help="score the models already in --out, no training")
    p.add_argument("--seed", type=int, default=None, help="train.classical.seed (folders <representation>-s<seed>)")
    p.add_argument("--threads", type=int, default=None, help="TensorFlow threads (1: one seed per core)")
    args = p.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from tunesmith.config.load import load_params

    params = load_params(args.params)
    with open(args.prepared / "pieces.jsonl", encoding="utf-8") as fh:
        pieces = [json.loads(line) for line in fh]
    rows = [run(r, pieces, params, args.out, args.epochs, args.reuse, args.seed) for r in args.representations]
    print("| representation | vocabulary | train tokens | validation NLL per frame | ... on in-vocabulary chords "
          "| per token | <unk> frames | best epoch / run | train time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['representation']} | {r['vocab']} | {r['train_tokens']} | {r['val_nll_per_frame']:.3f} | "
              f"{r['val_nll_per_known_frame']:.3f} | "
              f"{r['val_nll_per_token']:.3f} | {r['val_unk_frame_share']:.1%} | {r['best_epoch']} / "
              f"{r['epochs_run']} | {r['train_seconds'] / 60:.1f} min |")
        if "val_nll_per_frame_marks_summed" in r:
            print(f"  {r['representation']}: validation NLL per frame with struck/held marks summed out "
                  f"{r['val_nll_per_frame_marks_summed']:.3f}")
    name = "summary.json" if args.seed is None else f"summary-s{args.seed}.json"
    (args.out / name).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
