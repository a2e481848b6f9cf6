"""Generation speed: Vasudeva's predict-per-token loop vs the stateful stepper.

Builds one LSTM (one-hot input, like Vasudeva's model; random weights) and
times, in tokens per second:

(a) Vasudeva: for every token, one-hot the last ``window`` tokens and call
    ``model.predict`` on that ``(1, window, vocab)`` array (a float one-hot
    input model that shares the LSTM and Dense layers, so the same weights);
(b) ``tunesmith.generation`` stepper, 1 sample;
(c) the stepper with ``--batch`` samples as one batch (total tokens/s).

All three sample with temperature 1 from the logits. Targets: (b)/(a) >= 100,
(c)/(a) >= 2000. Run by hand::

    PYTHONPATH=src python bench/bench_generation.py --vocab 64 --units 256 --tokens 200 --window 64
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from tunesmith.config.model import ModelConfig
from tunesmith.generation.samplers import sample_temperature
from tunesmith.generation.steppers import make_stepper
from tunesmith.modeling.models import build_model


def seed002_model(model: keras.Model, vocab: int, window: int) -> keras.Model:
    """Vasudeva's float one-hot-input model built from ``model``'s own layers (shared weights)."""
    onehot = keras.Input(shape=(window, vocab), dtype="float32", name="one_hot_window")
    x = model.get_layer("lstm_0")(onehot)
    x = model.get_layer("dropout_0")(x)
    probs = keras.layers.Softmax()(model.get_layer("logits")(x))
    return keras.Model(onehot, probs)


def bench_seed002(seed_model: keras.Model, vocab: int, window: int, tokens: int, rng) -> float:
    seq = list(rng.integers(0, vocab, window))
    eye = np.eye(vocab, dtype=np.float32)
    seed_model.predict(eye[seq[-window:]][None], verbose=0)  # warm-up: build the predict function
    start = time.perf_counter()
    for _ in range(tokens):
        probs = seed_model.predict(eye[seq[-window:]][None], verbose=0)[0, -1]
        seq.append(int(rng.choice(vocab, p=probs / probs.sum())))
    return tokens / (time.perf_counter() - start)


def bench_stepper(model, cfg, vocab: int, batch: int, tokens: int, rng) -> float:
    stepper = make_stepper(model, cfg, batch)
    ids = rng.integers(0, vocab, batch).astype(np.int32)
    stepper.step(ids)  # warm-up: trace the tf.function
    stepper.reset(batch)
    start = time.perf_counter()
    for _ in range(tokens):
        logits = stepper.step(ids)
        ids = sample_temperature(logits, rng, temperature=1.0).astype(np.int32)
    return batch * tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, default=64)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=200, help="tokens generated per sample")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64, help="samples in the batched run (c)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cfg = ModelConfig(family="lstm", units=args.units, layers=1, dropout=0.2, embedding_dim=0)
    model = build_model(cfg, args.vocab, window=None)
    seed_model = seed002_model(model, args.vocab, args.window)

    # the two graphs must agree, or the comparison is meaningless
    window = rng.integers(0, args.vocab, args.window)
    ours = tf.nn.softmax(model(window[None].astype(np.int32))[0, -1]).numpy()
    theirs = seed_model(np.eye(args.vocab, dtype=np.float32)[window][None])[0, -1].numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)

    a = bench_seed002(seed_model, args.vocab, args.window, args.tokens, rng)
    b = bench_stepper(model, cfg, args.vocab, 1, args.tokens, rng)
    c = bench_stepper(model, cfg, args.vocab, args.batch, args.tokens, rng)

    devices = [d.device_type for d in tf.config.list_physical_devices() if d.device_type != "CPU"]
    where = ", ".join(devices) if devices else "CPU only"
    cpu = platform.processor() or platform.machine()
    print(
        f"LSTM {args.units} units, vocab {args.vocab}, window {args.window}, "
        f"{args.tokens} tokens per sample; TF {tf.__version__}, Keras {keras.__version__}, "
        f"{cpu}, {where}\n"
    )
    rows = [
        ("(a) Vasudeva: model.predict on the one-hot window per token", a, ""),
        ("(b) stateful stepper, 1 sample", b, ">= 100x"),
        (f"(c) stateful stepper, {args.batch} samples as one batch (total)", c, ">= 2000x"),
    ]
    print("| run | tokens/s | speed-up vs (a) | target |")
    print("|---|---:|---:|---:|")
    for name, rate, target in rows:
        print(f"| {name} | {rate:,.1f} | {rate / a:,.1f}x | {target} |")


if __name__ == "__main__":
    main()
