"""Peak memory and speed of training on lazy tf.data windows vs Vasudeva's one-hot arrays.

For each window length, one training run in its own subprocess (so each peak
RSS is that run's alone) on ``<vocab-dir>/train.npy`` (validation on
``validation.npy`` when present), and, for comparison, the size of the input
array Vasudeva builds before training: every sliding window (stride 1), one-hot
encoded, ``n_windows x window x V`` float32 values (``keras.utils.to_categorical``
returns float32; a bool array would be a quarter of that). That size is
computed, never allocated.

Usage (any folder the vocab stage writes, e.g. data/vocab/essen)::

    python bench/bench_train_memory.py --vocab-dir data/vocab/essen --window 32 64 128

Columns: ``rss_idle`` is the child's peak RSS after importing TensorFlow and
loading the ids (the floor), ``rss_peak`` its peak after training; ``train``
is the difference, the memory training itself added.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def _child(args: argparse.Namespace) -> None:
    """Train once and print one JSON line with the measurements."""
    import logging

    from tunesmith.config.model import ModelConfig
    from tunesmith.config.train import TrainConfig
    from tunesmith.core.io import read_json
    from tunesmith.data.windows import load_split
    from tunesmith.training.loop import train

    logging.basicConfig(level=logging.WARNING)
    vocab_dir = Path(args.vocab_dir)
    vocab = read_json(vocab_dir / "vocab.json")
    train_ids = load_split(vocab_dir, "train")
    if (vocab_dir / "validation.npy").is_file():
        val_ids = load_split(vocab_dir, "validation")
    else:
        val_ids = train_ids[-max(len(train_ids) // 10, args.window[0] + 2) :]
    idle = _peak_rss_bytes()
    model_cfg = ModelConfig(units=args.units, embedding_dim=args.embedding_dim)
    train_cfg = TrainConfig(
        window=args.window[0],
        batch_size=args.batch_size,
        epochs=args.epochs,
        target=args.target,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps,
        patience=0,
    )
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = train(model_cfg, train_cfg, vocab, train_ids, val_ids, Path(out))
        seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "rss_idle": idle,
                "rss_peak": _peak_rss_bytes(),
                "tokens_per_s": summary["tokens_per_s"],
                "seconds": seconds,
                "val_loss": summary["val"]["loss"],
            }
        )
    )


def _one_hot_bytes(n_tokens: int, window: int, vocab_size: int, itemsize: int) -> int:
    """Vasudeva's input array: every stride-1 window, one-hot, ``(N - W, W, V)``."""
    return max(n_tokens - window, 0) * window * vocab_size * itemsize


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-dir", required=True, help="a data/vocab/<corpus> folder")
    parser.add_argument("--window", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps-per-epoch", type=int, default=50, help="0 = the whole split")
    parser.add_argument("--validation-steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--target", choices=["all", "last"], default="all")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return

    vocab_dir = Path(args.vocab_dir)
    vocab_size = len(json.loads((vocab_dir / "vocab.json").read_text(encoding="utf-8"))["symbols"])
    n_tokens = int(np.load(vocab_dir / "train.npy", mmap_mode="r", allow_pickle=False).shape[0])
    print(
        f"{vocab_dir}: {n_tokens:,} training tokens, V = {vocab_size}; target {args.target!r}, "
        f"batch {args.batch_size}, units {args.units}, {args.epochs} epoch(s) x "
        f"{args.steps_per_epoch or 'all'} steps"
    )
    header = (
        f"{'window':>6} | {'rss_idle':>10} | {'rss_peak':>10} | {'train':>10} | "
        f"{'tokens/s':>9} | {'seed-002 windows':>16} | {'one-hot f32':>11} | {'one-hot bool':>12}"
    )
    print(header)
    print("-" * len(header))
    for window in args.window:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--window", str(window)]
        for name in (
            "vocab_dir",
            "epochs",
            "steps_per_epoch",
            "validation_steps",
            "batch_size",
            "units",
            "embedding_dim",
            "target",
        ):
            cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{window:>6} | training failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        n_windows = max(n_tokens - window, 0)
        print(
            f"{window:>6} | {_fmt_bytes(result['rss_idle']):>10} | "
            f"{_fmt_bytes(result['rss_peak']):>10} | "
            f"{_fmt_bytes(result['rss_peak'] - result['rss_idle']):>10} | "
            f"{result['tokens_per_s']:>9.0f} | {n_windows:>16,} | "
            f"{_fmt_bytes(_one_hot_bytes(n_tokens, window, vocab_size, 4)):>11} | "
            f"{_fmt_bytes(_one_hot_bytes(n_tokens, window, vocab_size, 1)):>12}"
        )


if __name__ == "__main__":
    main()
