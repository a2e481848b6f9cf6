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


def _fit_rows(cfg: TrainConfig, train_ids: np.ndarray, end_id: int) -> tuple[TrainConfig, dict[str, Any] | None]:
    """With carried state, ``cfg`` with the batch rows ``max_padding`` allows (`windows.carried_rows`,
    dealt as epoch 1 deals them), and what was chosen (``metrics.json`` ``rows``); else ``cfg``, None."""
    if cfg.context != "carried":
        return cfg, None
    seed = _epoch_seed(cfg.seed, 0)
    rows, share = carried_rows(train_ids, end_id, window=cfg.window, batch_size=cfg.batch_size,
                               max_padding=cfg.max_padding, seed=seed, shuffle=cfg.shuffle)
    record = {"asked": cfg.batch_size, "used": rows, "padding_share": round(share, 4),
              "max_padding": cfg.max_padding}
    if rows == cfg.batch_size:
        log.info("carried state: %d rows, %.1f%% of training positions padding", rows, 100 * share)
        return cfg, record
    _, asked_share = carried_rows(train_ids, end_id, window=cfg.window, batch_size=cfg.batch_size,
                                  max_padding=1.0, seed=seed, shuffle=cfg.shuffle)
    record["padding_share_asked"] = round(asked_share, 4)
    log.info("carried state: %d rows, not batch_size %d: %d rows would leave %.1f%% of training positions "
             "padding (max_padding %.0f%%), %d leave %.1f%%", rows, cfg.batch_size, cfg.batch_size,
             100 * asked_share, 100 * cfg.max_padding, rows, 100 * share)
    return dataclasses.replace(cfg, batch_size=rows), record


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

