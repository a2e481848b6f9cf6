"""Stochastic weight averaging (Izmailov et al. 2018): the mean of the weights at the end of the last epochs.

With ``train.<corpus>.average_epochs: N`` the loop adds the weights at the end of
each of ``N`` epochs to a running mean, kept in ``checkpoints/average-NNNN.npz``
(named in ``state.json``, so a killed run resumes it exactly). The ``N`` epochs are
the schedule's last ones, unless early stopping (``patience``) fires before them:
then the averaging phase starts at once and exactly ``N`` more epochs run and are
averaged. Early stopping decides when the average starts, never whether it happens,
so a run whose validation loss differs in the sixth decimal on another machine
still ends with an average. After the last epoch the mean is scored on validation
like any epoch, and saved instead of the best single epoch only when it scores
lower: the choice never looks at a test split.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.config.train import TrainConfig

log = logging.getLogger(__name__)

PREFIX = "average-"


def first_averaged_epoch(cfg: TrainConfig, stop_epoch: int | None = None) -> int | None:
    """The 1-based epoch the average starts at, or None when averaging is off.

    ``stop_epoch``: the 1-based epoch after which early stopping fired, if it did; when
    that is before the schedule's averaging window, the average starts right after it.
    """
    if cfg.average_epochs == 0:
        return None
    planned = max(1, cfg.epochs - cfg.average_epochs + 1)
    if stop_epoch is not None and stop_epoch + 1 < planned:
        return stop_epoch + 1
    return planned


def last_epoch(cfg: TrainConfig, stop_epoch: int | None = None) -> int:
    """The 1-based epoch a run ends after.

    Without averaging: ``stop_epoch`` when early stopping fired, else ``epochs``. With
    averaging: the end of the averaging phase, ``average_epochs`` epochs after its start
    (``epochs`` at most).
    """
    start = first_averaged_epoch(cfg, stop_epoch)
    if start is None:
        return stop_epoch if stop_epoch is not None else cfg.epochs
    return min(cfg.epochs, start + cfg.average_epochs - 1)


@dataclass
class RunningMean:
    """The mean of the weights of epochs ``first_epoch`` .. ``first_epoch + count - 1`` (1-based)."""

    first_epoch: int
    count: int
    arrays: list[np.ndarray]  # float64, one per weight of the model

    @classmethod
    def start(cls, epoch: int, weights: Sequence[np.ndarray]) -> RunningMean:
        return cls(epoch, 1, [np.asarray(w, dtype=np.float64).copy() for w in weights])

    def add(self, weights: Sequence[np.ndarray]) -> None:
        if len(weights) != len(self.arrays):
            raise ValueError(f"the model has {len(weights)} weights, the average {len(self.arrays)}")
        self.count += 1
        for mean, w in zip(self.arrays, weights, strict=True):
            mean += (np.asarray(w, dtype=np.float64) - mean) / self.count

    @property
    def last_epoch(self) -> int:
        return self.first_epoch + self.count - 1

    def weights_like(self, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The mean, each array in the dtype of the matching array of ``weights``."""
        return [m.astype(np.asarray(w).dtype) for m, w in zip(self.arrays, weights, strict=True)]

    def save(self, ckpt_dir: Path) -> dict[str, Any]:
        """Write ``average-<last epoch>.npz`` atomically; returns its ``state.json`` entry."""
        name = f"{PREFIX}{self.last_epoch:04d}.npz"
        tmp = ckpt_dir / f".tmp-{name}"
        with open(tmp, "wb") as f:
            np.savez(f, *self.arrays)
        os.replace(tmp, ckpt_dir / name)
        return {"file": name, "first_epoch": self.first_epoch, "count": self.count}

    @classmethod
    def load(cls, ckpt_dir: Path, entry: dict[str, Any]) -> RunningMean:
        with np.load(ckpt_dir / entry["file"], allow_pickle=False) as z:
            arrays = [z[f"arr_{i}"] for i in range(len(z.files))]
        return cls(int(entry["first_epoch"]), int(entry["count"]), arrays)


def resumed_mean(ckpt_dir: Path, entry: dict[str, Any] | None, cfg: TrainConfig,
                 stop_epoch: int | None = None) -> RunningMean | None:
    """The running mean a checkpoint holds, unless the averaged epochs have moved since.

    Raising ``epochs`` on a resumed run moves the averaging window later: a mean
    that began before the new window is dropped (the window's epochs will fill it).
    """
    if entry is None:
        return None
    start = first_averaged_epoch(cfg, stop_epoch)
    if start is None or int(entry["first_epoch"]) < start:
        log.info("the checkpoint's weight average (from epoch %s) is outside the epochs now averaged: dropped",
                 entry["first_epoch"])
        return None
    return RunningMean.load(ckpt_dir, entry)


def update(mean: RunningMean | None, cfg: TrainConfig, epoch: int, weights: Sequence[np.ndarray],
           stop_epoch: int | None = None) -> RunningMean | None:
    """Add the weights at the end of the 1-based ``epoch`` when it is one of those averaged."""
    start = first_averaged_epoch(cfg, stop_epoch)
    if start is None or epoch < start:
        return mean
    if mean is None:
        if epoch > start:
            log.info("averaging weights from epoch %d (the schedule's window began at %d)", epoch, start)
        return RunningMean.start(epoch, weights)
    mean.add(weights)
    return mean
