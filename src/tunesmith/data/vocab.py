"""The vocabulary: symbols <-> integer ids, built from the training split only.

The JSON written by :meth:`Vocab.to_json` is self-describing: the symbol list
(a token id is its index), the special tokens, per-symbol training counts, and
the decoding options the representation needs (so a model and its vocabulary
are enough to turn ids back into music).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tunesmith.core.vocab import UNK, Vocab, sort_key


def build_vocab(train_pieces: Iterable[Sequence[str]], *, end: str, min_count: int = 1,
                meta: Mapping[str, Any] | None = None, always: Iterable[str] = ()) -> Vocab:
    """Build the vocabulary from the training pieces.

    Symbols seen fewer than ``min_count`` times map to ``<unk>``; the end and
    unk tokens come first, the rest in a deterministic order (numbers
    numerically, then by code point), so the same corpus always gives the
    same ids. Symbols in ``always`` are kept whatever their count (a fixed
    alphabet such as notes per frame's pitches, so that no test symbol is ``<unk>``).
    """
    counts: Counter[str] = Counter()
    for piece in train_pieces:
        counts.update(piece)
    counts.pop(end, None)
    always = set(always) - {end}
    kept = sorted({s for s, c in counts.items() if c >= min_count and s != UNK} | always, key=sort_key)
    return Vocab((end, UNK, *kept), {"end": end, "unk": UNK}, dict(counts), dict(meta or {}))


def coverage(vocab: Vocab, pieces: Iterable[Sequence[str]]) -> float:
    """Share of symbols in ``pieces`` that are in the vocabulary (not ``<unk>``); 1.0 when empty."""
    index = vocab.index
    total = known = 0
    for piece in pieces:
        total += len(piece)
        known += sum(1 for s in piece if s in index and s != UNK)
    return known / total if total else 1.0


