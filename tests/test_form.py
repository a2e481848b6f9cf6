"""Form statistics, the two-sample test, ABC form hints and onsets per frame, on pieces built in code."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.evaluation.form import estimate_tonic, piece_form, summarise, top_line
from tunesmith.evaluation.two_sample import FEATURES, classifier_accuracy, piece_features
from tunesmith.tracks.abc.form import abc_form_hints, key_tonic, meter_beats, sections
from tunesmith.tracks.base import FormHints
from tunesmith.tracks.piano import onsets_per_frame as opf


def melody(pitches, length=1.0, start=0.0) -> np.ndarray:
    """Consecutive notes of ``length`` beats."""
    return np.array([[p, start + i * length, start + (i + 1) * length] for i, p in enumerate(pitches)], float)


def test_a_repeated_bar_counts_and_a_new_one_does_not():
    bar_a, bar_b = [60, 62, 64, 65], [67, 65, 64, 62]
    notes = melody(bar_a + bar_b + bar_a + bar_b)  # 4/4: bars A B A B
    form = piece_form(notes, FormHints(bar_beats=4.0, tonic=0))
    assert form["bar_repeat"] == pytest.approx(2 / 3)  # bars 3 and 4 of the 3 after the first
    fresh = piece_form(melody([60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79]), FormHints(tonic=0))
    assert fresh["bar_repeat"] == 0.0


def test_a_transposed_bar_is_no_repeat_but_its_motif_is():
    notes = melody([60, 62, 64, 65, 62, 64, 66, 67])
    form = piece_form(notes, FormHints(tonic=0))
    assert form["bar_repeat"] == 0.0
    assert form["motif_repeat"] == pytest.approx(1 / 5)  # the 5th 4-note window repeats the 1st's shape


def test_tonic_ending_whole_bars_and_length():
    notes = melody([62, 64, 66, 67, 69, 71, 73, 74])  # D major, ends on D after two 4/4 bars
    form = piece_form(notes, FormHints(bar_beats=4.0, tonic=2))
    assert form["tonic_end"] and form["whole_bars"] and form["bars"] == 2.0
    cut = piece_form(notes[:-1], FormHints(bar_beats=4.0, tonic=2))
    assert not cut["tonic_end"] and not cut["whole_bars"]


def test_the_tonic_is_estimated_when_the_notation_gives_none():
    g_major = melody([67, 71, 74, 67, 66, 67, 69, 71, 72, 74, 67, 62, 67], length=1.0)
    assert estimate_tonic(g_major) == 7
    assert piece_form(g_major, FormHints())["tonic_end"]


def test_a_held_chord_is_one_unchanged_chord_and_a_moving_bass_changes_it():
    chord = np.array([[60, 0, 16], [64, 0, 16], [67, 0, 16]], float)
    assert piece_form(chord, FormHints())["longest_chord"] == 16.0
    restruck = np.array([[60, b, b + 1] for b in range(8)] + [[64, b, b + 1] for b in range(8)], float)
    assert piece_form(restruck, FormHints())["longest_chord"] == 8.0  # the same set struck again: no change
    moving = np.vstack([chord, [[48 + b % 2, b, b + 1] for b in range(16)]])
    assert piece_form(moving, FormHints())["longest_chord"] == 1.0


def test_top_line_takes_the_highest_note_of_each_onset():
    notes = np.array([[48, 0, 1], [60, 0, 1], [52, 1, 2], [64, 1, 2]], float)
    assert top_line(notes)[:, 0].tolist() == [60, 64]


def test_summary_has_means_bootstrap_sds_and_percentiles():
    forms = [piece_form(melody([60, 62, 64, 65] * k), FormHints(tonic=0)) for k in (1, 2, 3, 4)]
    out = summarise(forms, boot=50)
    assert out["bars"]["mean"] == pytest.approx(2.5) and out["bars"]["p10"] < out["bars"]["p90"]
    assert out["bar_repeat"]["n"] == 4 and out["bar_repeat"]["sd"] > 0
    assert "two_parts_of_8" not in out  # no piece marks sections
    assert out["chord_at_most_8"]["mean"] == 1.0


def test_two_sections_of_eight_bars_with_and_without_a_pickup():
    eight = "|".join(["abcd"] * 8)
    assert sections(f"|:{eight}:|\n|:{eight}:|")[0] == (8, 8)
    assert sections(f"A|:{eight}:|{eight}|]")[0] == (8, 8)  # the pickup bar closed by |: is dropped
    marked, endings = sections(f"|:{eight}|1 abcd:|2 abcd|]")
    assert endings and marked == (9, 1)
    form = piece_form(melody([60] * 8), FormHints(sections=(8, 8)))
    assert form["two_parts_of_8"] is True
    assert piece_form(melody([60] * 8), FormHints(sections=(7, 4)))["two_parts_of_8"] is False


@pytest.mark.parametrize(("meter", "beats"), [("6/8", 3.0), ("C", 4.0), ("C|", 4.0), ("3/4", 3.0), ("9/8", 4.5),
                                               ("2+3/8", 2.5), ("", 4.0), ("free", 4.0)])
def test_meter_beats(meter, beats):
    assert meter_beats(meter) == beats


@pytest.mark.parametrize(("key", "tonic"), [("D", 2), ("Ador", 9), ("F#m", 6), ("Bb", 10), ("none", None)])
def test_key_tonic(key, tonic):
    assert key_tonic(key) == tonic


def test_abc_hints_of_a_whole_tune():
    body = "|:" + "|".join(["GAB c2d"] * 8) + ":|\n"
    hints = abc_form_hints(f'X:1\nT:t\nM:6/8\nL:1/8\nK:G\n"G"{body}{body}')
    assert hints == FormHints(bar_beats=3.0, tonic=7, sections=(8, 8), endings=False)


def test_features_have_the_documented_length_and_the_classifier_finds_a_real_difference():
    rng = np.random.default_rng(0)

    def piece(step):
        notes = melody(list(60 + np.cumsum(rng.integers(-step, step + 1, 32))))
        form = piece_form(notes, FormHints(tonic=0))
        return piece_features(notes, form, 0)

    assert piece(2).shape == (len(FEATURES),)
    near = classifier_accuracy([piece(2) for _ in range(30)], [piece(2) for _ in range(30)], repeats=3)
    far = classifier_accuracy([piece(2) for _ in range(30)], [piece(9) for _ in range(30)], repeats=3)
    assert near["n_per_side"] == 30 and near["accuracy"] < 0.75  # one process on both sides: near chance
    assert far["accuracy"] > 0.9  # steps of up to 2 against leaps of up to 9: told apart
    with pytest.raises(ValueError, match="at least 5"):
        classifier_accuracy([piece(2)] * 3, [piece(2)] * 30)


def test_a_larger_side_is_judged_in_groups_of_the_smaller_sides_size_and_averaged():
    rng = np.random.default_rng(1)

    def piece(step):
        notes = melody(list(60 + np.cumsum(rng.integers(-step, step + 1, 32))))
        return piece_features(notes, piece_form(notes, FormHints(tonic=0)), 0)

    near, far, real = [piece(2) for _ in range(10)], [piece(9) for _ in range(10)], [piece(2) for _ in range(10)]
    first, second = (classifier_accuracy(part, real, repeats=3)["accuracy"] for part in (near, far))
    both = classifier_accuracy(near + far + near[:5], real, repeats=3)  # 25 samples: 2 groups of 10, 5 left out
    assert both["groups"] == 2 and both["n_per_side"] == 10 and both["grouped"] == "generated"
    assert both["accuracy"] == pytest.approx((first + second) / 2)  # not the first 10 samples' figure alone
    assert second > 0.9 > both["accuracy"] > first
    flipped = classifier_accuracy(real, near + far, repeats=3)  # the real side the larger: grouped likewise
    parts = [classifier_accuracy(real, part, repeats=3)["accuracy"] for part in (near, far)]
    assert flipped["groups"] == 2 and flipped["grouped"] == "real"
    assert flipped["accuracy"] == pytest.approx(sum(parts) / 2)


def test_onsets_tell_a_restruck_note_from_a_held_one():
    held = np.array([[60, 0, 4]], np.int32)
    restruck = np.array([[60, 0, 2], [60, 2, 4]], np.int32)
    assert opf.encode_notes(held) == ["60", "|", "60~", "|", "60~", "|", "60~", "|"]
    assert opf.encode_notes(restruck) == ["60", "|", "60~", "|", "60", "|", "60~", "|"]
    for notes in (held, restruck):
        assert opf.decode_notes(opf.encode_notes(notes)).tolist() == notes.tolist()


def test_onsets_round_trip_a_piece_and_read_a_stray_hold_as_an_onset():
    notes = np.array([[48, 0, 8], [60, 0, 2], [64, 2, 4], [67, 2, 6], [60, 4, 8], [72, 7, 8]], np.int32)
    assert opf.decode_notes(opf.encode_notes(notes)).tolist() == notes.tolist()
    assert opf.decode_notes(["62~", "|", "62~", "|", "<end>", "60"]).tolist() == [[62, 0, 2]]
    from tunesmith.core.errors import MusicInputError

    with pytest.raises(MusicInputError, match="unknown symbol '61x'"):
        opf.decode_notes(["61x"])
    assert len(opf.SYMBOLS) == 178 and len(set(opf.SYMBOLS)) == 178


def test_judge_sets_samples_beside_real_pieces_and_counts_what_does_not_decode():
    """Essen symbols: real songs that repeat their first bar and end on C against samples that wander;
    the form table tells them apart and the two-sample test sees it."""
    from tests.conftest import ESSEN_VOCAB

    from tunesmith.evaluation.judge import judge
    from tunesmith.tracks import get_track

    rng = np.random.default_rng(1)

    def song():  # bar A, bar A, bar B, a long C: 4 bars of 16 sixteenths
        turn = str(rng.choice([62, 64, 65]))
        a = ["60", "_", "_", "_", "64", "_", "_", "_", "67", "_", "_", "_", turn, "_", "_", "_"]
        b = ["67", "_", "_", "_", "65", "_", "_", "_", "64", "_", "_", "_", "62", "_", "_", "_"]
        return a + a + b + ["60"] + ["_"] * 15

    def wander():
        return [s for _ in range(14) for s in (str(60 + 2 * int(rng.integers(0, 3))), "_", "_")]

    vocab = {**ESSEN_VOCAB, "symbols": ["/", "<unk>", "60", "62", "64", "65", "67", "_", "r"]}
    out = judge(get_track("essen"), [wander() for _ in range(20)] + [["r"]], [song() for _ in range(20)], vocab)
    assert out["two_sample"]["accuracy"] > 0.9 and out["two_sample"]["n_per_side"] == 20
    assert out["two_sample"]["undecoded_samples"] == 1  # a rest alone has no notes
    assert out["form_real"]["bar_repeat"] > 0.3 and out["form_samples"]["bar_repeat"] < out["form_real"]["bar_repeat"]
    assert out["form_real"]["tonic_end"] == 1.0 and out["form_real"]["whole_bars"] == 1.0
    assert out["form"]["samples"]["whole_bars"]["n"] == 20
    assert judge(get_track("essen"), [wander()] * 3, [song()] * 20, vocab) == {}  # too few to test


def test_the_report_shows_the_two_sample_sentence_and_the_form_table():
    from tunesmith.report.judged import judged_section

    metrics = {"two_sample": {"accuracy": 0.812, "sd": 0.031, "n_per_side": 64, "undecoded_samples": 2, "samples": 64},
               "form": {"samples": {"tonic_end": {"mean": 0.16, "sd": 0.05}, "bars": {"mean": 20.25, "sd": 1.5}},
                        "real": {"tonic_end": {"mean": 0.86, "sd": 0.04}, "bars": {"mean": 16.0, "sd": 0.5}}},
               "gives_away": [{"feature": "tonic_end", "generated": 0.16, "real": 0.86, "difference_sd": -1.5}]}
    out = judged_section(metrics)
    assert "64 samples" in out["sentence"] and "0.81 ± 0.03" in out["sentence"]
    assert "2 of 64 samples did not decode" in out["sentence"]
    assert out["rows"] == [["pieces ending on the tonic", "16% ± 5%", "86% ± 4%"],
                           ["length in bars", "20.2 ± 1.5", "16.0 ± 0.5"]]
    assert out["gives_away"] == ["tonic_end (0.16 in the samples, 0.86 in the real pieces)"]
    assert "form plan" not in out["sentence"] and not out["planned"]
    with_plan = judged_section(metrics, {"repeat_share": 0.2447, "section_bars": 8})
    planned = with_plan["sentence"]
    assert with_plan["planned"] and "form plan" in planned and "(24%)" in planned and "sections of 8 bars" in planned
    assert "frame ends" not in planned and "rules" not in planned
    ruled = judged_section(metrics, {"repeat_share": 0.2, "rules": "a song ends on its key's tonic"})["sentence"]
    assert "Decoding also enforced the notation's rules: a song ends on its key's tonic." in ruled
    kept = judged_section(metrics, None, [f"|{k}" for k in range(16)])["sentence"]
    assert "Decoding kept the frame ends in their order (|0 to |15" in kept  # what decoding enforced, said
    assert "grammar" not in kept
    rules = "pitches in ascending order, a held pitch only where it sounded in the frame before"
    kept = judged_section(metrics, None, [f"|{k}" for k in range(16)], rules)["sentence"]
    assert f"It kept each frame's grammar: {rules}." in kept
    grouped = {**metrics, "two_sample": {**metrics["two_sample"], "n_per_side": 21, "groups": 3,
                                         "grouped": "generated"}}
    assert "tells 3 groups of 21 samples in turn from the 21 real test pieces" in judged_section(grouped)["sentence"]
    grouped["two_sample"]["grouped"] = "real"
    assert "tells 21 samples from 3 groups of 21 real test pieces in turn" in judged_section(grouped)["sentence"]
    assert judged_section({}) is None
