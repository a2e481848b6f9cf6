"""Transposition augmentation: training pieces shifted by whole semitones (Walder 2016).

Walder ("Modelling Symbolic Music: Beyond the Piano Roll", 2016) trains on
every transposition that stays in range instead of, or as well as, normalising
each piece to one key. Here the training split is extended with copies of its
pieces shifted by each semitone count in ``shifts``; a copy is kept only when
every one of its transposed symbols is in the model's vocabulary ("stays in
range": no new symbols, no ``<unk>``), so the vocabulary and the validation and
test splits are untouched and the same model can be compared with and without.

Symbols that carry pitches as MIDI numbers are transposed: the essen time
series (``"67"``; ``"r"``, ``"_"`` stay) and classical chord tokens
(``"60~.64.67"``). ABC text is not: its digits are durations, so the
nottingham representation is refused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TRANSPOSABLE = ("time_series", "metered_series", "pianoroll")
"""Vocabulary ``representation`` values whose pitch symbols can be transposed."""

_PITCHES = re.compile(r"^\d{1,3}~?(?:\.\d{1,3}~?)*$")
_NUMBER = re.compile(r"\d{1,3}")


def transpose_symbol(symbol: str, shift: int) -> str | None:
    """``symbol`` with every MIDI pitch moved by ``shift`` semitones; other symbols unchanged.

    Returns None when a pitch leaves ``[0, 127]``.
    """
    if not _PITCHES.match(symbol):
        return symbol
    pitches = [int(p) + shift for p in _NUMBER.findall(symbol)]
    if min(pitches) < 0 or max(pitches) > 127:
        return None
    it = iter(pitches)
    return _NUMBER.sub(lambda _: str(next(it)), symbol)


def transposition_table(symbols: Sequence[str], shift: int) -> np.ndarray:
    """int64 ``(V,)``: the id each id becomes when shifted by ``shift``; -1 where the result
    is not in the vocabulary."""
    index = {s: i for i, s in enumerate(symbols)}
    table = np.full(len(symbols), -1, dtype=np.int64)
    for i, s in enumerate(symbols):
        moved = transpose_symbol(s, shift)
        if moved is not None and moved in index:
            table[i] = index[moved]
    return table


def augment_transpositions(
    ids: np.ndarray, vocab: Mapping[str, Any], shifts: Sequence[int]
) -> tuple[np.ndarray, dict[int, int]]:
    """The split array ``ids`` followed by every piece transposed by each of ``shifts`` that stays in range.

    ``ids`` is ``[END] p1 [END] p2 ... [END]``; the result is the same form, the
    originals first, then for each shift (in the order given; 0 is skipped) the
    pieces whose every symbol has a transposed symbol in the vocabulary.

    Returns ``(ids, kept)``: ``kept`` maps each shift to the pieces it added.

    Raises:
        ValueError: the vocabulary's ``representation`` cannot be transposed
            (ABC text), or a shift is not an integer.
    """
    from tunesmith.data.pieces import piece_spans

    representation = vocab.get("representation")
    if representation not in TRANSPOSABLE:
        raise ValueError(
            f"transpositions need pitch symbols ({', '.join(TRANSPOSABLE)}); this vocabulary's "
            f"representation is {representation!r}: set its transpositions to []"
        )
    symbols = list(vocab["symbols"])
    end_id = symbols.index(vocab["special"]["end"])
    ids = np.asarray(ids)
    spans = piece_spans(ids, end_id)
    parts = [ids]
    kept: dict[int, int] = {}
    for shift in shifts:
        if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)):
            raise ValueError(f"transpositions must be whole semitones, got {shift!r}")
        if shift == 0:
            continue
        table = transposition_table(symbols, int(shift))
        moved = table[ids.astype(np.int64)]
        pieces = [moved[a + 1 : b + 1] for a, b in spans if (moved[a + 1 : b + 1] >= 0).all()]
        kept[int(shift)] = len(pieces)
        if pieces:
            parts.append(np.concatenate(pieces))
    out = np.concatenate(parts).astype(ids.dtype)
    log.info("transposition augmentation: %d pieces + %s by shift; %d -> %d tokens",
             len(spans), kept, ids.size, out.size)
    return out, kept
