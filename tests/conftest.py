"""What the tests share: a tiny essen vocabulary, a tiny trained model (trained once per session),
the registry's tracks for contract tests, and the `slow` marker of whole modules.

``make test-fast`` runs ``pytest -m "not slow"``: every module below whose tests train models for
real, run DVC pipelines, browsers or subprocess catalogues is marked slow as a whole.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

ESSEN_VOCAB = {"symbols": ["/", "<unk>", "60", "62", "64", "_", "r"], "special": {"end": "/", "unk": "<unk>"},
               "corpus": "essen", "encode": {"time_step": 0.25}, "prepare": {}}
"""A tiny essen vocabulary: end token ``/``, ``<unk>``, three pitches, the hold and the rest."""

SLOW_MODULES = frozenset({
    "test_pipeline_e2e", "test_pipeline_e2e_experiments", "test_workflow", "test_bad_input", "test_bad_input_round2",
    "test_bad_input_round3_files",
    "test_real_corpora",
    "test_report", "test_compare", "test_training", "test_carried", "test_dvc_deps", "test_samples",
    "test_download", "test_benchmark_fetch", "test_render",
})
"""Modules marked slow as a whole (about 85% of the suite's time); the rest runs in about a minute."""


LONGEST_FIRST = ("test_pipeline_e2e", "test_pipeline_e2e_experiments", "test_training", "test_bad_input_round2",
                 "test_multidevice", "test_experiments", "test_noise_fanout", "test_repro_fanout", "test_dvc_deps",
                 "test_bad_input", "test_compare", "test_models", "test_generation")
LAST = ()
"""``make test`` hands whole modules to pytest-xdist's workers in collection order (``--dist loadfile
--no-loadscope-reorder``: a module's fixtures are built once, its tests keep their order), and this is the
order: the longest modules first, so the e2e module, which reproduces the tiny pipeline that both e2e modules
copy, starts at once, and the other e2e module on a second worker, which waits for that pipeline while the
build's own processes keep the cores busy; then both run side by side. (Last, as before, it ran after the
first on the same worker, and the suite's last 30 s ran on one core: 2-core machine, 3 workers.) The
fan-out modules wait on DVC's queue workers most of their time, so they start before the modules that
only compute: the three workers then end within 5 s of each other (313 s against 330 s, which ended
23 s apart)."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    def module(item) -> str | None:
        return item.module.__name__.rsplit(".", 1)[-1] if item.module is not None else None

    for item in items:
        if module(item) in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)} | {name: 1000 + k for k, name in enumerate(LAST)}
    items.sort(key=lambda item: rank.get(module(item), len(LONGEST_FIRST)))  # stable: collection order otherwise


def tiny_ids(seed: int = 0, n: int = 400) -> np.ndarray:
    """Random ids of :data:`ESSEN_VOCAB` with the end token where split arrays have it (0, 99, -1):
    ``ids`` is a train split, ``ids[:100]`` a validation split."""
    ids = np.random.default_rng(seed).integers(0, len(ESSEN_VOCAB["symbols"]), n).astype(np.uint16)
    ids[[0, 99, -1]] = ESSEN_VOCAB["symbols"].index(ESSEN_VOCAB["special"]["end"])
    return ids


def train_tiny(out: Path, *, seed: int = 0, **train_cfg) -> dict:
    """Train an 8-unit LSTM on :func:`tiny_ids` for one epoch (``train_cfg`` overrides) into ``out``."""
    from tunesmith.config.train import TrainConfig
    from tunesmith.modeling.models import ModelConfig
    from tunesmith.training.loop import train

    ids = tiny_ids(seed)
    cfg = {"window": 8, "batch_size": 8, "epochs": 1, "patience": 2, "context": "window", "average_epochs": 0,
           "cache": False, **train_cfg}
    return train(ModelConfig(units=8, embedding_dim=4, dropout=0.0), TrainConfig(**cfg), ESSEN_VOCAB, ids,
                 ids[:100], out)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A trained tiny essen model folder, shared by the session: copy it before changing it."""
    out = tmp_path_factory.mktemp("tiny-model") / "essen"
    train_tiny(out)
    return out


@pytest.fixture
def tiny_model_copy(tiny_model_dir, tmp_path) -> Path:
    """A private copy of :func:`tiny_model_dir` to damage or retrain."""
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    return copy


TRACK_NAMES = ("nottingham", "essen", "classical")
"""The registry's tracks (`tunesmith.tracks.TRACKS`; a test checks the two agree)."""


@pytest.fixture
def no_retry_wait(monkeypatch) -> None:
    """pooch's retries without their waits (1 s, 2 s, ... between attempts): the attempts still happen."""
    import types

    monkeypatch.setattr("pooch.core.time", types.SimpleNamespace(sleep=lambda seconds: None))
