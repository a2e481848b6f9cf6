"""The frame-wise LSTM: 88 independent sigmoid outputs per frame (the published "LSTM" baseline).

The model reads frames ``(batch, time, 88)`` and predicts the next frame as 88
independent Bernoulli probabilities, so ``-log p(frame) = sum over the 88 keys of
the binary cross-entropy`` (nats). Each piece is read after one all-zero start
frame, so its first frame is predicted too: inputs ``[0, f1 .. f_{n-1}]``,
targets ``[f1 .. f_n]``.

Training takes fixed windows of frames (each from a zero state) over the
concatenated start-marked pieces, shuffled per epoch, and keeps the epoch with
the lowest validation NLL per frame; scoring runs each whole piece in one call
(state carried from its first frame), like :func:`tunesmith.evaluation.full_context.score_pieces`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunesmith.core.io import write_json
from tunesmith.core.safe_json import read_json_bounded

log = logging.getLogger(__name__)

N_KEYS = 88


@dataclass(frozen=True)
class FrameModelConfig:
    """``benchmark.<name>.frame_model``: LSTM layers of ``units``, dropout after each."""

    units: int = 256
    layers: int = 1
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if self.units < 1 or not 1 <= self.layers <= 4:
            raise ValueError(f"units must be >= 1 and layers in 1-4, got {self.units}, {self.layers}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class FrameTrainConfig:
    """``benchmark.<name>.frame_train``: windows of frames, Adam, early stopping on validation."""

    window: int = 64
    batch_size: int = 32
    epochs: int = 20
    learning_rate: float = 0.002
    clipnorm: float = 1.0
    patience: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("window", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.patience < 0 or self.clipnorm < 0:
            raise ValueError(f"patience and clipnorm must be >= 0, got {self.patience}, {self.clipnorm}")


def build_frame_model(cfg: FrameModelConfig, window: int | None = None):
    """frames float ``(batch, window, 88)`` -> logits float32 ``(batch, window, 88)``."""
    import keras

    x = inputs = keras.Input(shape=(window, N_KEYS), dtype="float32", name="frames")
    for i in range(cfg.layers):
        x = keras.layers.LSTM(cfg.units, return_sequences=True, name=f"lstm_{i}")(x)
        x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(N_KEYS, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="frame_lstm")


def bernoulli_frame_nll(logits: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``-log p(frame)`` per frame under independent sigmoids: sum of 88 binary cross-entropies.

    Args:
        logits: float ``(..., 88)``.
        frames: 0/1 ``(..., 88)``, the same shape.

    Returns:
        float64 ``(...)``, nats.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(frames, dtype=np.float64)
    # -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - y z, computed stably
    return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum(axis=-1)


def _start_marked(frames: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Every piece preceded by one all-zero frame: uint8 ``(F + n, 88)``."""
    starts = bounds[:-1] + np.arange(len(bounds) - 1)
    out = np.zeros((len(frames) + len(bounds) - 1, N_KEYS), dtype=np.uint8)
    keep = np.ones(len(out), dtype=bool)
    keep[starts] = False
    out[keep] = frames
    return out


def _windows(marked: np.ndarray, window: int, batch: int, seed: int | None):
    """tf.data of ``(x, y)`` float windows over the marked frames (stride ``window``)."""
    import tensorflow as tf

    n = (len(marked) - 1) // window
    starts = np.arange(n, dtype=np.int64) * window
    if seed is not None:
        starts = np.random.default_rng(seed).permutation(starts)
    data = tf.convert_to_tensor(marked)
    offsets = tf.range(window + 1, dtype=tf.int64)

    def gather(s):
        block = tf.cast(tf.gather(data, s[:, None] + offsets[None, :]), tf.float32)
        return block[:, :-1], block[:, 1:]

    ds = tf.data.Dataset.from_tensor_slices(starts).batch(batch).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _frame_loss(y_true, logits):
    import keras

    return keras.ops.sum(keras.ops.binary_crossentropy(y_true, logits, from_logits=True), axis=-1)


