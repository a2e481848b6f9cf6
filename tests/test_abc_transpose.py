"""ABC tunes moved to the tonic C (`tunesmith.tracks.abc.transpose`, ``prepare.nottingham.transpose``):
every note read back by music21 moved by the same semitones, the mode kept, chords moved with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunesmith.config.stages import PrepareConfig
from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.abc import abc_chars, transpose
from tunesmith.tracks.abc.form import key_tonic
from tunesmith.tracks.abc.track import nottingham_notes, prepare_nottingham

# a tune in G with what a Nottingham transcription holds: chord symbols with a bass, an annotation,
# a decoration, a grace note, a chord, explicit accidentals (one carried through its bar), notes
# below and above the unmarked octaves, and a change of key in the body
TUNE = """M:6/8
L:1/8
K:G
"G"D|G2B "D7/F#"^c2c|!trill!d3 {e}dBG|"^Fine"[GB]2A =F2F|"Em"E,3 g'3|
K:D
"A7"^G2A def|d3 d2|]
"""


def _pitches(text: str) -> np.ndarray:
    return nottingham_notes(text)


@pytest.mark.parametrize(("key", "moved", "semitones"), [
    ("G", "C", 5), ("D", "C", -2), ("Em", "Cm", -4), ("Ador", "Cdor", 3), ("F#m", "Cm", -6),
    ("Bb", "C", 2), ("Amix", "Cmix", 3), ("C", "C", 0), ("E dorian", "C dorian", -4),
])
def test_a_key_moves_to_the_tonic_c_the_smaller_way_and_keeps_its_mode(key, moved, semitones):
    first, other = transpose.to_tonic(key)
    assert first.semitones == semitones
    assert other.semitones - first.semitones in (12, -12) and other.steps - first.steps in (7, -7)
    assert transpose.move_key(key, first) == moved
    assert key_tonic(transpose.move_key(key, other)) == 0


def test_every_note_music21_reads_moves_by_the_same_semitones():
    text, semitones = transpose.transpose_to_c(TUNE)
    before, after = _pitches(TUNE), _pitches(text)
    assert after.shape == before.shape
    np.testing.assert_array_equal(after[:, 0], before[:, 0] + semitones)
    np.testing.assert_allclose(after[:, 1:], before[:, 1:])
    assert text.startswith("M:6/8\nL:1/8\nK:C\n")
    assert "\nK:G\n" in text  # the change to D, G's fifth, moved with the tune to C's fifth


def test_chord_symbols_move_annotations_and_decorations_stay():
    text, semitones = transpose.transpose_to_c(TUNE)
    assert semitones in (5, -7)
    assert '"C"' in text and '"G7/B"' in text and '"Am"' in text and '"D7"' in text
    assert '"^Fine"' in text and "!trill!" in text and "M:6/8" in text


def test_explicit_accidentals_are_respelt_for_their_new_pitch():
    # in G, ^c is C sharp and the plain c after it in the bar too; =F is F natural (the key has F sharp)
    text, semitones = transpose.transpose_to_c("M:2/4\nL:1/8\nK:G\n^c2c =F2F|\n")
    assert semitones == 5  # up a fourth: C sharp to F sharp, F natural to B flat
    assert text.endswith("K:C\n^f2f _B2B|\n")
    before, after = _pitches("M:2/4\nL:1/8\nK:G\n^c2c =F2F|\n"), _pitches(text)
    np.testing.assert_array_equal(after[:, 0], before[:, 0] + semitones)


def test_the_way_round_with_fewer_octave_marks_is_taken():
    low = "M:4/4\nL:1/4\nK:G\nG,A,B,D|\n"  # up a fourth: C D E G, no marks; down a fifth: C,, D,, ...
    high = "M:4/4\nL:1/4\nK:G\ngabd'|\n"    # down a fifth: c d e g, no marks
    assert transpose.transpose_to_c(low) == ("M:4/4\nL:1/4\nK:C\nCDEG|\n", 5)
    assert transpose.transpose_to_c(high) == ("M:4/4\nL:1/4\nK:C\ncdeg|\n", -7)


@pytest.mark.parametrize("key", ["none", "HP", "Dmix =c"])
def test_a_key_without_a_plain_tonic_is_refused(key):
    with pytest.raises(MusicInputError, match=f"K:{key}") as info:
        transpose.transpose_to_c(f"M:4/4\nL:1/4\nK:{key}\nCDEF|\n")
    assert info.value.reason == "untransposable"


def _abc_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tune.abc"
    path.write_text("X:1\nT:A Tune\n" + text)
    return path


def test_prepare_moves_tunes_to_c_when_asked_and_records_by_how_much(tmp_path):
    path = _abc_file(tmp_path, TUNE)
    (kept,) = prepare_nottingham(path, "abc", "t", "", PrepareConfig(transpose=False))
    assert kept["abc"].startswith("M:6/8\nL:1/8\nK:G\n") and "transposed" not in kept
    (moved,) = prepare_nottingham(path, "abc", "t", "", PrepareConfig(transpose=True))
    assert moved["abc"].startswith("M:6/8\nL:1/8\nK:C\n")
    np.testing.assert_array_equal(_pitches(moved["abc"])[:, 0], _pitches(kept["abc"])[:, 0] + moved["transposed"])


def test_a_move_music21_reads_otherwise_leaves_the_tune_as_written_and_says_so(tmp_path, monkeypatch):
    """The check is music21's reading: a move that lost a sharp is not kept, nor is the tune lost."""
    def wrong(text):
        moved, semitones = real(text)
        return moved.replace("^f", "f"), semitones

    real = transpose.transpose_to_c
    monkeypatch.setattr(transpose, "transpose_to_c", wrong)
    path = _abc_file(tmp_path, "M:2/4\nL:1/8\nK:G\n^c2c =F2F|\n")
    (piece,) = prepare_nottingham(path, "abc", "t", "", PrepareConfig(transpose=True))
    assert piece["abc"] == "M:2/4\nL:1/8\nK:G\n^c2c =F2F|\n" and "transposed" not in piece
    assert piece["warning"].startswith("tune 1 stays in its own key: moved to C by +5 semitones, music21 reads")


