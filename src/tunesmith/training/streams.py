"""The token streams a run trains on: checked ids, each epoch's batches, carried-state (TBPTT) settings."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tunesmith.config.model import ModelConfig
from tunesmith.config.train import TrainConfig
from tunesmith.core.errors import ArtifactError
from tunesmith.data.windows import (
    carried_chunks,
    carried_dataset,
    carried_rows,
    count_windows,
    make_carried_batches,
    make_windows,
)
from tunesmith.training.bundle import vocab_symbols

log = logging.getLogger(__name__)


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


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])

def _end_id(vocab: Mapping[str, Any]) -> int:
    symbols = vocab_symbols(vocab)
    end = (vocab.get("special") or {}).get("end")
    if end not in symbols:
        raise ValueError(f"vocab must name its end token in special.end (one of its symbols), got {end!r}")
    return symbols.index(end)


def _fit_rows(
    cfg: TrainConfig, train_ids: np.ndarray, end_id: int, replicas: int = 1
) -> tuple[TrainConfig, dict[str, Any] | None]:
    """With carried state, ``cfg`` with the batch rows ``max_padding`` allows (`windows.carried_rows`,
    dealt as epoch 1 deals them; a multiple of the ``replicas``, which each carry as many rows), and
    what was chosen (``metrics.json`` ``rows``); else ``cfg``, None."""
    if cfg.context != "carried":
        return cfg, None
    seed = _epoch_seed(cfg.seed, 0)
    rows, share = carried_rows(train_ids, end_id, window=cfg.window, batch_size=cfg.batch_size,
                               max_padding=cfg.max_padding, seed=seed, shuffle=cfg.shuffle, multiple_of=replicas)
    record = {"asked": cfg.batch_size, "used": rows, "padding_share": round(share, 4),
              "max_padding": cfg.max_padding}
    if replicas > 1:
        record["replicas"] = replicas
        if rows > cfg.batch_size:
            log.warning("carried state: %d rows, one for each of %d replicas (batch_size %d is fewer)",
                        rows, replicas, cfg.batch_size)
    if rows == cfg.batch_size:
        log.info("carried state: %d rows, %.1f%% of training positions padding", rows, 100 * share)
        return cfg, record
    _, asked_share = carried_rows(train_ids, end_id, window=cfg.window, batch_size=cfg.batch_size,
                                  max_padding=1.0, seed=seed, shuffle=cfg.shuffle, multiple_of=replicas)
    record["padding_share_asked"] = round(asked_share, 4)
    log.info("carried state: %d rows, not batch_size %d: %d rows would leave %.1f%% of training positions "
             "padding (max_padding %.0f%%), %d leave %.1f%%", rows, cfg.batch_size, cfg.batch_size,
             100 * asked_share, 100 * cfg.max_padding, rows, 100 * share)
    return dataclasses.replace(cfg, batch_size=rows), record


def _carried_build_args(model_cfg: ModelConfig, cfg: TrainConfig, replicas: int = 1) -> dict[str, Any]:
    """``build_model`` arguments of the model that is fitted: stateful, fixed batch, when carried.

    Under a ``tf.distribute`` strategy every replica runs the model on its own rows: the
    model's batch is one replica's, ``batch_size / replicas`` rows, and each replica's copy
    of the state variables carries its rows' state (a mirrored variable assigned in a
    replica with no aggregation keeps one value per replica).
    """
    if cfg.context != "carried":
        return {}
    return {"batch_size": cfg.batch_size // replicas, "stateful": True}


def _epoch_batches(
    ids: np.ndarray, end_id: int, cfg: TrainConfig, target: str, stride: int, epoch: int,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[tf.data.Dataset | tf.distribute.DistributedDataset, int | None]:
    """The training batches of one epoch (``steps_per_epoch`` of them when set), their order a pure
    function of ``(seed, epoch)``; and the steps to ask ``fit`` for (None: to the end of the data).

    Carried state over several replicas: a distributed dataset in which replica ``j`` always
    gets the same rows (`windows.replica_rows`), each input pipeline (one per worker) building
    its own replicas' share. Its steps are given: past the end of a distributed dataset Keras
    runs one more, empty, step that still advances the optimizer's step count (and with it
    Adam's bias correction). Windows are split by Keras, batch by batch.
    """
    seed = _epoch_seed(cfg.seed, epoch)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if cfg.context == "carried" and replicas > 1:
        c = carried_chunks(ids, end_id, window=cfg.window, batch_size=cfg.batch_size, seed=seed,
                           shuffle=cfg.shuffle)

        def pipeline(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            ds = carried_dataset(c, replicas, ctx.input_pipeline_id, ctx.num_input_pipelines)
            local = replicas // ctx.num_input_pipelines
            return ds.repeat().take(cfg.steps_per_epoch * local) if cfg.steps_per_epoch else ds

        return strategy.distribute_datasets_from_function(pipeline), cfg.steps_per_epoch or len(c)
    if cfg.context == "carried":
        ds = make_carried_batches(ids, end_id, window=cfg.window, batch_size=cfg.batch_size,
                                  seed=seed, shuffle=cfg.shuffle)
    else:
        ds = make_windows(ids, window=cfg.window, batch_size=cfg.batch_size, target=target,
                          stride=stride, shuffle=cfg.shuffle, seed=seed)
    return (ds.repeat().take(cfg.steps_per_epoch) if cfg.steps_per_epoch else ds), None


def epoch_train_ids(train_ids: np.ndarray, epoch_ids: Callable[[int], np.ndarray] | None, epoch: int) -> np.ndarray:
    """``epoch_ids(epoch)``, checked to keep the shape the run was planned on; ``train_ids`` without it."""
    if epoch_ids is None:
        return train_ids
    ids = np.asarray(epoch_ids(epoch))
    if ids.shape != train_ids.shape:
        raise ValueError(f"epoch {epoch + 1}'s training ids have shape {ids.shape}, not the {train_ids.shape} "
                         "of train_ids: an epoch's data must keep the length the run was planned on")
    return ids


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

