"""Training speed: ours vs seed 002's set-up, same model size, same data, same machine.

- ours: integer ids, an embedding, non-overlapping windows, every position predicts
  its next token (``target: all``);
- seed 002: one-hot inputs (built in the graph here, so memory does not decide the
  race; see bench_train_memory.py for that), sliding windows of stride 1, only the
  token after each window is predicted (``target: last``).

Both train for the same wall-clock budget; every ``--eval-every`` seconds the
validation NLL is measured the same way for both (the next token after full
``--window``-token contexts at fixed positions). Prints, per set-up, target tokens
per second, the final validation NLL and the time to reach ``--target-nll``.

    python bench/bench_train_speed.py --vocab-dir data/vocab/essen --seconds 120 --target-nll 1.3
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

    from tunesmith.dataset import load_split, make_windows
    from tunesmith.models import ModelConfig, build_model
    from tunesmith.training import _last_step_model  # the exact wrapper train() uses for target 'last'

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
    args = p.parse_args()

    from tunesmith.dataset import load_split

    val = np.asarray(load_split(args.vocab_dir, "validation"))
    rng = np.random.default_rng(0)
    positions = np.sort(rng.choice(np.arange(args.window, len(val)), size=min(args.val_positions,
                                                                                len(val) - args.window),
                                   replace=False))
    common = dict(vocab_dir=args.vocab_dir, window=args.window, batch=args.batch, units=args.units,
                  seconds=args.seconds, eval_every=args.eval_every, val_positions=positions, seed=0)
    results = [
        run("ours (ids, embedding, every position)", target="all", embedding_dim=32, **common),
        run("seed 002 (one-hot, stride 1, last only)", target="last", embedding_dim=0, **common),
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
