"""Notes per frame with onsets: each sounding pitch says whether it is struck or held.

As :mod:`tunesmith.tracks.piano.notes_per_frame` (Walder 2016), every frame is the ascending list
of its sounding pitches, then the frame end ``|``; but a pitch that goes on sounding from the
previous frame without being struck again is written ``"60~"`` (held), a pitch struck in this
frame ``"60"``. A plain roll cannot tell a held note from a re-struck one, so a model of it finds
"repeat the last frame" the safe bet and its textures freeze; with onsets, repeating a frame's
notes means striking them again, and holding them says so. The vocabulary stays closed: 88
onsets, 88 holds, the frame end and the piece end (178 symbols, no ``<unk>``). A frame still costs
one token per sounding pitch plus its end, but the marks say more than notes per frame do (which
notes are struck again), so its NLL per frame is higher and not comparable; summing each pitch's two
marks out makes it so (``bench/bench_classical_repr.py``).

Encoding is exact for notes that do not overlap on one pitch: ``decode_notes(encode_notes(n)) == n``.
A hold of a pitch that was not sounding starts a note (it is read as an onset); generation never
writes one (`tunesmith.generation.constraints.FrameRules`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.piano.notes_per_frame import FRAME_END, PIECE_END, PITCH_HIGH, PITCH_LOW

NAME = "onsets_per_frame"
HOLD = "~"
"""Suffix of a held pitch's token."""
SYMBOLS: tuple[str, ...] = (PIECE_END, FRAME_END, *(str(p) for p in range(PITCH_LOW, PITCH_HIGH + 1)),
                            *(f"{p}{HOLD}" for p in range(PITCH_LOW, PITCH_HIGH + 1)))
"""The closed vocabulary, in id order: piece end 0, frame end 1, onsets 2-89, holds 90-177."""


def encode_notes(notes: np.ndarray) -> list[str]:
    """Symbols of ``[pitch, start, end]`` notes on a frame grid (ints, ``end > start``).

    Raises:
        MusicInputError: reason ``"pitch_range"`` for a pitch outside 21-108.
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 3)
    if notes.size and ((notes[:, 0] < PITCH_LOW) | (notes[:, 0] > PITCH_HIGH)).any():
        bad = int(notes[(notes[:, 0] < PITCH_LOW) | (notes[:, 0] > PITCH_HIGH), 0][0])
        raise MusicInputError(f"pitch {bad} is outside the piano range {PITCH_LOW}-{PITCH_HIGH}",
                              reason="pitch_range")
    frames = int(notes[:, 2].max()) if notes.size else 0
    # 0 silent, 1 held, 2 struck: a strike wins over a hold of an overlapping note of the same pitch
    cells = np.zeros((frames, PITCH_HIGH - PITCH_LOW + 1), dtype=np.int8)
    for pitch, start, end in notes.tolist():
        if end <= start:
            continue
        column = cells[start:end, pitch - PITCH_LOW]
        np.maximum(column, 1, out=column)
        cells[start, pitch - PITCH_LOW] = 2
    out: list[str] = []
    for row in cells:
        for col in np.flatnonzero(row):
            out.append(str(col + PITCH_LOW) if row[col] == 2 else f"{col + PITCH_LOW}{HOLD}")
        out.append(FRAME_END)
    return out


def decode_notes(symbols: Iterable[str]) -> np.ndarray:
    """Notes ``[pitch, start_frame, end_frame]`` of symbols (int32 ``(n, 3)``, sorted by start, pitch);
    decoding stops at the piece end.

    Raises:
        MusicInputError: reason ``"malformed_token"`` for a symbol that is not of this vocabulary.
    """
    known = set(SYMBOLS)
    notes: list[tuple[int, int, int]] = []
    sounding: dict[int, int] = {}  # pitch -> start frame
    frame, now = 0, set()
    for s in symbols:
        if s == PIECE_END:
            break
        if s not in known:
            raise MusicInputError(f"unknown symbol {s!r}: expected {FRAME_END!r}, {PIECE_END!r}, a pitch "
                                  f"{PITCH_LOW}-{PITCH_HIGH} or a held pitch such as '60{HOLD}'",
                                  reason="malformed_token")
        if s == FRAME_END:
            for pitch in [p for p in sounding if p not in now]:
                notes.append((pitch, sounding.pop(pitch), frame))
            frame, now = frame + 1, set()
            continue
        held = s.endswith(HOLD)
        pitch = int(s[:-1] if held else s)
        if not held and pitch in sounding:  # struck again: the sounding note ends here
            notes.append((pitch, sounding.pop(pitch), frame))
        sounding.setdefault(pitch, frame)
        now.add(pitch)
    for pitch, start in sounding.items():  # a piece cut off mid-frame: its notes end with the frame
        notes.append((pitch, start, frame + (pitch in now)))
    arr = np.array(notes, dtype=np.int32).reshape(-1, 3)
    arr = arr[arr[:, 2] > arr[:, 1]]
    return arr[np.lexsort((arr[:, 0], arr[:, 1]))] if len(arr) else arr


def is_hold(symbol: str) -> bool:
    """Whether ``symbol`` is a held pitch."""
    return symbol.endswith(HOLD) and symbol[:-1].isdigit()
