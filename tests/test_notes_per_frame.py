"""Notes per frame: exact round trips, the symbols of hand-written frames, tolerant decoding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.piano import notes_per_frame as npf


def roll_of(*frames: tuple[int, ...]) -> np.ndarray:
    roll = np.zeros((len(frames), 88), dtype=np.uint8)
    for f, pitches in enumerate(frames):
        for p in pitches:
            roll[f, p - 21] = 1
    return roll


def test_vocabulary_is_88_pitches_frame_end_and_piece_end_without_unk():
    vocab = npf.vocabulary()
    assert len(vocab) == 90
    assert vocab.end_id == npf.PIECE_END_ID == 0
    assert vocab.symbols[npf.FRAME_END_ID] == "|"
    assert vocab.symbols[2] == "21" and vocab.symbols[-1] == "108"
    assert "<unk>" not in vocab.symbols


def test_symbols_of_hand_written_frames():
    roll = roll_of((64, 60), (), (21, 108), ())
    assert npf.encode_symbols(roll) == ["60", "64", "|", "|", "21", "108", "|", "|"]
    ids = npf.encode_roll(roll)
    assert ids.tolist() == [60 - 19, 64 - 19, 1, 1, 2, 89, 1, 1]


@pytest.mark.parametrize("frames", [
    [(), (), ()],                                          # only empty frames
    [tuple(range(60, 80, 2))],                             # a 10-note chord
    [(21,), (108,), (21, 108), ()],                        # the range edges
    [tuple(range(21, 109))],                               # every key at once
    [(60,), tuple(range(40, 50)), (), (), (100, 101, 102)],
], ids=["empty", "ten-note-chord", "edges", "all-keys", "mixed"])
def test_round_trip_is_exact(frames):
    roll = roll_of(*frames)
    assert np.array_equal(npf.decode_ids(npf.encode_roll(roll)), roll.astype(bool))
    assert np.array_equal(npf.decode_symbols(npf.encode_symbols(roll)), roll.astype(bool))
    # one frame end per frame, one token per sounding note
    assert npf.encode_roll(roll).size == roll.shape[0] + int(roll.sum())


def test_empty_roll_encodes_to_nothing():
    roll = np.zeros((0, 88), dtype=np.uint8)
    assert npf.encode_roll(roll).size == 0
    assert npf.decode_ids([]).shape == (0, 88)


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(0, 12), st.just(88)),
              elements=st.sampled_from([False, False, False, True])))
def test_round_trip_property(roll):
    assert np.array_equal(npf.decode_ids(npf.encode_roll(roll)), roll)


def test_decode_tolerates_generated_order_and_stops_at_piece_end():
    ids = [41, 41, 2, 1, 89, 1, 50, 0, 60, 1]  # repeated, unsorted, then the piece end
    roll = npf.decode_ids(ids)
    assert roll.shape == (2, 88)
    assert np.flatnonzero(roll[0]).tolist() == [0, 39] and np.flatnonzero(roll[1]).tolist() == [87]
    # tokens after the last frame end (a sample cut short) are no frame
    assert npf.decode_ids([41, 1, 42]).shape == (1, 88)


def test_bad_input_is_named():
    with pytest.raises(MusicInputError, match="frames x 88"):
        npf.encode_roll(np.zeros((3, 87)))
    with pytest.raises(MusicInputError, match=r"frame 1 pitch column 5 holds 2\.0"):
        bad = np.zeros((2, 88))
        bad[1, 5] = 2
        npf.encode_roll(bad)
    with pytest.raises(MusicInputError, match="id 90 at position 1"):
        npf.decode_ids([1, 90])
    with pytest.raises(MusicInputError, match="'C4' at position 0"):
        npf.decode_symbols(["C4"])


def test_notes_and_rolls():
    notes = np.array([[60, 0, 2], [64, 1, 3], [60, 3, 4]])
    roll = npf.notes_to_roll(notes)
    assert npf.encode_symbols(roll) == ["60", "|", "60", "64", "|", "64", "|", "60", "|"]
    back = npf.roll_to_notes(roll)
    # a re-struck pitch in the next frame merges into one note: a roll cannot tell them apart
    assert back.tolist() == [[60, 0, 2], [64, 1, 3], [60, 3, 4]]
    assert npf.roll_to_notes(roll_of((60,), (60,))).tolist() == [[60, 0, 2]]
    with pytest.raises(MusicInputError, match="pitch 20"):
        npf.notes_to_roll(np.array([[20, 0, 1]]))


def test_transpose_keeps_the_range():
    roll = roll_of((21, 60), (100,))
    assert npf.transpose_roll(roll, -1) is None
    up = npf.transpose_roll(roll, 8)
    assert npf.encode_symbols(up) == ["29", "68", "|", "108", "|"]
    assert npf.transpose_roll(roll, 9) is None


# --------------------------------------------------------------------------- the classical track's `notes` option


def test_classical_notes_option_encodes_decodes_and_has_no_unk(tmp_path):
    from tunesmith.config.stages import EncodeConfig
    from tunesmith.data.encode import encode_piece
    from tunesmith.data.vocab import build_vocab
    from tunesmith.evaluation.likelihood import hold_ids
    from tunesmith.evaluation.music_stats import symbols_to_notes
    from tunesmith.generation.samples import write_sample
    from tunesmith.tracks.piano.track import frame_notes

    notes = [[60, 0, 2], [64, 0, 1], [67, 2, 3]]
    piece = {"id": "a", "notes": notes}
    symbols = encode_piece("classical", piece, EncodeConfig(representation="notes"))
    assert symbols == ["60", "64", "|", "60", "|", "67", "|"]
    assert encode_piece("classical", piece, EncodeConfig())[0] == "60.64"  # chords stay the default

    meta = {"encode": {"representation": "notes"}, "prepare": {"frames_per_beat": 2}}
    assert frame_notes(symbols, meta).tolist() == notes
    assert symbols_to_notes("classical", symbols, meta).tolist() == [[60, 0, 1], [64, 0, 0.5], [67, 1, 1.5]]
    info = write_sample("classical", symbols, meta, tmp_path / "s")
    assert info["decoded"] and info["notes"] == 3 and (tmp_path / "s.mid").is_file()

    # every pitch is in the vocabulary, seen in training or not; no symbol is a hold
    vocab = build_vocab([symbols], end="<end>", always=npf.SYMBOLS)
    assert set(npf.SYMBOLS) <= set(vocab.symbols) and vocab.counts["60"] == 2
    assert hold_ids(list(vocab.symbols), "classical") == frozenset()


# --------------------------------------------------------------------------- metered frames (`metered`)


def test_metered_frame_ends_count_the_frames_of_a_bar_and_decode_as_notes_per_frame():
    from tunesmith.tracks.piano import metered_frames as mf

    notes = np.array([[60, 0, 3], [64, 2, 18], [67, 17, 20]], np.int32)
    symbols = mf.encode_notes(notes)
    ends = [s for s in symbols if mf.is_frame_end(s)]
    assert ends == [f"|{k}" for k in range(16)] + ["|0", "|1", "|2", "|3"]  # 20 frames: a bar and 4 more
    assert symbols[:6] == ["60", "|0", "60", "|1", "60", "64"]
    assert mf.decode_notes(symbols).tolist() == npf.decode_notes(npf.encode_notes(notes)).tolist() == notes.tolist()
    assert len(mf.SYMBOLS) == len(set(mf.SYMBOLS)) == 105 and "|" not in mf.SYMBOLS
    with pytest.raises(MusicInputError, match=r"symbol '\|' at position 1"):
        mf.decode_notes(["60", "|"])  # a plain frame end is the other representation's
    with pytest.raises(MusicInputError, match=r"symbol '\|16' at position 0"):
        mf.decode_notes(["|16"])


def test_classical_metered_option_counts_bars_and_has_a_closed_vocabulary(tmp_path):
    from tunesmith.config.stages import EncodeConfig
    from tunesmith.data.encode import encode_piece
    from tunesmith.generation.samples import bar_limit, primer_beats
    from tunesmith.tracks import get_track
    from tunesmith.tracks.bars import FixedBars
    from tunesmith.tracks.piano import metered_frames as mf
    from tunesmith.tracks.piano.track import frame_notes

    music = get_track("classical")
    notes = [[60, 0, 20], [64, 16, 24]]
    symbols = encode_piece("classical", {"id": "a", "notes": notes}, EncodeConfig(representation="metered"))
    meta = {"encode": {"representation": "metered"}, "prepare": {"frames_per_beat": 4},
            "representation": mf.NAME}
    assert frame_notes(symbols, meta).tolist() == notes
    assert music.closed_symbols({"representation": "metered"}) == mf.SYMBOLS
    assert music.bar_unit(meta) == (mf.FRAME_ENDS, 16)
    # generation keeps the frame ends in their order; plain frames and the other tracks have no such order
    assert music.cycle(meta) == mf.FRAME_ENDS and music.cycle({"representation": npf.NAME}) == ()
    assert get_track("nottingham").cycle({}) == () == get_track("essen").cycle({})
    assert primer_beats(music, meta, symbols[:8]) == 1.0  # 4 frames: every frame end counts, whatever its place

    reader = music.bar_reader([], meta)
    assert isinstance(reader, FixedBars)
    closed = [bar for _, bar in map(reader.feed, symbols) if bar is not None]
    assert len(closed) == 1 and closed[0].tokens[-1] == "|15"  # one whole bar in 24 frames

    class Cfg:
        max_bars, min_bars, lengths = 2, 1, "fixed"

    max_units, unit_id, min_units = bar_limit("classical", music, Cfg(), meta, mf.SYMBOLS)
    assert (max_units, min_units) == (32, 16) and sorted(unit_id) == list(range(1, 17))  # ids of |0 ... |15


# ------------------------------------------------------------- metered onsets (`metered_onsets`)


def test_metered_onsets_tell_a_restruck_note_from_a_held_one_and_count_the_bar():
    from tunesmith.tracks.piano import metered_frames as mf
    from tunesmith.tracks.piano import metered_onsets as mo
    from tunesmith.tracks.piano import onsets_per_frame as opf

    notes = np.array([[60, 0, 4], [60, 4, 8], [64, 0, 8], [67, 6, 18], [48, 17, 20]], np.int32)
    symbols = mo.encode_notes(notes)
    # two quarter notes on C, struck at frames 0 and 4; E held through both
    assert symbols[:6] == ["60", "64", "|0", "60~", "64~", "|1"] and symbols[12:15] == ["60", "64~", "|4"]
    assert [s for s in symbols if mo.is_frame_end(s)] == [f"|{k}" for k in range(16)] + ["|0", "|1", "|2", "|3"]
    assert mo.decode_notes(symbols).tolist() == sorted(notes.tolist(), key=lambda n: (n[1], n[0]))
    assert mf.decode_notes(mf.encode_notes(notes)).tolist()[0] == [60, 0, 8]  # metered frames merge the two
    assert [s for s in symbols if not mo.is_frame_end(s)] == [s for s in opf.encode_notes(notes) if s != "|"]
    assert len(mo.SYMBOLS) == len(set(mo.SYMBOLS)) == 193 and {"|", "<unk>"}.isdisjoint(mo.SYMBOLS)
    with pytest.raises(MusicInputError, match=r"symbol '\|' at position 1 .* held as '60~'"):
        mo.decode_notes(["60", "|"])
    with pytest.raises(MusicInputError, match=r"symbol '60\^' at position 0"):
        mo.decode_notes(["60^"])


def test_classical_metered_onsets_option_counts_bars_and_ends_home_on_a_held_bass():
    from tunesmith.config.load import build
    from tunesmith.config.stages import EncodeConfig
    from tunesmith.core.errors import ConfigError
    from tunesmith.data.encode import encode_piece
    from tunesmith.tracks import get_track
    from tunesmith.tracks.piano import metered_onsets as mo
    from tunesmith.tracks.piano.track import frame_notes

    music = get_track("classical")
    notes = [[48, 0, 32], [60, 16, 20], [64, 20, 24]]
    cfg = EncodeConfig(representation="metered_onsets")
    symbols = encode_piece("classical", {"id": "a", "notes": notes}, cfg)
    meta = {"encode": {"representation": "metered_onsets"}, "prepare": {"frames_per_beat": 4},
            "representation": mo.NAME}
    assert frame_notes(symbols, meta).tolist() == notes
    assert music.closed_symbols({"representation": "metered_onsets"}) == mo.SYMBOLS
    assert music.bar_unit(meta) == (mo.FRAME_ENDS, 16) and music.cycle(meta) == mo.FRAME_ENDS
    assert music.hold_ids(list(mo.SYMBOLS)) == frozenset(i for i, s in enumerate(mo.SYMBOLS) if s.endswith("~"))

    reader = music.bar_reader([], meta)
    closed = [bar for _, bar in map(reader.feed, symbols) if bar is not None]
    assert len(closed) == 2 and closed[-1].tokens[-1] == "|15"
    assert reader.home()  # the bass C is held ("48~") through the last frames: it still counts as the bass
    with pytest.raises((ConfigError, ValueError), match="representation"):
        build(EncodeConfig, {"representation": "onsets_metered"}, "encode.classical")


@pytest.mark.parametrize("representation", ["metered_onsets", "onsets", "metered", "notes", "chords"])
def test_classical_frame_rules_name_frame_ends_pitches_and_holds(representation):
    from tunesmith.generation.constraints import frame_rules
    from tunesmith.tracks import get_track
    from tunesmith.tracks.piano import metered_frames as mf
    from tunesmith.tracks.piano.track import FRAMES

    music = get_track("classical")
    if representation == "chords":
        assert music.frame_rules({"representation": "pianoroll"}) is None
        return
    name = FRAMES[representation][1]
    ends, pitches = music.frame_rules({"representation": name})
    assert ends == (mf.FRAME_ENDS if representation.startswith("metered") else ("|",))
    assert pitches["60"] == (60, False) and pitches["21"] == (21, False)
    assert pitches.get("60~") == ((60, True) if "onsets" in representation else None)
    symbols = ["<end>", *ends, "60", *(["60~"] if "onsets" in representation else []), "<unk>"]
    end_ids, pitch_of, held = frame_rules(music, {"representation": name}, symbols)
    assert end_ids == list(range(1, 1 + len(ends)))
    assert pitch_of[len(ends) + 1] == 60 and pitch_of[0] == pitch_of[-1] == -1
    assert held.tolist() == [s.endswith("~") for s in symbols]
