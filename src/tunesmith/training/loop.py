"""Fit a model on token ids: :func:`train`, one ``model.fit`` epoch at a time.

Everything that decides the next epoch (data order, early-stopping counters,
the best weights so far) lives here and in ``checkpoints/state.json``, not in
Keras callbacks; see the package docstring for the folder layout.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tunesmith.config.model import ModelConfig
from tunesmith.config.train import TrainConfig
from tunesmith.core.errors import ArtifactError
from tunesmith.core.io import write_json
from tunesmith.data.pieces import piece_spans
from tunesmith.data.windows import count_windows, default_stride, make_windows
from tunesmith.modeling.models import build_model, predicts_every_position
from tunesmith.training import averaging
from tunesmith.training.budget import check_training_memory
from tunesmith.training.bundle import save_model_bundle, vocab_symbols
from tunesmith.training.checkpoints import (
    CHECKPOINT_DIR,
    _clear_checkpoints,
    _commit_epoch,
    _compat_key,
    _load_state,
    _restore_seed_states,
    _set_aside,
)
from tunesmith.training.fitting import (
    EarlyStopping,
    _build_for_multi_worker,
    _compile,
    _dtype_policy,
    _effective_policy,
    _finite,
    _fit_one_epoch,
    _full_context_validator,
    _inner_model,
    _last_step_model,
    _perplexity,
    _seed_everything,
    _strategy,
)
from tunesmith.training.live import _log_epoch, _open_live
from tunesmith.training.streams import (
    _carried_build_args,
    _check_ids,
    _decay_steps,
    _end_id,
    _epoch_batches,
    _fit_rows,
    _reset_states,
    epoch_train_ids,
)
from tunesmith.training.summary import Run, log_early_stop, log_epoch_line, log_plan, mean_speed, summary

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- train


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    vocab: Mapping[str, Any],
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    out_dir: Path | str,
    *,
    live_dir: Path | str | None = None, checkpoint_dir: Path | str | None = None,
    epoch_ids: Callable[[int], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Train a model, resuming from ``checkpoint_dir`` when a compatible run is there.

    Args:
        model_cfg: the architecture (``models.ModelConfig``).
        train_cfg: how to fit it.
        vocab: the vocabulary dict (``vocab.json``); its ``symbols`` fix ``V``.
        train_ids, val_ids: 1-D integer token-id arrays, ids in ``[0, V)``.
        out_dir: where the final artefacts go, and the checkpoints unless ``checkpoint_dir`` is given.
        live_dir: DVCLive folder for per-epoch metrics, or None for no DVCLive.
        epoch_ids: epoch (0-based) -> its training ids, as long as ``train_ids``, a pure function of
            the epoch (`tunesmith.benchmark.augment.EpochIds`); its ``key`` joins the checkpoint's.

    Returns:
        The content of ``metrics.json`` plus ``history`` (one dict per epoch run: ``epoch``,
        ``train_loss``, ``train_accuracy``, ``train_perplexity``, ``val_*`` likewise, ``tokens_per_s``)
        and ``tokens_per_s``, their mean: timings, kept out of ``metrics.json``.

    Raises:
        ValueError: a vocab without symbols, ids outside it, or a split too
            short for one window.
    """
    out_dir = Path(out_dir)
    vocab_size = len(vocab_symbols(vocab))
    train_ids = _check_ids(train_ids, vocab_size, "train")
    val_ids = _check_ids(val_ids, vocab_size, "validation")
    check_training_memory(model_cfg, train_cfg, vocab_size)
    target = _effective_target(model_cfg, train_cfg)
    stride = default_stride(train_cfg.window, target)
    train_ids, end_id = _checked_streams(model_cfg, train_cfg, vocab, train_ids, val_ids, target, stride)
    strategy = _strategy()  # before other TensorFlow ops (MultiWorkerMirroredStrategy must be)
    replicas = strategy.num_replicas_in_sync
    train_cfg, rows = _fit_rows(train_cfg, train_ids, end_id, replicas)  # the replicas share the rows

    policy = _effective_policy(train_cfg)
    compat = _run_key(model_cfg, train_cfg, vocab, target, policy, train_ids, val_ids, epoch_ids, replicas)
    # Everything above is checked before the folder is touched.
    ckpt_dir, state = _open_checkpoints(out_dir, checkpoint_dir, compat)

    with _dtype_policy(policy), strategy.scope():
        run = _resume(state, ckpt_dir, out_dir, train_cfg) if state is not None else None
        if run is None:
            run = _fresh(model_cfg, train_cfg, vocab_size, target, stride, train_ids, end_id, replicas)
        _build_for_multi_worker(run.fit_model, strategy, max(train_cfg.batch_size // replicas, 1))
        live = _open_live(Path(live_dir) if live_dir else None, run.history)
        validate = _validation(run.fit_model, model_cfg, train_cfg, val_ids, end_id, vocab_size, target, stride)
        log_plan(train_ids, train_cfg, target, stride)
        stopped_early = _run_epochs(run, ckpt_dir, compat, train_cfg, train_ids, end_id, target, stride,
                                    validate, live, epoch_ids, strategy)
        average = _score_average(run, validate)
        weights = _best_weights(run, ckpt_dir, model_cfg, out_dir)
        if average is not None and average["used"]:
            run.fit_model.set_weights(run.average.weights_like(run.fit_model.get_weights()))
            weights = _inner_model(run.fit_model, model_cfg).get_weights()

    # The exported model: float32, any input length, no optimizer, so
    # generation gets a small model that runs anywhere.
    final = build_model(model_cfg, vocab_size, window=None)
    final.set_weights(weights)
    save_model_bundle(final, out_dir, vocab, model_cfg, train_cfg)

    metrics = summary(run, stopped_early, target, average, train_cfg)
    if rows is not None:
        metrics["rows"] = rows
    write_json(out_dir / "metrics.json", metrics)
    if live is not None:
        live.end()
    log.info("saved the %s: val loss %.4f, perplexity %.2f; model in %s", metrics["saved"],
             metrics["val"]["loss"], metrics["val"]["perplexity"], out_dir / "model.keras")
    return {**metrics, "history": run.history, "tokens_per_s": mean_speed(run, out_dir)}


def _effective_target(model_cfg: ModelConfig, train_cfg: TrainConfig) -> str:
    if not predicts_every_position(model_cfg) and train_cfg.target != "last":
        log.info(
            "%s predicts only the token after the window: training with target 'last'",
            model_cfg.family,
        )
        return "last"
    return train_cfg.target


def _checked_streams(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    vocab: Mapping[str, Any],
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    target: str,
    stride: int,
) -> tuple[np.ndarray, int]:
    """Fail early on splits the run cannot use; returns the (transposed) train ids and the end id."""
    for split, ids in (("train", train_ids), ("validation", val_ids)):
        if count_windows(ids, window=cfg.window, target=target, stride=stride) == 0:
            raise ArtifactError(
                f"the {split} split has {ids.shape[0]} tokens, too few for one window of "
                f"{cfg.window} (+1 target): add pieces, or lower the window"
            )
    end_id = _end_id(vocab)
    if cfg.transpositions:
        from tunesmith.data.augment import augment_transpositions

        train_ids, _ = augment_transpositions(train_ids, vocab, cfg.transpositions)
    if predicts_every_position(model_cfg):
        piece_spans(val_ids, end_id)  # full-context validation needs whole pieces: fail now, not after an epoch
    if cfg.context == "carried":
        if not predicts_every_position(model_cfg):
            raise ValueError(f"context 'carried' needs a causal family; {model_cfg.family!r} is not")
        piece_spans(train_ids, end_id)  # whole pieces to deal to rows (`_fit_rows`)
    return train_ids, end_id


def _run_key(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    vocab: Mapping[str, Any],
    target: str,
    policy: str,
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    epoch_ids: Callable[[int], np.ndarray] | None = None,
    replicas: int = 1,
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the configs, the vocab, the data (each epoch's too, and,
    with carried state over several replicas, their number: the fitted model's fixed batch is one replica's rows)."""
    compat = _compat_key(model_cfg, cfg, vocab, target, policy)
    if cfg.context == "carried" and replicas > 1:
        compat["replicas"] = replicas
    # other training data with the same vocabulary must not resume (or skip) an old run
    compat["data_sha256"] = {split: hashlib.sha256(np.ascontiguousarray(ids).tobytes()).hexdigest()
                             for split, ids in (("train", train_ids), ("validation", val_ids))}
    if epoch_ids is not None:
        compat["epoch_ids"] = getattr(epoch_ids, "key", type(epoch_ids).__name__)
    return compat


def _open_checkpoints(out_dir: Path, checkpoint_dir: Path | str | None,
                      compat: dict[str, Any]) -> tuple[Path, dict[str, Any] | None]:
    """Create ``out_dir`` and the checkpoints' folder (``checkpoint_dir``, default ``out_dir/checkpoints``;
    the train stage keeps it outside its DVC output, so the run-cache can restore that output);
    that folder and the resumable state there, or None.

    The previous run's model.keras, vocab.json, config.json and metrics.json stay
    until the new ones replace them at the end, so a failed or interrupted run
    leaves the last good model.
    """
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else out_dir / CHECKPOINT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    for leftover in out_dir.glob(".tmp-*"):  # a save killed half-way
        leftover.unlink(missing_ok=True)
    state = _load_state(ckpt_dir, compat)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    return ckpt_dir, state


def _resume(state: dict[str, Any], ckpt_dir: Path, out_dir: Path, cfg: TrainConfig) -> Run | None:
    """The run the checkpoint describes, or None (its model set aside) when it cannot be loaded."""
    start_epoch = int(state["epoch"])
    _seed_everything(cfg.seed + start_epoch)
    model_path = ckpt_dir / state["model_file"]
    try:
        fit_model = keras.saving.load_model(model_path)
    except Exception as exc:  # Keras raises many types for a damaged file
        _set_aside(model_path, f"{type(exc).__name__}: {str(exc)[:200]}")
        _clear_checkpoints(ckpt_dir)
        ckpt_dir.mkdir(exist_ok=True)
        return None
    _restore_seed_states(fit_model, state.get("rng", {}))
    stopper = EarlyStopping(
        cfg.patience,
        cfg.min_delta,
        best=float(state["best_val_loss"]),
        best_epoch=int(state["best_epoch"]),
        wait=int(state["wait"]),
    )
    log.info(
        "resuming %s from its checkpoint after epoch %d "
        "(best val loss %.4f at epoch %d, wait %d)",
        out_dir,
        start_epoch,
        stopper.best,
        stopper.best_epoch + 1,
        stopper.wait,
    )
    stop_epoch = state.get("stop_epoch")
    if stop_epoch is not None and not stopper.should_stop:
        stop_epoch = None  # a larger patience on resume: early stopping has not fired under it
    return Run(fit_model, stopper, list(state["history"]), start_epoch, start_epoch,
                state["best_weights_file"],
                averaging.resumed_mean(ckpt_dir, state.get("average"), cfg, stop_epoch), stop_epoch)


def _fresh(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    vocab_size: int,
    target: str,
    stride: int,
    train_ids: np.ndarray,
    end_id: int,
    replicas: int = 1,
) -> Run:
    """A new, compiled model (wrapped to predict the last step only for target ``last``)."""
    _seed_everything(cfg.seed)
    inner = build_model(model_cfg, vocab_size, window=cfg.window, **_carried_build_args(model_cfg, cfg, replicas))
    wrap = target == "last" and predicts_every_position(model_cfg)
    fit_model = _last_step_model(inner, cfg.window, vocab_size) if wrap else inner
    _compile(fit_model, cfg, _decay_steps(train_ids, end_id, cfg, target, stride))
    return Run(fit_model, EarlyStopping(cfg.patience, cfg.min_delta), [], 0, None, None)


def _validation(
    fit_model: keras.Model,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    val_ids: np.ndarray,
    end_id: int,
    vocab_size: int,
    target: str,
    stride: int,
) -> tf.data.Dataset | Callable[[], tuple[float, float]]:
    """Full-context validation for causal families; windows for the others (``bilstm``)."""
    if predicts_every_position(model_cfg):
        return _full_context_validator(fit_model, model_cfg, val_ids, end_id, vocab_size)
    val_ds = make_windows(val_ids, window=cfg.window, batch_size=cfg.batch_size, target=target,
                          stride=stride, shuffle=False, seed=0)
    if cfg.validation_steps:
        val_ds = val_ds.take(cfg.validation_steps)
    return val_ds


def _run_epochs(
    run: Run,
    ckpt_dir: Path,
    compat: dict[str, Any],
    cfg: TrainConfig,
    train_ids: np.ndarray,
    end_id: int,
    target: str,
    stride: int,
    validate: tf.data.Dataset | Callable[[], tuple[float, float]],
    live,
    epoch_ids: Callable[[int], np.ndarray] | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> bool:
    """Fit and checkpoint epoch after epoch until the run's last epoch
    (`averaging.last_epoch`); returns whether early stopping fired.

    Without weight averaging early stopping ends the run. With it, early stopping
    only moves the averaging phase forward: exactly ``average_epochs`` more epochs
    then run and are averaged, so rounding noise never cancels the average.
    """
    # a terminal gets Keras's progress bar; a log gets tunesmith's one line per epoch, not Keras's "Epoch 8/8" too
    verbose: str | int = "auto" if sys.stdout.isatty() else 0
    epoch = run.start_epoch
    while epoch < averaging.last_epoch(cfg, run.stop_epoch):
        ids = epoch_train_ids(train_ids, epoch_ids, epoch)
        train_ds, steps = _epoch_batches(ids, end_id, cfg, target, stride, epoch, strategy)
        _reset_states(run.fit_model)
        record = _fit_one_epoch(run.fit_model, train_ds, validate, epoch, cfg, verbose, steps)
        run.history.append(record)
        improved = run.stopper.update(epoch, record["val_loss"])
        if run.stop_epoch is None and run.stopper.should_stop:
            run.stop_epoch = epoch + 1
            log_early_stop(run, cfg)
        run.average = averaging.update(run.average, cfg, epoch + 1, run.fit_model.get_weights(), run.stop_epoch)
        run.best_file = _commit_epoch(
            ckpt_dir, run.fit_model, compat=compat, epoch=epoch, improved=improved,
            best_file=run.best_file, stopper=run.stopper, stopped_early=run.stop_epoch is not None,
            seed=cfg.seed, history=run.history,
            average=run.average.save(ckpt_dir) if run.average is not None else None,
            stop_epoch=run.stop_epoch,
        )
        if live is not None:
            _log_epoch(live, record)
        log_epoch_line(record, averaging.last_epoch(cfg, run.stop_epoch))
        epoch += 1
    return run.stop_epoch is not None


def _score_average(
    run: Run, validate: tf.data.Dataset | Callable[[], tuple[float, float]]
) -> dict[str, Any] | None:
    """The weight average's validation scores and whether it beats the best single epoch
    (None when no two epochs were averaged). Leaves other weights in ``run.fit_model``."""
    mean = run.average
    if mean is None or mean.count < 2:
        return None
    run.fit_model.set_weights(mean.weights_like(run.fit_model.get_weights()))
    if isinstance(validate, tf.data.Dataset):
        got = run.fit_model.evaluate(validate, verbose=0, return_dict=True)
        loss, accuracy = float(got["loss"]), float(got["accuracy"])
    else:
        loss, accuracy = validate()
    used = bool(np.isfinite(loss) and loss < run.stopper.best)
    log.info(
        "weights averaged over epochs %d-%d: val loss %.4f vs %.4f at the best epoch (%d): %s",
        mean.first_epoch, mean.last_epoch, loss, run.stopper.best, run.stopper.best_epoch + 1,
        "saving the average" if used else "keeping the best epoch",
    )
    return {
        "first_epoch": mean.first_epoch,
        "last_epoch": mean.last_epoch,
        "val": {"loss": _finite(loss), "accuracy": _finite(accuracy), "perplexity": _finite(_perplexity(loss))},
        "used": used,
    }


def _best_weights(run: Run, ckpt_dir: Path, model_cfg: ModelConfig, out_dir: Path) -> list:
    """The weights of the best epoch (lowest validation loss), out of any last-step wrapper."""
    if run.best_file is None:
        raise RuntimeError(f"no epoch of {out_dir} produced a finite validation loss")
    run.fit_model.load_weights(ckpt_dir / run.best_file)
    return _inner_model(run.fit_model, model_cfg).get_weights()


