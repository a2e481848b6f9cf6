"""The seeds stage (``make noise``): the current ``train.<corpus>`` recipe trained with k seeds.

Each seed trains into ``<out>/seed-<s>/`` (a model folder; a killed run resumes from its
checkpoints, a finished one is not trained again), is scored on the test split like the
evaluate stage's headline (every token with its piece's full context, with and without
the continuous cache), and the figures of all seeds go to ``seeds.json``
(`tunesmith.evaluation.noise.summarize`). The n-gram baselines do not depend on the seed: they are
fitted once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core import io
from tunesmith.core.errors import ConfigError
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


def _score_seed(model_dir: Path, vocab_dir: Path, baselines: Mapping[str, float]) -> dict[str, float]:
    """One trained seed's figures (`tunesmith.evaluation.noise.FIGURES`)."""
    from tunesmith.data.windows import load_split
    from tunesmith.evaluation.best_ngram import margin
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
    return {
        "test_nll": float(mixed),
        "test_nll_no_cache": float(alone),
        "val_nll": float(val),
        "margin_vs_best_ngram": margin(mixed, baselines["nll"]),
        "margin_vs_best_ngram_no_cache": margin(alone, baselines["nll"]),
        "margin_vs_best_ngram_with_cache": margin(mixed, baselines["nll_with_cache"]),
    }


def seeds_stage(corpus: str, train_params: Mapping[str, Any], seeds: Sequence[int], ngram_order: int,
                vocab_dir: Path, out_dir: Path, metrics: Path) -> dict[str, Any]:
    """Train ``train_params`` once per seed (the ``seed`` key replaced), score each, write ``metrics``.

    Returns what ``seeds.json`` holds: the `tunesmith.evaluation.noise.summarize` record (each figure's
    per-seed ``values`` in ``seeds`` order, ``mean``, ``sd``, ``n``; the ``params_hash`` of ``train.<corpus>``
    without its seed) and the n-gram ``baselines``. Each seed's schedule is logged.
    """
    from tunesmith.pipeline.train import train_stage

    seeds = check_seeds(list(seeds))
    vocab_dir, out_dir = Path(vocab_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = {k: v for k, v in train_params.items() if k != "seed"}
    baselines = _baselines(vocab_dir, ngram_order)
    per_seed: dict[int, dict[str, Any]] = {}
    for i, seed in enumerate(seeds, 1):
        model_dir = out_dir / f"seed-{seed}"
        log.info("%s: seed %d (%d of %d) -> %s", corpus, seed, i, len(seeds), model_dir)
        train_stage(corpus, {**recipe, "seed": seed}, vocab_dir, model_dir, live_dir=model_dir / "live",
                    metrics=model_dir / "train.json")
        per_seed[seed] = _score_seed(model_dir, vocab_dir, baselines)
        schedule = (read_json_bounded(model_dir / "metrics.json", allow=NUMBERS).get("schedule") or {}).get("what")
        log.info("%s: seed %d: %s", corpus, seed, schedule)
        log.info("%s: seed %d: test NLL %.4f with the cache, %.4f alone; validation %.4f", corpus, seed,
                 per_seed[seed]["test_nll"], per_seed[seed]["test_nll_no_cache"], per_seed[seed]["val_nll"])
    record = summarize(per_seed, params=recipe, corpus=corpus)
    record["baselines"] = baselines
    io.write_json(metrics, record)
    for name, fig in record["figures"].items():
        log.info("%s: %s: %.4f +- %.4f (n=%d)", corpus, name, fig["mean"], fig["sd"] or 0.0, fig["n"])
    return record


__all__ = ["check_seeds", "params_hash", "seeds_stage"]
