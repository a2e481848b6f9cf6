"""``bl_pooled``: one token LSTM trained on the four training sets together, each set scored on its own test set.

Walder ("Modelling Symbolic Music: Beyond the Piano Roll", 2016) reports such a
pooled model beside the per-set ones. Notes per frame has one fixed vocabulary
(88 pitches, frame end, piece end) whatever the set, so the four sets' ids pool
as they are: the split arrays are joined piece end to piece end, and the model
is selected on the four validation sets joined the same way. The record,
``data/metrics/pooled/evaluate.json``, holds each set's validation and test scores
under ``sets``; with ``benchmark.pooled.enabled: false`` (the default) the stage
only writes ``{"enabled": false}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tunesmith.benchmark.settings import PooledConfig
from tunesmith.core import io
from tunesmith.core.errors import ArtifactError
from tunesmith.tracks.piano import notes_per_frame as npf

log = logging.getLogger(__name__)

SKIPPED = "skipped.json"
"""What a disabled run leaves in the model folder (removed when a run trains there)."""


def pooled_vocab(encoded: Mapping[str, Path]) -> dict:
    """The one vocabulary every set's ``vocab.json`` holds (its ``corpus`` meta set to ``pooled``).

    Raises:
        ArtifactError: a set's symbols differ from the notes-per-frame vocabulary (names the file).
    """
    for name, folder in encoded.items():
        symbols = list(io.read_json(folder / "vocab.json")["symbols"])
        if symbols != list(npf.SYMBOLS):
            raise ArtifactError(f"{folder / 'vocab.json'}: {name}'s symbols are not the {len(npf.SYMBOLS)} "
                                "notes-per-frame symbols; re-run bl_encode before pooling")
    return npf.vocabulary(corpus="pooled", sets=list(encoded)).to_json()


def pool_ids(arrays: list[np.ndarray]) -> np.ndarray:
    """Split arrays ``[END] p1 ... [END]`` joined into one: each after the first loses its leading END."""
    for i, ids in enumerate(arrays):
        if ids.size < 1 or ids[0] != npf.PIECE_END_ID or ids[-1] != npf.PIECE_END_ID:
            raise ArtifactError(f"split array {i} does not start and end with the piece end (id {npf.PIECE_END_ID})")
    parts = [arrays[0], *(ids[1:] for ids in arrays[1:])]
    return np.concatenate(parts).astype(arrays[0].dtype)


def pooled_split(encoded: Mapping[str, Path], split: str) -> np.ndarray:
    """The sets' ``split`` ids, pooled in the order given."""
    return pool_ids([np.load(folder / f"{split}.npy", allow_pickle=False) for folder in encoded.values()])


def run_pooled(encoded: Mapping[str, Path], cfg: PooledConfig, model_dir: Path, live_dir: Path | None) -> dict:
    """Train (or, disabled, skip) the pooled model and score it on each set; the stage's record."""
    model_dir = Path(model_dir)
    if not cfg.enabled:
        model_dir.mkdir(parents=True, exist_ok=True)
        io.write_json(model_dir / SKIPPED, {"enabled": False})
        log.info("benchmark.pooled.enabled is false: the pooled model is not trained")
        return {"enabled": False}
    (model_dir / SKIPPED).unlink(missing_ok=True)
    from tunesmith.benchmark.pipeline import epoch_ids
    from tunesmith.benchmark.scoring import score_token_model
    from tunesmith.training.bundle import load_model_bundle
    from tunesmith.training.loop import train

    vocab = pooled_vocab(encoded)
    train_ids, val_ids = pooled_split(encoded, "train"), pooled_split(encoded, "validation")
    log.info("pooled training: %s, %d train tokens, random shift %s", ", ".join(encoded), train_ids.size,
             list(cfg.random_shift))
    start = time.perf_counter()
    summary = train(cfg.model, cfg.train, vocab, train_ids, val_ids, model_dir, live_dir=live_dir,
                    epoch_ids=epoch_ids(train_ids, cfg.random_shift, cfg.train.seed))
    seconds = round(time.perf_counter() - start, 1)
    model, model_cfg, _, _ = load_model_bundle(model_dir)
    sets = {}
    for name, folder in encoded.items():
        sets[name] = {split: {"lstm": score_token_model(model, model_cfg,
                                                        np.load(folder / f"{split}.npy", allow_pickle=False))}
                      for split in ("validation", "test")}
        log.info("pooled model on %s: test %.4f nats/frame", name, sets[name]["test"]["lstm"]["nll_per_frame"])
    return {"enabled": True, "sets": sets, "train_seconds": seconds, "best_epoch": summary.get("best_epoch"),
            "train_tokens": int(train_ids.size), "random_shift": list(cfg.random_shift)}
