"""The cache's file in a model folder: its weight and sharpness chosen on validation after training (cache.json)."""

from __future__ import annotations

import numpy as np

from tunesmith.modeling.cache import SIMILARITY, Cache, fit_cache, iter_piece_states

MAX_THETA = 1e4
"""The largest ``theta`` read back (the grid's largest: 120): beyond, ``theta`` x a cosine overflows
the softmax's exponent range in float32."""
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
    from tunesmith.core.safe_json import need_mapping, need_number, need_str, printable, read_json_bounded

    path = Path(model_dir) / CACHE_FILE
    if not path.is_file():
        return Cache()
    record = read_json_bounded(path)
    try:
        record = need_mapping(record, str(path), "the top level")
        cache = Cache(need_number(record.get("lambda"), str(path), "lambda", 0.0, 0.999999),
                      need_number(record.get("theta"), str(path), "theta", 1e-6, MAX_THETA))
        similarity = need_str(record.get("similarity", "dot"), str(path), "similarity", 40)
    except ArtifactError as exc:
        raise ArtifactError(f"{path} is not a cache written by the train stage: "
                            f"{str(exc).removeprefix(f'{path}: ')}") from exc
    if cache.on and similarity != SIMILARITY:
        raise ArtifactError(f"{path} was fitted with the {printable(similarity, keep_newlines=False)} product of "
                            f"hidden states, this tunesmith scores the {SIMILARITY}: rerun the train stage to refit it")
    return cache
