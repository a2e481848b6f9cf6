"""``checkpoints/state.json`` read back: bounded, and every field a resumed run uses checked.

A state.json that fails here is set aside as corrupt (`checkpoints`), like a damaged checkpoint
file: training starts afresh instead of stopping with a traceback on every rerun.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.config.train import MAX_EPOCHS
from tunesmith.core.errors import ArtifactError
from tunesmith.core.safe_json import (
    got,
    need_bool,
    need_int,
    need_mapping,
    need_number,
    need_str,
    read_json_bounded,
)

MAX_RNG_STATES = 4096
"""The most layer RNG states a state.json may hold (one per dropout-carrying layer)."""
_RNG_LOW, _RNG_HIGH = -(1 << 63), (1 << 64) - 1  # an int64 or uint64 SeedGenerator state


def read_state(path: Path) -> Any:
    """``state.json`` parsed with limits; ``Infinity`` (a best loss before any finite one) and ``NaN``
    (a diverged epoch's loss) are what tunesmith writes there, so they are read.

    Raises:
        ArtifactError: too large, too deep, not JSON (one line naming the file).
    """
    return read_json_bounded(path, allow=("Infinity", "NaN"))


def check_state(state: Mapping[str, Any], path: Path) -> None:
    """Check the fields a resumed run reads (`loop._resume`, `averaging.resumed_mean`).

    Raises:
        ArtifactError: one line naming the file and the field.
    """
    where = str(path)
    epoch = need_int(state.get("epoch"), where, "epoch", 1, MAX_EPOCHS)
    need_str(state.get("model_file"), where, "model_file", 200)
    need_str(state.get("best_weights_file"), where, "best_weights_file", 200, optional=True)
    best_epoch = need_int(state.get("best_epoch"), where, "best_epoch", -1, epoch - 1)
    best = state.get("best_val_loss")
    if not (best == math.inf and best_epoch == -1):  # inf: no epoch has improved yet
        need_number(best, where, "best_val_loss")
    need_int(state.get("wait"), where, "wait", 0, epoch)
    if state.get("stop_epoch") is not None:
        need_int(state["stop_epoch"], where, "stop_epoch", 1, epoch)
    need_int(state.get("seed"), where, "seed", 0, (1 << 63) - 1)
    if "stopped_early" in state:
        need_bool(state["stopped_early"], where, "stopped_early")
    _check_rng(state.get("rng", {}), where)
    _check_history(state.get("history"), where, epoch)
    if state.get("average") is not None:
        average = need_mapping(state["average"], where, "average")
        need_str(average.get("file"), where, "average.file", 200)
        need_int(average.get("first_epoch"), where, "average.first_epoch", 1, epoch)
        need_int(average.get("count"), where, "average.count", 1, epoch)


def _check_rng(rng: Any, where: str) -> None:
    rng = need_mapping(rng, where, "rng")
    if len(rng) > MAX_RNG_STATES:
        raise ArtifactError(f"{where}: rng holds {len(rng):,} states (at most {MAX_RNG_STATES:,})")
    for name, values in rng.items():
        if not isinstance(values, list) or not 1 <= len(values) <= 16:
            raise ArtifactError(f"{where}: rng.{name:.40} must be a list of 1 to 16 integers, got {got(values)}")
        for i, value in enumerate(values):
            need_int(value, where, f"rng.{name:.40}[{i}]", _RNG_LOW, _RNG_HIGH)


def _check_history(history: Any, where: str, epoch: int) -> None:
    if not isinstance(history, list) or len(history) > epoch:
        raise ArtifactError(f"{where}: history must be a list of at most {epoch} epoch records (its epoch), "
                            f"got {got(history) if not isinstance(history, list) else f'{len(history):,}'}")
    for i, record in enumerate(history):
        record = need_mapping(record, where, f"history[{i}]")
        for key, value in record.items():
            need_number(value, where, f"history[{i}].{key:.40}", finite=False)
