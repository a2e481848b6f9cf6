"""Training speed of the benchmark's token LSTM by size: tokens per second for 256 / 512 units x 1 / 2 layers.

The issue behind it asks to choose the benchmark's model by validation NLL per CPU-hour;
this measures the CPU-hour side on one set's encoded training ids (``bl_encode``'s
folder), with the optimizer, loss and window of ``bl_train``: for each size a few
warm-up steps, then ``--steps`` timed steps of ``--batch`` windows of ``--window``
tokens. It prints, per size, training tokens per second (wall clock and per CPU-second of
the process), and what one epoch of the set costs at that speed: once over the data
(``random_shift``, or no augmentation) and twelve times (``transpose: [-5, 6]``), with the
hours for ``--epochs`` epochs. The estimates assume the per-token cost stays that of
the timed steps; carried-state training (``context: carried``) runs the same LSTM on
batches of the same shape.

    python bench/bench_bl_sizes.py --encoded benchmark/data/encoded/bl_jsb
    python bench/bench_bl_sizes.py --encoded benchmark/data/encoded/bl_musedata --steps 60 --epochs 30

Run it on an otherwise idle machine (the load average is printed beside the table):
other work on the same cores slows every size alike but makes the absolute figures
meaningless.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

SIZES = ((256, 1), (256, 2), (512, 1), (512, 2))


def time_size(units: int, layers: int, ids: np.ndarray, *, window: int, batch: int, steps: int, warmup: int,
              seed: int) -> dict:
    """Train ``warmup + steps`` steps of one size; the timed steps' speed."""
    import keras

    from tunesmith.config.model import ModelConfig
    from tunesmith.config.train import TrainConfig
    from tunesmith.data.windows import make_windows
    from tunesmith.modeling.models import build_model
    from tunesmith.tracks.piano import notes_per_frame as npf
    from tunesmith.training.fitting import _compile  # bl_train's optimizer and loss, exactly

    keras.utils.set_random_seed(seed)
    family = "lstm" if layers == 1 else "stacked_lstm"  # the params spell two layers this way
    cfg = ModelConfig(family=family, units=units, layers=layers, dropout=0.2, embedding_dim=32)
    model = build_model(cfg, len(npf.SYMBOLS), window=window)
    _compile(model, TrainConfig(window=window, batch_size=batch, learning_rate=0.002, clipnorm=1.0))
    ds = make_windows(ids, window=window, batch_size=batch, shuffle=True, seed=seed, drop_remainder=True).repeat()
    it = iter(ds)
    for _ in range(warmup):
        model.train_on_batch(*next(it))
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(*next(it))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tokens = steps * batch * window
    return {"units": units, "layers": layers, "params": model.count_params(), "tokens_per_s": tokens / wall,
            "tokens_per_cpu_s": tokens / max(cpu, 1e-9)}


def table(rows: list[dict], train_tokens: int, epochs: int) -> str:
    head = ("| units | layers | parameters | tokens/s (wall) | tokens per CPU-s | one epoch, 1x data | "
            f"one epoch, 12x data | {epochs} epochs, 1x | {epochs} epochs, 12x |")
    lines = [head, "|" + "---:|" * 9]
    for r in rows:
        epoch_min = train_tokens / r["tokens_per_s"] / 60
        lines.append(f"| {r['units']} | {r['layers']} | {r['params']:,} | {r['tokens_per_s']:,.0f} | "
                     f"{r['tokens_per_cpu_s']:,.0f} | {epoch_min:.1f} min | {12 * epoch_min:.1f} min | "
                     f"{epochs * epoch_min / 60:.2f} h | {12 * epochs * epoch_min / 60:.2f} h |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoded", type=Path, required=True, help="a bl_encode folder (holds train.npy)")
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=40, help="timed training steps per size")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (graph building)")
    p.add_argument("--epochs", type=int, default=30, help="epochs for the hours columns")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    ids = np.load(args.encoded / "train.npy", allow_pickle=False)
    rows = []
    for units, layers in SIZES:
        rows.append(time_size(units, layers, ids, window=args.window, batch=args.batch, steps=args.steps,
                              warmup=args.warmup, seed=args.seed))
        print(f"{units} units x {layers}: {rows[-1]['tokens_per_s']:,.0f} tokens/s", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{args.encoded.name}: {ids.size:,} training tokens; {os.cpu_count()} cores, load average {load:.1f}; "
          f"window {args.window}, batch {args.batch}, {args.steps} timed steps per size\n")
    print(table(rows, int(ids.size), args.epochs))


if __name__ == "__main__":
    main()
