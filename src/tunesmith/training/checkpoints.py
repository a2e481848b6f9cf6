"""Checkpoints in ``out_dir/checkpoints``: what makes a killed run resume where it stopped.

After every epoch the full model (with optimizer state) and, when it improved,
the best weights are written atomically, then ``state.json`` is replaced -- the
commit point. Files the state does not name are leftovers of an interrupted
write and are deleted; a checkpoint file that cannot be loaded is set aside
(``*.corrupt``) and training starts afresh.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tunesmith.config.model import ModelConfig
from tunesmith.config.train import STATE_FORMAT, TrainConfig
from tunesmith.core.errors import ArtifactError, one_line
from tunesmith.core.io import write_json
from tunesmith.training.bundle import (
    _save_model_atomic,
    _save_weights_atomic,
    check_archive_sizes,
    vocab_fingerprint,
    vocab_symbols,
    weights_bound,
)
from tunesmith.training.state_file import check_state, read_state

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "state.json"
# Fields that may change between an interrupted run and its continuation:
# they decide when to stop and how much to validate, not what is learnt.
_RESUMABLE_FIELDS = frozenset({"epochs", "patience", "min_delta", "validation_steps", "cache",
                               "max_padding"})  # max_padding acts through batch_size, which is in the key


TRAINING_PACKAGES = ("core", "config", "data", "modeling", "evaluation", "training")
"""The packages whose code decides what a run learns and which weights it keeps (``evaluation``
scores the validation split): a checkpoint resumes only under the same code."""

AFTER_TRAINING = ("modeling/cache.py", "training/cache_file.py")
"""Files of those packages that run only once the weights are kept (the continuous cache, fitted
on validation after training): a change to them refits the cache, it does not retrain."""


def code_digest(root: Path, packages: tuple[str, ...] = TRAINING_PACKAGES,
                skip: tuple[str, ...] = AFTER_TRAINING) -> str:
    """sha256 over the path and bytes of every ``.py`` file in ``packages`` under ``root``, but
    ``skip`` (paths relative to ``root``)."""
    h = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name not in skip:
                h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _training_code() -> str:
    return code_digest(Path(__file__).resolve().parents[1])


def _compat_key(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    vocab: Mapping[str, Any],
    target: str,
    policy: str,
) -> dict[str, Any]:
    train = {k: v for k, v in dataclasses.asdict(train_cfg).items() if k not in _RESUMABLE_FIELDS}
    train["target"] = target
    train["dtype_policy"] = policy  # what ran: the same params train in another precision elsewhere
    key = {
        "model": dataclasses.asdict(model_cfg),
        "train": train,
        "vocab_size": len(vocab_symbols(vocab)),
        "vocab_sha256": vocab_fingerprint(vocab),
        # a finished run's checkpoints stay (the model folder persists for resuming): without
        # this, retraining after a change to the training code would hand back the old model
        "code_sha256": _training_code(),
    }
    return json.loads(json.dumps(key))  # as state.json gives it back: tuples become lists


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


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
                path, one_line(why, 300), aside.name)
    return aside


def _checkpoint_problem(path: Path, weights: int) -> str | None:
    """Why the checkpoint file ``path`` cannot be loaded, or None when it looks whole; a zip whose
    members declare more than ``weights`` bytes (`bundle.weights_bound`) is refused uninflated."""
    if path.stat().st_size == 0:
        return "0 bytes"
    if path.suffix in (".keras", ".npz"):  # both zip archives
        if not zipfile.is_zipfile(path):
            return "not a zip archive: truncated?"
        try:
            check_archive_sizes(path, weights)
        except ArtifactError as exc:
            return str(exc).removeprefix(f"{path}: ")
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


def _plain_name(name: Any) -> bool:
    """A bare file name (no folder, no ``..``, not absolute): all a state.json may name."""
    return isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name and "\\" not in name


def _load_state(ckpt_dir: Path, compat: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint state if it can be resumed, else None (discarding what is there)."""
    path = ckpt_dir / STATE_FILE
    if not path.is_file():
        if ckpt_dir.exists():
            _clear_checkpoints(ckpt_dir)  # files from before any epoch finished
        return None
    try:
        state = read_state(path)
        if not isinstance(state, dict):
            raise ArtifactError(f"{path} holds a {type(state).__name__}, not a checkpoint state")
    except (OSError, ValueError) as exc:  # ArtifactError is a ValueError
        _set_aside(path, str(exc).removeprefix(f"{path} "))
        _clear_checkpoints(ckpt_dir)
        return None
    ok = state.get("format") == STATE_FORMAT
    named = [state.get(k) for k in ("model_file", "best_weights_file")] if ok else []
    if ok and isinstance(state.get("average"), dict):
        named.append(state["average"].get("file"))
    for name in named:
        if isinstance(name, str) and not _plain_name(name):
            # a path out of the folder: never follow it, never rename or delete what it names
            raise ArtifactError(f"{path}: {name!r:.120} is not a file name inside {ckpt_dir}; this state.json "
                                "was not written by tunesmith (remove the checkpoints folder to start afresh)")
    if ok and state.get("compat") != compat:
        changes = one_line("; ".join(_diff(state.get("compat"), compat)), 1000)
        log.warning(
            "discarding checkpoint in %s: config changed since it was written (%s)",
            ckpt_dir,
            changes,
        )
        ok = False
    if ok:
        try:
            check_state(state, path)
        except ArtifactError as exc:
            _set_aside(path, str(exc).removeprefix(f"{path}: "))
            _clear_checkpoints(ckpt_dir)
            return None
    if ok and not all((ckpt_dir / name).is_file() for name in named if name is not None):
        log.warning(
            "discarding checkpoint in %s: a file named in %s is missing", ckpt_dir, STATE_FILE
        )
        ok = False
    weights = weights_bound(ModelConfig(**compat["model"]), compat["vocab_size"]) if ok else 0
    for name in named if ok else []:
        why = _checkpoint_problem(ckpt_dir / name, weights) if name is not None else None
        if why is not None:
            _set_aside(ckpt_dir / name, why)
            ok = False
    if not ok:
        _clear_checkpoints(ckpt_dir)
        return None
    return state



def _commit_epoch(
    ckpt_dir: Path,
    fit_model: keras.Model,
    *,
    compat: dict[str, Any],
    epoch: int,
    improved: bool,
    best_file: str | None,
    stopper: Any,
    stopped_early: bool,
    seed: int,
    history: list[dict[str, float]],
    average: dict[str, Any] | None = None,
    stop_epoch: int | None = None,
) -> str | None:
    """Checkpoint the 0-based ``epoch`` just fitted: the model, the best weights when
    ``improved``, then ``state.json`` (the commit point); prune the rest.

    ``stopper`` is the run's `EarlyStopping`; ``average`` the ``state.json`` entry of
    the weight average already written (`averaging.RunningMean.save`), if any.
    Returns the best weights' file name.
    """
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
        "stop_epoch": stop_epoch,
        "seed": seed,
        "data_order": "numpy permutation seeded by SeedSequence([seed, epoch])",
        "rng": _seed_states(fit_model),
        "history": history,
        "average": average,
    }
    write_json(ckpt_dir / STATE_FILE, state)  # the commit point
    _prune(ckpt_dir, {model_file, best_file} | ({average["file"]} if average else set()))
    return best_file
