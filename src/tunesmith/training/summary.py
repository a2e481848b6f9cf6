"""What a training run logs and records: the plan, each epoch line, the schedule that ran,
and the summary written to metrics.json."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from tunesmith.config.train import TrainConfig
from tunesmith.data.windows import count_windows
from tunesmith.training import averaging
from tunesmith.training.fitting import EarlyStopping, _finite, _gpus

log = logging.getLogger("tunesmith.training.loop")


def log_plan(train_ids: np.ndarray, cfg: TrainConfig, target: str, stride: int) -> None:
    log.info(
        "%d training windows of %d tokens (target %r, stride %d), batch %d, up to %d epochs",
        count_windows(train_ids, window=cfg.window, target=target, stride=stride),
        cfg.window,
        target,
        stride,
        cfg.batch_size,
        cfg.epochs,
    )


def log_early_stop(run: Run, cfg: TrainConfig) -> None:
    start = averaging.first_averaged_epoch(cfg, run.stop_epoch)
    why = (f"validation loss has not improved for {run.stopper.wait} epochs "
           f"(best {run.stopper.best:.4f} at epoch {run.stopper.best_epoch + 1})")
    if start is None and run.stop_epoch >= cfg.epochs:  # the last epoch anyway: nothing was cut short
        log.info("%s; that was the schedule's last epoch (%d)", why, cfg.epochs)
    elif start is None:
        log.info("%s: stopped after epoch %d of %d", why, run.stop_epoch, cfg.epochs)
    elif start == run.stop_epoch + 1:
        log.info("%s: the weight-averaging phase starts now: epochs %d-%d, then stop (the schedule had %d)",
                 why, start, averaging.last_epoch(cfg, run.stop_epoch), cfg.epochs)
    else:
        log.info("%s after epoch %d: already averaging since epoch %d, running on to epoch %d",
                 why, run.stop_epoch, start, averaging.last_epoch(cfg, run.stop_epoch))


def log_epoch_line(record: Mapping[str, float], epochs: int) -> None:
    log.info(
        "epoch %d/%d: loss %.4f acc %.3f ppl %.2f | "
        "val loss %.4f acc %.3f ppl %.2f | %.0f tokens/s",
        record["epoch"],
        epochs,
        record["train_loss"],
        record["train_accuracy"],
        record["train_perplexity"],
        record["val_loss"],
        record["val_accuracy"],
        record["val_perplexity"],
        record["tokens_per_s"],
    )


def schedule(run: Run, cfg: TrainConfig, average: dict[str, Any] | None) -> dict[str, Any]:
    """How the run's epochs went, in one record and one sentence (``what``)."""
    ran = len(run.history)
    if run.stop_epoch is None:
        what = f"ran the schedule's {ran} epochs"
    elif cfg.average_epochs == 0:
        what = f"early stopping after epoch {run.stop_epoch} of {cfg.epochs}"
    else:
        what = (f"early stopping fired after epoch {run.stop_epoch}; the average then ran to epoch {ran}")
    if average is not None:
        what += (f"; averaged epochs {average['first_epoch']}-{average['last_epoch']}, saved the "
                 + ("average" if average["used"] else f"best epoch ({run.stopper.best_epoch + 1})"))
    return {"epochs_planned": cfg.epochs, "epochs_run": ran, "early_stop_epoch": run.stop_epoch,
            "average_epochs": cfg.average_epochs, "what": what}


def summary(run: Run, stopped_early: bool, target: str, average: dict[str, Any] | None,
             cfg: TrainConfig) -> dict[str, Any]:
    """``metrics.json``: the saved weights' validation losses, the best epoch's training losses,
    and how the run went (``average``: the weight average's scores, when there is one;
    ``schedule``: the epochs planned and run, where early stopping fired and what it did)."""
    best = run.history[run.stopper.best_epoch]
    val = {k: _finite(best[f"val_{k}"]) for k in ("loss", "accuracy", "perplexity")}
    saved = f"epoch {run.stopper.best_epoch + 1}"
    if average is not None and average["used"]:
        val = dict(average["val"])
        saved = f"average of epochs {average['first_epoch']}-{average['last_epoch']}"
    return {
        "saved": saved,
        "best_epoch": run.stopper.best_epoch + 1,
        "epochs_run": len(run.history),
        "stopped_early": bool(stopped_early),
        "schedule": schedule(run, cfg, average),
        "resumed_from_epoch": run.resumed_from,
        "target": target,
        "train": {k: _finite(best[f"train_{k}"]) for k in ("loss", "accuracy", "perplexity")},
        "val": val,
        "average": average,
        "device": "gpu" if _gpus() else "cpu",
    }


def mean_speed(run: Run, out_dir) -> float:
    """The run's training speed, tokens per second averaged over its epochs, logged: a timing, so
    `tunesmith.training.loop.train` returns it but never writes it into the model folder ``out_dir``,
    whose hash DVC compares (identical weights trained twice make identical folders)."""
    speed = _finite(float(np.mean([h["tokens_per_s"] for h in run.history])))
    log.info("trained at %.0f tokens/s on average (a timing: logged, not kept in %s)", speed, out_dir)
    return speed


@dataclass
class Run:
    """Where a run stands: the model being fitted, its early-stopping counters and history."""

    fit_model: keras.Model
    stopper: EarlyStopping
    history: list[dict[str, float]]
    start_epoch: int
    resumed_from: int | None  # the epoch a resumed run continues after; None when fresh
    best_file: str | None  # the best epoch's weights in checkpoints/
    average: averaging.RunningMean | None = None  # the weight average so far (average_epochs)
    stop_epoch: int | None = None  # the 1-based epoch after which early stopping fired


