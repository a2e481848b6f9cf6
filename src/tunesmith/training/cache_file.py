"""The cache's file in a model folder: its weight and sharpness chosen on validation after training (cache.json)."""

from __future__ import annotations

import numpy as np

from tunesmith.modeling.cache import SIMILARITY, Cache, fit_cache, iter_piece_states

CACHE_FILE = "cache.json"
"""The fitted cache in a model folder (written by the train stage; absent = no cache)."""


def fit_model_cache(model_dir, val_ids: np.ndarray, *, enabled: bool = True) -> dict:
    """Fit the cache of the model in ``model_dir`` on the validation split and write ``cache.json``.

    ``enabled=False`` writes an off cache (``lambda 0``), so a folder never keeps a stale one.
    A model that cannot be run over whole pieces (``bilstm``) gets an off cache too.

    Returns what ``cache.json`` holds: ``lambda``, ``theta``, ``similarity`` (what ``theta``
    scales), ``chosen_on``, ``validation_nll`` (the chosen pair's), ``validation_nll_without`` (the
    LSTM alone) and ``grid`` (every pair).
    """
    from pathlib import Path

    from tunesmith.core.io import write_json
    from tunesmith.modeling.models import predicts_every_position
    from tunesmith.training.bundle import load_model_bundle

    model_dir = Path(model_dir)
    model, model_cfg, _, vocab = load_model_bundle(model_dir)
    if not enabled or not predicts_every_position(model_cfg):
        record = {"lambda": 0.0, "theta": 1.0, "chosen_on": None,
                  "why_off": "switched off (train.<corpus>.cache: false)" if not enabled else
                  f"{model_cfg.family} cannot be run over whole pieces"}
    else:
        symbols = list(vocab["symbols"])
        pieces = iter_piece_states(model, model_cfg, val_ids, symbols.index(vocab["special"]["end"]), len(symbols))
        cache, grid = fit_cache(pieces)
        record = {"lambda": cache.lam, "theta": cache.theta, "similarity": SIMILARITY, "chosen_on": "validation",
                  "validation_nll": min(grid.values()), "validation_nll_without": grid["lambda=0"],
                  "grid": grid}
    write_json(model_dir / CACHE_FILE, record)
    return record


def load_cache(model_dir) -> Cache:
    """The cache of a model folder: ``cache.json``, or an off cache when there is none.

    Raises:
        ArtifactError: ``cache.json`` is there but not a cache, or an on cache fitted under
            another similarity (an older tunesmith's dot product: its ``theta`` means something
            else); the message names the file.
    """
    from pathlib import Path

    from tunesmith.core.errors import ArtifactError
    from tunesmith.core.io import read_json

    path = Path(model_dir) / CACHE_FILE
    if not path.is_file():
        return Cache()
    record = read_json(path)
    try:
        cache = Cache(float(record["lambda"]), float(record["theta"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path} is not a cache written by the train stage: {type(exc).__name__}: {exc}") from exc
    if cache.on and record.get("similarity", "dot") != SIMILARITY:
        raise ArtifactError(f"{path} was fitted with the {record.get('similarity', 'dot')!s:.20} product of hidden "
                            f"states, this tunesmith scores the {SIMILARITY}: rerun the train stage to refit it")
    return cache
