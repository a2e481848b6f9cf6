"""Fit a model on token ids: early stopping, checkpoints, resume, DVCLive.

:func:`train` runs one epoch per ``model.fit`` call so that everything that
decides the next epoch (data order, early-stopping counters, the best weights
so far) lives in this module and in a small JSON file, not inside Keras
callbacks. That is what makes a run killed with ``kill -9`` continue where it
stopped: after every epoch the full model (with optimizer state) and, when it
improved, the best weights are written atomically, then ``state.json`` is
replaced -- the commit point. Files the state does not name are leftovers of
an interrupted write and are deleted.

Layout of ``out_dir`` after a completed run::

    model.keras            the best epoch's model (lowest validation loss), no optimizer
    vocab.json             the vocabulary it was trained with
    config.json            model + train config, vocab size and sha256 fingerprint
    metrics.json           best epoch, train/val loss, accuracy, perplexity, tokens/s ...
    checkpoints/state.json epoch, best val loss, early-stopping wait, history, compat key
    checkpoints/epoch-NNNN.keras       the last epoch's model + optimizer state
    checkpoints/best-NNNN.weights.h5   the best epoch's weights

The checkpoints are kept after a run ends: calling :func:`train` again with a
larger ``epochs`` continues the same run instead of starting over (with
``persist: true`` on the output in dvc.yaml this works across ``dvc repro``);
they cost one copy of the model with optimizer state plus one of the weights.

Data order is a pure function of ``(seed, epoch)`` and the dropout RNG state is
saved with the model, so on a CPU (op determinism on) an interrupted and
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tunesmith.dataset import (
    carried_chunks,
    count_windows,
    default_stride,
    make_carried_batches,
    make_windows,
)
from tunesmith.errors import ArtifactError, MissingArtifactError
from tunesmith.io import read_json, write_json
from tunesmith.likelihood import piece_spans, predictor, score_pieces
from tunesmith.models import ModelConfig, build_model, predicts_every_position

log = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "rmsprop", "sgd", "adagrad")
TARGETS = ("all", "last")
CONTEXTS = ("window", "carried")
LR_DECAYS = ("none", "cosine")
COSINE_FLOOR = 0.1
"""``lr_decay: cosine`` ends at this share of ``learning_rate``."""
STATE_FORMAT = 1
CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "state.json"
# Fields that may change between an interrupted run and its continuation:
# they decide when to stop and how much to validate, not what is learnt.
_RESUMABLE_FIELDS = frozenset({"epochs", "patience", "min_delta", "validation_steps"})


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")


def _check_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TrainConfig:
    """How to fit a model (``train.<corpus>`` in params.yaml; the model under ``train.<corpus>.model``).

    Attributes:
        window: input length in tokens, >= 1 (seeds 000/002: 64; 003: 100).
        batch_size: windows per batch, >= 1 (Vinze et al.: 16; 002: 64).
        epochs: maximum number of epochs, >= 1.
        target: ``"all"`` (every position predicts its next token, windows
            don't overlap) or ``"last"`` (only the token after the window,
            sliding windows with stride 1, as Vasudeva). ``bilstm`` always
            trains with ``"last"``.
        optimizer: ``adam``, ``rmsprop``, ``sgd`` or ``adagrad`` (Vinze et al. compares them).
        learning_rate: > 0 (Vinze et al.: 1e-3; 003: 1e-4).
        clipnorm: gradient norm clip, >= 0; 0 switches clipping off.
        patience: epochs without a validation-loss improvement before
            stopping, >= 0 (Reitman & Cho stops after two rises: 2); 0 never stops early.
            The saved model is always the epoch with the lowest validation loss.
        min_delta: the smallest decrease of validation loss that counts as an
            improvement, >= 0.
        steps_per_epoch: batches per epoch, >= 0; 0 = one pass over the train split.
        validation_steps: validation batches per epoch, >= 0; 0 = the whole split.
        mixed_precision: ``mixed_float16`` on a GPU; ignored (with a log line) on a CPU.
        seed: seeds weights, dropout and data order, >= 0.
        shuffle: shuffle the training windows each epoch.
        context: ``"window"`` (each window starts from a zero state) or
            ``"carried"`` (truncated backpropagation through time: each batch row
            follows its own stream of whole pieces, ``window`` tokens per step,
            and the state passes from one step to the next; see
            `dataset.carried_chunks`). Carried needs a causal family and target
            ``"all"``.
        lr_decay: ``"none"`` (constant learning rate) or ``"cosine"``: from
            ``learning_rate`` down to a tenth of it over ``epochs`` epochs, so the
            last epochs average out the noise of a high rate.
        transpositions: semitone shifts; the training split is extended with its
            pieces shifted by each one that stays in the vocabulary
            (`augment.augment_transpositions`); ``()`` = off. Pitch
            representations only (essen, classical).

    Validation loss (early stopping, the saved epoch) is the mean NLL of every
    validation token with the full context of its piece (`likelihood.score_pieces`),
    the same way evaluation scores the test split, whatever ``context``; ``bilstm``,
    which cannot be run over a whole piece, is validated on windows.
    """

    window: int = 64
    batch_size: int = 64
    epochs: int = 20
    target: str = "all"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    patience: int = 2
    min_delta: float = 0.0
    steps_per_epoch: int = 0
    validation_steps: int = 0
    mixed_precision: bool = False
    seed: int = 0
    shuffle: bool = True
    context: str = "window"
    transpositions: tuple[int, ...] = ()
    lr_decay: str = "none"

    def __post_init__(self) -> None:
        _check_int("window", self.window, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("epochs", self.epochs, 1)
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if _check_number("learning_rate", self.learning_rate) <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if _check_number("clipnorm", self.clipnorm) < 0:
            raise ValueError(f"clipnorm must be >= 0 (0 = off), got {self.clipnorm!r}")
        _check_int("patience", self.patience, 0)
        if _check_number("min_delta", self.min_delta) < 0:
            raise ValueError(f"min_delta must be >= 0, got {self.min_delta!r}")
        _check_int("steps_per_epoch", self.steps_per_epoch, 0)
        _check_int("validation_steps", self.validation_steps, 0)
        if not isinstance(self.mixed_precision, bool):
            raise ValueError(f"mixed_precision must be true or false, got {self.mixed_precision!r}")
        _check_int("seed", self.seed, 0)
        if not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle must be true or false, got {self.shuffle!r}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {self.lr_decay!r}")
        if self.context not in CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, got {self.context!r}")
        if isinstance(self.transpositions, list):  # as JSON (config.json) gives it back
            object.__setattr__(self, "transpositions", tuple(self.transpositions))
        if not isinstance(self.transpositions, tuple):
            raise ValueError(f"transpositions must be a list of semitone shifts, got {self.transpositions!r}")
        for shift in self.transpositions:
            if isinstance(shift, bool) or not isinstance(shift, int) or not -127 <= shift <= 127:
                raise ValueError(f"transpositions must be whole semitones in [-127, 127], got {shift!r}")
        if self.context == "carried" and self.target != "all":
            raise ValueError(f"context 'carried' trains every position: target must be 'all', got {self.target!r}")


# --------------------------------------------------------------------------- vocab


def vocab_fingerprint(vocab: Mapping[str, Any]) -> str:
    """sha256 (hex) of the ordered symbol list: equal iff every id means the same symbol."""
    symbols = _symbols(vocab)
    blob = json.dumps(symbols, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def _symbols(vocab: Mapping[str, Any]) -> list[str]:
    symbols = vocab.get("symbols") if isinstance(vocab, Mapping) else None
    if not isinstance(symbols, (list, tuple)) or len(symbols) < 2:
        raise ArtifactError(f"vocab must have a 'symbols' list of >= 2 entries, got {symbols!r:.80}")
    return list(symbols)


def _describe_vocab(vocab: Mapping[str, Any]) -> str:
    corpus = vocab.get("corpus")
    owner = f"the {corpus} vocab of " if corpus else ""
    return f"{owner}{len(_symbols(vocab))} symbols (sha256 {vocab_fingerprint(vocab)[:12]}...)"


def _check_ids(ids: np.ndarray, vocab_size: int, split: str) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ArtifactError(
            f"{split} ids must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}"
        )
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        bad = int(ids.max()) if int(ids.max()) >= vocab_size else int(ids.min())
        raise ArtifactError(
            f"{split} ids hold token id {bad}, outside the vocab of {vocab_size} symbols"
        )
    return ids


# --------------------------------------------------------------------------- device


def _gpus() -> list:
    return tf.config.list_physical_devices("GPU")


def _strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when ``TF_CONFIG`` describes a cluster of machines,
    MirroredStrategy over several GPUs, else the default (one GPU or the CPU)."""
    if os.environ.get("TF_CONFIG"):
        # every worker runs the same `dvc repro` (or stage) with its own TF_CONFIG task index
        log.info("TF_CONFIG is set: training with MultiWorkerMirroredStrategy")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = _gpus()
    if len(gpus) > 1:
        log.info("training on %d GPUs with MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    log.info("training on %s", "the GPU" if gpus else "the CPU")
    return tf.distribute.get_strategy()


@contextmanager
def _dtype_policy(mixed: bool) -> Iterator[None]:
    # The policy is process-global; restore it so a later build (generation,
    # another test) gets float32 again.
    previous = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _effective_mixed_precision(cfg: TrainConfig) -> bool:
    if cfg.mixed_precision and not _gpus():
        log.info(
            "mixed_precision is ignored on the CPU (float16 is slower there); training in float32"
        )
        return False
    return cfg.mixed_precision


def _seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if not _gpus():
        # cuDNN kernels may have no deterministic variant, so only the CPU is pinned
        tf.config.experimental.enable_op_determinism()


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


# --------------------------------------------------------------------------- model


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
        lr = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps, alpha=COSINE_FLOOR)
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
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
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


