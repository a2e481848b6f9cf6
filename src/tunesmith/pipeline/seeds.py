"""Seed noise (``make noise``): the current ``train.<corpus>`` recipe trained with k seeds.

`seed_stage` trains one seed into its own model folder (a DVC matrix stage per track and seed, so
seeds fan out over queue workers or machines; a killed run resumes from its checkpoints) and scores
it on the test split like the evaluate stage's headline (every token with its piece's full context,
with and without the continuous cache). `summary_stage` assembles ``seeds.json``
(`tunesmith.evaluation.noise.summarize`) from whatever seeds have been trained with the current
recipe, and fits the n-gram baselines, which do not depend on the seed, once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core import io
from tunesmith.core.errors import ArtifactError, ConfigError
from tunesmith.core.safe_json import NUMBERS, read_json_bounded
from tunesmith.core.vocab import read_vocab_json
from tunesmith.evaluation.noise import params_hash, summarize

log = logging.getLogger(__name__)


def check_seeds(seeds: Any, key: str = "noise.seeds") -> list[int]:
    """The seed list of params.yaml: at least two distinct non-negative integers."""
    if not isinstance(seeds, list) or len(seeds) < 2 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"{key} must be a list of at least two non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{key} lists a seed twice: {seeds!r}")
    return list(seeds)


def _baselines(vocab_dir: Path, ngram_order: int) -> dict[str, float]:
    """The best n-gram's test NLL, alone and with its own cache (chosen on validation)."""
    from tunesmith.data.windows import load_split
    from tunesmith.evaluation.best_ngram import best_ngram_table
    from tunesmith.evaluation.ngram import KneserNey
    from tunesmith.evaluation.ngram_cache import kn_cache_row

    vocab = read_vocab_json(vocab_dir / "vocab.json")
    symbols = list(vocab["symbols"])
    end_id = symbols.index(vocab["special"]["end"])
    train_ids, val_ids, test_ids = (np.asarray(load_split(vocab_dir, s)) for s in ("train", "validation", "test"))
    _, best = best_ngram_table(train_ids, val_ids, test_ids, len(symbols),
                               orders=range(min(2, ngram_order), ngram_order + 1))
    kn = KneserNey.fit(train_ids, len(symbols), best["order"])
    with_cache = kn_cache_row(kn, val_ids, test_ids, end_id)
    return {"name": best["name"], "nll": float(best["nll"]), "nll_with_cache": float(with_cache["nll"])}


SEED_FILE = "seed.json"
"""In each seed's model folder: the seed, the hash of the recipe it was trained with, its figures."""


def seed_folder(runs_dir: Path, seed: int) -> Path:
    """Where seed ``seed`` of a track trains: ``<runs_dir>/seed-<seed>``."""
    return Path(runs_dir) / f"seed-{seed}"


def _score_seed(model_dir: Path, vocab_dir: Path) -> dict[str, float]:
    """One trained seed's NLLs: test with and without the cache, validation."""
    from tunesmith.data.windows import load_split
    from tunesmith.evaluation.full_context import full_context_metrics
    from tunesmith.training.bundle import load_model_bundle
    from tunesmith.training.cache_file import load_cache

    model, model_cfg, _, vocab = load_model_bundle(model_dir)
    symbols = list(vocab["symbols"])
    end_id = symbols.index(vocab["special"]["end"])
    test_ids = np.asarray(load_split(vocab_dir, "test"))
    alone = full_context_metrics(model, model_cfg, test_ids, end_id, len(symbols))["nll"]
    cache = load_cache(model_dir)
    mixed = (full_context_metrics(model, model_cfg, test_ids, end_id, len(symbols), cache=cache)["nll"]
             if cache.on else alone)
    val = read_json_bounded(model_dir / "metrics.json", allow=NUMBERS)["val"]["loss"]
    return {"test_nll": float(mixed), "test_nll_no_cache": float(alone), "val_nll": float(val)}


def with_margins(figures: Mapping[str, float], baselines: Mapping[str, float]) -> dict[str, float]:
    """A seed's figures (`tunesmith.evaluation.noise.FIGURES`): its NLLs and their margins below the
    best n-gram's, alone and with its own cache."""
    from tunesmith.evaluation.best_ngram import margin

    mixed, alone = figures["test_nll"], figures["test_nll_no_cache"]
    return {**figures,
            "margin_vs_best_ngram": margin(mixed, baselines["nll"]),
            "margin_vs_best_ngram_no_cache": margin(alone, baselines["nll"]),
            "margin_vs_best_ngram_with_cache": margin(mixed, baselines["nll_with_cache"])}


def _recipe(train_params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in train_params.items() if k != "seed"}


