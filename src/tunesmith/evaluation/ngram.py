"""n-gram baselines: a uniform, a unigram (add-one) and an interpolated modified
Kneser-Ney model (:class:`KneserNey`) fitted on the train ids, scored like a model
(:func:`tunesmith.evaluation.likelihood.evaluate_model`) so its numbers have a floor to beat."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from tunesmith.evaluation.likelihood import _check_ids, _event_mask, _Totals

log = logging.getLogger(__name__)


def _discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts ``(D1, D2, D3+)`` from count-of-counts (Chen & Goodman 1998).

    Falls back to 0.75 for all three when a count of counts is zero or an
    estimate leaves its valid range ``(0, k]``, which happens on tiny corpora.
    """
    coc = Counter(c for c in counts if c <= 4)
    n1, n2, n3, n4 = (coc.get(k, 0) for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return (0.75, 0.75, 0.75)
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < dk <= k for k, dk in zip((1, 2, 3), d)):
        return (0.75, 0.75, 0.75)
    return d


@dataclass(frozen=True)
class _Level:
    """The k-grams of one order, as sorted arrays.

    ``keys[g]``: k-gram ``g`` as ``history * V + word``, where ``history`` is the index of its
    (k-1)-gram prefix in the level below (0 at order 1), sorted, so the k-grams of one history
    are a contiguous run ``starts[h]:starts[h + 1]``. ``disc[g]``: its discounted probability
    ``max(c - D(c), 0) / c(h)`` (0 for a k-gram counted 0: one seen only at the very start,
    with no token before it to count at the lower orders). ``gamma[h]``: the mass history ``h``
    passes down; ``seen[h]``: whether ``h`` has any count at this order.
    """

    keys: np.ndarray
    disc: np.ndarray
    starts: np.ndarray
    gamma: np.ndarray
    seen: np.ndarray


