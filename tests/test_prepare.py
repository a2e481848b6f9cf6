"""prepare: Vasudeva's filter and transposition on real music21 parses; bad files are
skipped and listed with their reason, never fatal."""

from __future__ import annotations

import json
from fractions import Fraction as F

import pandas as pd
import pretty_midi
import pytest

from tunesmith.config.stages import PrepareConfig
from tunesmith.core.errors import MusicInputError
from tunesmith.data.prepare import prepare_corpus
from tunesmith.tracks.melody.track import prepare_essen

SEED_DURATIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)

G_MAJOR_ABC = "X:1\nT:Up\nM:4/4\nL:1/4\nK:G\nG A B c | d2 G2 |]\n"
# Essen's ABC writes only the tonic: K:A for a tune in A minor
A_MINOR_AS_TONIC = "X:2\nT:Essen style\nM:3/4\nL:1/8\nK:A\nA2 B2 =c2 | e4 A2 | =c2 B2 A2 |]\n"
TIED = "X:3\nT:Tied\nM:2/4\nL:1/4\nK:C\nC D- | D E |]\n"
KERN_TRIPLET = "**kern\n*M2/4\n*k[]\n=1\n4c\n12d\n12e\n12f\n=2\n2g\n==\n*-\n"
KERN_OK = "**kern\n*M2/4\n*k[f#]\n=1\n4g\n4a\n=2\n2b\n==\n*-\n"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_transposes_g_major_to_c_major(tmp_path):
    cfg = PrepareConfig(acceptable_durations=SEED_DURATIONS, transpose=True)
    [piece] = prepare_essen(_write(tmp_path, "g.abc", G_MAJOR_ABC), "abc", "g", "", cfg)
    assert piece["key"] == "G major" and piece["transposed"] == 5
    # G A B c d G -> C D E F G C
    assert [p for p, _ in piece["events"]] == [72, 74, 76, 77, 79, 72]
    assert [F(d) for _, d in piece["events"]] == [1, 1, 1, 1, 2, 2]


def test_tonic_only_key_becomes_a_minor_not_c_minor(tmp_path):
    cfg = PrepareConfig(acceptable_durations=SEED_DURATIONS, transpose=True)
    [piece] = prepare_essen(_write(tmp_path, "a.abc", A_MINOR_AS_TONIC), "abc", "a", "", cfg)
    assert piece["key"] == "A minor" and piece["transposed"] == 0


def test_without_transpose_pitches_are_as_written(tmp_path):
    cfg = PrepareConfig(transpose=False)
    [piece] = prepare_essen(_write(tmp_path, "g.abc", G_MAJOR_ABC), "abc", "g", "", cfg)
    assert [p for p, _ in piece["events"]][:2] == [67, 69]


def test_tied_notes_merge_into_one_event(tmp_path):
    [piece] = prepare_essen(_write(tmp_path, "t.abc", TIED), "abc", "t", "", PrepareConfig())
    assert [(p, F(d)) for p, d in piece["events"]] == [(60, 1), (62, 2), (64, 1)]


def test_kern_is_read(tmp_path):
    cfg = PrepareConfig(acceptable_durations=SEED_DURATIONS, transpose=False)
    [piece] = prepare_essen(_write(tmp_path, "ok.krn", KERN_OK), "kern", "ok", "", cfg)
    assert [(p, F(d)) for p, d in piece["events"]] == [(67, 1), (69, 1), (71, 2)]


def test_kern_triplets_fail_the_duration_filter(tmp_path):
    cfg = PrepareConfig(acceptable_durations=SEED_DURATIONS)
    with pytest.raises(MusicInputError, match=r"duration 1/3 quarter lengths .* measure 1") as err:
        prepare_essen(_write(tmp_path, "trip.krn", KERN_TRIPLET), "kern", "trip", "", cfg)
    assert err.value.reason == "unacceptable_duration"


def _midi(path, pitches):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0)
    for k, p in enumerate(pitches):
        inst.notes.append(pretty_midi.Note(velocity=80, pitch=p, start=k * 0.5, end=k * 0.5 + 0.5))
    pm.instruments.append(inst)
    pm.write(str(path))


