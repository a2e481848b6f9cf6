"""The Kneser-Ney model as tunesmith first wrote it, in dicts of tuples: slow and memory-hungry,
but transparent. The oracle `KneserNey`'s array form is checked against. (One fix: the first
form sliced a history shorter than ``order - 1`` from a negative start, so at the first
positions of a split it kept only its last ``order - 1 - len`` ids.)"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from tunesmith.evaluation.ngram import _discounts


class ReferenceKneserNey:
    def __init__(self, train_ids: np.ndarray, vocab_size: int, order: int) -> None:
        seq = np.asarray(train_ids).tolist()
        top = Counter(zip(*(seq[i:] for i in range(order))))
        levels = [top]
        for k in range(order - 1, 0, -1):
            longer = top.keys() if k + 1 == order else set(zip(*(seq[i:] for i in range(k + 1))))
            levels.append(Counter(gram[1:] for gram in longer))  # continuation counts
        levels.reverse()
        self.order, self.vocab_size, self.tables, self.discounts = order, vocab_size, [], []
        for counts in levels:
            table = defaultdict(dict)
            for gram, c in counts.items():
                table[gram[:-1]][gram[-1]] = c
            self.tables.append(dict(table))
            self.discounts.append(_discounts(counts.values()))

    def distribution(self, history) -> np.ndarray:
        history = tuple(int(i) for i in history[max(0, len(history) - (self.order - 1)):]) if self.order > 1 else ()
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(1, min(self.order, len(history) + 1) + 1):
            nexts = self.tables[k - 1].get(history[len(history) - (k - 1):] if k > 1 else ())
            if nexts is None:
                continue
            words = np.fromiter(nexts.keys(), dtype=np.int64)
            counts = np.fromiter(nexts.values(), dtype=np.float64)
            d1, d2, d3 = self.discounts[k - 1]
            disc = np.maximum(counts - np.where(counts >= 3, d3, np.where(counts == 2, d2, d1)), 0.0) / counts.sum()
            p *= 1.0 - float(disc.sum())
            p[words] += disc
        return p
