"""Training throughput of each track's recipe: float32 against bfloat16, and thread settings.

Each arm is a child process (TensorFlow's precision policy and thread pools are fixed before it
starts): the track's ``train.<c>`` model built as training builds it, compiled with its optimizer
and loss, fed real windows of ``data/vocab/<c>/train.npy`` (``window`` tokens, ``batch_size``
rows) with ``train_on_batch``; after warm-up steps, the tokens per second of ``--steps`` steps.
Arms alternate, ``--rounds`` times, and the median is printed, with the achieved GFLOP/s from the
LSTM's multiply-adds (forward and backward, 3x the forward pass) and the output layer's.

    .venv/bin/python bench/bench_precision.py --tracks essen nottingham classical --rounds 3

bfloat16 is Keras's ``mixed_bfloat16`` policy (weights float32, matrix products bfloat16), which
TensorFlow's oneDNN runs on AVX512_BF16 or AMX where the CPU has them (``/proc/cpuinfo`` flags are
printed). Throughput only: a precision becomes a default only if its 3-seed validation NLL is
inside the float32 band (docs/experiments.md, "Speed").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ARMS = {"float32 2x2": ("float32", 2, 2), "bfloat16 2x2": ("bfloat16", 2, 2),
        "float32 2x1": ("float32", 2, 1), "float32 1x2": ("float32", 1, 2)}
"""name -> (precision, intra-op threads, inter-op threads)."""


def child(track: str, precision: str, intra: int, inter: int, steps: int, params: Path) -> dict:
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    import keras
    import yaml

    if precision == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    from tunesmith.config.load import build, section
    from tunesmith.config.model import ModelConfig
    from tunesmith.config.train import TrainConfig
    from tunesmith.modeling.models import build_model
    from tunesmith.training.fitting import _compile

    data = dict(section(yaml.safe_load(params.read_text()), f"train.{track}"))
    m = build(ModelConfig, data.pop("model", {}), f"train.{track}.model")
    cfg = build(TrainConfig, data, f"train.{track}")
    ids = np.load(f"data/vocab/{track}/train.npy", mmap_mode="r")
    vocab = len(json.loads(Path(f"data/vocab/{track}/vocab.json").read_text())["symbols"])
    model = build_model(m, vocab, window=cfg.window)
    _compile(model, cfg)
    rng = np.random.default_rng(0)

    def batch():
        starts = rng.integers(0, len(ids) - cfg.window - 1, cfg.batch_size)
        x = np.stack([ids[s:s + cfg.window] for s in starts]).astype("int32")
        y = np.stack([ids[s + 1:s + cfg.window + 1] for s in starts]).astype("int32")
        return x, y

    for _ in range(5):
        model.train_on_batch(*batch())
    data = [batch() for _ in range(steps)]
    start = time.perf_counter()
    for x, y in data:
        model.train_on_batch(x, y)
    seconds = time.perf_counter() - start
    inputs = m.embedding_dim or vocab
    macs = 4 * (inputs + m.units) * m.units + 4 * (m.units + m.units) * m.units * (m.layers - 1) + m.units * vocab
    tokens = steps * cfg.batch_size * cfg.window
    return {"tokens_per_s": tokens / seconds, "gflops": 3 * 2 * macs * tokens / seconds / 1e9,
            "batch": cfg.batch_size, "window": cfg.window}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracks", nargs="+", default=["essen", "nottingham", "classical"])
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--child", nargs=4, metavar=("TRACK", "PRECISION", "INTRA", "INTER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        track, precision, intra, inter = args.child
        print(json.dumps(child(track, precision, int(intra), int(inter), args.steps, args.params)))
        return
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), [])
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")
    print(f"CPU: {model}, {os.cpu_count()} cores; " + ", ".join(f for f in flags if "bf16" in f or "amx" in f
                                                                 or f == "avx512f"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):
        for track in args.tracks:
            for arm in args.arms:  # alternating: one round of every arm, then the next round
                precision, intra, inter = ARMS[arm]
                out = subprocess.run([sys.executable, __file__, "--child", track, precision, str(intra), str(inter),
                                      "--steps", str(args.steps), "--params", str(args.params)],
                                     env=env, capture_output=True, text=True, check=True)
                results.setdefault((track, arm), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\n| track | arm | tokens/s (median of {args.rounds}) | GFLOP/s | runs |\n|---|---|---:|---:|---|")
    for (track, arm), runs in results.items():
        tps = [r["tokens_per_s"] for r in runs]
        print(f"| {track} | {arm} | {statistics.median(tps):,.0f} | {statistics.median(r['gflops'] for r in runs):.1f} "
              f"| {', '.join(f'{t:,.0f}' for t in tps)} |")


if __name__ == "__main__":
    main()
