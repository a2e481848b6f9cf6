"""A user's own music handled well: misfit ABC bars rejected with the bar named, rejected.csv
messages on one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunesmith.config.stages import PrepareConfig
from tunesmith.core.errors import MusicInputError, one_line
from tunesmith.tracks.abc.track import prepare_nottingham

FITS = "X:1\nT:Fits\nM:4/4\nL:1/4\nK:C\nC D E F | G A B c | c B A G | F4 |]\n"
SHORT_BAR = "X:1\nT:Short\nM:4/4\nL:1/4\nK:C\nC D E F | G A B | c d e f | g4 |]\n"


def _tune(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tune.abc"
    path.write_text(text)
    return path


def test_a_tune_whose_bars_fit_is_kept(tmp_path):
    [piece] = prepare_nottingham(_tune(tmp_path, FITS), "abc", "t", "t", PrepareConfig())
    assert piece["abc"].endswith("C D E F | G A B c | c B A G | F4 |]\n")


def test_a_misfit_bar_is_rejected_and_named_unless_kept(tmp_path):
    path = _tune(tmp_path, SHORT_BAR)
    with pytest.raises(MusicInputError) as info:
        prepare_nottingham(path, "abc", "t", "t", PrepareConfig())
    assert info.value.reason == "bar_mismatch"
    assert "tune.abc: tune 1: bar 1 lasts 3 of 4 beats" in str(info.value)
    assert prepare_nottingham(path, "abc", "t", "t", PrepareConfig(bars="keep"))  # the param keeps it


# The Keel Row with ABC 2.1 variant endings: endings 1 and 2 the same, ending 3 its own
KEEL_ROW = (
    "X:1\nT:Keel Row\nM:2/4\nL:1/16\nK:G\n"
    "|:d2|B2G2 G2AG|F2A2 A2GF|E2G2 G2AG|F2D2 D2d2|\n"
    "B2G2 G2AG|F2A2 A2f2|g2e2 d2c2|[1,2 B2G2 G2:|[3 B2G2 G4|]\n"
)


def test_an_abc_2_1_variant_ending_parses_and_keeps_the_musicians_text(tmp_path):
    from tunesmith.tracks.abc.abc_chars import to_stream
    from tunesmith.tracks.music21_io import music21_abc

    [piece] = prepare_nottingham(_tune(tmp_path, KEEL_ROW), "abc", "t", "t", PrepareConfig())
    assert "[1,2 B2G2 G2:|[3 B2G2 G4|]" in piece["abc"]  # the symbols keep what was written
    assert "[1 B2G2 G2:|[2 B2G2 G4|]" in music21_abc(KEEL_ROW)  # music21 reads endings 1 and 2
    score = to_stream(KEEL_ROW)
    assert len(score.flatten().notes) == 1 + (5 + 5 + 5 + 4 + 5 + 4 + 4) + 3 + 3  # pickup, 7 bars, both endings
    # a third distinct ending becomes a plain bar line; chords and inline fields are untouched
    assert music21_abc("K:C\n[K:D][CEG]2 [1 A:|[2 B:|[3 c|]\n") == "K:C\n[K:D][CEG]2 [1 A:|[2 B:|c|]\n"


def test_rejected_messages_are_one_line(tmp_path):
    from tunesmith.data.prepare import prepare_corpus

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.abc").write_text(SHORT_BAR)
    (raw / "b.abc").write_text(FITS)
    rows = [{"id": s, "source_file": f"{s}.abc", "format": "abc"} for s in ("a", "b")]
    pieces, rejected, _ = prepare_corpus("nottingham", raw, pd.DataFrame(rows), PrepareConfig(workers=1),
                                         progress=False)
    assert [p["id"] for p in pieces] == ["b"]
    [row] = rejected.to_dict("records") if hasattr(rejected, "to_dict") else rejected
    assert row["reason"] == "bar_mismatch" and "\n" not in row["message"]
    assert one_line("line one\n  line two\n\tthree") == "line one line two three"
    assert len(one_line("x " * 500, limit=50)) == 50


def test_a_local_folder_honours_rhythms_and_max_pieces(tmp_path):
    from tunesmith.sources.local import fetch_local

    src = tmp_path / "mine"
    src.mkdir()
    tunes = [("One", "reel"), ("Two", "jig"), ("Three", "reel"), ("Four", "reel")]
    (src / "tunes.abc").write_text("\n".join(f"X:{i}\nT:{t}\nR:{r}\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|\n"
                                            for i, (t, r) in enumerate(tunes, 1)))
    manifest, rejected = fetch_local("mine", src, tmp_path / "raw", rhythms=["Reel"], max_pieces=2)
    assert manifest["title"].tolist() == ["One", "Three"]
    dropped = rejected[rejected["reason"] == "not_selected"]
    assert sorted(dropped["message"]) == ["R: jig is not one of rhythms ['reel']", "beyond max_pieces 2"]
    on_disk = sorted(p.name for p in (tmp_path / "raw").rglob("*.abc"))
    assert on_disk == sorted(Path(f).name for f in manifest["source_file"])  # the others were not kept
    assert len(fetch_local("mine", src, tmp_path / "all")[0]) == 4



def test_a_folder_of_versions_takes_one_per_name_unless_asked(tmp_path):
    """The Nottingham MIDI layout: each tune whole at the top and again in melody/ and chords/."""
    from tunesmith.core.errors import FetchError
    from tunesmith.sources.local import fetch_local

    src = tmp_path / "nottingham_midi"
    for rel in ("ashover1.krn", "melody/ashover1.krn", "chords/ashover1.krn", "melody/reels2.krn"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("**kern\n*M2/4\n4c\n4d\n*-\n")

    def sources(**kw):
        manifest, rejected = fetch_local("mine", src, tmp_path / f"raw{len(list(tmp_path.iterdir()))}", **kw)
        return sorted(manifest["origin"] if "origin" in manifest else manifest["source_file"]), rejected

    kept, rejected = sources()
    assert [k.split("/")[-1] for k in kept] == ["ashover1.krn", "reels2.krn"] and len(kept) == 2
    versions = rejected[rejected["reason"] == "same_name"]
    assert sorted(versions["source_file"]) == ["chords/ashover1.krn", "melody/ashover1.krn"]
    assert all("another version of ashover1.krn" in m for m in versions["message"])
    kept, _ = sources(include=["melody/*"])
    assert len(kept) == 2 and all("melody" in k for k in kept)
    kept, rejected = sources(exclude=["chords/*"], same_name="all")
    assert len(kept) == 3 and "same_name" not in set(rejected.get("reason", []))
    with pytest.raises(FetchError, match="matches include"):
        sources(include=["*.mid"])
    from tunesmith.config.stages import FetchConfig

    with pytest.raises(ValueError, match="include"):
        FetchConfig(source="local", local_dir="x", include=("/abs/*",))


def test_logs_name_the_final_folder_not_the_temporary_one(tmp_path, caplog):
    import logging

    from tunesmith.core.io import atomic_path

    target = tmp_path / "samples"
    caplog.set_level(logging.INFO)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        logging.getLogger("tunesmith.test").info("rendered %s", tmp / "sample_000.wav")
        logging.getLogger("tunesmith.test").info(f"wrote {tmp}")
    assert caplog.messages == [f"rendered {target / 'sample_000.wav'}", f"wrote {target}"]
    logging.getLogger("tunesmith.test").info("after %s", tmp)  # outside the block: as given
    assert caplog.messages[-1] == f"after {tmp}"


@pytest.mark.parametrize(("key", "expected"), [("D", ("D major", -2)), ("F#m", ("F# minor", 3)),
                                              ("Bb", ("Bb major", 2)), (None, None)])
def test_a_midi_key_signature_decides_the_transposition(tmp_path, key, expected):
    import mido

    from tunesmith.tracks.piano.track import midi_key_shift

    track = mido.MidiTrack()
    if key is not None:
        track.append(mido.MetaMessage("key_signature", key=key, time=0))
    track += [mido.Message("note_on", note=62, velocity=80, time=0),
              mido.Message("note_off", note=62, velocity=0, time=480)]
    midi = mido.MidiFile()
    midi.tracks.append(track)
    midi.save(tmp_path / "t.mid")
    assert midi_key_shift(tmp_path / "t.mid") == expected


def test_two_versions_of_one_tune_land_in_one_split():
    from tunesmith.config.stages import SplitConfig
    from tunesmith.data.encode import assign_splits
    from tunesmith.data.versions import near_copies, version_groups

    melody = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 62, 64, 62, 60]
    rng = np.random.default_rng(0)  # 30 other tunes, none a version of another
    pieces = [{"id": f"p{k:02d}", "source_file": f"tunes/p{k:02d}.krn",
               "events": [[int(p), "1/2"] for p in rng.integers(55, 80, 20)]} for k in range(30)]
    pieces += [
        {"id": "tune", "source_file": "melody/tune.krn", "events": [[p, "1/2"] for p in melody]},
        {"id": "tune-up", "source_file": "other/tune-up.krn", "events": [[p + 5, "1/2"] for p in melody]},
        {"id": "tune-chords", "source_file": "chords/tune.krn", "events": [[48, "2"]]},  # same name, no melody
    ]
    groups = version_groups(pieces)
    assert groups["tune"] == groups["tune-up"] == groups["tune-chords"]  # transposed, same file name
    ids = [p["id"] for p in pieces]
    for seed in range(20):
        splits = assign_splits(ids, {}, SplitConfig(), seed, groups)
        assert len({splits["tune"], splits["tune-up"], splits["tune-chords"]}) == 1
        assert near_copies(pieces, splits) == 0
    assert len(set(groups.values())) == 31  # the 30 others stay alone
    # piece by piece, some seeds put a version in test and another in train
    assert [s for s in range(20) if near_copies(pieces, assign_splits(ids, {}, SplitConfig(), s))]


def test_primers_are_openings_of_training_tunes_in_the_corpus_proportions(tmp_path):
    import json

    from tunesmith.config.stages import GenerateConfig, PrimerConfig
    from tunesmith.generation.samples import primer_symbols
    from tunesmith.pipeline.evaluate import meter_shares
    from tunesmith.tracks import get_track

    jig, reel = "M:6/8\nL:1/8\nK:G\nGAG GAB|\n", "M:4/4\nL:1/8\nK:D\nd2fd Adfd|\n"
    encoded = tmp_path / "encoded"
    encoded.mkdir()
    tunes = [jig] * 30 + [reel] * 10
    (encoded / "train.jsonl").write_text("".join(json.dumps({"id": str(i), "symbols": list(t)}) + "\n"
                                                 for i, t in enumerate(tunes)))
    cfg = GenerateConfig(num_samples=400, primer=PrimerConfig(mode="openings"))
    primers = primer_symbols(cfg, {}, test_pieces=encoded / "test.jsonl", track="nottingham")
    assert {"".join(p) for p in primers} == {"M:6/8\nL:1/8\nK:G\n", "M:4/4\nL:1/8\nK:D\n"}  # headers only
    assert primer_symbols(cfg, {}, test_pieces=encoded / "test.jsonl", track="nottingham") == primers  # seeded
    shares = meter_shares(get_track("nottingham"), primers, [list(t) for t in tunes])
    assert shares["train"] == {"4/4": 0.25, "6/8": 0.75} and shares["max_gap_points"] == 0
    # 32 samples of three meters (21 / 12 / 7 of 40 tunes): each within one sample of its share
    tunes = [jig] * 21 + [reel] * 12 + ["M:3/4\nL:1/8\nK:A\nA2 B2 c2|\n"] * 7
    (encoded / "train.jsonl").write_text("".join(json.dumps({"id": str(i), "symbols": list(t)}) + "\n"
                                                 for i, t in enumerate(tunes)))
    for seed in range(5):
        cfg = GenerateConfig(num_samples=32, seed=seed, primer=PrimerConfig(mode="openings"))
        primers = primer_symbols(cfg, {}, test_pieces=encoded / "test.jsonl", track="nottingham")
        shares = meter_shares(get_track("nottingham"), primers, [list(t) for t in tunes])
        assert shares["max_gap_points"] <= 100 / 32


def test_a_kern_spine_split_never_merged_is_rejected(tmp_path):
    from tunesmith.tracks.music21_io import check_kern_complete

    merged = "**kern\n*M2/4\n4c\n*^\n4d\t4f\n*v\t*v\n4e\n*-\n"
    unmerged = "**kern\n*M2/4\n4c\n*^\n4d\t4f\n4e\t4g\n*-\t*-\n"
    (tmp_path / "ok.krn").write_text(merged)
    (tmp_path / "split.krn").write_text(unmerged)
    check_kern_complete(tmp_path / "ok.krn")
    with pytest.raises(MusicInputError, match=r"split\.krn: a spine split at line 4 is never merged back") as info:
        check_kern_complete(tmp_path / "split.krn")
    assert info.value.reason == "spine_split"



def test_a_sample_whose_repeats_multiply_it_is_written_once_through(tmp_path, monkeypatch):
    from tunesmith.tracks import music21_io
    from tunesmith.tracks.abc import abc_chars

    score = abc_chars.to_stream("X:1\nM:4/4\nL:1/4\nK:C\n|:C D E F|G A B c:|\n|:c B A G|F E D C:|\n")
    music21_io.write_music21(score, tmp_path / "played", [])
    assert music21_io.midi_beats(tmp_path / "played.mid") >= 32  # repeats played out: twice 16 beats
    monkeypatch.setattr(music21_io, "REPEAT_GROWTH", 1.5)  # as if they had multiplied it past the bound
    music21_io.write_music21(score, tmp_path / "bounded", [])
    assert 16 <= music21_io.midi_beats(tmp_path / "bounded.mid") < 18  # written once through


def test_a_sample_record_is_written_once_with_relative_paths_and_read_back(tmp_path):
    from tunesmith.core.sample_record import RECORDS_FILE, SampleRecord, read_records, write_records
    from tunesmith.report.assets import Assets
    from tunesmith.report.sections import sample_card

    folder = tmp_path / "samples"
    folder.mkdir()
    for suffix in (".mid", ".mp3", ".txt"):
        (folder / f"sample_000{suffix}").write_bytes(b"x")
    record = SampleRecord.found(folder, "sample_000", {"seed": 3})
    record.audio = {"engine": "pretty_midi", "note": "sine-wave fallback", "wav": str(tmp_path / ".tmp/x.wav")}
    write_records(folder, [record])
    text = (folder / RECORDS_FILE).read_text()
    assert str(tmp_path) not in text  # relative paths only, no temporary folder
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    [back] = read_records(moved)
    assert back.mp3 == str(moved / "sample_000.mp3") and back.info == {"seed": 3} and back.wav is None
    card = sample_card("essen", back, Assets(tmp_path / "report"))
    assert "sine-wave fallback" in (card["note"] or "")  # the report shows the renderer's note