class KneserNey:
    """Interpolated modified Kneser-Ney n-gram model over token ids.

    The highest order uses raw counts, lower orders continuation counts (the
    number of distinct tokens seen before an n-gram), and order 1 interpolates
    with the uniform distribution, so every token has a probability > 0. Each
    order discounts counts of 1, 2 and 3+ by its own ``D1, D2, D3`` and passes
    the discounted mass to the order below:

        ``p_k(w | h) = max(c(h w) - D(c), 0) / c(h) + gamma(h) * p_{k-1}(w | h')``

    with ``gamma(h) = 1 - sum_w max(c(h w) - D(c), 0) / c(h)``, so ``p_k`` sums to 1
    over the vocabulary for every history; a history never seen at order
    ``k`` passes ``p_{k-1}`` through unchanged. Histories shorter than
    ``order - 1`` (the first tokens of a split) stop at the order they fill.

    The counts live in sorted numpy arrays, one :class:`_Level` per order, built with
    ``np.unique`` order by order (a k-gram is its (k-1)-gram's index and one more token), and a
    split is scored in blocks of positions: memory grows with the distinct n-grams (5M train
    tokens at order 8: a few hundred MB), not with Python objects per n-gram.
    """

    BLOCK = 2048
    """Positions scored at once: a block's distributions are ``BLOCK x V`` float64."""

    def __init__(self, order: int, vocab_size: int, levels: list[_Level],
                 discounts: list[tuple[float, float, float]]) -> None:
        self.order = order
        self.vocab_size = vocab_size
        self._levels = levels
        self.discounts = discounts

    @classmethod
    def fit(cls, train_ids: np.ndarray, vocab_size: int, order: int = 5) -> KneserNey:
        """Count n-grams of ``train_ids`` (1-D ints in ``[0, vocab_size)``) up to ``order`` >= 1."""
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}")
        seq = _check_ids(train_ids, vocab_size, "train_ids").astype(np.int64)
        n, v = seq.size, vocab_size
        levels, discounts = [], []
        prev_keys = np.zeros(1, dtype=np.int64)
        below: np.ndarray | None = None  # index of the (k-1)-gram starting at each position
        for k in range(1, order + 1):
            m = max(n - k + 1, 0)
            keys = seq[:m] if k == 1 else below[:m] * v + seq[k - 1 : k - 1 + m]
            uniq, inverse = np.unique(keys, return_inverse=True)
            if k == order:
                counts = np.bincount(inverse, minlength=uniq.size).astype(np.float64)
                del inverse
            else:
                # continuation count: distinct (k+1)-grams (one more token before) ending in the k-gram,
                # i.e. the k-grams at t + 1 of the distinct pairs (token t, k-gram at t + 1)
                pairs = np.unique(seq[: m - 1] * uniq.size + inverse[1:m]) if m > 1 else np.zeros(0, np.int64)
                counts = np.bincount(pairs % uniq.size, minlength=uniq.size).astype(np.float64)
                del pairs
            levels.append(cls._level(uniq, counts, prev_keys.size if k > 1 else 1, v, discounts))
            if k < order:
                below = inverse
                prev_keys = uniq
        log.debug("kneser-ney order %d discounts %s", order, discounts)
        return cls(order, vocab_size, levels, discounts)

    @staticmethod
    def _level(keys: np.ndarray, counts: np.ndarray, histories: int, v: int,
               discounts: list[tuple[float, float, float]]) -> _Level:
        d1, d2, d3 = _discounts(counts[counts > 0].astype(np.int64).tolist())
        discounts.append((d1, d2, d3))
        history = keys // v
        d = np.where(counts >= 3, d3, np.where(counts == 2, d2, d1))
        total = np.bincount(history, weights=counts, minlength=histories)
        num = np.maximum(counts - d, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            disc = np.where(counts > 0, num / total[history], 0.0)
        gamma = 1.0 - np.bincount(history, weights=disc, minlength=histories)
        starts = np.searchsorted(keys, np.arange(histories + 1, dtype=np.int64) * v)
        return _Level(keys, disc, starts, gamma, total > 0)

    # ------------------------------------------------------------------ scoring

    def _indices(self, seq: np.ndarray) -> list[np.ndarray]:
        """``ix[k - 1][t]``: the index of the k-gram ``seq[t : t + k]`` at order k, -1 if unseen."""
        v, out = self.vocab_size, []
        below: np.ndarray | None = None
        for k, level in enumerate(self._levels, 1):
            m = max(seq.size - k + 1, 0)
            keys = seq[:m] if k == 1 else below[:m] * v + seq[k - 1 : k - 1 + m]
            if level.keys.size == 0:
                ix = np.full(m, -1, dtype=np.int64)
                out.append(ix)
                below = ix
                continue
            pos = np.minimum(np.searchsorted(level.keys, keys), level.keys.size - 1)
            found = level.keys[pos] == keys
            if k > 1:
                found &= below[:m] >= 0
            ix = np.where(found, pos, -1)
            out.append(ix)
            below = ix
        return out

    def _block(self, seq: np.ndarray, ix: list[np.ndarray], t0: int, t1: int) -> np.ndarray:
        """``p(next | history)`` for targets ``t0 .. t1 - 1`` of ``seq``: float64 ``(t1 - t0, V)``."""
        v = self.vocab_size
        t = np.arange(t0, t1)
        p = np.full((t.size, v), 1.0 / v)
        for k, level in enumerate(self._levels, 1):
            rows = np.flatnonzero(t >= k - 1)  # the history fills k - 1 tokens
            if k == 1:
                hist = np.zeros(rows.size, dtype=np.int64) if level.seen.size and level.seen[0] else None
            else:
                hist = ix[k - 2][t[rows] - k + 1]
            if hist is None:
                continue
            ok = hist >= 0
            ok[ok] = level.seen[hist[ok]]
            rows, hist = rows[ok], hist[ok]
            if rows.size == 0:
                continue
            p[rows] *= level.gamma[hist][:, None]
            lo, hi = level.starts[hist], level.starts[hist + 1]
            lengths = hi - lo
            grams = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(lo, lengths)
            p[np.repeat(rows, lengths), level.keys[grams] % v] += level.disc[grams]
        return p

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """``p(next | history)``: float64 ``(vocab_size,)`` summing to 1.

        Only the last ``order - 1`` ids of ``history`` matter.
        """
        keep = [int(i) for i in history][max(0, len(history) - (self.order - 1)):] if self.order > 1 else []
        seq = np.array([*keep, 0], dtype=np.int64)
        return self._block(seq, self._indices(seq), seq.size - 1, seq.size)[0]

    def blocks(self, ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """``(t0, p)`` for the targets ``ids[1:]`` in blocks: ``p[i]`` is ``p(. | ids[:t0 + i])``
        (the ``order - 1`` ids before target ``t0 + i``, across piece ends)."""
        seq = np.asarray(ids).astype(np.int64)
        ix = self._indices(seq)
        for t0 in range(1, seq.size, self.BLOCK):
            t1 = min(seq.size, t0 + self.BLOCK)
            yield t0, self._block(seq, ix, t0, t1)

    def scores(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(nll, correct)`` of every target ``ids[1:]``: its NLL in nats and whether it is the
        most likely id (the lowest on a tie)."""
        seq = np.asarray(ids)
        n = max(seq.size - 1, 0)
        nll, hit = np.empty(n), np.empty(n, dtype=bool)
        for t0, p in tqdm(self.blocks(seq), desc=f"kn-{self.order}", unit="block", leave=False,
                          disable=n < 200_000, mininterval=2, total=-(-n // self.BLOCK)):
            targets = seq[t0 : t0 + p.shape[0]]
            nll[t0 - 1 : t0 - 1 + p.shape[0]] = -np.log(p[np.arange(p.shape[0]), targets])
            hit[t0 - 1 : t0 - 1 + p.shape[0]] = p.argmax(axis=1) == targets
        return nll, hit

    def target_probs(self, ids: np.ndarray) -> np.ndarray:
        """``p(ids[t] | ids[:t])`` for every target ``t >= 1``."""
        nll, _ = self.scores(ids)
        return np.exp(-nll)

    def evaluate(
        self,
        ids: np.ndarray,
        *,
        hold_ids: Collection[int] = frozenset(),
        hold_mask: np.ndarray | None = None,
    ) -> dict[str, float | int]:
        """Metrics as :func:`evaluate_model` over every target ``ids[1:]``.

        Each target's history is the (up to ``order - 1``) ids before it.
        Accuracy counts the argmax (lowest id on a tie).
        """
        ids = _check_ids(ids, self.vocab_size)
        event = _event_mask(ids, hold_ids, hold_mask)
        nll, hit = self.scores(ids)
        totals = _Totals()
        totals.add(nll, hit, event[1:])
        return totals.result()


def ngram_table(
    train_ids: np.ndarray,
    test_ids: np.ndarray,
    vocab_size: int,
    order: int = 5,
    hold_ids: Collection[int] = frozenset(),
    hold_mask: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Baseline rows on the same split and vocabulary as the model.

    Rows (``model`` key, then the metrics of :func:`evaluate_model`), all over
    every target ``test_ids[1:]``:

    - ``uniform``: ``p = 1 / V``; NLL is ``ln V`` exactly; accuracy and event
      accuracy are the expected ``1 / V`` (a uniform argmax is arbitrary).
    - ``unigram``: ``p(w) = (c(w) + 1) / (N + V)`` from the ``N`` train ids.
    - ``kn-<order>``: :class:`KneserNey` fitted on ``train_ids``.

    ``hold_ids``/``hold_mask`` describe ``test_ids`` as in :func:`evaluate_model`.
    """
    train = _check_ids(train_ids, vocab_size, "train_ids")
    test = _check_ids(test_ids, vocab_size, "test_ids")
    event = _event_mask(test, hold_ids, hold_mask)[1:]
    targets = test[1:]
    rows: list[dict[str, Any]] = []

    # written out rather than summed, so the NLL is ln V to the last bit
    rows.append(
        {
            "model": "uniform",
            "nll": math.log(vocab_size),
            "bits_per_token": math.log2(vocab_size),
            "perplexity": float(vocab_size),
            "accuracy": 1.0 / vocab_size,
            "event_nll": math.log(vocab_size) if event.any() else math.nan,
            "event_accuracy": 1.0 / vocab_size if event.any() else math.nan,
            "tokens": int(targets.size),
            "events": int(np.count_nonzero(event)),
        }
    )

    counts = np.bincount(train, minlength=vocab_size).astype(np.float64)
    log_p = np.log(counts + 1.0) - math.log(train.size + vocab_size)
    unigram = _Totals()
    unigram.add(-log_p[targets], targets == int(counts.argmax()), event)
    rows.append({"model": "unigram", **unigram.result()})

    kn = KneserNey.fit(train, vocab_size, order)
    rows.append(
        {"model": f"kn-{order}", **kn.evaluate(test, hold_ids=hold_ids, hold_mask=hold_mask)}
    )
    return rows
