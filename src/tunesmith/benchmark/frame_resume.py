"""Checkpoints of the frame-wise LSTM (``<model folder>/checkpoints``): a killed ``bl_train_frame``
resumes after its last finished epoch.

After every epoch the whole model (weights and optimizer state) is saved as
``epoch-NNNN.keras``, the best weights so far as ``best-NNNN.weights.h5`` when the
epoch improved, then ``state.json`` names them: the commit point. A state written
for other params or other data (its ``key``) is not resumed; the folder's
checkpoint files are then removed and training starts afresh. Only the names
written here are ever removed.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from tunesmith.core.io import read_json, write_json

log = logging.getLogger(__name__)

STATE = "state.json"
_OURS = re.compile(r"^(epoch-\d{4}\.keras|best-\d{4}\.weights\.h5)$")


def plain(obj: Any) -> Any:
    """``obj`` as JSON gives it back (tuples become lists), so a key compares equal after a round trip."""
    return json.loads(json.dumps(obj, sort_keys=True))


def clear(ckpt_dir: Path) -> None:
    """Remove the checkpoint files this module writes (and nothing else)."""
    if not ckpt_dir.is_dir():
        return
    for path in ckpt_dir.iterdir():
        if _OURS.match(path.name) or path.name == STATE:
            path.unlink()


def load(ckpt_dir: Path, key: dict[str, Any], custom_objects: dict[str, Any]):
    """``(state, model)`` of a run with this ``key`` in ``ckpt_dir``, or ``(None, None)``."""
    import keras

    path = ckpt_dir / STATE
    if not path.is_file():
        return None, None
    state = read_json(path)
    if state.get("key") != plain(key):
        log.info("%s: a checkpoint of other params or data; training the frame model afresh", ckpt_dir)
        clear(ckpt_dir)
        return None, None
    try:
        model = keras.saving.load_model(ckpt_dir / state["model_file"], custom_objects=custom_objects)
    except Exception as exc:  # Keras raises many types for a damaged or missing file
        log.warning("%s: cannot load %s (%s: %s); training the frame model afresh", ckpt_dir,
                    state.get("model_file"), type(exc).__name__, str(exc)[:200])
        clear(ckpt_dir)
        return None, None
    log.info("resuming the frame model from %s after epoch %d (best %.4f at epoch %d)", ckpt_dir,
             state["epoch"], state["best"], state["best_epoch"] + 1)
    return state, model


def commit(ckpt_dir: Path, model, state: dict[str, Any], improved: bool) -> None:
    """Save epoch ``state["epoch"]``'s model (and best weights when ``improved``), then ``state.json``."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    n = int(state["epoch"])
    state["model_file"] = f"epoch-{n:04d}.keras"
    model.save(ckpt_dir / state["model_file"])
    if improved:
        state["best_file"] = f"best-{n:04d}.weights.h5"
        model.save_weights(ckpt_dir / state["best_file"])
    write_json(ckpt_dir / STATE, state)
    keep = {state["model_file"], state.get("best_file")}
    for path in ckpt_dir.iterdir():
        if _OURS.match(path.name) and path.name not in keep:
            path.unlink()
