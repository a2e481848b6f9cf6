"""One epoch of fitting: device and precision, the compiled model, early stopping, validation."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tunesmith.config.model import ModelConfig
from tunesmith.config.train import COSINE_FLOOR, TrainConfig
from tunesmith.evaluation.full_context import predictor, score_pieces
from tunesmith.modeling.models import build_model

log = logging.getLogger(__name__)


def _gpus() -> list:
    return tf.config.list_physical_devices("GPU")


def _strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when ``TF_CONFIG`` describes a cluster of machines,
    MirroredStrategy over several GPUs (or over several logical CPU devices, when a
    program has split the CPU so: `tf.config.set_logical_device_configuration`), else the
    default (one GPU or the CPU)."""
    if os.environ.get("TF_CONFIG"):
        # every worker runs the same `dvc repro` (or stage) with its own TF_CONFIG task index
        log.info("TF_CONFIG is set: training with MultiWorkerMirroredStrategy")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = _gpus()
    if len(gpus) > 1:
        log.info("training on %d GPUs with MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    cpus = [] if gpus else tf.config.list_logical_devices("CPU")
    if len(cpus) > 1:
        log.info("training on %d logical CPU devices with MirroredStrategy", len(cpus))
        return tf.distribute.MirroredStrategy([d.name for d in cpus])
    log.info("training on %s", "the GPU" if gpus else "the CPU")
    return tf.distribute.get_strategy()


def _build_for_multi_worker(fit_model: keras.Model, strategy: tf.distribute.Strategy, rows: int) -> None:
    """Let Keras 3 fit under MultiWorkerMirroredStrategy with several workers.

    Keras 3.15 fails there in two places (keras-team/keras issue 20585, "Does Keras 3 work with
    `tf.distribute.MultiWorkerMirroredStrategy`?"): before every ``fit`` it builds a model made in
    a strategy's scope from the first batch reduced across the workers, a reduce that rejects a
    batch of several tensors; and it averages each step's scalar logs over the replicas along an
    axis 0 they lack. So the model, its loss, metrics and optimizer are built here from a batch of
    ``rows`` zeros and the model no longer holds the strategy (``fit``, called in its scope, still
    runs every step on it), and each step's logs are vectors of one value. The epoch's figures
    are the metrics read at its end, aggregated over every replica as on one device.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    x = np.zeros((rows, *fit_model.input_shape[1:]), dtype=np.int32)
    y = np.zeros((rows, *fit_model.output_shape[1:-1]), dtype=np.int32)
    fit_model._symbolic_build(data_batch=(x, y, np.ones(y.shape, dtype=np.float32)))
    fit_model._distribute_strategy = None
    step = fit_model.train_step
    fit_model.train_step = lambda data: {k: tf.reshape(v, [1]) for k, v in step(data).items()}


@contextmanager
def _dtype_policy(policy: str) -> Iterator[None]:
    # The policy is process-global; restore it so a later build (generation,
    # another test) gets float32 again.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""``/proc/cpuinfo`` flags of x86 CPUs that multiply bfloat16 natively (oneDNN uses them)."""


def cpu_has_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU multiplies bfloat16 natively (one of `BF16_FLAGS`); False where
    ``/proc/cpuinfo`` is missing (macOS, Windows) or unreadable: elsewhere bfloat16 is emulated, slower."""
    try:
        with cpuinfo.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in BF16_FLAGS)
    except OSError:
        return False
    return False


def _effective_policy(cfg: TrainConfig) -> str:
    """The Keras dtype policy training runs under: ``mixed_float16`` (mixed_precision, GPU only),
    ``mixed_bfloat16`` (cpu_bfloat16, a CPU with native bfloat16 only) or ``float32``."""
    gpus = _gpus()
    if cfg.mixed_precision:
        if gpus:
            return "mixed_float16"
        log.info("mixed_precision is ignored on the CPU (float16 is slower there)")
    if cfg.cpu_bfloat16:
        if gpus:
            log.info("cpu_bfloat16 is ignored on a GPU (mixed_precision sets its precision)")
        elif cpu_has_bfloat16():
            log.info("training in mixed bfloat16 (the CPU has %s)", " or ".join(BF16_FLAGS))
            return "mixed_bfloat16"
        else:
            log.info("cpu_bfloat16 is ignored: this CPU has no native bfloat16 (%s)", ", ".join(BF16_FLAGS))
    return "float32"


def _seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if not _gpus():
        # cuDNN kernels may have no deterministic variant, so only the CPU is pinned
        tf.config.experimental.enable_op_determinism()


def _optimizer(cfg: TrainConfig, decay_steps: int = 0) -> keras.optimizers.Optimizer:
    cls = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
        "adagrad": keras.optimizers.Adagrad,
    }[cfg.optimizer]
    lr: float | keras.optimizers.schedules.LearningRateSchedule = cfg.learning_rate
    if cfg.lr_decay == "cosine" and decay_steps > 0:
        # the step count lives in the optimizer, saved with every checkpoint: resume stays exact
        tail = min(cfg.decay_epochs or cfg.epochs, cfg.epochs)
        hold = decay_steps * (cfg.epochs - tail) // cfg.epochs
        # a "warm-up" from the rate to itself holds it for `hold` steps (a stock, serialisable schedule)
        lr = keras.optimizers.schedules.CosineDecay(
            cfg.learning_rate, decay_steps - hold, alpha=COSINE_FLOOR,
            warmup_target=cfg.learning_rate if hold else None, warmup_steps=hold,
        )
    return cls(learning_rate=lr, clipnorm=cfg.clipnorm or None)


def _last_step_model(inner: keras.Model, window: int, vocab_size: int) -> keras.Model:
    """Wrap an every-position model so it outputs only the last position's logits ``(B, V)``.

    Built from stock layers so the checkpoint loads without custom objects.
    """
    ids = keras.Input(shape=(window,), dtype="int32", name="ids")
    seq = inner(ids)
    last = keras.layers.Cropping1D((window - 1, 0), dtype="float32", name="last_step_crop")(seq)
    logits = keras.layers.Reshape((vocab_size,), dtype="float32", name="last_step")(last)
    return keras.Model(ids, logits, name=f"{inner.name}_last_step")


def _compile(model: keras.Model, cfg: TrainConfig, decay_steps: int = 0) -> None:
    model.compile(
        optimizer=_optimizer(cfg, decay_steps),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # The loss Keras reports averages over every position, padding included (weight 0), and
        # plain `metrics` ignore the weights: these two are means over the real targets only.
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                          keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="nll")],
    )


def _inner_model(fit_model: keras.Model, model_cfg: ModelConfig) -> keras.Model:
    """The model itself, out of the last-step wrapper when there is one."""
    if fit_model.name == model_cfg.family:
        return fit_model
    return fit_model.get_layer(model_cfg.family)


# --------------------------------------------------------------------------- early stopping


@dataclass
class EarlyStopping:
    """Validation-loss bookkeeping: best value, its epoch, epochs since.

    ``update`` returns True when ``val_loss`` improves on the best by more than
    ``min_delta``; NaN never improves. ``should_stop`` once ``wait`` reaches
    ``patience`` (never when patience is 0).
    """

    patience: int
    min_delta: float = 0.0
    best: float = math.inf
    best_epoch: int = -1
    wait: int = 0

    def update(self, epoch: int, val_loss: float) -> bool:
        if math.isfinite(val_loss) and val_loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = float(val_loss), epoch, 0
            return True
        self.wait += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.wait >= self.patience


class _EpochTimer(keras.callbacks.Callback):
    """Training throughput of one epoch, validation excluded.

    The first batch is left out when there are others: it includes tracing the
    train step (seconds), which would make short epochs look slow.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.start = self.first = self.end = time.perf_counter()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.end = time.perf_counter()
        self.batches += 1
        if self.batches == 1:
            self.first = self.end

    def batches_per_s(self) -> float:
        if self.batches > 1:
            return (self.batches - 1) / max(self.end - self.first, 1e-9)
        return self.batches / max(self.end - self.start, 1e-9)


def _perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


class _EpochBar(keras.callbacks.Callback):
    """A tqdm bar over one epoch's batches, named with tunesmith's epoch count."""

    def __init__(self, desc: str) -> None:
        super().__init__()
        self.desc, self.bar = desc, None

    def on_train_begin(self, logs=None) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(desc=self.desc, unit="batch", leave=False)

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.bar.update(1)
        if logs and ("nll" in logs or "loss" in logs):  # nll: padding excluded
            self.bar.set_postfix(loss=f"{float(logs.get('nll', logs.get('loss'))):.4f}", refresh=False)

    def on_train_end(self, logs=None) -> None:
        self.bar.close()


def _fit_one_epoch(
    fit_model: keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset | Callable[[], tuple[float, float]],
    epoch: int,
    cfg: TrainConfig,
    verbose: str | int,
    steps: int | None = None,
) -> dict[str, float]:
    """One ``fit`` epoch; returns the epoch's record (1-based ``epoch``).

    ``val_ds`` is a dataset of validation windows, or a function returning the
    validation ``(loss, accuracy)`` of the model as it stands (full context).
    ``steps``: the batches ``train_ds`` holds, or None to run to its end.
    """
    timer = _EpochTimer()
    windows = isinstance(val_ds, tf.data.Dataset)
    # one epoch counter: tunesmith's (Keras' own bar would say "Epoch 8/8" for epoch 8 of 25)
    callbacks = [timer, _EpochBar(f"epoch {epoch + 1}/{cfg.epochs}")] if verbose else [timer]
    h = fit_model.fit(
        train_ds,
        validation_data=val_ds if windows else None,
        initial_epoch=epoch,
        epochs=epoch + 1,
        steps_per_epoch=steps,
        verbose=0,
        callbacks=callbacks,
        shuffle=False,  # the dataset is already shuffled
    ).history
    val_loss, val_accuracy = (h["val_loss"][-1], h["val_accuracy"][-1]) if windows else val_ds()
    record = {
        "epoch": epoch + 1,
        "train_loss": float(h["nll"][-1]),  # padding excluded (Keras' "loss" counts it as 0)
        "train_accuracy": float(h["accuracy"][-1]),
        "val_loss": float(val_loss),
        "val_accuracy": float(val_accuracy),
        "tokens_per_s": timer.batches_per_s() * cfg.batch_size * cfg.window,
    }
    record["train_perplexity"] = _perplexity(record["train_loss"])
    record["val_perplexity"] = _perplexity(record["val_loss"])
    return record

def _full_context_validator(
    fit_model: keras.Model, model_cfg: ModelConfig, val_ids: np.ndarray, end_id: int, vocab_size: int
) -> Callable[[], tuple[float, float]]:
    """A function giving the validation ``(mean nll, accuracy)`` of ``fit_model``'s current
    weights, every token scored with the full context of its piece."""
    scorer = build_model(model_cfg, vocab_size, window=None)
    predict = predictor(scorer)
    ids = np.asarray(val_ids)

    def validate() -> tuple[float, float]:
        scorer.set_weights(_inner_model(fit_model, model_cfg).get_weights())
        scores = score_pieces(predict, ids, end_id, vocab_size)
        return scores.mean_nll, float(scores.correct.mean())

    return validate


def _finite(x: float) -> float | None:
    # JSON has no NaN/Infinity; DVC and other readers would choke on them
    return float(x) if math.isfinite(x) else None

