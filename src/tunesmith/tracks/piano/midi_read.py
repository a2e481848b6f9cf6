"""Reading MIDI files as quantised notes ``[pitch, start_frame, end_frame]`` (the classical track's input).

Split from :mod:`tunesmith.tracks.piano.pianoroll`, which turns such notes into tokens
and back. A grid is either ``frames_per_beat`` frames per quarter note (following the
file's tempo changes) or ``fs`` frames per second (Lorinczi & Brailovsky's sampling
frequency). Every function is pure, so that ``prepare_file`` can run in a process pool.
"""

from __future__ import annotations

import math
from pathlib import Path

import mido
import numpy as np
import pretty_midi

from tunesmith.core.errors import MusicInputError


def _check_grid(frames_per_beat: int | None, fs: float | None) -> None:
    """Raise ValueError unless exactly one positive frame rate is given."""
    if (frames_per_beat is None) == (fs is None):
        raise ValueError(
            "exactly one of frames_per_beat and fs must be set, "
            f"got frames_per_beat={frames_per_beat!r}, fs={fs!r}"
        )
    if frames_per_beat is not None and (
        isinstance(frames_per_beat, bool) or not isinstance(frames_per_beat, (int, np.integer)) or frames_per_beat < 1
    ):
        raise ValueError(f"frames_per_beat must be a positive integer, got {frames_per_beat!r}")
    if fs is not None and not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0):
        raise ValueError(f"fs must be a positive number, got {fs!r}")


def _round_half_up(values: np.ndarray) -> np.ndarray:
    # np.rint rounds halves to even, which would put notes at 2.5 and 3.5 frames
    # in different directions; half-up keeps quantisation monotone and predictable.
    return np.floor(values + 0.5).astype(np.int64)


def _quarter_positions(pm: pretty_midi.PrettyMIDI, times: np.ndarray) -> np.ndarray:
    """Map times in seconds to positions in quarter notes, following tempo changes.

    The beat is the quarter note (the unit of MIDI tempo) rather than
    ``pm.get_beats()``'s meter-dependent beat, so a grid of 4 frames per beat
    holds sixteenth notes in 6/8 as well as in 4/4. Times after the last tempo
    change continue at the last tempo.
    """
    change_times, tempi = pm.get_tempo_changes()
    beats_per_second = tempi / 60.0
    change_beats = np.concatenate([[0.0], np.cumsum(np.diff(change_times) * beats_per_second[:-1])])
    segment = np.clip(np.searchsorted(change_times, times, side="right") - 1, 0, None)
    return change_beats[segment] + (times - change_times[segment]) * beats_per_second[segment]


def _resolve_overlaps(notes: np.ndarray) -> np.ndarray:
    """Make notes of one pitch disjoint: a later onset cuts the earlier note.

    Notes of one pitch with the same start frame merge into the longest one.
    Input and output: int (n, 3) ``[pitch, start, end]`` with end > start;
    output sorted by (start, pitch).
    """
    if len(notes) == 0:
        return notes
    # Sorted by pitch, start, then longest first, so the first of each
    # (pitch, start) group is the one kept.
    order = np.lexsort((-notes[:, 2], notes[:, 1], notes[:, 0]))
    notes = notes[order]
    first = np.ones(len(notes), dtype=bool)
    first[1:] = (notes[1:, 0] != notes[:-1, 0]) | (notes[1:, 1] != notes[:-1, 1])
    notes = notes[first].copy()
    same_pitch_next = notes[1:, 0] == notes[:-1, 0]
    cut = same_pitch_next & (notes[:-1, 2] > notes[1:, 1])
    notes[:-1, 2][cut] = notes[1:, 1][cut]
    return notes[np.lexsort((notes[:, 0], notes[:, 1]))]


def _check_midi_length(path: Path, midi: mido.MidiFile, *, frames_per_beat: int | None, fs: float | None,
                       max_seconds: float | None, max_frames: int | None) -> None:
    """Reject type-2 files, and files longer than the limits, from the events' tick counts."""
    if midi.type == 2:
        raise MusicInputError(f"{path}: MIDI type 2 (independent sequential songs) is not supported: "
                              "its tracks would be merged as if simultaneous", reason="midi_type_2")
    if max_seconds is None and max_frames is None:
        return
    ticks = max((sum(msg.time for msg in track) for track in midi.tracks), default=0)
    quarters = ticks / max(midi.ticks_per_beat, 1)
    try:
        seconds = midi.length
    except Exception:  # mido refuses odd files here; pretty_midi reports them below
        seconds = 0.0
    frames = quarters * frames_per_beat if frames_per_beat is not None else seconds * float(fs or 0)
    if max_seconds is not None and seconds > max_seconds:
        raise MusicInputError(f"{path}: {seconds:.0f} s of music, longer than the limit of {max_seconds:g} s",
                              reason="too_long")
    if max_frames is not None and frames > max_frames:
        raise MusicInputError(f"{path}: {frames:.0f} frames, longer than the limit of {max_frames} frames",
                              reason="too_long")


