"""The novelty index as tunesmith first wrote it: a suffix automaton and a set of tuples in Python
objects (about 500 bytes a training symbol: 2.4 GB for 5M). The oracle the array form is checked
against."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence


class ReferenceNoveltyIndex:
    """Index of the training pieces for asking how much of a sample is copied.

    Holds a suffix automaton of all training pieces (separated by a marker no
    sample contains, so no match spans two pieces) and the set of their
    ``ngram``-grams. Building it is linear in the training symbols (~300k
    symbols: ~5 s and ~150 MB); each query is linear in the sample.

    Args:
        train_pieces: the training pieces, each a sequence of hashable symbols.
        ngram: the n of :meth:`ngram_share`, >= 1 (default 8).
    """

    def __init__(self, train_pieces: Iterable[Sequence[Hashable]], ngram: int = 8) -> None:
        if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram < 1:
            raise ValueError(f"ngram must be an integer >= 1, got {ngram!r}")
        self.ngram = ngram
        self._codes: dict[Hashable, int] = {}
        self._next: list[dict[int, int]] = [{}]
        self._link: list[int] = [-1]
        self._len: list[int] = [0]
        self._last = 0
        self._grams: set[tuple[int, ...]] = set()
        self.n_symbols = 0
        for piece in train_pieces:
            codes = [self._codes.setdefault(s, len(self._codes)) for s in piece]
            for c in codes:
                self._extend(c)
            self._extend(-1)  # piece separator: never in a sample, so matches stop here
            self._grams.update(zip(*(codes[i:] for i in range(ngram))))
            self.n_symbols += len(codes)

    def _extend(self, c: int) -> None:
        # Blumer et al.'s online construction
        nxt, link, length = self._next, self._link, self._len
        cur = len(length)
        nxt.append({})
        length.append(length[self._last] + 1)
        link.append(0)
        p = self._last
        while p != -1 and c not in nxt[p]:
            nxt[p][c] = cur
            p = link[p]
        if p != -1:
            q = nxt[p][c]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:
                clone = len(length)
                nxt.append(dict(nxt[q]))
                length.append(length[p] + 1)
                link.append(link[q])
                while p != -1 and nxt[p].get(c) == q:
                    nxt[p][c] = clone
                    p = link[p]
                link[q] = link[cur] = clone
        self._last = cur

    def _encode(self, sample: Sequence[Hashable]) -> list[int]:
        return [self._codes.get(s, -2) for s in sample]  # -2: a symbol training never had

    def longest_match(self, sample: Sequence[Hashable]) -> int:
        """Length of the longest run of consecutive symbols of ``sample`` in one training piece."""
        nxt, link, length = self._next, self._link, self._len
        state = run = best = 0
        for c in self._encode(sample):
            while state and c not in nxt[state]:
                state = link[state]
                run = length[state]
            if c in nxt[state]:
                state = nxt[state][c]
                run += 1
                best = max(best, run)
            else:
                state = run = 0
        return best

    def ngram_share(self, sample: Sequence[Hashable]) -> float:
        """Share of the sample's ``ngram``-grams (by position) seen in training; NaN if none."""
        codes = self._encode(sample)
        grams = list(zip(*(codes[i:] for i in range(self.ngram))))
        if not grams:
            return math.nan
        return sum(g in self._grams for g in grams) / len(grams)