def test_a_tune_without_a_tonic_stays_as_written_and_prepare_says_which(tmp_path, caplog):
    import pandas as pd

    from tunesmith.data.prepare import prepare_corpus

    (tmp_path / "modal.abc").write_text("X:1\nT:Modal\nM:2/4\nL:1/8\nK:Dmix =c\nDEF|\n")
    (tmp_path / "plain.abc").write_text("X:1\nT:Plain\n" + TUNE)
    manifest = pd.DataFrame([{"id": name, "source_file": f"{name}.abc", "format": "abc", "title": name}
                             for name in ("modal", "plain")])
    pieces, rejected, stats = prepare_corpus("nottingham", tmp_path, manifest,
                                             PrepareConfig(transpose=True, workers=1), progress=False)
    assert rejected.empty and [p["id"] for p in pieces] == ["modal", "plain"]
    assert "K:Dmix =c\n" in pieces[0]["abc"] and "transposed" not in pieces[0] and "warning" not in pieces[0]
    assert pieces[1]["transposed"] == 5
    assert stats["kept_with_warnings"] == 1
    assert "modal.abc: tune 1 stays in its own key: cannot move the tune to the tonic C: K:Dmix =c" in caplog.text


def test_a_moved_tune_still_parses_as_the_track_reads_it():
    text, _ = transpose.transpose_to_c(TUNE)
    assert abc_chars.to_stream(text, beams=False).flatten().notes


def test_a_nottingham_database_tune_with_a_key_change_moves_whole(tmp_path):
    """The Nottingham Music Database's own layout (chords in quotes, S:/Y: headers, a first and second
    ending, a key change and a P: field inside the tune), moved and checked by music21 in prepare."""
    from test_real_corpora import NOTTINGHAM

    path = tmp_path / "jigs-1.abc"
    path.write_text(NOTTINGHAM)
    (piece,) = prepare_nottingham(path, "abc", "jigs-1", "", PrepareConfig(transpose=True))
    assert piece["transposed"] == 3 and piece["abc"].startswith("M:6/8\nK:C\n")
    assert "\nK:F\nP:B\n" in piece["abc"]  # D, A's fourth, became F, C's fourth
    assert '"C"gee e2a|' in piece["abc"] and '"Dm"ded "G7"d2a|' in piece["abc"]
