"""The n-gram's own cache: the fair partner of the LSTM's continuous cache (`evaluation.cache`).

A cache over the piece so far helps any model of music that repeats itself, not only the LSTM.
To keep the comparison fair, the best n-gram gets one too: a cache n-gram over the piece so far
(Kuhn & De Mori's cache language model, with the longest matching context): at each position the
tokens that followed the longest earlier occurrence (up to ``order`` tokens) of the current
context in the same piece, mixed with Kneser-Ney as

    p(w) = (1 - lambda) * p_kn(w) + lambda * p_cache(w)

where a cache exists (an earlier match), ``p_kn`` alone elsewhere. ``lambda`` and ``order`` are
chosen on the validation split; the test split is scored once (`kn_cache_row`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tunesmith.data.pieces import piece_spans

LAMBDAS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)
"""The interpolation weights tried on validation."""
ORDERS = (1, 2, 4, 8)
"""The longest cached contexts tried on validation."""


def piece_caches(ids: np.ndarray, end_id: int, order: int) -> list[Counter | None]:
    """For every target ``ids[t]`` (``t >= 1``), the counts of the tokens that followed the
    longest earlier occurrence, in the same piece, of the ``k <= order`` tokens before ``t``
    (``None`` where there is none). ``O(n * order)``."""
    seq = [int(i) for i in ids]
    out: list[Counter | None] = [None] * (len(seq) - 1)
    for a, b in piece_spans(np.asarray(ids), end_id):
        seen: list[dict[tuple[int, ...], Counter]] = [{} for _ in range(order + 1)]
        for t in range(a + 1, b + 1):  # predict seq[t] from seq[a:t]
            for k in range(min(order, t - a - 1), 0, -1):  # contexts inside the piece (after its end token)
                found = seen[k].get(tuple(seq[t - k : t]))
                if found:
                    out[t - 1] = Counter(found)  # a copy: the counter keeps growing with the piece
                    break
            for k in range(1, min(order, t - a - 1) + 1):  # now seq[t] follows the contexts ending at t - 1
                seen[k].setdefault(tuple(seq[t - k : t]), Counter())[seq[t]] += 1
    return out


def _mixture(kn_probs: np.ndarray, caches: Sequence[Counter | None], targets: np.ndarray,
             lam: float) -> np.ndarray:
    """``p(target)`` under the mixture, per position."""
    p_cache = np.array([c[int(w)] / sum(c.values()) if c else 0.0 for c, w in zip(caches, targets)])
    has = np.array([c is not None for c in caches])
    return np.where(has, (1 - lam) * kn_probs + lam * p_cache, kn_probs)


def _kn_target_probs(kn, ids: np.ndarray) -> np.ndarray:
    seq = [int(i) for i in ids]
    return np.array([kn.distribution(seq[max(0, t - kn.order + 1) : t])[seq[t]] for t in range(1, len(seq))])


def fit_kn_cache(kn, val_ids: np.ndarray, end_id: int) -> tuple[float, int, dict[str, float]]:
    """``(lambda, order, grid)``: the pair with the lowest validation NLL (``grid``: every pair's)."""
    val_ids = np.asarray(val_ids)
    kn_probs = _kn_target_probs(kn, val_ids)
    targets = val_ids[1:]
    grid: dict[str, float] = {"lambda=0": float(-np.log(kn_probs).mean())}
    best = (grid["lambda=0"], 0.0, ORDERS[0])
    for order in ORDERS:
        caches = piece_caches(val_ids, end_id, order)
        for lam in LAMBDAS:
            nll = float(-np.log(_mixture(kn_probs, caches, targets, lam)).mean())
            grid[f"lambda={lam:g},order={order}"] = nll
            if nll < best[0]:
                best = (nll, lam, order)
    return best[1], best[2], grid


def kn_cache_row(kn, val_ids: np.ndarray, test_ids: np.ndarray, end_id: int,
                 hold_mask: np.ndarray | None = None) -> dict[str, Any]:
    """The Kneser-Ney model ``kn`` with its cache (fitted on ``val_ids``) on ``test_ids``: the
    metrics of `evaluation.evaluate_model` plus ``lambda``, ``cache_order``, ``chosen_on``."""
    from tunesmith.evaluation.likelihood import _event_mask, _Totals

    lam, order, _ = fit_kn_cache(kn, val_ids, end_id)
    test_ids = np.asarray(test_ids)
    seq = [int(i) for i in test_ids]
    caches = piece_caches(test_ids, end_id, order)
    nll = np.empty(len(seq) - 1)
    correct = np.empty(len(seq) - 1, dtype=bool)
    for t in range(1, len(seq)):
        p = kn.distribution(seq[max(0, t - kn.order + 1) : t])
        cache = caches[t - 1]
        if cache and lam > 0:
            total = sum(cache.values())
            p = (1 - lam) * p
            for w, c in cache.items():
                p[w] += lam * c / total
        nll[t - 1] = -np.log(p[seq[t]])
        correct[t - 1] = int(p.argmax()) == seq[t]
    totals = _Totals()
    totals.add(nll, correct, _event_mask(test_ids.astype(np.int64), frozenset(), hold_mask)[1:])
    return {**totals.result(), "lambda": lam, "cache_order": order, "chosen_on": "validation"}
