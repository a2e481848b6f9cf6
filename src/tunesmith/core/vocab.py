"""The vocabulary: symbols <-> ids, its end and unknown tokens, and its fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunesmith.core.errors import ArtifactError
from tunesmith.core.safe_json import got, need_int, need_mapping, need_str, printable, read_json_bounded

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


MAX_SYMBOLS = 1 << 20
"""The most symbols a vocabulary may hold (the largest tunesmith builds: a few thousand chord tokens)."""
_TEXT_FIELDS = ("corpus", "kind", "representation", "fingerprint")


def check_vocab_json(data: Any, where: str) -> dict[str, Any]:
    """``data`` (a vocab.json read back) checked field by field: ``symbols`` >= 2 distinct strings,
    ``special`` an object of strings whose ``end`` (required) names a symbol, ``size`` their
    number, ``counts`` symbol -> count >= 0, ``corpus``/``kind``/``representation`` strings.

    Raises:
        ArtifactError: one line naming ``where`` (the file) and the field.
    """
    if not isinstance(data, Mapping):
        raise ArtifactError(f"{where} is not a vocabulary: it holds a {type(data).__name__}, not an object")
    data = dict(data)
    symbols = data.get("symbols")
    if not isinstance(symbols, list) or not 2 <= len(symbols) <= MAX_SYMBOLS:
        shown = f"{len(symbols):,} of them" if isinstance(symbols, list) else got(symbols)
        raise ArtifactError(f"{where} is not a vocabulary: symbols must be a list of 2 to {MAX_SYMBOLS:,} "
                            f"strings, got {shown}")
    seen: dict[str, int] = {}
    for i, symbol in enumerate(symbols):
        need_str(symbol, where, f"symbols[{i}]")
        if symbol in seen:
            raise ArtifactError(f"{where}: symbol {got(symbol)} appears twice (ids {seen[symbol]} and {i})")
        seen[symbol] = i
    special = need_mapping(data.get("special"), where, "special")
    if "end" not in special:
        raise ArtifactError(f"{where}: special has no 'end' (the token between pieces)")
    for role, symbol in special.items():
        need_str(symbol, where, f"special.{role}")
        # only ``end`` is read back from a vocab.json (pieces are never encoded with it): an ``unk``
        # outside the symbols is harmless there, and the toy vocabularies of callers of train() have one
        if role == "end" and symbol not in seen:
            raise ArtifactError(f"{where}: special.{printable(str(role)[:40])} is {got(symbol)}, "
                                "which is not one of its symbols")
    if "size" in data:
        need_int(data["size"], where, "size", len(symbols), len(symbols))
    if data.get("counts") is not None:
        for symbol, count in need_mapping(data["counts"], where, "counts").items():
            need_int(count, where, f"counts[{symbol!r:.40}]", 0, 1 << 62)
    for name in _TEXT_FIELDS:
        need_str(data.get(name), where, name, 200, optional=True)
    return data


def read_vocab_json(path) -> dict[str, Any]:
    """A vocab.json read with the limits of `safe_json.read_json_bounded` and :func:`check_vocab_json`.

    Raises:
        MissingArtifactError / ArtifactError: one line naming the file (and the field).
    """
    return check_vocab_json(read_json_bounded(path), str(path))


def fingerprint(symbols: Sequence[str]) -> str:
    """sha256 (hex) of the ordered symbol list as compact JSON: equal iff every id means the same symbol.

    The one vocabulary fingerprint: ``fingerprint`` in vocab.json, ``vocab.sha256`` in a
    model's config.json (`training.vocab_fingerprint`, checked when the model is loaded)
    and the checkpoints' compatibility key.
    """
    blob = json.dumps(list(symbols), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


