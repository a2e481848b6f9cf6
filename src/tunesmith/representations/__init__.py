"""Encodings, one module per representation, all with the same interface.

Every module has:

- ``NAME``: the representation's name (``meta.json``'s ``representation``);
- ``END``: the token between pieces;
- ``encode(piece, ...) -> list[str]``: the symbols of one prepared piece;
- ``decode(symbols, ...)``: the music back, a music21 stream (ABC, time series) or a
  ``pretty_midi.PrettyMIDI`` (piano rolls); decoding stops at ``END``.

| module          | piece                     | symbols                                              | decode     |
|-----------------|---------------------------|------------------------------------------------------|------------|
| abc_chars       | normalised ABC text       | its characters (Vinze et al.; Reitman & Cho)         | music21    |
| time_series     | ``(midi, duration)`` events | MIDI number / ``r`` / ``_`` per step (Vasudeva)    | music21    |
| pianoroll       | notes ``[pitch, start, end]`` | a token per sounding chord (Lorinczi & Brailovsky) | PrettyMIDI |
| notes_per_frame | notes ``[pitch, start, end]`` | a frame's pitches, then ``|`` (Walder); no UNK   | PrettyMIDI |

Options differ (``time_step``, ``distinguish_holds``, the frame grid): a track
(:mod:`tunesmith.tracks`) picks its representation and passes them. Reading MIDI files
into notes is :mod:`tunesmith.representations.midi_read`.
"""

from __future__ import annotations

UNK = "<unk>"
"""The token of a symbol outside the vocabulary."""
