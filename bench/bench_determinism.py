"""Does CPU training give the same numbers under settings that differ between machines?

Trains the essen recipe (the vocab stage's ids) for a few epochs in a fresh process per
setting and prints each epoch's validation NLL to 9 decimals and the training speed. The
settings are the ones that differ between x86 machines running the same code: oneDNN's
kernels on or off (``TF_ENABLE_ONEDNN_OPTS``) and the number of threads TensorFlow uses
(the machine's core count). One machine cannot show what another CPU's vector width does:
this measures what it can, and says so.

    .venv/bin/python bench/bench_determinism.py --vocab-dir data/vocab/essen --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
import tensorflow as tf
threads = int(sys.argv[3])
if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
from tunesmith.core import io
from tunesmith.config.load import build, load_params, section
from tunesmith.data.windows import load_split
from tunesmith.config.model import ModelConfig
from tunesmith.config.train import TrainConfig
from tunesmith.training.loop import train
vocab_dir, epochs = sys.argv[1], int(sys.argv[2])
params = dict(section(load_params("params.yaml"), "train.essen"))
params.pop("cache", None)
model_cfg = build(ModelConfig, params.pop("model"), "train.essen.model")
cfg = build(TrainConfig, {**params, "epochs": epochs, "average_epochs": 0, "patience": 0}, "train.essen")
vocab = io.read_json(f"{vocab_dir}/vocab.json")
start = time.perf_counter()
out = train(model_cfg, cfg, vocab, load_split(vocab_dir, "train"), load_split(vocab_dir, "validation"),
            sys.argv[4])
print("RESULT " + json.dumps({"val": [h["val_loss"] for h in out["history"]],
                              "tokens_per_s": out["tokens_per_s"], "seconds": time.perf_counter() - start}))
"""


def run(vocab_dir: Path, epochs: int, onednn: str, threads: int, work: Path) -> dict:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}
    out = work / f"onednn{onednn}-threads{threads}"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(vocab_dir), str(epochs), str(threads), str(out)],
                          env=env, capture_output=True, text=True, check=True)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab-dir", type=Path, default=Path("data/vocab/essen"))
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    rows = []
    for onednn, threads, label in (("1", 0, "oneDNN on, all cores (the default)"),
                                   ("1", 0, "oneDNN on, all cores, again"),
                                   ("0", 0, "oneDNN off, all cores"),
                                   ("1", 1, "oneDNN on, 1 thread (a 1-core machine)")):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as work:  # a fresh model folder: nothing to resume
            got = run(args.vocab_dir.resolve(), args.epochs, onednn, threads, Path(work))
        rows.append((label, got, time.perf_counter() - t0))
    base = rows[0][1]["val"]
    print("| setting | validation NLL per epoch | max abs diff vs the default | train tokens/s |")
    print("|---|---|---:|---:|")
    for label, got, _ in rows:
        diff = max(abs(a - b) for a, b in zip(got["val"], base, strict=True))
        print(f"| {label} | {' / '.join(f'{v:.9f}' for v in got['val'])} | {diff:.2e} | {got['tokens_per_s']:,.0f} |")


if __name__ == "__main__":
    main()
