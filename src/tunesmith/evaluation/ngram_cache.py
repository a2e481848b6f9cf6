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
from collections.abc import Iterator
from typing import Any

import numpy as np

from tunesmith.data.pieces import piece_spans

LAMBDAS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)
"""The interpolation weights tried on validation."""
ORDERS = (1, 2, 4, 8)
"""The longest cached contexts tried on validation."""


def iter_piece_caches(ids: np.ndarray, end_id: int, order: int) -> Iterator[tuple[int, Counter | None]]:
    """``(t, counts)`` for every target ``ids[t]`` (``t >= 1``, in order): the counts of the tokens
    that followed the longest earlier occurrence, in the same piece, of the ``k <= order`` tokens
    before ``t`` (``None`` where there is none). ``counts`` is live (it grows with the piece): read
    it before asking for the next. Memory holds one piece's contexts. ``O(n * order)``."""
    seq = [int(i) for i in ids]
    for a, b in piece_spans(np.asarray(ids), end_id):
        seen: list[dict[tuple[int, ...], Counter]] = [{} for _ in range(order + 1)]
        for t in range(a + 1, b + 1):  # predict seq[t] from seq[a:t]
            found = None
            for k in range(min(order, t - a - 1), 0, -1):  # contexts inside the piece (after its end token)
                found = seen[k].get(tuple(seq[t - k : t]))
                if found:
                    break
            yield t, found or None
            for k in range(1, min(order, t - a - 1) + 1):  # now seq[t] follows the contexts ending at t - 1
                seen[k].setdefault(tuple(seq[t - k : t]), Counter())[seq[t]] += 1


def piece_caches(ids: np.ndarray, end_id: int, order: int) -> list[Counter | None]:
    """:func:`iter_piece_caches` as a list of copies, one per target (small splits and tests)."""
    return [Counter(c) if c else None for _, c in iter_piece_caches(ids, end_id, order)]


def cache_target_probs(ids: np.ndarray, end_id: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """``(p_cache(target), has_cache)`` for every target ``ids[t]``, ``t >= 1``."""
    seq = np.asarray(ids)
    p = np.zeros(max(seq.size - 1, 0))
    has = np.zeros(p.size, dtype=bool)
    for t, counts in iter_piece_caches(seq, end_id, order):
        if counts:
            p[t - 1] = counts[int(seq[t])] / sum(counts.values())
            has[t - 1] = True
    return p, has


def fit_kn_cache(kn, val_ids: np.ndarray, end_id: int) -> tuple[float, int, dict[str, float]]:
    """``(lambda, order, grid)``: the pair with the lowest validation NLL (``grid``: every pair's)."""
    val_ids = np.asarray(val_ids)
    kn_probs = kn.target_probs(val_ids)
    grid: dict[str, float] = {"lambda=0": float(-np.log(kn_probs).mean())}
    best = (grid["lambda=0"], 0.0, ORDERS[0])
    for order in ORDERS:
        p_cache, has = cache_target_probs(val_ids, end_id, order)
        for lam in LAMBDAS:
            nll = float(-np.log(np.where(has, (1 - lam) * kn_probs + lam * p_cache, kn_probs)).mean())
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
    caches = iter_piece_caches(test_ids, end_id, order)
    nll = np.empty(max(test_ids.size - 1, 0))
    correct = np.empty(nll.size, dtype=bool)
    for t0, block in kn.blocks(test_ids):  # the n-gram's distributions a block at a time
        for i, p in enumerate(block):
            t, cache = next(caches)
            assert t == t0 + i
            if cache and lam > 0:
                total = sum(cache.values())
                p = (1 - lam) * p
                for w, c in cache.items():
                    p[w] += lam * c / total
            target = int(test_ids[t])
            nll[t - 1] = -np.log(p[target])
            correct[t - 1] = int(p.argmax()) == target
    totals = _Totals()
    totals.add(nll, correct, _event_mask(test_ids.astype(np.int64), frozenset(), hold_mask)[1:])
    return {**totals.result(), "lambda": lam, "cache_order": order, "chosen_on": "validation"}
