"""The vocabulary: symbols <-> ids, its end and unknown tokens, and its fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

UNK = "<unk>"


def sort_key(symbol: str) -> tuple:
    # numbers in numeric order ("9" before "60"), then everything else by code point
    return (0, int(symbol), "") if symbol.isdigit() else (1, 0, symbol)


@dataclass(frozen=True)
class Vocab:
    """An ordered symbol list; ``symbols[i]`` is the symbol of id ``i``.

    ``special`` maps roles to symbols: ``end`` (between pieces) and ``unk``.
    """

    symbols: tuple[str, ...]
    special: Mapping[str, str]
    counts: Mapping[str, int] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols):
            dupes = sorted(s for s, c in Counter(self.symbols).items() if c > 1)
            raise ValueError(f"duplicate symbols in vocabulary: {dupes[:5]}")
        for role, sym in self.special.items():
            if sym not in self.symbols:
                raise ValueError(f"special token {role}={sym!r} missing from the vocabulary")

    @property
    def index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols)}

    @property
    def end_id(self) -> int:
        return self.symbols.index(self.special["end"])

    @property
    def unk_id(self) -> int:
        return self.symbols.index(self.special["unk"])

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def dtype(self) -> np.dtype:
        """Smallest integer dtype that holds every id (uint16 for V <= 65536)."""
        return np.dtype(np.uint16) if len(self.symbols) <= 1 << 16 else np.dtype(np.int32)

    def ids(self, symbols: Iterable[str]) -> np.ndarray:
        """Map symbols to ids; unknown symbols become ``<unk>``. Shape (n,), dtype :attr:`dtype`."""
        index, unk = self.index, self.unk_id
        return np.fromiter((index.get(s, unk) for s in symbols), dtype=self.dtype)

    def corpus_ids(self, pieces: Sequence[Sequence[str]]) -> np.ndarray:
        """One flat id array for a split: ``[END] + piece1 + [END] + piece2 + [END] ...``.

        The leading end token gives every piece the same start-of-piece context,
        which is also what generation primes with.
        """
        end = self.special["end"]
        flat: list[str] = [end]
        for piece in pieces:
            flat.extend(piece)
            flat.append(end)
        return self.ids(flat)

    def fingerprint(self) -> str:
        """sha256 of the symbol list (:func:`fingerprint`): two vocabularies with the same ids
        have the same fingerprint."""
        return fingerprint(self.symbols)

    def to_json(self) -> dict:
        return {
            "symbols": list(self.symbols),
            "special": dict(self.special),
            "size": len(self.symbols),
            "counts": dict(sorted(self.counts.items())),
            "fingerprint": self.fingerprint(),
            **{k: v for k, v in self.meta.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Vocab:
        meta = {k: v for k, v in data.items() if k not in ("symbols", "special", "counts", "size", "fingerprint")}
        return cls(tuple(data["symbols"]), dict(data["special"]), dict(data.get("counts", {})), meta)


def fingerprint(symbols: Sequence[str]) -> str:
    """sha256 (hex) of the ordered symbol list as compact JSON: equal iff every id means the same symbol.

    The one vocabulary fingerprint: ``fingerprint`` in vocab.json, ``vocab.sha256`` in a
    model's config.json (`training.vocab_fingerprint`, checked when the model is loaded)
    and the checkpoints' compatibility key.
    """
    blob = json.dumps(list(symbols), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


