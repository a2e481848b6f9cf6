"""Notes per frame whose frame ends say where the frame falls in its bar.

As :mod:`tunesmith.tracks.piano.notes_per_frame` (Walder 2016), every frame is the ascending list
of its sounding pitches, then a frame end; but the frame end names the frame's place in a bar of
:data:`BAR_FRAMES` frames, counted from the piece's first frame: ``|0`` closes a bar's first frame,
``|15`` its last (a 4/4 bar at the default 4 frames a beat). A model of plain notes per frame must
count frame ends to know where the beat falls, and the notes it ends at random frames come out as
16ths and dotted 8ths that real pieces hardly have; with the place in the bar among its inputs, a
note can end where the beat does. A frame still costs one token per sounding pitch plus its end, so
NLL per token and per frame stay comparable with notes per frame, and the place of the next frame
end is a certainty a model learns at once.

The vocabulary stays closed: the piece end, 16 frame ends and 88 pitches (105 symbols, no
``<unk>``). Decoding reads any frame end as the end of a frame, so notes are exactly those of notes
per frame: ``decode_notes(encode_notes(n)) == notes_per_frame.decode_notes(notes_per_frame.encode_notes(n))``.
Bars are counted by the last frame end of a bar, ``|15`` (:data:`BAR_END`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.piano import notes_per_frame as npf

NAME = "metered_frames"
BAR_FRAMES = 16
"""Frames in a bar (4/4 at 4 frames a beat)."""
FRAME_ENDS: tuple[str, ...] = tuple(f"{npf.FRAME_END}{k}" for k in range(BAR_FRAMES))
"""The frame end of each place in the bar, ``|0`` ... ``|15``."""
BAR_END = FRAME_ENDS[-1]
"""The frame end that closes a bar."""
FRAME_END = npf.FRAME_END
PIECE_END = npf.PIECE_END
SYMBOLS: tuple[str, ...] = (PIECE_END, *FRAME_ENDS, *(str(p) for p in range(npf.PITCH_LOW, npf.PITCH_HIGH + 1)))
"""Every symbol, in id order (105)."""


_FRAME_END_SET = frozenset(FRAME_ENDS)


def is_frame_end(symbol: str) -> bool:
    """Whether ``symbol`` is one of :data:`FRAME_ENDS`."""
    return symbol in _FRAME_END_SET


def metered(symbols: Iterable[str]) -> list[str]:
    """``symbols`` of a frame representation whose frame end is ``|``, every frame end renamed for its
    frame's place in the bar (``|0`` ... ``|15``, counted from the first frame)."""
    out, frame = [], 0
    for s in symbols:
        if s == npf.FRAME_END:
            s, frame = FRAME_ENDS[frame % BAR_FRAMES], frame + 1
        out.append(s)
    return out


def encode_notes(notes: np.ndarray) -> list[str]:
    """Symbols of ``[pitch, start, end]`` notes on a frame grid: notes per frame with each frame
    end naming its frame's place in the bar.

    Raises:
        MusicInputError: reason ``"pitch_range"`` for a pitch outside 21-108.
    """
    return metered(npf.encode_notes(notes))


def plain(symbols: Iterable[str], alphabet: Iterable[str] = npf.SYMBOLS) -> list[str]:
    """The symbols of ``alphabet``'s representation (frame end ``|``; notes per frame by default) of
    metered ones, every frame end ``|``.

    Raises:
        MusicInputError: reason ``"malformed_token"`` naming a symbol of neither vocabulary.
    """
    known = set(alphabet) | {"<unk>"}
    out = []
    for position, s in enumerate(symbols):
        if is_frame_end(s):
            s = npf.FRAME_END
        elif s not in known or s == npf.FRAME_END:
            raise MusicInputError(f"metered-frames symbol {s!r} at position {position} is not a frame end "
                                  f"|0-|{BAR_FRAMES - 1}, {PIECE_END!r} or a pitch {npf.PITCH_LOW}-{npf.PITCH_HIGH}"
                                  + (" (struck, or held as '60~')" if "60~" in known else ""),
                                  reason="malformed_token")
        out.append(s)
    return out


def decode_notes(symbols: Iterable[str]) -> np.ndarray:
    """Notes ``[pitch, start_frame, end_frame]`` of symbols, as :func:`notes_per_frame.decode_notes`."""
    return npf.decode_notes(plain(symbols))