def read_midi_notes(
    path: Path,
    *,
    frames_per_beat: int | None = 4,
    fs: float | None = None,
    pitch_low: int = 21,
    pitch_high: int = 108,
    max_seconds: float | None = None,
    max_frames: int | None = None,
) -> np.ndarray:
    """Read a MIDI file as quantised notes.

    All non-drum instruments are merged; notes with a pitch outside
    ``[pitch_low, pitch_high]`` (default: the 88 piano keys) are dropped.
    Exactly one of ``frames_per_beat`` (frames per quarter note, following the
    file's tempo changes; the default) and ``fs`` (frames per second, seed
    001's sampling frequency) must be set: pass ``frames_per_beat=None`` to use
    ``fs``. Note boundaries are rounded to the nearest frame; a note shorter
    than a frame keeps one frame. Overlapping notes of one pitch are cut at the
    later onset, so a pitch never sounds twice at once.

    ``max_seconds`` / ``max_frames`` (None = no limit) bound the piece: its length
    is read from the file's tick counts and tempo map before any note or time
    table is built, so one file claiming an hours-long note costs no memory.

    Returns:
        int32 array of shape (n, 3), rows ``[pitch, start_frame, end_frame]``
        with ``0 <= start < end``, sorted by (start, pitch).

    Raises:
        MusicInputError: reason ``"parse_error"`` when the file cannot be read
            as MIDI, ``"midi_type_2"`` for a type-2 file (independent songs in
            sequence, which merged tracks would play at once), ``"too_long"`` past
            ``max_seconds`` or ``max_frames``, ``"empty"`` when no notes remain.
        ValueError: for an invalid grid or pitch range.
    """
    _check_grid(frames_per_beat, fs)
    if not 0 <= pitch_low <= pitch_high <= 127:
        raise ValueError(
            f"pitch range must satisfy 0 <= pitch_low <= pitch_high <= 127, got [{pitch_low}, {pitch_high}]"
        )
    path = Path(path)
    try:
        midi = mido.MidiFile(filename=str(path), charset="latin1")  # as pretty_midi reads it
    # mido raises many unrelated types (OSError, EOFError, KeyError, ValueError, ...) on corrupt files
    except Exception as exc:
        raise MusicInputError(f"{path}: cannot read MIDI: {type(exc).__name__}: {exc}", reason="parse_error") from exc
    _check_midi_length(path, midi, frames_per_beat=frames_per_beat, fs=fs, max_seconds=max_seconds,
                       max_frames=max_frames)
    try:
        pm = pretty_midi.PrettyMIDI(mido_object=midi)
    except Exception as exc:  # pretty_midi's own checks (tick limit, bad events)
        raise MusicInputError(f"{path}: cannot read MIDI: {type(exc).__name__}: {exc}", reason="parse_error") from exc

    rows = [
        (note.pitch, note.start, note.end)
        for instrument in pm.instruments
        if not instrument.is_drum
        for note in instrument.notes
        if pitch_low <= note.pitch <= pitch_high
    ]
    if not rows:
        raise MusicInputError(
            f"{path}: no non-drum notes with pitch in [{pitch_low}, {pitch_high}]", reason="empty"
        )
    pitches = np.array([row[0] for row in rows], dtype=np.int64)
    times = np.array([(row[1], row[2]) for row in rows], dtype=np.float64)
    if frames_per_beat is not None:
        frames = _quarter_positions(pm, times.ravel()).reshape(times.shape) * frames_per_beat
    else:
        frames = times * fs
    frames = np.clip(_round_half_up(frames), 0, None)
    frames[:, 1] = np.maximum(frames[:, 1], frames[:, 0] + 1)
    notes = _resolve_overlaps(np.column_stack([pitches, frames]))
    return notes.astype(np.int32)


def prepare_file(path: Path, **kwargs: object) -> dict:
    """Read one MIDI file into a JSON-friendly dict for the prepare stage.

    Keyword arguments are those of `read_midi_notes`.

    Returns:
        ``{"notes": [[pitch, start, end], ...], "n_frames": int, "n_notes": int}``
        where ``n_frames`` is the last note end.

    Raises:
        MusicInputError: as `read_midi_notes`.
    """
    notes = read_midi_notes(path, **kwargs)
    return {
        "notes": notes.tolist(),
        "n_frames": int(notes[:, 2].max()),
        "n_notes": len(notes),
    }
