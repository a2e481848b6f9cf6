"""Novelty: how much of a sample is copied from the training pieces (the sources
want original music, not recalled tunes)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

_BASE = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2^64
_INVERSE = pow(_BASE, -1, 2**64)


def _powers(base: int, n: int) -> np.ndarray:
    """``base^0 .. base^(n - 1)`` modulo 2^64."""
    p = np.full(n, base, dtype=np.uint64)
    if n:
        p[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(p, dtype=np.uint64)


class _Hashes:
    """Hashes of every run of a code sequence: ``of(i, L)`` is the same number for the same
    ``L`` codes wherever they stand (polynomial hashing modulo 2^64, numpy's wrap-around;
    a false match needs two different runs to collide in 64 bits)."""

    def __init__(self, codes: np.ndarray) -> None:
        with np.errstate(over="ignore"):
            weighted = codes.astype(np.uint64) * _powers(_BASE, codes.size)
            self._prefix = np.concatenate([np.zeros(1, np.uint64), np.cumsum(weighted, dtype=np.uint64)])
        self._unscale = _powers(_INVERSE, codes.size)
        self.size = codes.size

    def of(self, starts: np.ndarray, length: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (self._prefix[starts + length] - self._prefix[starts]) * self._unscale[starts]

    def all(self, length: int) -> np.ndarray:
        return self.of(np.arange(max(self.size - length + 1, 0)), length)


class NoveltyIndex:
    """Index of the training pieces for asking how much of a sample is copied.

    Holds the training pieces as one array of symbol codes with hashes of every run
    (no run spans two pieces), the sorted hashes of every run of 1 to ``max(ngram, 8)``
    symbols and the ``ngram``-gram hash at every position. A longest match up to that
    length is a lookup per length; a longer one is searched only at the training positions
    whose first symbols match the sample's. Memory is a few arrays per training symbol
    (5M symbols: a few hundred MB, where a suffix automaton of Python dicts took 2.4 GB).

    Args:
        train_pieces: the training pieces, each a sequence of hashable symbols (an iterator
            will do: the pieces are read once).
        ngram: the n of :meth:`ngram_share`, >= 1 (default 8).
    """

    def __init__(self, train_pieces: Iterable[Sequence[Hashable]], ngram: int = 8) -> None:
        if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram < 1:
            raise ValueError(f"ngram must be an integer >= 1, got {ngram!r}")
        self.ngram = ngram
        self._codes: dict[Hashable, int] = {}
        chunks, ends = [], []
        total = 0
        for piece in train_pieces:
            codes = np.fromiter((self._codes.setdefault(s, len(self._codes) + 1) for s in piece), dtype=np.int64)
            chunks.append(codes)
            total += codes.size
            ends.append(total)
        codes = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
        self.n_symbols = int(codes.size)
        # the end of each position's piece: a run [i, i + L) stays in one piece iff i + L <= end[i]
        lengths = np.diff(np.concatenate([[0], ends])).astype(np.int64) if ends else np.zeros(0, np.int64)
        self._end = np.repeat(np.asarray(ends, dtype=np.int64), lengths)
        self._hashes = _Hashes(codes)
        self._short = max(ngram, 8)
        self._sets = {length: np.unique(self._hashes.of(self._starts(length), length))
                      for length in range(1, self._short + 1)}
        starts = self._starts(self._short)
        self._long_starts, self._long_hashes = starts, self._hashes.of(starts, self._short)

    def _starts(self, length: int, among: np.ndarray | None = None) -> np.ndarray:
        """Training positions (of ``among``, or all) where a run of ``length`` stays in one piece."""
        i = np.arange(self.n_symbols) if among is None else among
        return i[i + length <= self._end[i]]

    def _encode(self, sample: Sequence[Hashable]) -> np.ndarray:
        # 0: a symbol training never had (training codes start at 1), so it matches nothing
        return np.fromiter((self._codes.get(s, 0) for s in sample), dtype=np.int64, count=len(sample))

    def _seen(self, sample_hashes: np.ndarray, known: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(known, sample_hashes), max(known.size - 1, 0))
        return (known[pos] == sample_hashes) if known.size else np.zeros(sample_hashes.size, bool)

    def longest_match(self, sample: Sequence[Hashable]) -> int:
        """Length of the longest run of consecutive symbols of ``sample`` in one training piece."""
        codes = self._encode(sample)
        unknown = codes == 0
        h = _Hashes(codes)

        def found(length: int, starts: np.ndarray | None = None) -> bool:
            s = np.arange(codes.size - length + 1)
            s = s[np.convolve(unknown, np.ones(length, bool), "valid") == 0]  # runs with no unknown symbol
            if s.size == 0:
                return False
            mine = np.sort(h.of(s, length))
            if starts is None:
                return bool(self._seen(mine, self._sets[length]).any())
            theirs = self._hashes.of(self._starts(length, starts), length)
            return bool(self._seen(theirs, mine).any())

        best = 0
        for length in range(1, min(self._short, codes.size) + 1):
            if not found(length):
                return best
            best = length
        if codes.size <= self._short:
            return best
        # longer runs start where a training run of `_short` symbols equals one of the sample's
        firsts = np.unique(h.all(self._short))
        starts = self._long_starts[self._seen(self._long_hashes, firsts)]
        lo, hi = self._short, codes.size  # found(lo); find the largest found length
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if found(mid, starts):
                lo = mid
            else:
                hi = mid - 1
        return lo

    def ngram_share(self, sample: Sequence[Hashable]) -> float:
        """Share of the sample's ``ngram``-grams (by position) seen in training; NaN if none."""
        codes = self._encode(sample)
        if codes.size < self.ngram:
            return math.nan
        grams = _Hashes(codes).all(self.ngram)
        clean = np.convolve(codes == 0, np.ones(self.ngram, bool), "valid") == 0
        return float((self._seen(grams, self._sets[self.ngram]) & clean).mean())

    def novelty(self, samples: Iterable[Sequence[Hashable]]) -> dict[str, Any]:
        """Per-sample and summary novelty of a set of samples.

        Returns ``per_sample`` (``length``, ``longest_match``, ``match_share`` =
        longest match / length, ``ngram_share``) and the means
        ``mean_longest_match``, ``max_longest_match``, ``mean_ngram_share`` (over
        samples with at least one n-gram).
        """
        per = []
        for s in samples:
            s = list(s)
            lm = self.longest_match(s)
            per.append(
                {
                    "length": len(s),
                    "longest_match": lm,
                    "match_share": lm / len(s) if s else math.nan,
                    "ngram_share": self.ngram_share(s),
                }
            )
        shares = [p["ngram_share"] for p in per if not math.isnan(p["ngram_share"])]
        return {
            "per_sample": per,
            "mean_longest_match": float(np.mean([p["longest_match"] for p in per]))
            if per
            else math.nan,
            "max_longest_match": max((p["longest_match"] for p in per), default=0),
            f"mean_{self.ngram}gram_share": float(np.mean(shares)) if shares else math.nan,
        }