def train_frame_model(model_cfg: FrameModelConfig, cfg: FrameTrainConfig, train: tuple[np.ndarray, np.ndarray],
                      valid: tuple[np.ndarray, np.ndarray], out_dir: Path | str, *,
                      epoch_frames: Callable[[int], np.ndarray] | None = None) -> dict:
    """Fit on ``(frames, bounds)`` splits; write ``model.weights.h5``, ``config.json``, ``metrics.json``.

    Model selection is on the validation windows' NLL per frame (the best epoch is kept).
    ``epoch_frames``: epoch (0-based) -> that epoch's training rolls, shaped as ``train``'s
    frames (`tunesmith.benchmark.augment.EpochFrames`); None: the same rolls every epoch.
    Every epoch is checkpointed in ``out_dir/checkpoints`` (`frame_resume`), so a killed run
    resumes after its last finished epoch; ``epochs`` and ``patience`` may change between the two.
    """
    import keras

    from tunesmith.benchmark import frame_resume

    out_dir = Path(out_dir)
    ckpt = out_dir / "checkpoints"
    frames, bounds = train
    key = {"model": dataclasses.asdict(model_cfg),
           "train": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("epochs", "patience")},
           "data": _digest(frames, bounds, *valid), "epoch_frames": getattr(epoch_frames, "key", None)}
    state, model = frame_resume.load(ckpt, key, {"_frame_loss": _frame_loss})
    if model is None:
        keras.utils.set_random_seed(cfg.seed)
        model = build_frame_model(model_cfg, cfg.window)
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate, clipnorm=cfg.clipnorm or None),
                      loss=_frame_loss)
        state = {"key": frame_resume.plain(key), "epoch": 0, "best": math.inf, "best_epoch": -1, "history": [],
                 "stopped": False}
    else:
        keras.utils.set_random_seed(cfg.seed + int(state["epoch"]))
    val_ds = _windows(_start_marked(*valid), cfg.window, cfg.batch_size, None)
    history = state["history"]
    start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    for epoch in range(int(state["epoch"]), cfg.epochs):
        if state["stopped"] or (epoch - 1 - state["best_epoch"] >= cfg.patience > 0 and state["best_epoch"] >= 0):
            break
        rolls = frames if epoch_frames is None else epoch_frames(epoch)
        train_ds = _windows(_start_marked(rolls, bounds), cfg.window, cfg.batch_size, cfg.seed * 1000 + epoch)
        h = model.fit(train_ds, validation_data=val_ds, epochs=1, verbose=2).history
        record = {"epoch": epoch + 1, "train_nll_per_frame": float(h["loss"][-1]),
                  "val_nll_per_frame": float(h["val_loss"][-1]), "seconds": time.perf_counter() - start}
        history.append(record)
        log.info("frame model epoch %d: train %.4f val %.4f nats/frame", epoch + 1,
                 record["train_nll_per_frame"], record["val_nll_per_frame"])
        improved = record["val_nll_per_frame"] < state["best"]
        if improved:
            state["best"], state["best_epoch"] = record["val_nll_per_frame"], epoch
        state["stopped"] = not improved and epoch - state["best_epoch"] >= cfg.patience > 0
        state["epoch"] = epoch + 1
        frame_resume.commit(ckpt, model, state, improved)
    if state["best_epoch"] < 0:
        raise RuntimeError(f"no epoch of {out_dir} produced a validation loss")
    model.load_weights(ckpt / state["best_file"])
    final = build_frame_model(model_cfg, None)
    final.set_weights(model.get_weights())
    final.save_weights(out_dir / "model.weights.h5")
    write_json(out_dir / "config.json", {"model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(cfg)})
    metrics = {"best_epoch": state["best_epoch"] + 1, "epochs_run": len(history),
               "val_window_nll_per_frame": state["best"],
               "train_seconds": round(time.perf_counter() - start, 1), "history": history}
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def load_frame_model(model_dir: Path | str):
    """The any-length model :func:`train_frame_model` wrote."""
    model_dir = Path(model_dir)
    config = read_json_bounded(model_dir / "config.json")
    model = build_frame_model(FrameModelConfig(**config["model"]), None)
    model.load_weights(model_dir / "model.weights.h5")
    return model


def score_frames(predict, frames: np.ndarray, bounds: np.ndarray, *, budget_frames: int = 200_000
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``-log p(frame | earlier frames of its piece)`` for every frame, and whether the frame is predicted
    exactly (every key on the right side of probability 1/2): float64 ``(F,)``, bool ``(F,)``.

    Args:
        predict: float ``(B, T, 88)`` -> logits ``(B, T, 88)`` for any ``T``.
        frames, bounds: a split as :func:`tunesmith.benchmark.data.split_arrays` stores it.
        budget_frames: most ``B * T`` per call; pieces are batched by length.
    """
    lengths = np.diff(bounds)
    order = np.argsort(lengths, kind="stable")[::-1]
    out = np.zeros(len(frames), dtype=np.float64)
    exact = np.zeros(len(frames), dtype=bool)
    i = 0
    while i < len(order):
        width = int(lengths[order[i]])
        group = order[i : i + max(1, budget_frames // max(width, 1))]
        i += len(group)
        x = np.zeros((len(group), width, N_KEYS), dtype=np.float32)
        for row, k in enumerate(group):
            a, b = bounds[k], bounds[k + 1]
            x[row, 1 : b - a] = frames[a : b - 1]
        logits = np.asarray(predict(x))
        for row, k in enumerate(group):
            a, b = bounds[k], bounds[k + 1]
            out[a:b] = bernoulli_frame_nll(logits[row, : b - a], frames[a:b])
            exact[a:b] = ((logits[row, : b - a] > 0) == (frames[a:b] > 0)).all(axis=-1)
    return out, exact
