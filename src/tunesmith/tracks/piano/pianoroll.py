"""Piano-roll chord tokens for the classical track (Lorinczi & Brailovsky), exactly reversible.

A piece is a list of notes ``[pitch, start_frame, end_frame]`` on a grid of
frames, either beat-aligned (``frames_per_beat`` frames per quarter note,
following the file's tempo changes) or ``fs`` frames per second (Lorinczi & Brailovsky's
sampling frequency). Each frame becomes one token: the sorted set of pitches
sounding in it joined by ``"."`` (``"60.64.67"``), or ``"r"`` when nothing
sounds.

Lorinczi & Brailovsky loses the difference between a held note and a re-struck one, since
both sound in consecutive frames. With ``distinguish_holds=True`` (the
default) a pitch carried over from the previous frame without a new onset gets
a trailing ``"~"`` (``"60~.64.67"``: 60 held, 64 and 67 struck), which makes
``decode_notes(encode(notes)) == notes`` exact.

Every function here is pure (no module state). Reading MIDI files into notes lives
in :mod:`tunesmith.tracks.piano.midi_read` (``read_midi_notes`` and
``prepare_file`` are importable from here too).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pretty_midi

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.piano.midi_read import _check_grid

NAME = "pianoroll"
END = "<end>"
"""The classical track's end token."""

REST = "r"
"""Token of a frame in which nothing sounds."""

HOLD_MARK = "~"
"""Suffix of a pitch that continues from the previous frame without a new onset."""

SEPARATOR = "."
"""Joins the pitches of one token."""

_ITEM_RE = re.compile(r"(\d{1,3})(~?)")

def _check_notes(notes: np.ndarray) -> np.ndarray:
    """Return ``notes`` as int64 (n, 3) after checking they form a valid piano roll."""
    notes = np.asarray(notes)
    if notes.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if notes.ndim != 2 or notes.shape[1] != 3 or not np.issubdtype(notes.dtype, np.integer):
        raise ValueError(f"notes must be an integer array of shape (n, 3), got {notes.dtype} {notes.shape}")
    notes = notes.astype(np.int64)
    pitch, start, end = notes.T
    bad = (pitch < 0) | (pitch > 127) | (start < 0) | (end <= start)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"note {row} {notes[row].tolist()} needs 0 <= pitch <= 127 and 0 <= start < end")
    by_pitch = notes[np.lexsort((start, pitch))]
    clash = (by_pitch[1:, 0] == by_pitch[:-1, 0]) & (by_pitch[1:, 1] < by_pitch[:-1, 2])
    if clash.any():
        i = int(np.flatnonzero(clash)[0])
        raise ValueError(
            f"notes {by_pitch[i].tolist()} and {by_pitch[i + 1].tolist()} overlap on pitch {by_pitch[i, 0]}"
        )
    return notes


def encode(notes: np.ndarray, *, distinguish_holds: bool = True) -> list[str]:
    """Turn notes into one token per frame, from frame 0 to the last note end.

    Args:
        notes: integer array (n, 3) of ``[pitch, start, end]`` as returned by
            `read_midi_notes`; notes of one pitch must not overlap.
        distinguish_holds: mark a pitch continuing from the previous frame
            without a new onset with a trailing ``"~"``, which makes the
            encoding exactly reversible. Without it a re-struck pitch looks
            like a held one (Lorinczi & Brailovsky's tokens).

    Returns:
        Tokens such as ``"60~.64.67"`` (pitches ascending) or ``"r"`` for a
        silent frame; empty for no notes.

    Raises:
        ValueError: for a malformed notes array or overlapping notes of one pitch.
    """
    notes = _check_notes(notes)
    if len(notes) == 0:
        return []
    n_frames = int(notes[:, 2].max())
    durations = notes[:, 2] - notes[:, 1]
    # One cell per (frame, sounding pitch); offset 0 is the onset frame.
    offsets = np.arange(int(durations.sum())) - np.repeat(np.cumsum(durations) - durations, durations)
    cell_frame = np.repeat(notes[:, 1], durations) + offsets
    cell_pitch = np.repeat(notes[:, 0], durations)
    cell_held = (offsets > 0) if distinguish_holds else np.zeros(len(offsets), dtype=bool)
    order = np.lexsort((cell_pitch, cell_frame))
    cell_frame, cell_pitch, cell_held = cell_frame[order], cell_pitch[order], cell_held[order]

    names = [str(p) for p in range(128)]
    names_held = [name + HOLD_MARK for name in names]
    cell_names = [
        (names_held if held else names)[pitch] for pitch, held in zip(cell_pitch.tolist(), cell_held.tolist())
    ]
    bounds = np.searchsorted(cell_frame, np.arange(n_frames + 1)).tolist()
    return [
        SEPARATOR.join(cell_names[bounds[f] : bounds[f + 1]]) if bounds[f] < bounds[f + 1] else REST
        for f in range(n_frames)
    ]


