"""Encodings, one module per representation: encode(piece) -> symbols, decode(symbols) -> music.

| track      | module        | symbols                                              | end token |
|------------|---------------|------------------------------------------------------|-----------|
| nottingham | abc_chars     | characters of normalised ABC text                    | ``<end>`` |
| essen      | time_series   | MIDI number / ``r`` / ``_`` per time step (Vasudeva) | ``/``     |
| classical  | pianoroll     | one token per set of sounding pitches (Lorinczi & Brailovsky)     | ``<end>`` |
"""

from __future__ import annotations

from types import ModuleType

from tunesmith.representations import abc_chars, time_series

UNK = "<unk>"

TRACK_REPRESENTATION = {"nottingham": "abc_chars", "essen": "time_series", "classical": "pianoroll"}
END_TOKEN = {"nottingham": abc_chars.END, "essen": time_series.END, "classical": "<end>"}


def module_for(track: str) -> ModuleType:
    """The representation module of a track."""
    name = TRACK_REPRESENTATION[track]
    if name == "pianoroll":
        from tunesmith.representations import pianoroll  # imports pretty_midi only when needed

        return pianoroll
    return {"abc_chars": abc_chars, "time_series": time_series}[name]
