"""Exact round trips of the essen time series and the nottingham ABC characters."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.abc import abc_chars
from tunesmith.tracks.melody import time_series

# --------------------------------------------------------------------- time series (Vasudeva)


def test_quarter_note_is_pitch_then_holds():
    assert time_series.encode([(63, F(1))], 0.25) == ["63", "_", "_", "_"]


def test_melody_encodes_exactly():
    events = [(60, F(1, 2)), (None, F(1, 4)), (62, F(3, 4)), (None, F(1, 4)), (None, F(1, 4))]
    assert time_series.encode(events, 0.25) == ["60", "_", "r", "62", "_", "_", "r", "r"]


@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 127)), st.integers(1, 16)), min_size=1, max_size=40))
def test_time_series_round_trip(raw):
    events = [(p, F(n, 4)) for p, n in raw]
    assert time_series.decode_events(time_series.encode(events, 0.25), 0.25) == events


def test_decode_stops_at_song_delimiter_and_reads_leading_hold_as_rest():
    assert time_series.decode_events(["_", "60", "_", "/", "62"], 0.5) == [(None, F(1, 2)), (60, F(1))]


def test_unrepresentable_duration_is_named():
    with pytest.raises(MusicInputError, match=r"duration 1/3 quarter lengths .* time_step 1/4") as err:
        time_series.encode([(60, F(1, 3))], 0.25)
    assert err.value.reason == "unrepresentable_duration"


def test_bad_symbol_is_named():
    with pytest.raises(MusicInputError, match=r"symbol 1 'x60'"):
        time_series.decode_events(["60", "x60"])


def test_to_stream_writes_real_midi_that_reads_back(tmp_path):
    import pretty_midi

    symbols = ["60", "_", "_", "_", "r", "_", "64", "_"]
    path = tmp_path / "melody.mid"
    time_series.to_stream(symbols, 0.25).write("midi", fp=str(path))
    notes = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
    assert [n.pitch for n in notes] == [60, 64]
    beat = 0.5  # music21 writes 120 bpm by default
    assert [round(n.start / beat, 3) for n in notes] == [0.0, 1.5]
    assert [round((n.end - n.start) / beat, 3) for n in notes] == [1.0, 0.5]


# --------------------------------------------------------------------- ABC characters (Vinze et al.; Reitman & Cho)

TUNE = (
    "X: 12\r\n"
    "T:The Kesh   Jig\r\n"
    "% a comment\r\n"
    "R:jig\r\n"
    "M:6/8\r\n"
    "L:1/8\r\n"
    "K:G\r\n"
    "|:GAG GAB|ABA ABd|\r\n"
    "\r\n"
    "  edd gdd|edB dBA:|   \r\n"
)


def test_normalise_musical_headers_only():
    assert abc_chars.normalise_tune(TUNE, "musical") == "M:6/8\nL:1/8\nK:G\n|:GAG GAB|ABA ABd|\nedd gdd|edB dBA:|\n"


def test_normalise_all_headers_keeps_them_in_order():
    text = abc_chars.normalise_tune(TUNE, "all")
    assert text.splitlines()[:6] == ["X: 12", "T:The Kesh Jig", "R:jig", "M:6/8", "L:1/8", "K:G"]


def test_chars_round_trip_exactly():
    text = abc_chars.normalise_tune(TUNE, "all")
    symbols = abc_chars.encode(text)
    assert abc_chars.decode_text([*symbols, abc_chars.END, "x", "y"]) == text


def test_no_key_field_is_rejected_with_the_tune_named():
    with pytest.raises(MusicInputError, match=r"tune starting 'X:3' has no K: \(key\) field"):
        abc_chars.normalise_tune("X:3\nT:Broken\nM:6/8\nGAG GAB|\n")


def test_abc_decodes_to_music():
    score = abc_chars.to_stream(abc_chars.normalise_tune(TUNE, "musical"))
    pitches = [n.pitch.midi for n in score.flatten().notes][:3]
    assert pitches == [67, 69, 67]  # G A G


# --------------------------------------------------------------------------- the shared interface


def test_every_representation_has_name_end_encode_and_decode():
    import numpy as np

    from tunesmith.tracks.piano import notes_per_frame, pianoroll

    notes = np.array([[60, 0, 2], [64, 2, 4]], dtype=np.int32)
    cases = {
        abc_chars: ("M:4/4\nL:1/4\nK:C\nCE|\n", {}),
        time_series: ([(60, F(1, 2)), (64, F(1, 2))], {}),
        pianoroll: (notes, {"frames_per_beat": 4}),
        notes_per_frame: (notes, {"frames_per_beat": 4}),
    }
    for module, (piece, grid) in cases.items():
        assert module.__name__.rsplit(".", 1)[1] == module.NAME
        symbols = module.encode(piece)
        music = module.decode([*symbols, module.END, symbols[0]], **grid)  # stops at END
        if hasattr(music, "instruments"):  # pretty_midi: 4 frames a beat at 120 bpm
            pitches = [(n.pitch, n.start) for i in music.instruments for n in i.notes]
            assert pitches == [(60, 0.0), (64, 0.25)], module.NAME
        else:  # music21
            assert [n.pitch.midi for n in music.flatten().notes] == [60, 64], module.NAME


@pytest.mark.parametrize(("melody", "accidentals"), [
    ("60 _ 62 _ 64 _ 65 _ 67 _ 69 _ 71 _ 72 _ 74 _ 76 _ 77 _ 79 _ 81 _ 83 _ 84 _ _ _", 0),  # C major: none
    ("67 _ _ _ 72 _ _ _ 71 _ 69 _ 67 _ 65 _ 64 _ _ _ 62 _ 60 _ r _", 0),
    # chromatic, one bar: five altered notes, and a natural each time a letter returns to its plain form
    ("60 61 62 63 64 65 66 67 68 69 70 71 72 _ _ _", 8),
])
def test_essen_scores_print_accidentals_only_where_the_pitch_needs_one(melody, accidentals, tmp_path):
    from tunesmith.tracks import get_track

    files: list[str] = []
    meta = {"encode": {"time_step": 0.25}, "prepare": {"transpose": True}}
    get_track("essen").write_music(melody.split(), meta, tmp_path / "s", files, title="t")
    xml = (tmp_path / "s.musicxml").read_text()
    assert xml.count("<accidental>") == accidentals
    assert "<fifths>0</fifths>" in xml  # the key signature of C major, where prepare transposed the songs


def test_the_primer_is_marked_in_the_score_and_shaded_in_the_piano_roll(tmp_path):
    from matplotlib.image import imread

    from tunesmith.generation.samples import primer_beats
    from tunesmith.render.plots import plot_piano_roll
    from tunesmith.tracks import get_track

    essen = get_track("essen")
    meta = {"encode": {"time_step": 0.25}, "prepare": {"transpose": True}}
    primer = ["67", "_", "_", "_", "72", "_", "_", "_"]
    files: list[str] = []
    essen.write_music([*primer, *["71", "_", "69", "_", "67", "_", "_", "_"]], meta, tmp_path / "s", files, title="t",
                      primer_length=len(primer))
    xml = (tmp_path / "s.musicxml").read_text()
    assert xml.count("<words") == 1 and "model begins</words>" in xml
    assert primer_beats(essen, meta, primer) == 2.0  # eight 16th notes
    assert primer_beats(get_track("nottingham"), {}, list("M:6/8\nL:1/8\nK:")) == 0.0  # a header: no music
    # the `|` of a cut-time meter is no bar line: a hornpipe's header-only primer shades nothing
    assert primer_beats(get_track("nottingham"), {}, list("M:C|\nL:1/8\nK:D\n")) == 0.0
    assert primer_beats(get_track("nottingham"), {}, list("M:C|\nL:1/8\nK:D\nABcd|")) == 4.0
    shaded = imread(plot_piano_roll(tmp_path / "s.mid", tmp_path / "shaded.png", primer_beats=2.0))
    plain = imread(plot_piano_roll(tmp_path / "s.mid", tmp_path / "plain.png"))
    grey = (np.abs(shaded[..., 0] - shaded[..., 1]) < 0.02) & (shaded[..., 0] < 0.95) & (shaded[..., 0] > 0.6)
    grey_plain = (np.abs(plain[..., 0] - plain[..., 1]) < 0.02) & (plain[..., 0] < 0.95) & (plain[..., 0] > 0.6)
    assert grey.sum() > grey_plain.sum() + 2000  # the primer's span is shaded
