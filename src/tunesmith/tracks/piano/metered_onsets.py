"""Metered frames with onsets: the place in the bar and whether each pitch is struck or held.

The two frame representations that each fixed one thing, together: every frame is the ascending
list of its sounding pitches, a pitch struck in this frame written ``"60"`` and one that goes on
sounding ``"60~"`` (:mod:`tunesmith.tracks.piano.onsets_per_frame`), then a frame end that names
the frame's place in a 16-frame bar, ``|0`` ... ``|15``
(:mod:`tunesmith.tracks.piano.metered_frames`). Metered frames cannot tell two quarter notes on
one pitch from a half note, so a model of them cannot see how long a note has sounded or strike
it again; here a held pitch says so, and the frame end says where the beat is.

The vocabulary stays closed: the piece end, 16 frame ends, 88 onsets and 88 holds (193 symbols,
no ``<unk>``). A frame still costs one token per sounding pitch plus its end, but the marks say
more than metered frames do (which notes are struck again), so its NLL per frame is higher and not
comparable; ``bench/bench_classical_repr.py`` also scores it with each pitch's two marks summed out,
which is. Decoding is :func:`onsets_per_frame.decode_notes`
of the symbols with every frame end read as ``|``: exact for notes that do not overlap on one pitch.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tunesmith.tracks.piano import metered_frames as mf
from tunesmith.tracks.piano import onsets_per_frame as opf

NAME = "metered_onsets"
FRAME_ENDS = mf.FRAME_ENDS
BAR_END = mf.BAR_END
PIECE_END = mf.PIECE_END
SYMBOLS: tuple[str, ...] = (PIECE_END, *FRAME_ENDS, *opf.SYMBOLS[2:])
"""Every symbol, in id order (193): the piece end, ``|0`` ... ``|15``, 88 onsets, 88 holds."""
is_frame_end = mf.is_frame_end
is_hold = opf.is_hold


def encode_notes(notes: np.ndarray) -> list[str]:
    """Symbols of ``[pitch, start, end]`` notes on a frame grid: onsets per frame, each frame end
    naming its frame's place in the bar.

    Raises:
        MusicInputError: reason ``"pitch_range"`` for a pitch outside 21-108.
    """
    return mf.metered(opf.encode_notes(notes))


def decode_notes(symbols: Iterable[str]) -> np.ndarray:
    """Notes ``[pitch, start_frame, end_frame]`` of symbols, as :func:`onsets_per_frame.decode_notes`.

    Raises:
        MusicInputError: reason ``"malformed_token"`` naming a symbol of neither vocabulary.
    """
    return opf.decode_notes(mf.plain(symbols, opf.SYMBOLS))
