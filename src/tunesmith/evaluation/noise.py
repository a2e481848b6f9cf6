"""Seed noise: a training run is one draw, so a track's figures are a mean, an sd and an n.

``data/metrics/<corpus>/seeds.json`` (written by the seeds stage, ``make noise``) holds,
for each headline figure, the value of every seed and their ``mean``, ``sd`` (the
sample standard deviation, ``ddof=1``) and ``n``, with the hash of the params the
seeds were trained with. Comparisons read it: a difference between two revisions is
"within noise" unless it exceeds :func:`noise_band`.

Pure functions only (no TensorFlow): the compare page imports this module.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

FIGURES: dict[str, str] = {
    "test_nll": "test NLL, LSTM + cache (nats/token)",
    "test_nll_no_cache": "test NLL, LSTM alone (nats/token)",
    "val_nll": "validation NLL of the saved weights, LSTM alone (nats/token)",
    "margin_vs_best_ngram": "margin below the best n-gram, LSTM + cache",
    "margin_vs_best_ngram_no_cache": "margin below the best n-gram, LSTM alone",
    "margin_vs_best_ngram_with_cache": "margin below the best n-gram with its own cache, LSTM + cache",
}
"""The figures seeds.json holds per seed, and what each one is."""

BAND_FACTOR = 2.0 * math.sqrt(2.0)
"""Between two single runs a difference counts once it exceeds 2 x sqrt(2) x the pooled seed
sd: two standard deviations of the difference of two independent draws."""


def params_hash(params: Mapping[str, Any]) -> str:
    """A short sha256 of ``params`` as canonical JSON (sorted keys): which recipe the seeds belong to."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def spread(values: Sequence[float]) -> dict[str, Any]:
    """``{"values", "mean", "sd", "n"}`` of ``values``; ``sd`` is None below two values."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        raise ValueError("no values to summarise")
    mean = math.fsum(vals) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
    return {"values": vals, "mean": mean, "sd": sd, "n": n}


def summarize(per_seed: Mapping[int, Mapping[str, float]], *, params: Mapping[str, Any],
              corpus: str) -> dict[str, Any]:
    """seeds.json from each seed's figures (``{seed: {figure: value}}``, figures of :data:`FIGURES`)."""
    seeds = sorted(per_seed)
    if not seeds:
        raise ValueError("no seeds to summarise")
    figures = {}
    for name in FIGURES:
        if all(name in per_seed[s] and per_seed[s][name] is not None for s in seeds):
            figures[name] = spread([per_seed[s][name] for s in seeds])
    return {"corpus": corpus, "seeds": seeds, "n": len(seeds), "params_hash": params_hash(params),
            "figures": figures}


def pooled_sd(*sds: float | None) -> float | None:
    """The root mean square of the sds given (None ignored); None when there are none."""
    known = [s for s in sds if s is not None and math.isfinite(s)]
    if not known:
        return None
    return math.sqrt(math.fsum(s * s for s in known) / len(known))


def noise_band(sd_a: float | None, sd_b: float | None, n_a: int = 1, n_b: int = 1) -> float | None:
    """The smallest difference that is not noise; None when neither side has a noise figure.

    Two standard errors of the difference of a mean of ``n_a`` draws and one of ``n_b``:
    ``2 x pooled sd x sqrt(1/n_a + 1/n_b)``; for one run a side, :data:`BAND_FACTOR` x the pooled sd.
    """
    pooled = pooled_sd(sd_a, sd_b)
    return None if pooled is None else 2.0 * pooled * math.sqrt(1.0 / n_a + 1.0 / n_b)


def verdict(diff: float, band: float | None, direction: int) -> str:
    """"better", "worse", "within noise" or "no noise figure" for a difference ``new - old``.

    ``direction`` is -1 when lower is better, +1 when higher is better.
    """
    if band is None:
        return "no noise figure"
    if not math.isfinite(diff) or abs(diff) <= band:
        return "within noise"
    return "better" if diff * direction > 0 else "worse"