def _parse_token(token: str, position: int | None = None) -> tuple[tuple[int, bool], ...]:
    """Split a pitch token into ``(pitch, held)`` pairs; ``"r"`` gives ().

    Raises MusicInputError (reason ``"malformed_token"``) naming the token and,
    when given, its position.
    """
    if token == REST:
        return ()
    where = f" at position {position}" if position is not None else ""
    items = []
    for item in token.split(SEPARATOR):
        match = _ITEM_RE.fullmatch(item)
        if match is None or int(match.group(1)) > 127:
            raise MusicInputError(
                f"malformed piano-roll token {token!r}{where}: {item!r} is not a MIDI pitch 0-127 "
                f"optionally followed by {HOLD_MARK!r}",
                reason="malformed_token",
            )
        items.append((int(match.group(1)), match.group(2) == HOLD_MARK))
    pitches = [pitch for pitch, _ in items]
    if len(set(pitches)) != len(pitches):
        raise MusicInputError(f"malformed piano-roll token {token!r}{where}: repeated pitch", reason="malformed_token")
    return tuple(items)


def _is_special(token: str) -> bool:
    return len(token) > 2 and token.startswith("<") and token.endswith(">")


def token_pitches(token: str) -> tuple[int, ...]:
    """Sounding pitches of one token, in the token's order (ascending for `encode`'s tokens).

    ``"r"`` and special tokens written ``"<name>"`` (``"<unk>"``, ``"<end>"``)
    give ``()``.

    Raises:
        MusicInputError: reason ``"malformed_token"`` for anything else that is
            not a pitch token.
    """
    if _is_special(token):
        return ()
    return tuple(pitch for pitch, _ in _parse_token(token))


def is_hold_token(token: str, previous: str | None = None, *, unk_token: str = "<unk>") -> bool:
    """Whether nothing new is struck in this frame (for "event accuracy").

    True for a pitch token whose pitches are all held (``"60~.64~"``), for
    ``"r"`` directly after ``"r"`` (pass the previous token as ``previous``;
    a rest after anything else, or with no previous token, is an event) and for
    the UNK token, which `decode_notes` reads as a hold of the previous frame.
    False for the end token and other special tokens.

    Only tokens encoded with ``distinguish_holds=True`` carry holds; in tokens
    without them every pitch looks struck.

    Raises:
        MusicInputError: reason ``"malformed_token"`` for a malformed pitch token.
    """
    if token == unk_token:
        return True
    if _is_special(token):
        return False
    if token == REST:
        return previous == REST
    return all(held for _, held in _parse_token(token))