@pytest.mark.parametrize("workers", [1, 2], ids=["serial", "pool"])
def test_corrupt_files_are_listed_not_fatal(tmp_path, workers):
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = []
    for k in range(6):  # enough files that the pool path is taken
        _midi(raw / f"good{k}.mid", [60 + k, 64, 67])
        rows.append({"id": f"good{k}", "source_file": f"good{k}.mid", "title": "", "format": "midi", "split": ""})
    (raw / "garbage.mid").write_bytes(b"\x00\x01not a midi file at all")
    (raw / "score.abc").write_text(G_MAJOR_ABC)
    rows += [{"id": "garbage", "source_file": "garbage.mid", "title": "", "format": "midi", "split": ""},
             {"id": "score", "source_file": "score.abc", "title": "", "format": "abc", "split": "test"}]
    cfg = PrepareConfig(workers=workers)
    pieces, rejected, stats = prepare_corpus("classical", raw, pd.DataFrame(rows), cfg, progress=False)
    assert [p["id"] for p in pieces] == [f"good{k}" for k in range(6)]
    # frames_per_beat=4 and a half-second note at 120 bpm is one beat: 4 frames each
    assert pieces[0]["notes"] == [[60, 0, 4], [64, 4, 8], [67, 8, 12]]
    by_id = rejected.set_index("id")
    assert by_id.loc["garbage", "reason"] == "parse_error" and "garbage.mid" in by_id.loc["garbage", "message"]
    assert by_id.loc["score", "reason"] == "unsupported_format"
    assert stats["files_read"] == 8 and stats["pieces_kept"] == 6
    assert stats["rejected_by_reason"] == {"parse_error": 1, "unsupported_format": 1}


def test_malformed_abc_is_rejected_for_nottingham(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "ok.abc").write_text("X:1\nT:Fine\nR:jig\nM:6/8\nL:1/8\nK:D\nDFA dAF|GBd gdB|]\n")
    (raw / "nokey.abc").write_text("X:2\nT:No key\nM:6/8\nL:1/8\nDFA dAF|\n")
    (raw / "nomusic.abc").write_text("X:3\nT:Empty\nM:6/8\nK:D\n")
    rows = [{"id": s, "source_file": f"{s}.abc", "title": "", "format": "abc", "split": "", "rhythm": "jig"}
            for s in ("ok", "nokey", "nomusic")]
    pieces, rejected, _ = prepare_corpus("nottingham", raw, pd.DataFrame(rows), PrepareConfig(workers=1),
                                         progress=False)
    assert [(p["id"], p["abc"]) for p in pieces] == [("ok", "M:6/8\nL:1/8\nK:D\nDFA dAF|GBd gdB|]\n")]
    assert pieces[0]["rhythm"] == "jig" and pieces[0]["title"] == "Fine"
    assert sorted(zip(rejected["id"], rejected["reason"])) == [("nokey", "parse_error"), ("nomusic", "empty")]


def test_classical_is_transposed_to_c_by_key_analysis(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    d_major = [62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62]  # a D major scale and arpeggio
    _midi(raw / "d.mid", d_major)
    rows = [{"id": "d", "source_file": "d.mid", "title": "", "format": "midi", "split": ""}]
    cfg = PrepareConfig(transpose=True, workers=1)
    [piece], _, _ = prepare_corpus("classical", raw, pd.DataFrame(rows), cfg, progress=False)
    assert piece["key"] == "D major" and piece["transposed"] == -2
    assert [n[0] for n in piece["notes"]] == [p - 2 for p in d_major]


def test_the_prepare_stage_writes_no_timing_to_its_metrics(tmp_path, caplog):
    """data/metrics/<c>/prepare.json is committed: a rerun with the same result writes the same bytes,
    so `git status` stays clean; the speed goes to the log."""
    import logging

    from tunesmith.pipeline.prepare import prepare_stage

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "ok.abc").write_text("X:1\nT:Fine\nR:jig\nM:6/8\nL:1/8\nK:D\nDFA dAF|GBd gdB|]\n")
    pd.DataFrame([{"id": "ok", "source_file": "ok.abc", "title": "Fine", "format": "abc", "split": "",
                   "rhythm": "jig"}]).to_csv(raw / "manifest.csv", index=False)
    written = []
    for run in ("first", "second"):
        with caplog.at_level(logging.INFO, logger="tunesmith"):
            prepare_stage("nottingham", raw, tmp_path / run, tmp_path / f"{run}.json", PrepareConfig(workers=1))
        written.append((tmp_path / f"{run}.json").read_bytes())
    assert written[0] == written[1]
    assert set(json.loads(written[0])) == {"files_read", "pieces_kept", "files_rejected", "rejected_by_reason"}
    assert "files/s" in caplog.text