# --------------------------------------------------------------------------- checkpoints


def _compat_key(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    vocab: Mapping[str, Any],
    target: str,
    mixed: bool,
) -> dict[str, Any]:
    train = {k: v for k, v in dataclasses.asdict(train_cfg).items() if k not in _RESUMABLE_FIELDS}
    train["target"] = target
    train["mixed_precision"] = mixed
    key = {
        "model": dataclasses.asdict(model_cfg),
        "train": train,
        "vocab_size": len(_symbols(vocab)),
        "vocab_sha256": vocab_fingerprint(vocab),
    }
    return json.loads(json.dumps(key))  # as state.json gives it back: tuples become lists


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


# Keras writes the save time into metadata.json and the weights' zip entry; both are
# replaced by this constant so that the same weights always give the same bytes.
_FIXED_DATE_SAVED = "1980-01-01@00:00:00"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _renumber_shared_objects(config: Any) -> Any:
    """Keras names objects shared between layers by their memory address
    (``shared_object_id``); number them 1, 2, ... in order of appearance instead.
    Equal ids stay equal, so the model loads the same."""
    ids: dict[Any, int] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (ids.setdefault(v, len(ids) + 1) if k == "shared_object_id" else walk(v))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(config)


def _normalise_keras_zip(src: Path, dst: Path) -> None:
    """Copy the ``.keras`` zip ``src`` to ``dst`` with a fixed ``date_saved``, fixed entry times
    and renumbered shared-object ids, keeping each entry's name, order and compression:
    byte-identical for equal models, in any process."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            out = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
            out.compress_type = info.compress_type
            out.external_attr = info.external_attr
            if info.filename == "metadata.json":
                meta = json.loads(zin.read(info))
                meta["date_saved"] = _FIXED_DATE_SAVED
                zout.writestr(out, json.dumps(meta))
                continue
            if info.filename == "config.json":
                zout.writestr(out, json.dumps(_renumber_shared_objects(json.loads(zin.read(info)))))
                continue
            with zin.open(info) as fin, zout.open(out, "w", force_zip64=info.file_size > 1 << 30) as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)


def _save_model_atomic(model: keras.Model, path: Path) -> None:
    # Keras insists on the suffix, so the temporary name keeps it.
    tmp = path.with_name(f".tmp-{path.name}")
    model.save(tmp)
    fixed = path.with_name(f".tmp-fixed-{path.name}")
    try:
        _normalise_keras_zip(tmp, fixed)
    finally:
        tmp.unlink(missing_ok=True)
    os.replace(fixed, path)


def _save_weights_atomic(model: keras.Model, path: Path) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    model.save_weights(tmp)
    os.replace(tmp, path)


def _seed_states(model: keras.Model) -> dict[str, list[int]]:
    """The state of every layer's RNG (dropout masks), which ``.keras`` files do not keep.

    Saved in state.json so a resumed run draws the same masks as an
    uninterrupted one. Uses Keras's private ``_flatten_layers``/``_seed_generators``:
    there is no public way to reach a layer's SeedGenerator.
    """
    return {
        f"{layer.name}/{i}": [int(v) for v in keras.ops.convert_to_numpy(sg.state)]
        for layer in model._flatten_layers()
        for i, sg in enumerate(getattr(layer, "_seed_generators", []))
    }


def _restore_seed_states(model: keras.Model, states: Mapping[str, list[int]]) -> None:
    for layer in model._flatten_layers():
        for i, sg in enumerate(getattr(layer, "_seed_generators", [])):
            saved = states.get(f"{layer.name}/{i}")
            if saved is not None:
                sg.state.assign(
                    np.asarray(saved, dtype=keras.backend.standardize_dtype(sg.state.dtype))
                )


CORRUPT_SUFFIX = ".corrupt"
"""Appended to a checkpoint file that cannot be loaded: kept for inspection, never loaded."""


def _prune(ckpt_dir: Path, keep: set[str]) -> None:
    for p in ckpt_dir.iterdir():
        if p.name != STATE_FILE and p.name not in keep and not p.name.endswith(CORRUPT_SUFFIX):
            p.unlink(missing_ok=True)


def _clear_checkpoints(ckpt_dir: Path) -> None:
    """Delete every checkpoint file except those set aside as corrupt (the folder too when empty)."""
    for p in ckpt_dir.iterdir():
        if p.name.endswith(CORRUPT_SUFFIX):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
    if not any(ckpt_dir.iterdir()):
        ckpt_dir.rmdir()


def _set_aside(path: Path, why: str) -> Path:
    aside = path.with_name(path.name + CORRUPT_SUFFIX)
    os.replace(path, aside)
    log.warning("checkpoint %s cannot be loaded (%s): set aside as %s; training starts afresh",
                path, why, aside.name)
    return aside


def _checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint file ``path`` cannot be loaded, or None when it looks whole."""
    if path.stat().st_size == 0:
        return "0 bytes"
    if path.suffix == ".keras":
        if not zipfile.is_zipfile(path):
            return "not a zip archive: truncated?"
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return f"entry {bad} is corrupt" if bad else None
    import h5py  # a Keras dependency

    try:
        with h5py.File(path, "r") as f:
            f.visit(lambda name: None)
    except (OSError, ValueError) as exc:
        return f"not a readable HDF5 file: {exc}"
    return None