def decode_notes(
    tokens: Sequence[str],
    *,
    unk_token: str = "<unk>",
    end_token: str = "<end>",
    distinguish_holds: bool = True,
) -> np.ndarray:
    """Turn tokens (one per frame) back into notes.

    Decoding stops at the first ``end_token``. The ``unk_token`` (a pitch set
    too rare for the vocabulary) is read as a frame that keeps every pitch of
    the previous frame sounding and strikes nothing: the least surprising
    guess, and it keeps the frame count, so later tokens stay in time.

    With ``distinguish_holds`` (tokens from ``encode(..., distinguish_holds=True)``)
    a pitch marked ``"~"`` continues the note sounding in the previous frame and
    an unmarked pitch starts a new note, so decoding is exact. A ``"~"`` pitch
    that was not sounding (possible in generated sequences) starts a new note.
    Without it, a pitch sounding in consecutive frames is one note (Lorinczi & Brailovsky's
    reading; a re-strike merges with the note before it) and marks are ignored.

    Returns:
        int32 array (n, 3) of ``[pitch, start_frame, end_frame]`` sorted by
        (start, pitch), like `read_midi_notes`.

    Raises:
        MusicInputError: reason ``"malformed_token"`` naming the token and its
            position.
    """
    sounding: dict[int, int] = {}  # pitch -> start frame of its current note
    finished: list[tuple[int, int, int]] = []
    parsed: dict[str, tuple[tuple[int, bool], ...]] = {}
    frame = 0
    for frame, token in enumerate(tokens):
        if token == end_token:
            break
        if token == unk_token:
            continue  # every sounding note simply lasts one more frame
        items = parsed.get(token)
        if items is None:
            items = parsed[token] = _parse_token(token, frame)
        now: dict[int, bool] = {pitch: held for pitch, held in items}
        for pitch in list(sounding):
            continues = pitch in now and (now[pitch] or not distinguish_holds)
            if not continues:
                finished.append((pitch, sounding.pop(pitch), frame))
        for pitch in now:
            sounding.setdefault(pitch, frame)
    else:
        frame = len(tokens)
    finished.extend((pitch, start, frame) for pitch, start in sounding.items())
    if not finished:
        return np.zeros((0, 3), dtype=np.int32)
    notes = np.array(finished, dtype=np.int32)
    return notes[np.lexsort((notes[:, 0], notes[:, 1]))]


def to_midi(
    notes: np.ndarray,
    *,
    frames_per_beat: int | None = 4,
    fs: float | None = None,
    tempo: float = 120.0,
    program: int = 0,
    velocity: int = 80,
) -> pretty_midi.PrettyMIDI:
    """Render notes as a one-instrument MIDI at a constant tempo.

    Frames last ``60 / (tempo * frames_per_beat)`` seconds, or ``1 / fs``
    seconds with ``frames_per_beat=None, fs=...``. The file's resolution is
    chosen so every frame boundary falls on (or within a fraction of) a tick,
    so reading it back with `read_midi_notes` on the same grid gives the same
    notes.

    Args:
        notes: integer array (n, 3) of ``[pitch, start, end]``.
        tempo: quarter notes per minute, > 0.
        program: General MIDI program 0-127 (0: acoustic grand piano).
        velocity: 1-127 for every note.

    Raises:
        ValueError: for an invalid grid, tempo, program, velocity or notes.
    """
    _check_grid(frames_per_beat, fs)
    if not (math.isfinite(tempo) and tempo > 0):
        raise ValueError(f"tempo must be a positive number, got {tempo!r}")
    if not 0 <= program <= 127:
        raise ValueError(f"program must be in [0, 127], got {program!r}")
    if not 1 <= velocity <= 127:
        raise ValueError(f"velocity must be in [1, 127], got {velocity!r}")
    notes = _check_notes(notes)
    if frames_per_beat is not None:
        # A multiple of frames_per_beat near 480 puts every frame on a whole tick.
        resolution = frames_per_beat * max(1, math.ceil(480 / frames_per_beat))
        seconds_per_frame = 60.0 / (tempo * frames_per_beat)
    else:
        # At least 8 ticks per frame keeps tick rounding far below half a frame.
        resolution = max(480, math.ceil(8 * 60.0 * fs / tempo))
        seconds_per_frame = 1.0 / fs
    if resolution > 0x7FFF:
        raise ValueError(f"frame rate too high for a MIDI file at tempo {tempo}: needs resolution {resolution}")
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=float(tempo))
    instrument = pretty_midi.Instrument(program=int(program))
    instrument.notes = [
        pretty_midi.Note(velocity=int(velocity), pitch=int(p), start=s * seconds_per_frame, end=e * seconds_per_frame)
        for p, s, e in notes.tolist()
    ]
    pm.instruments.append(instrument)
    return pm


def decode(
    tokens: Sequence[str],
    *,
    distinguish_holds: bool = True,
    frames_per_beat: int | None = 4,
    fs: float | None = None,
) -> pretty_midi.PrettyMIDI:
    """Tokens -> a one-piano MIDI (`decode_notes`, then `to_midi` on the grid given).

    Raises:
        MusicInputError: reason ``"malformed_token"`` (see `decode_notes`).
    """
    notes = decode_notes(tokens, distinguish_holds=distinguish_holds)
    return to_midi(notes, frames_per_beat=frames_per_beat, fs=fs)
