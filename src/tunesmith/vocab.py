"""The vocabulary: symbols <-> integer ids, built from the training split only.

The JSON written by :meth:`Vocab.to_json` is self-describing: the symbol list
(a token id is its index), the special tokens, per-symbol training counts, and
the decoding options the representation needs (so a model and its vocabulary
are enough to turn ids back into music).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

UNK = "<unk>"


def _sort_key(symbol: str) -> tuple:
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
    kept = sorted({s for s, c in counts.items() if c >= min_count and s != UNK} | always, key=_sort_key)
    return Vocab((end, UNK, *kept), {"end": end, "unk": UNK}, dict(counts), dict(meta or {}))


def coverage(vocab: Vocab, pieces: Iterable[Sequence[str]]) -> float:
    """Share of symbols in ``pieces`` that are in the vocabulary (not ``<unk>``); 1.0 when empty."""
    index = vocab.index
    total = known = 0
    for piece in pieces:
        total += len(piece)
        known += sum(1 for s in piece if s in index and s != UNK)
    return known / total if total else 1.0


def vocab_stage(encoded_dir: Path, out_dir: Path, metrics: Path, min_count: int) -> None:
    """The vocab stage: encode's splits -> ``out_dir`` with ``vocab.json`` (built from the training
    split, with each split's coverage) and ``{train,validation,test}.npy`` token ids; size, tokens,
    coverage and the count of ``<unk>`` symbols to ``metrics``."""
    from tunesmith import io
    from tunesmith.config import SPLITS
    from tunesmith.tracks import get_track

    encoded_dir, out_dir = Path(encoded_dir), Path(out_dir)
    meta = io.read_json(encoded_dir / "meta.json")
    splits = {s: [piece["symbols"] for piece in io.read_jsonl(encoded_dir / f"{s}.jsonl")] for s in SPLITS}
    always = get_track(meta["corpus"]).closed_symbols(meta.get("encode", {}))
    vocab = build_vocab(splits["train"], end=meta["end"], min_count=min_count,
                        meta={**meta, "min_count": min_count}, always=always)
    cover = {s: round(coverage(vocab, pieces), 6) for s, pieces in splits.items()}
    vocab = replace(vocab, meta={**vocab.meta, "coverage": cover})  # the same symbols: built once
    ids = {s: vocab.corpus_ids(pieces) for s, pieces in splits.items()}
    with io.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        io.write_json(tmp / "vocab.json", vocab.to_json())
        for split, array in ids.items():
            io.write_npy(tmp / f"{split}.npy", array)
    io.write_json(metrics, {
        "size": len(vocab),
        "tokens": {s: int(a.size) for s, a in ids.items()},
        "coverage": cover,
        "unk_symbols": sum(1 for s, c in vocab.counts.items() if c < min_count),
    })
