"""Tests of the classical track's piano-roll tokens (tunesmith.tracks.piano.pianoroll)."""

from __future__ import annotations

import itertools
import json

import mido
import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.piano.midi_read import prepare_file, read_midi_notes
from tunesmith.tracks.piano.pianoroll import decode_notes, encode, is_hold_token, to_midi, token_pitches

# A C major chord struck at frame 0 with C held through frame 3 while E is
# re-struck at frame 2, a silent frame, then a single C5.
NOTES = np.array(
    [
        [60, 0, 4],
        [64, 0, 2],
        [67, 0, 1],
        [64, 2, 4],
        [72, 5, 6],
    ],
    dtype=np.int32,
)


def _write_pretty_midi(path, notes_by_instrument, *, tempo=120.0):
    """Write a MIDI file of ``[(program, is_drum, [(pitch, start_s, end_s), ...]), ...]``."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for program, is_drum, notes in notes_by_instrument:
        instrument = pretty_midi.Instrument(program=program, is_drum=is_drum)
        instrument.notes = [pretty_midi.Note(velocity=90, pitch=p, start=s, end=e) for p, s, e in notes]
        pm.instruments.append(instrument)
    pm.write(str(path))
    return path


def test_encode_marks_holds_and_round_trips_exactly():
    tokens = encode(NOTES)
    assert tokens == ["60.64.67", "60~.64~", "60~.64", "60~.64~", "r", "72"]
    np.testing.assert_array_equal(decode_notes(tokens), NOTES)


def test_without_holds_a_restrike_merges_with_the_note_before():
    tokens = encode(NOTES, distinguish_holds=False)
    assert tokens == ["60.64.67", "60.64", "60.64", "60.64", "r", "72"]
    merged = decode_notes(tokens, distinguish_holds=False)
    np.testing.assert_array_equal(merged, [[60, 0, 4], [64, 0, 4], [67, 0, 1], [72, 5, 6]])


def test_unknown_token_holds_the_previous_frame_and_end_token_stops():
    tokens = ["60.64", "<unk>", "64~", "<unk>", "r", "<end>", "72"]
    np.testing.assert_array_equal(decode_notes(tokens), [[60, 0, 2], [64, 0, 4]])


def test_held_mark_on_a_silent_pitch_starts_a_new_note():
    np.testing.assert_array_equal(decode_notes(["r", "60~", "60~"]), [[60, 1, 3]])


def test_empty_inputs():
    assert encode(np.zeros((0, 3), dtype=np.int32)) == []
    assert decode_notes([]).shape == (0, 3)
    assert decode_notes(["<end>", "60"]).shape == (0, 3)


def test_encode_rejects_overlapping_notes_of_one_pitch():
    with pytest.raises(ValueError, match="overlap on pitch 60"):
        encode(np.array([[60, 0, 3], [60, 2, 4]]))


@pytest.mark.parametrize(
    ("token", "bad"),
    [("60.x", "'x'"), ("128", "'128'"), ("60..64", "''"), ("", "''"), ("60.60", "repeated"), ("<pad>", "'<pad>'")],
    ids=["letter", "pitch-too-high", "empty-item", "empty-token", "repeated-pitch", "unknown-special"],
)
def test_malformed_token_names_token_and_position(token, bad):
    with pytest.raises(MusicInputError, match="position 2") as info:
        decode_notes(["60", "60~", token, "r"])
    assert repr(token) in str(info.value)
    assert bad in str(info.value)
    assert info.value.reason == "malformed_token"


def test_token_pitches_and_is_hold_token():
    assert token_pitches("60~.64.67") == (60, 64, 67)
    assert token_pitches("r") == ()
    assert token_pitches("<unk>") == ()
    with pytest.raises(MusicInputError, match=r"'60\.y'"):
        token_pitches("60.y")
    assert is_hold_token("60~.64~")
    assert not is_hold_token("60~.64")
    assert not is_hold_token("60")
    assert is_hold_token("r", previous="r")
    assert not is_hold_token("r", previous="60~")
    assert not is_hold_token("r")
    assert is_hold_token("<unk>")
    assert not is_hold_token("<end>")


@pytest.mark.parametrize(
    "grid", [{"frames_per_beat": 4}, {"frames_per_beat": 3}, {"frames_per_beat": None, "fs": 25.0}], ids=str
)
@pytest.mark.parametrize("tempo", [120.0, 97.0])
def test_midi_file_round_trip(tmp_path, grid, tempo):
    path = tmp_path / "piece.mid"
    to_midi(NOTES, tempo=tempo, **grid).write(str(path))
    np.testing.assert_array_equal(read_midi_notes(path, **grid), NOTES)


def test_tempo_change_quantises_to_beats(tmp_path):
    # Two beats at 120 bpm (0.5 s each), then 60 bpm (1 s per beat); one
    # quarter note on each of beats 0-3, written with mido because pretty_midi
    # cannot write tempo changes.
    ticks_per_beat = 480
    track = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0),
            mido.Message("note_on", note=60, velocity=80, time=0),
            mido.Message("note_off", note=60, velocity=0, time=ticks_per_beat),
            mido.Message("note_on", note=62, velocity=80, time=0),
            mido.Message("note_off", note=62, velocity=0, time=ticks_per_beat),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60), time=0),
            mido.Message("note_on", note=64, velocity=80, time=0),
            mido.Message("note_off", note=64, velocity=0, time=ticks_per_beat),
            mido.Message("note_on", note=65, velocity=80, time=0),
            mido.Message("note_off", note=65, velocity=0, time=ticks_per_beat),
        ]
    )
    path = tmp_path / "tempo_change.mid"
    mido.MidiFile(ticks_per_beat=ticks_per_beat, tracks=[track]).save(str(path))

    by_beat = read_midi_notes(path, frames_per_beat=4)
    np.testing.assert_array_equal(by_beat, [[60, 0, 4], [62, 4, 8], [64, 8, 12], [65, 12, 16]])
    # In seconds the slower second half takes twice as many frames per beat.
    by_second = read_midi_notes(path, frames_per_beat=None, fs=4)
    np.testing.assert_array_equal(by_second, [[60, 0, 2], [62, 2, 4], [64, 4, 8], [65, 8, 12]])


def test_drums_and_out_of_range_pitches_are_dropped(tmp_path):
    path = _write_pretty_midi(
        tmp_path / "mixed.mid",
        [
            (0, False, [(60, 0.0, 0.5), (20, 0.0, 0.5), (109, 0.5, 1.0)]),
            (40, False, [(67, 0.5, 1.0)]),
            (0, True, [(36, 0.0, 0.25), (64, 0.25, 0.5)]),
        ],
    )
    np.testing.assert_array_equal(read_midi_notes(path), [[60, 0, 4], [67, 4, 8]])
    wide = read_midi_notes(path, pitch_low=0, pitch_high=127)
    np.testing.assert_array_equal(wide, [[20, 0, 4], [60, 0, 4], [67, 4, 8], [109, 4, 8]])


def test_short_and_overlapping_notes_are_quantised_without_clashes(tmp_path):
    path = _write_pretty_midi(
        tmp_path / "overlaps.mid",
        [
            # A grace note far shorter than a frame, and two overlapping Cs in
            # different instruments: the later onset cuts the earlier note.
            (0, False, [(72, 0.0, 0.01), (60, 0.0, 1.0)]),
            (1, False, [(60, 0.5, 0.75), (60, 0.0, 0.25)]),
        ],
    )
    notes = read_midi_notes(path)  # 120 bpm, 4 frames per beat: 0.125 s per frame
    np.testing.assert_array_equal(notes, [[60, 0, 4], [72, 0, 1], [60, 4, 6]])
    np.testing.assert_array_equal(decode_notes(encode(notes)), notes)


def test_garbage_bytes_raise_parse_error_naming_the_file(tmp_path):
    path = tmp_path / "not_really.mid"
    path.write_bytes(b"this is not a MIDI file\x00\xff\x13" * 5)
    with pytest.raises(MusicInputError, match=r"not_really\.mid") as info:
        read_midi_notes(path)
    assert info.value.reason == "parse_error"


def test_file_with_only_drums_is_empty(tmp_path):
    path = _write_pretty_midi(tmp_path / "drums.mid", [(0, True, [(36, 0.0, 0.5)])])
    with pytest.raises(MusicInputError, match=r"drums\.mid") as info:
        prepare_file(path)
    assert info.value.reason == "empty"


def test_prepare_file_is_json_friendly(tmp_path):
    path = tmp_path / "piece.mid"
    to_midi(NOTES, frames_per_beat=None, fs=10.0).write(str(path))
    record = prepare_file(path, frames_per_beat=None, fs=10.0)
    assert json.loads(json.dumps(record)) == {"notes": NOTES.tolist(), "n_frames": 6, "n_notes": 5}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames_per_beat": 4, "fs": 10.0}, "exactly one"),
        ({"frames_per_beat": None}, "exactly one"),
        ({"frames_per_beat": 0}, "frames_per_beat must be a positive integer, got 0"),
        ({"frames_per_beat": None, "fs": -1.0}, "fs must be a positive number, got -1.0"),
    ],
)
def test_invalid_grid_is_rejected(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_midi_notes(tmp_path / "unused.mid", **kwargs)


@st.composite
def note_sets(draw):
    """Small random note sets, non-overlapping per pitch, sorted like read_midi_notes."""
    notes = []
    for pitch in draw(st.sets(st.integers(0, 127), max_size=5)):
        # Boundaries of back-to-back or separated notes of one pitch.
        cuts = sorted(draw(st.sets(st.integers(0, 24), min_size=2, max_size=8)))
        for start, end in itertools.pairwise(cuts):
            if draw(st.booleans()):
                notes.append((pitch, start, end))
    notes = np.array(notes, dtype=np.int32).reshape(-1, 3)
    return notes[np.lexsort((notes[:, 0], notes[:, 1]))]


@settings(max_examples=150, deadline=None)
@given(note_sets())
def test_random_notes_round_trip_with_holds(notes):
    tokens = encode(notes)
    assert len(tokens) == (int(notes[:, 2].max()) if len(notes) else 0)
    np.testing.assert_array_equal(decode_notes(tokens), notes)