def seed_stage(corpus: str, train_params: Mapping[str, Any], seed: int, vocab_dir: Path, out_dir: Path, *,
               checkpoints: Path | None = None) -> dict[str, Any]:
    """Train ``train_params`` with its ``seed`` replaced by ``seed`` into ``out_dir`` (checkpoints in
    ``checkpoints``, default ``out_dir/checkpoints``), score it and write ``out_dir/seed.json``:
    ``{"corpus", "seed", "params_hash", "figures"}`` (the recipe's hash without its seed). Returns that record.
    One seed of ``make noise``: a `noise/dvc.yaml` matrix stage, so seeds train in parallel."""
    from tunesmith.pipeline.train import train_stage

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"a seed of noise.seeds must be a non-negative integer, got {seed!r}")
    vocab_dir, out_dir = Path(vocab_dir), Path(out_dir)
    recipe = _recipe(train_params)
    train_stage(corpus, {**recipe, "seed": seed}, vocab_dir, out_dir, live_dir=out_dir / "live",
                metrics=out_dir / "train.json", checkpoints=checkpoints)
    figures = _score_seed(out_dir, vocab_dir)
    schedule = (read_json_bounded(out_dir / "metrics.json", allow=NUMBERS).get("schedule") or {}).get("what")
    log.info("%s: seed %d: %s", corpus, seed, schedule)
    log.info("%s: seed %d: test NLL %.4f with the cache, %.4f alone; validation %.4f", corpus, seed,
             figures["test_nll"], figures["test_nll_no_cache"], figures["val_nll"])
    record = {"corpus": corpus, "seed": seed, "params_hash": params_hash(recipe), "figures": figures}
    io.write_json(out_dir / SEED_FILE, record)
    return record


def _trained_seeds(corpus: str, recipe_hash: str, seeds: Sequence[int], runs_dir: Path) -> dict[int, dict]:
    """The figures of each seed of ``seeds`` trained in ``runs_dir`` with this recipe; the others are
    logged (not trained yet, or trained with another recipe) and left out."""
    found: dict[int, dict] = {}
    for seed in seeds:
        path = seed_folder(runs_dir, seed) / SEED_FILE
        record = read_json_bounded(path, allow=NUMBERS) if path.is_file() else None
        if record is None:
            log.warning("%s: seed %d: no %s yet: left out", corpus, seed, path)
        elif record.get("params_hash") != recipe_hash or record.get("seed") != seed:
            log.warning("%s: seed %d: %s belongs to another recipe: left out", corpus, seed, path)
        else:
            found[seed] = record["figures"]
    return found


def summary_stage(corpus: str, train_params: Mapping[str, Any], seeds: Sequence[int], ngram_order: int,
                  vocab_dir: Path, runs_dir: Path, metrics: Path) -> dict[str, Any]:
    """seeds.json from whatever seeds of ``seeds`` have been trained in ``runs_dir`` with the current
    ``train.<corpus>`` recipe (`seed_stage`'s ``seed.json``): the `tunesmith.evaluation.noise.summarize`
    record (each figure's per-seed ``values`` in seed order, ``mean``, ``sd``, ``n``; the recipe's
    ``params_hash``) and the n-gram ``baselines``, fitted once here.

    Raises:
        ConfigError: a bad seed list (`check_seeds`).
        ArtifactError: no seed trained with this recipe.
    """
    seeds = check_seeds(list(seeds))
    recipe = _recipe(train_params)
    found = _trained_seeds(corpus, params_hash(recipe), seeds, Path(runs_dir))
    if not found:
        raise ArtifactError(f"seeds@{corpus}: no seed of {seeds} trained with train.{corpus} in {runs_dir}: "
                            f"run noise/dvc.yaml's seed stages first")
    baselines = _baselines(Path(vocab_dir), ngram_order)
    record = summarize({s: with_margins(f, baselines) for s, f in found.items()}, params=recipe, corpus=corpus)
    record["baselines"] = baselines
    io.write_json(metrics, record)
    for name, fig in record["figures"].items():
        log.info("%s: %s: %.4f +- %.4f (n=%d)", corpus, name, fig["mean"], fig["sd"] or 0.0, fig["n"])
    return record


def seeds_stage(corpus: str, train_params: Mapping[str, Any], seeds: Sequence[int], ngram_order: int,
                vocab_dir: Path, out_dir: Path, metrics: Path) -> dict[str, Any]:
    """Every seed one after the other in this process (`seed_stage` into ``<out_dir>/seed-<s>``), then
    `summary_stage`: what ``make noise`` runs as a matrix of stages, for notebooks and tests."""
    seeds = check_seeds(list(seeds))
    for i, seed in enumerate(seeds, 1):
        log.info("%s: seed %d (%d of %d) -> %s", corpus, seed, i, len(seeds), seed_folder(out_dir, seed))
        seed_stage(corpus, train_params, seed, vocab_dir, seed_folder(out_dir, seed))
    return summary_stage(corpus, train_params, seeds, ngram_order, vocab_dir, out_dir, metrics)


__all__ = ["check_seeds", "params_hash", "seed_stage", "seeds_stage", "summary_stage", "with_margins"]
