"""Training speed: ours vs Vasudeva's set-up, same model size, same data, same machine.

- ours: integer ids, an embedding, non-overlapping windows, every position predicts
  its next token (``target: all``);
- Vasudeva: one-hot inputs (built in the graph here, so memory does not decide the
  race; see bench_train_memory.py for that), sliding windows of stride 1, only the
  token after each window is predicted (``target: last``).

Both train for the same wall-clock budget; every ``--eval-every`` seconds the
validation NLL is measured the same way for both (the next token after full
``--window``-token contexts at fixed positions). Prints, per set-up, target tokens
per second, the final validation NLL and the time to reach ``--target-nll``.

    python bench/bench_train_speed.py --vocab-dir data/vocab/essen --seconds 120 --target-nll 1.3

``--compare context`` instead races the two ways tunesmith trains (``train.<c>.context``),
same model, same optimizer, same batches of ``--window``-token chunks:

- window: shuffled windows, each from a zero state;
- carried: each batch row follows its own stream of whole pieces and the state
  passes from one chunk to the next (truncated BPTT, `dataset.carried_chunks`).

Both are validated the way the pipeline validates and evaluates: every token of
every validation piece with the full context of its piece (`likelihood.score_pieces`).
The clock is the process's CPU time (all cores), so other processes on a shared
machine distort it less than wall time; the table gives both.

    python bench/bench_train_speed.py --compare context --vocab-dir data/vocab/essen --seconds 240
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np


def _val_nll(model, ids: np.ndarray, window: int, positions: np.ndarray, every_position: bool) -> float:
    import tensorflow as tf

    x = np.stack([ids[p - window : p] for p in positions]).astype(np.int32)
    y = ids[positions].astype(np.int64)
    logits = model.predict(x, batch_size=256, verbose=0)
    if every_position:
        logits = logits[:, -1, :]
    logp = tf.nn.log_softmax(logits).numpy()
    return float(-logp[np.arange(len(y)), y].mean())


def run(name: str, *, vocab_dir: Path, window: int, batch: int, units: int, seconds: float, eval_every: float,
        target: str, embedding_dim: int, val_positions: np.ndarray, seed: int) -> dict:
    import keras

    from tunesmith.config.model import ModelConfig
    from tunesmith.data.windows import load_split, make_windows
    from tunesmith.modeling.models import build_model
    from tunesmith.training.fitting import _last_step_model  # the exact wrapper train() uses for target 'last'

    keras.utils.set_random_seed(seed)
    train_ids = np.asarray(load_split(vocab_dir, "train"))
    val_ids = np.asarray(load_split(vocab_dir, "validation"))
    vocab = int(max(train_ids.max(), val_ids.max())) + 1
    cfg = ModelConfig(family="lstm", units=units, layers=1, dropout=0.2, embedding_dim=embedding_dim)
    inner = build_model(cfg, vocab, window=window)
    model = _last_step_model(inner, window, vocab) if target == "last" else inner
    model.compile(optimizer=keras.optimizers.Adam(2e-3, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = make_windows(train_ids, window=window, batch_size=batch, target=target, shuffle=True, seed=seed,
                        drop_remainder=True).repeat()
    it = iter(data)
    targets_per_batch = batch * (window if target == "all" else 1)
    curve: list[tuple[float, float]] = []
    trained = 0.0
    steps = 0
    model.train_on_batch(*next(it))  # trace once, outside the clock
    while trained < seconds:
        start = time.perf_counter()
        while time.perf_counter() - start < eval_every:
            model.train_on_batch(*next(it))
            steps += 1
        trained += time.perf_counter() - start
        curve.append((trained, _val_nll(inner, val_ids, window, val_positions, True)))
        print(f"  {name}: {trained:6.1f} s  val NLL {curve[-1][1]:.4f}", flush=True)
    return {"name": name, "targets_per_s": steps * targets_per_batch / trained, "curve": curve}


def run_context(context: str, *, vocab_dir: Path, window: int, batch: int, units: int, layers: int,
                seconds: float, eval_every: float, lr: float, embedding_dim: int, dropout: float,
                seed: int, transpositions: tuple[int, ...] = ()) -> dict:
    """Train with ``context`` ("window" or "carried") for ``seconds`` of process CPU time."""
    import json

    import keras

    from tunesmith.config.model import ModelConfig
    from tunesmith.data.windows import carried_chunks, load_split, make_windows
    from tunesmith.evaluation.full_context import predictor, score_pieces
    from tunesmith.modeling.models import build_model

    keras.utils.set_random_seed(seed)
    vocab = json.loads((vocab_dir / "vocab.json").read_text())
    symbols = vocab["symbols"]
    end_id, size = symbols.index(vocab["special"]["end"]), len(symbols)
    train_ids = np.asarray(load_split(vocab_dir, "train"))
    val_ids = np.asarray(load_split(vocab_dir, "validation"))
    if transpositions:
        from tunesmith.data.augment import augment_transpositions

        train_ids, _ = augment_transpositions(train_ids, vocab, transpositions)
    cfg = ModelConfig(family="lstm" if layers == 1 else "stacked_lstm", units=units, layers=layers,
                      dropout=dropout, embedding_dim=embedding_dim)
    carried = context == "carried"
    model = build_model(cfg, size, window=window, **({"batch_size": batch, "stateful": True} if carried else {}))
    model.compile(optimizer=keras.optimizers.Adam(lr, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    scorer = build_model(cfg, size, window=None)
    predict = predictor(scorer)

    def batches():
        epoch = 0
        while True:
            if carried:
                for layer in model.layers:
                    if getattr(layer, "stateful", False):
                        layer.reset_state()
                c = carried_chunks(train_ids, end_id, window=window, batch_size=batch, seed=seed + epoch)
                yield from zip(c.x, c.y, c.weight, strict=True)
            else:
                ds = make_windows(train_ids, window=window, batch_size=batch, shuffle=True, seed=seed + epoch,
                                  drop_remainder=True)
                for x, y in ds.as_numpy_iterator():
                    yield x, y, None
            epoch += 1

    it = batches()
    model.train_on_batch(*next(it))  # trace once, outside the clock
    curve: list[tuple[float, float, float]] = []  # (cpu s, wall s, val nll)
    cpu = wall = 0.0
    steps = 0
    while cpu < seconds:
        c0, w0 = time.process_time(), time.perf_counter()
        while time.process_time() - c0 < eval_every:
            x, y, w = next(it)
            model.train_on_batch(x, y, sample_weight=w)
            steps += 1
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        scorer.set_weights(model.get_weights())
        nll = score_pieces(predict, val_ids, end_id, size).mean_nll
        curve.append((cpu, wall, nll))
        print(f"  {context}: {cpu:6.1f} CPU s ({wall:5.1f} s wall), {steps} steps: val NLL {nll:.4f}", flush=True)
    return {"name": context, "targets_per_s": steps * batch * window / wall, "curve": curve, "steps": steps}


def compare_context(args) -> None:
    common = dict(vocab_dir=args.vocab_dir, window=args.window, batch=args.batch, units=args.units,
                  layers=args.layers, seconds=args.seconds, eval_every=args.eval_every, lr=args.lr,
                  embedding_dim=32, dropout=args.dropout, seed=0)
    contexts = args.contexts.split(",")
    results = [] if args.transposed_only else [run_context(c, **common) for c in contexts]
    if args.transpositions:
        shifts = tuple(int(t) for t in args.transpositions.split(","))
        results += [{**run_context(c, **common, transpositions=shifts), "name": f"{c}, transpositions {shifts}"}
                    for c in contexts]
    print(f"\nLSTM {args.layers}x{args.units}, {args.window}-token chunks, batch {args.batch}, Adam {args.lr:g}, "
          f"{args.seconds:.0f} CPU s each, data {args.vocab_dir}; validation NLL with full context (nats/token)")
    quarters = (0.25, 0.5, 0.75, 1.0)
    head = " | ".join(f"val NLL after {q * args.seconds / 60:.1f} CPU min" for q in quarters)
    print(f"| context | steps | tokens/s (wall) | {head} | best val NLL | best per CPU-minute |")
    print("|---|---:|---:|" + "---:|" * len(quarters) + "---:|---:|")
    for r in results:
        # the evaluation that ended closest to each quarter of the budget
        cells = [f"{min(r['curve'], key=lambda p, q=q: abs(p[0] - q * args.seconds))[2]:.4f}" for q in quarters]
        best = min(nll for *_, nll in r["curve"])
        when = next(cpu for cpu, _, nll in r["curve"] if nll == best)
        print(f"| {r['name']} | {r['steps']} | {r['targets_per_s']:,.0f} | {' | '.join(cells)} | {best:.4f} | "
              f"at {when / 60:.1f} CPU min |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab-dir", type=Path, default=Path("data/vocab/essen"))
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--seconds", type=float, default=120.0, help="training budget per set-up")
    p.add_argument("--eval-every", type=float, default=15.0)
    p.add_argument("--target-nll", type=float, default=1.3)
    p.add_argument("--val-positions", type=int, default=2000)
    p.add_argument("--compare", choices=("seed002", "context"), default="seed002",
                   help="seed002: ours vs Vasudeva's set-up; context: carried-state vs fresh-window training")
    p.add_argument("--layers", type=int, default=1, help="--compare context: LSTM layers")
    p.add_argument("--lr", type=float, default=2e-3, help="--compare context: Adam learning rate")
    p.add_argument("--dropout", type=float, default=0.2, help="--compare context: dropout")
    p.add_argument("--contexts", default="window,carried", help="--compare context: which, comma-separated")
    p.add_argument("--transposed-only", action="store_true", help="--compare context: skip the runs without")
    p.add_argument("--transpositions", default="",
                   help="--compare context: also train each context on these shifts too, e.g. -2,-1,1,2")
    args = p.parse_args()
    if args.compare == "context":
        compare_context(args)
        return

    from tunesmith.data.windows import load_split

    val = np.asarray(load_split(args.vocab_dir, "validation"))
    rng = np.random.default_rng(0)
    positions = np.sort(rng.choice(np.arange(args.window, len(val)), size=min(args.val_positions,
                                                                                len(val) - args.window),
                                   replace=False))
    common = dict(vocab_dir=args.vocab_dir, window=args.window, batch=args.batch, units=args.units,
                  seconds=args.seconds, eval_every=args.eval_every, val_positions=positions, seed=0)
    results = [
        run("ours (ids, embedding, every position)", target="all", embedding_dim=32, **common),
        run("Vasudeva (one-hot, stride 1, last only)", target="last", embedding_dim=0, **common),
    ]
    print(f"\nLSTM {args.units}, window {args.window}, batch {args.batch}, {args.seconds:.0f} s each, "
          f"data {args.vocab_dir}")
    print(f"| set-up | target tokens/s | val NLL after {args.seconds:.0f} s | time to val NLL <= {args.target_nll} |")
    print("|---|---:|---:|---:|")
    for r in results:
        reached = next((t for t, nll in r["curve"] if nll <= args.target_nll), math.inf)
        when = f"{reached:.0f} s" if math.isfinite(reached) else f"not within {args.seconds:.0f} s"
        print(f"| {r['name']} | {r['targets_per_s']:,.0f} | {r['curve'][-1][1]:.3f} | {when} |")


if __name__ == "__main__":
    main()