def _load_state(ckpt_dir: Path, compat: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint state if it can be resumed, else None (discarding what is there)."""
    path = ckpt_dir / STATE_FILE
    if not path.is_file():
        if ckpt_dir.exists():
            _clear_checkpoints(ckpt_dir)  # files from before any epoch finished
        return None
    try:
        state = read_json(path)
        ok = state.get("format") == STATE_FORMAT
    except (OSError, ValueError) as exc:
        log.warning("discarding unreadable checkpoint %s: %s", path, exc)
        ok, state = False, {}
    if ok and state.get("compat") != compat:
        changes = "; ".join(_diff(state.get("compat"), compat))
        log.warning(
            "discarding checkpoint in %s: config changed since it was written (%s)",
            ckpt_dir,
            changes,
        )
        ok = False
    named = [state.get(k) for k in ("model_file", "best_weights_file")] if ok else []
    if ok and not all((ckpt_dir / name).is_file() for name in named if name is not None):
        log.warning(
            "discarding checkpoint in %s: a file named in %s is missing", ckpt_dir, STATE_FILE
        )
        ok = False
    for name in named if ok else []:
        why = _checkpoint_problem(ckpt_dir / name) if name is not None else None
        if why is not None:
            _set_aside(ckpt_dir / name, why)
            ok = False
    if not ok:
        _clear_checkpoints(ckpt_dir)
        return None
    return state


# --------------------------------------------------------------------------- DVCLive


def _open_live(live_dir: Path | None, resuming: bool, history: list[dict[str, float]]):
    if live_dir is None:
        return None
    from dvclive import Live  # imported here: only train() with a live_dir needs it

    live_dir = Path(live_dir)
    logged = -1  # last step DVCLive wrote
    summary = live_dir / "metrics.json"
    if resuming and summary.is_file():
        logged = int(read_json(summary).get("step", -1))
    live = Live(
        dir=str(live_dir), resume=resuming and logged >= 0, save_dvc_exp=False, dvcyaml=None
    )
    # A kill between the checkpoint and the DVCLive write leaves DVCLive an
    # epoch behind; replay those epochs from the checkpoint's history.
    live.step = logged + 1
    for record in history[logged + 1 :]:
        _log_epoch(live, record)
    return live


def _log_epoch(live, record: Mapping[str, float]) -> None:
    for split in ("train", "val"):
        for name in ("loss", "accuracy", "perplexity"):
            live.log_metric(f"{split}/{name}", float(record[f"{split}_{name}"]))
    live.log_metric("train/tokens_per_s", float(record["tokens_per_s"]))
    live.next_step()


# --------------------------------------------------------------------------- train


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    vocab: Mapping[str, Any],
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    out_dir: Path | str,
    *,
    live_dir: Path | str | None = None,
) -> dict[str, Any]:
    """Train a model, resuming from ``out_dir/checkpoints`` when a compatible run is there.

    Args:
        model_cfg: the architecture (``models.ModelConfig``).
        train_cfg: how to fit it.
        vocab: the vocabulary dict (``vocab.json``); its ``symbols`` fix ``V``.
        train_ids, val_ids: 1-D integer token-id arrays, ids in ``[0, V)``.
        out_dir: where checkpoints and the final artefacts go (see the module docstring).
        live_dir: DVCLive folder for per-epoch metrics, or None for no DVCLive.

    Returns:
        The content of ``metrics.json`` plus ``history``: one dict per epoch run
        with ``epoch`` (1-based), ``train_loss``, ``train_accuracy``,
        ``train_perplexity``, ``val_*`` likewise and ``tokens_per_s``.

    Raises:
        ValueError: a vocab without symbols, ids outside it, or a split too
            short for one window.
    """
    out_dir = Path(out_dir)
    vocab_size = len(_symbols(vocab))
    train_ids = _check_ids(train_ids, vocab_size, "train")
    val_ids = _check_ids(val_ids, vocab_size, "validation")

    target = train_cfg.target
    if not predicts_every_position(model_cfg) and target != "last":
        log.info(
            "%s predicts only the token after the window: training with target 'last'",
            model_cfg.family,
        )
        target = "last"
    stride = default_stride(train_cfg.window, target)
    for split, ids in (("train", train_ids), ("validation", val_ids)):
        if count_windows(ids, window=train_cfg.window, target=target, stride=stride) == 0:
            raise ArtifactError(
                f"the {split} split has {ids.shape[0]} tokens, too few for one window of "
                f"{train_cfg.window} (+1 target): add pieces, or lower the window"
            )

    end_id = _end_id(vocab)
    if train_cfg.transpositions:
        from tunesmith.augment import augment_transpositions

        train_ids, _ = augment_transpositions(train_ids, vocab, train_cfg.transpositions)
    if predicts_every_position(model_cfg):
        piece_spans(val_ids, end_id)  # full-context validation needs whole pieces: fail now, not after an epoch
    if train_cfg.context == "carried":
        if not predicts_every_position(model_cfg):
            raise ValueError(f"context 'carried' needs a causal family; {model_cfg.family!r} is not")
        carried_chunks(train_ids, end_id, window=train_cfg.window, batch_size=train_cfg.batch_size, seed=0)

    mixed = _effective_mixed_precision(train_cfg)
    compat = _compat_key(model_cfg, train_cfg, vocab, target, mixed)
    # other training data with the same vocabulary must not resume (or skip) an old run
    compat["data_sha256"] = {split: hashlib.sha256(np.ascontiguousarray(ids).tobytes()).hexdigest()
                             for split, ids in (("train", train_ids), ("validation", val_ids))}
    ckpt_dir = out_dir / CHECKPOINT_DIR
    # Everything above is checked before the folder is touched. The previous run's
    # model.keras, vocab.json, config.json and metrics.json stay until the new ones
    # replace them at the end, so a failed or interrupted run leaves the last good model.
    out_dir.mkdir(parents=True, exist_ok=True)
    for leftover in out_dir.glob(".tmp-*"):  # a save killed half-way
        leftover.unlink(missing_ok=True)
    state = _load_state(ckpt_dir, compat)
    ckpt_dir.mkdir(exist_ok=True)

    strategy = _strategy()
    with _dtype_policy(mixed), strategy.scope():
        fit_model = None
        if state is not None:
            start_epoch = int(state["epoch"])
            _seed_everything(train_cfg.seed + start_epoch)
            model_path = ckpt_dir / state["model_file"]
            try:
                fit_model = keras.saving.load_model(model_path)
            except Exception as exc:  # Keras raises many types for a damaged file
                _set_aside(model_path, f"{type(exc).__name__}: {str(exc)[:200]}")
                _clear_checkpoints(ckpt_dir)
                ckpt_dir.mkdir(exist_ok=True)
                state = None
        if state is None:
            _seed_everything(train_cfg.seed)
            inner = build_model(model_cfg, vocab_size, window=train_cfg.window,
                                **_carried_build_args(model_cfg, train_cfg))
            wrap = target == "last" and predicts_every_position(model_cfg)
            fit_model = _last_step_model(inner, train_cfg.window, vocab_size) if wrap else inner
            _compile(fit_model, train_cfg, _decay_steps(train_ids, end_id, train_cfg, target, stride))
            stopper = EarlyStopping(train_cfg.patience, train_cfg.min_delta)
            history: list[dict[str, float]] = []
            start_epoch, resumed_from = 0, None
        else:
            resumed_from = start_epoch
            _restore_seed_states(fit_model, state.get("rng", {}))
            stopper = EarlyStopping(
                train_cfg.patience,
                train_cfg.min_delta,
                best=float(state["best_val_loss"]),
                best_epoch=int(state["best_epoch"]),
                wait=int(state["wait"]),
            )
            history = list(state["history"])
            log.info(
                "resuming %s from its checkpoint after epoch %d "
                "(best val loss %.4f at epoch %d, wait %d)",
                out_dir,
                start_epoch,
                stopper.best,
                stopper.best_epoch + 1,
                stopper.wait,
            )
        best_file = state["best_weights_file"] if state else None

        live = _open_live(Path(live_dir) if live_dir else None, state is not None, history)
        if predicts_every_position(model_cfg):
            val_ds = _full_context_validator(fit_model, model_cfg, val_ids, end_id, vocab_size)
        else:
            val_ds = make_windows(
                val_ids,
                window=train_cfg.window,
                batch_size=train_cfg.batch_size,
                target=target,
                stride=stride,
                shuffle=False,
                seed=0,
            )
            if train_cfg.validation_steps:
                val_ds = val_ds.take(train_cfg.validation_steps)
        verbose: str | int = "auto" if sys.stdout.isatty() else 2
        n_train_windows = count_windows(
            train_ids, window=train_cfg.window, target=target, stride=stride
        )
        log.info(
            "%d training windows of %d tokens (target %r, stride %d), batch %d, up to %d epochs",
            n_train_windows,
            train_cfg.window,
            target,
            stride,
            train_cfg.batch_size,
            train_cfg.epochs,
        )

        epoch = start_epoch
        stopped_early = stopper.should_stop
        while epoch < train_cfg.epochs and not stopped_early:
            train_ds = _epoch_batches(train_ids, end_id, train_cfg, target, stride, epoch)
            _reset_states(fit_model)
            if train_cfg.steps_per_epoch:
                train_ds = train_ds.repeat().take(train_cfg.steps_per_epoch)
            record = _fit_one_epoch(fit_model, train_ds, val_ds, epoch, train_cfg, verbose)
            history.append(record)
            improved = stopper.update(epoch, record["val_loss"])
            stopped_early = stopper.should_stop

            model_file = f"epoch-{epoch + 1:04d}.keras"
            _save_model_atomic(fit_model, ckpt_dir / model_file)
            if improved:
                best_file = f"best-{epoch + 1:04d}.weights.h5"
                _save_weights_atomic(fit_model, ckpt_dir / best_file)
            state = {
                "format": STATE_FORMAT,
                "compat": compat,
                "epoch": epoch + 1,
                "model_file": model_file,
                "best_weights_file": best_file,
                "best_val_loss": stopper.best,
                "best_epoch": stopper.best_epoch,
                "wait": stopper.wait,
                "stopped_early": stopped_early,
                "seed": train_cfg.seed,
                "data_order": "numpy permutation seeded by SeedSequence([seed, epoch])",
                "rng": _seed_states(fit_model),
                "history": history,
            }
            write_json(ckpt_dir / STATE_FILE, state)  # the commit point
            _prune(ckpt_dir, {model_file, best_file})
            if live is not None:
                _log_epoch(live, record)
            log.info(
                "epoch %d/%d: loss %.4f acc %.3f ppl %.2f | "
                "val loss %.4f acc %.3f ppl %.2f | %.0f tokens/s",
                epoch + 1,
                train_cfg.epochs,
                record["train_loss"],
                record["train_accuracy"],
                record["train_perplexity"],
                record["val_loss"],
                record["val_accuracy"],
                record["val_perplexity"],
                record["tokens_per_s"],
            )
            epoch += 1
        if stopped_early:
            log.info(
                "validation loss has not improved for %d epochs: stopped after epoch %d",
                stopper.wait,
                epoch,
            )

        if best_file is None:
            raise RuntimeError(f"no epoch of {out_dir} produced a finite validation loss")
        fit_model.load_weights(ckpt_dir / best_file)
        trained = _inner_model(fit_model, model_cfg)
        weights = trained.get_weights()

    # The exported model: float32, any input length, no optimizer, so
    # generation gets a small model that runs anywhere.
    final = build_model(model_cfg, vocab_size, window=None)
    final.set_weights(weights)
    save_model_bundle(final, out_dir, vocab, model_cfg, train_cfg)

    best = history[stopper.best_epoch]
    metrics = {
        "best_epoch": stopper.best_epoch + 1,
        "epochs_run": len(history),
        "stopped_early": bool(stopped_early),
        "resumed_from_epoch": resumed_from,
        "target": target,
        "train": {k: _finite(best[f"train_{k}"]) for k in ("loss", "accuracy", "perplexity")},
        "val": {k: _finite(best[f"val_{k}"]) for k in ("loss", "accuracy", "perplexity")},
        "tokens_per_s": _finite(float(np.mean([h["tokens_per_s"] for h in history]))),
        "device": "gpu" if _gpus() else "cpu",
    }
    write_json(out_dir / "metrics.json", metrics)
    if live is not None:
        live.end()
    log.info(
        "best epoch %d: val loss %.4f, perplexity %.2f; model in %s",
        metrics["best_epoch"],
        best["val_loss"],
        best["val_perplexity"],
        out_dir / "model.keras",
    )
    return {**metrics, "history": history}


def _fit_one_epoch(
    fit_model: keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset | Callable[[], tuple[float, float]],
    epoch: int,
    cfg: TrainConfig,
    verbose: str | int,
) -> dict[str, float]:
    """One ``fit`` epoch; returns the epoch's record (1-based ``epoch``).

    ``val_ds`` is a dataset of validation windows, or a function returning the
    validation ``(loss, accuracy)`` of the model as it stands (full context).
    """
    timer = _EpochTimer()
    windows = isinstance(val_ds, tf.data.Dataset)
    h = fit_model.fit(
        train_ds,
        validation_data=val_ds if windows else None,
        initial_epoch=epoch,
        epochs=epoch + 1,
        verbose=verbose,
        callbacks=[timer],
        shuffle=False,  # the dataset is already shuffled
    ).history
    val_loss, val_accuracy = (h["val_loss"][-1], h["val_accuracy"][-1]) if windows else val_ds()
    record = {
        "epoch": epoch + 1,
        "train_loss": float(h["loss"][-1]),
        "train_accuracy": float(h["accuracy"][-1]),
        "val_loss": float(val_loss),
        "val_accuracy": float(val_accuracy),
        "tokens_per_s": timer.batches_per_s() * cfg.batch_size * cfg.window,
    }
    record["train_perplexity"] = _perplexity(record["train_loss"])
    record["val_perplexity"] = _perplexity(record["val_loss"])
    return record


def _end_id(vocab: Mapping[str, Any]) -> int:
    symbols = _symbols(vocab)
    end = (vocab.get("special") or {}).get("end")
    if end not in symbols:
        raise ValueError(f"vocab must name its end token in special.end (one of its symbols), got {end!r}")
    return symbols.index(end)


def _carried_build_args(model_cfg: ModelConfig, cfg: TrainConfig) -> dict[str, Any]:
    """``build_model`` arguments of the model that is fitted: stateful, fixed batch, when carried."""
    if cfg.context != "carried":
        return {}
    return {"batch_size": cfg.batch_size, "stateful": True}


def _epoch_batches(
    ids: np.ndarray, end_id: int, cfg: TrainConfig, target: str, stride: int, epoch: int
) -> tf.data.Dataset:
    """The training batches of one epoch; their order is a pure function of ``(seed, epoch)``."""
    seed = _epoch_seed(cfg.seed, epoch)
    if cfg.context == "carried":
        return make_carried_batches(ids, end_id, window=cfg.window, batch_size=cfg.batch_size,
                                    seed=seed, shuffle=cfg.shuffle)
    return make_windows(ids, window=cfg.window, batch_size=cfg.batch_size, target=target,
                        stride=stride, shuffle=cfg.shuffle, seed=seed)


def _decay_steps(ids: np.ndarray, end_id: int, cfg: TrainConfig, target: str, stride: int) -> int:
    """Optimizer steps over ``cfg.epochs`` epochs (the first epoch's count, for carried state)."""
    if cfg.lr_decay == "none":
        return 0
    if cfg.steps_per_epoch:
        per_epoch = cfg.steps_per_epoch
    elif cfg.context == "carried":
        per_epoch = len(carried_chunks(ids, end_id, window=cfg.window, batch_size=cfg.batch_size,
                                       seed=_epoch_seed(cfg.seed, 0), shuffle=cfg.shuffle))
    else:
        per_epoch = -(-count_windows(ids, window=cfg.window, target=target, stride=stride) // cfg.batch_size)
    return per_epoch * cfg.epochs


def _reset_states(model: keras.Model) -> None:
    """Zero the carried state of every stateful layer: each epoch's streams start afresh."""
    for layer in model._flatten_layers(include_self=False):
        if getattr(layer, "stateful", False):
            layer.reset_state()


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


# --------------------------------------------------------------------------- bundles


def save_model_bundle(
    model: keras.Model,
    out_dir: Path | str,
    vocab: Mapping[str, Any],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
) -> None:
    """Write ``model.keras``, ``vocab.json`` and ``config.json`` into ``out_dir``, each atomically.

    ``config.json`` holds ``{"model": ..., "train": ..., "vocab": {"size",
    "sha256", "corpus"}, "predicts_every_position": bool}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_model_atomic(model, out_dir / "model.keras")
    write_json(out_dir / "vocab.json", dict(vocab))
    write_json(
        out_dir / "config.json",
        {
            "format": STATE_FORMAT,
            "model": dataclasses.asdict(model_cfg),
            "train": dataclasses.asdict(train_cfg),
            "vocab": {
                "size": len(_symbols(vocab)),
                "sha256": vocab_fingerprint(vocab),
                "corpus": vocab.get("corpus"),
            },
            "predicts_every_position": predicts_every_position(model_cfg),
        },
    )


def load_model_bundle(
    model_dir: Path | str, vocab: Mapping[str, Any] | None = None
) -> tuple[keras.Model, ModelConfig, TrainConfig, dict[str, Any]]:
    """Load what :func:`save_model_bundle` wrote: ``(model, model_cfg, train_cfg, vocab)``.

    The model is uncompiled: int32 ids ``(batch, time)`` -> float32 logits.
    ``vocab`` (optional) is the vocabulary the caller means to use; it must be
    the one the model was trained with.

    Raises:
        ArtifactError: ``vocab`` (or the bundle's own ``vocab.json``) differs from the
            training vocab recorded in ``config.json`` (the message gives both corpora,
            sizes and fingerprints); or a bundle file is truncated, empty, not JSON or
            not a Keras model (the message names it). A ValueError too.
        MissingArtifactError: a bundle file is missing (a FileNotFoundError too).
    """
    model_dir = Path(model_dir)
    for name in ("config.json", "vocab.json", "model.keras"):
        if not (model_dir / name).is_file():
            raise MissingArtifactError(
                f"{model_dir / name} not found: not a model folder written by train()"
            )
    config = read_json(model_dir / "config.json")
    try:
        trained = config["vocab"]
        trained_sha, trained_size = trained["sha256"], trained["size"]
        model_cfg = ModelConfig(**config["model"])
        train_cfg = TrainConfig(**config["train"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"{model_dir / 'config.json'} is not a model config written by train(): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    stored_vocab = read_json(model_dir / "vocab.json")
    if not isinstance(stored_vocab, Mapping) or not isinstance(stored_vocab.get("symbols"), list):
        raise ArtifactError(f"{model_dir / 'vocab.json'} is not a vocabulary: it has no 'symbols' list")
    trained_corpus = trained.get("corpus")
    owner = f"the {trained_corpus} vocab of " if trained_corpus else "vocab of "
    for label, candidate in (("its vocab.json has", stored_vocab), ("got", vocab)):
        if candidate is None:
            continue
        if vocab_fingerprint(candidate) != trained_sha:
            raise ArtifactError(
                f"model in {model_dir} was trained with {owner}{trained_size} symbols "
                f"(sha256 {trained_sha[:12]}...), {label} {_describe_vocab(candidate)}"
            )
    model_path = model_dir / "model.keras"
    size = model_path.stat().st_size
    if size == 0 or not zipfile.is_zipfile(model_path):
        raise ArtifactError(
            f"{model_path} is not a Keras model file ({'0 bytes' if size == 0 else 'not a zip archive'}: "
            "truncated or overwritten?); rerun training to rewrite it"
        )
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as exc:  # Keras raises many types (and misleading "File not found") here
        raise ArtifactError(
            f"{model_path} cannot be loaded as a Keras model: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
    return model, model_cfg, train_cfg, dict(vocab if vocab is not None else stored_vocab)