@pytest.mark.parametrize("piece", ["bach/bwv66.6", "bach/bwv57.8", "essenFolksong/teste"])
def test_key_analysis_is_music21s_own_answer(piece):
    """`analyse_key` skips the Key objects of the alternative interpretations, not the analysis: the
    key, mode and correlation are those of music21's `analyze("key")`."""
    from music21 import corpus

    from tunesmith.tracks.music21_io import analyse_key

    score = corpus.parse(piece)
    if hasattr(score, "scores"):
        score = score.scores[0]
    theirs, ours = score.analyze("key"), analyse_key(score)
    assert (ours.tonic.name, ours.mode, ours.correlationCoefficient) == (
        theirs.tonic.name, theirs.mode, theirs.correlationCoefficient)


JIG = ("X:1\nT:Beamed\nM:6/8\nL:1/8\nK:D\n|:\"D\"A>BA d2e|f2d \"A\"e2c|\"D\"dcd Aa^g|\"A\"a3-a2:|\n"
       "|:\"D\"fga \"G\"bag|\"D\"faf \"A\"edc|\"D\"d3 d2:|\n")


def _beamed(score) -> int:
    return sum(1 for n in score.recurse().notes if n.beams.beamsList)


def _facts(score) -> list:
    return [(str(el.offset), str(el.quarterLength), tuple(p.midi for p in getattr(el, "pitches", ())))
            for el in score.flatten().notesAndRests] + [len(score.parts[0].getElementsByClass("Measure"))]


def test_reading_skips_the_beams_and_reads_the_same_music():
    """The stages that only read ABC (prepare, the notes and bars of evaluate) parse it unbeamed: the same
    notes, lengths, chord symbols and bars as a beamed parse; a score for writing keeps its beams."""
    from tunesmith.tracks.abc.abc_chars import to_stream

    written, read = to_stream(JIG), to_stream(JIG, beams=False)
    assert _beamed(written) > 10 and _beamed(read) == 0
    assert _facts(read) == _facts(written)
    assert _beamed(to_stream(JIG)) == _beamed(written)  # the switch is off again after the read


def test_an_unbeamed_read_in_one_thread_leaves_another_threads_scores_beamed():
    """The generate stage writes scores in threads while its main thread reads samples' bars."""
    import threading

    from tunesmith.tracks.abc.abc_chars import to_stream
    from tunesmith.tracks.music21_io import without_beams

    inside, done = threading.Event(), threading.Event()
    seen = {}

    def reader():
        with without_beams():
            inside.set()
            done.wait(60)
            seen["read"] = _beamed(to_stream(JIG))

    t = threading.Thread(target=reader)
    t.start()
    assert inside.wait(60)
    seen["written"] = _beamed(to_stream(JIG))  # while the other thread is inside without_beams
    done.set()
    t.join(60)
    assert seen["written"] > 10 and seen["read"] == 0


def test_an_unbeamed_essen_file_prepares_as_a_beamed_one(tmp_path, monkeypatch):
    import music21.stream

    from tunesmith.tracks import music21_io

    path = tmp_path / "song.abc"
    path.write_text(JIG.replace('"D"', "").replace('"A"', "").replace('"G"', ""))
    cfg = PrepareConfig(acceptable_durations=SEED_DURATIONS)
    unbeamed = prepare_essen(path, "abc", "song", "Song", cfg)
    calls = []
    beam = music21.stream.Stream.makeBeams
    monkeypatch.setattr(music21_io, "without_beams", lambda: __import__("contextlib").nullcontext())
    monkeypatch.setattr(music21.stream.Stream, "makeBeams",
                        lambda self, **kw: calls.append(1) or beam(self, **kw))
    assert prepare_essen(path, "abc", "song", "Song", cfg) == unbeamed
    assert calls  # the comparison ran with music21's beaming
