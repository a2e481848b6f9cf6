"""The Track interface (tunesmith.tracks): the registry, each track's round trip, and no
track-name branches left in the shared code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from tunesmith.config.stages import EncodeConfig, PrimerConfig
from tunesmith.core.errors import ConfigError, MusicInputError
from tunesmith.tracks import TRACKS, UnknownTrackError, get_track
from tunesmith.tracks import TRACKS as PACKAGE_TRACKS
from tunesmith.tracks.base import Track

SRC = Path(__file__).resolve().parents[1] / "src" / "tunesmith"


# --------------------------------------------------------------------------- the registry


def test_registry_lists_the_three_tracks_by_name():
    assert TRACKS == ("nottingham", "essen", "classical")
    assert PACKAGE_TRACKS is TRACKS  # tunesmith.TRACKS is the registry's list
    for name in TRACKS:
        track = get_track(name)
        assert isinstance(track, Track) and track.name == name
        assert get_track(track) is track


def test_unknown_track_names_itself_and_the_known_ones():
    with pytest.raises(UnknownTrackError) as info:
        get_track("jazz")
    message = str(info.value)
    assert "'jazz'" in message and all(name in message for name in TRACKS)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)


def test_shared_code_reports_an_unknown_track_from_the_registry():
    from tunesmith.data.encode import encode_piece
    from tunesmith.evaluation.likelihood import hold_ids

    with pytest.raises(UnknownTrackError, match="known tracks: nottingham, essen, classical"):
        encode_piece("jazz", {"id": "a"}, EncodeConfig())
    with pytest.raises(UnknownTrackError, match="'jazz'"):
        hold_ids(["a"], "jazz")


def test_a_stage_refuses_a_track_params_yaml_does_not_list(tmp_path, capsys):
    from tunesmith.pipeline.common import parser, run

    params = tmp_path / "params.yaml"
    params.write_text("tracks: {essen: {kind: melody}}\n")
    seen = []
    args = parser("x").parse_args(["--corpus", "essen", "--params", str(params)])
    run(lambda args, p: seen.append(args.corpus), args)
    assert seen == ["essen"]
    with pytest.raises(SystemExit) as exit_info:
        run(lambda args, p: seen.append(args.corpus),
            parser("x").parse_args(["--corpus", "jazz", "--params", str(params)]))
    assert exit_info.value.code == 2 and seen == ["essen"]


@pytest.fixture
def own_tracks():
    """Registers tracks for one test, then the bundled ones again."""
    from tunesmith.tracks import BUILTIN, register_tracks

    yield register_tracks
    register_tracks({name: {"kind": kind} for name, kind in BUILTIN.items()})


def test_a_track_of_your_own_is_a_named_corpus_of_a_kind(own_tracks):
    from tunesmith.tracks import known_tracks

    names = own_tracks({"nottingham": {"kind": "abc"},
                        "my_reels": {"kind": "abc", "title": "My reels", "description": "Reels I play."}})
    assert names == ("nottingham", "my_reels") and known_tracks()[-1] == "my_reels"
    mine = get_track("my_reels")
    assert mine.name == "my_reels" and mine.kind == "abc" and mine.published is None
    assert (mine.title, mine.description) == ("My reels", "Reels I play.")
    assert type(mine) is type(get_track("nottingham")) and get_track("nottingham").published is not None
    piece, cfg, _ = CONTRACT["nottingham"]
    assert mine.encode(piece, cfg) == get_track("nottingham").encode(piece, cfg)


@pytest.mark.parametrize(("spec", "message"), [
    ({"my reels": {"kind": "abc"}}, "track name 'my reels' must be lower-case"),
    ({"mine": {"kind": "jazz"}}, "tracks.mine.kind must be one of abc, melody, piano, got 'jazz'"),
    ({"essen": {"kind": "abc"}}, "the bundled track essen is of kind melody"),
    ({"mine": {"kind": "abc", "colour": "red"}}, "tracks.mine: unknown key 'colour'"),
    ({"mine": "abc"}, "tracks.mine must be a mapping with a kind"),
    ([], "tracks must map each track to its kind"),
])
def test_bad_tracks_are_named(own_tracks, spec, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        own_tracks(spec)


# --------------------------------------------------------------------------- round trips on tiny pieces


def test_nottingham_round_trip(tmp_path):
    track = get_track("nottingham")
    abc = "M:4/4\nL:1/4\nK:C\nC D E F|G4|]\n"
    symbols = track.encode({"id": "t", "abc": abc}, EncodeConfig())
    assert symbols == list(abc) and track.representation(EncodeConfig()) == "abc_chars"
    score = track.decode([*symbols, track.end, "x"], {})  # decoding stops at the end token
    assert [n.pitch.midi for n in score.flatten().notes] == [60, 62, 64, 65, 67]
    notes = track.notes([*symbols, track.end, "x"], {})
    assert notes[:, 0].tolist() == [60, 62, 64, 65, 67]
    assert notes[:, 1].tolist() == [0, 1, 2, 3, 4] and notes[-1, 2] == 8

    files: list[str] = []
    n = track.write_music([*symbols, track.end], {}, tmp_path / "s", files, title="tiny")
    assert n == 5 and files == ["s.abc", "s.mid", "s.musicxml"]
    assert (tmp_path / "s.abc").read_text() == "X:1\nT:tiny\n" + abc
    # samples are stored as text without end tokens and read back as characters
    assert track.split_text(track.sample_text([*symbols, track.end])) == symbols
    assert track.join(["K", ":", "C"]) == "K:C"


def test_essen_round_trip(tmp_path):
    track = get_track("essen")
    piece = {"id": "e", "events": [[60, "1"], [None, "1/2"], [62, "3/2"]]}
    symbols = track.encode(piece, EncodeConfig(time_step=0.25))
    assert symbols == ["60", "_", "_", "_", "r", "_", "62", "_", "_", "_", "_", "_"]
    assert track.end == "/" and track.representation(EncodeConfig()) == "time_series"
    meta = {"encode": {"time_step": 0.25}}
    stream = track.decode([*symbols, track.end, "60"], meta)
    assert [(None if e.isRest else e.pitch.midi, float(e.quarterLength)) for e in stream.notesAndRests] == [
        (60, 1.0), (None, 0.5), (62, 1.5)]
    assert track.notes(symbols, meta).tolist() == [[60, 0, 1], [62, 1.5, 3]]

    files: list[str] = []
    n = track.write_music(symbols, meta, tmp_path / "s", files, title="tiny")
    assert n == 2 and files == ["s.mid", "s.musicxml"]
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "s.mid"))
    assert [note.pitch for inst in midi.instruments for note in inst.notes] == [60, 62]
    assert track.split_text(track.sample_text(symbols)) == symbols
    # holds: "_" and <unk>, whatever precedes them
    vocab = ["/", "<unk>", "60", "_", "r"]
    assert track.hold_ids(vocab) == frozenset({1, 3})
    assert track.hold_mask(np.array([2, 3, 4, 3, 1]), vocab).tolist() == [False, True, False, True, True]


@pytest.mark.parametrize("representation", ["chords", "notes"])
def test_classical_round_trip(tmp_path, representation):
    track = get_track("classical")
    notes = [[60, 0, 2], [64, 0, 1], [67, 2, 3]]
    cfg = EncodeConfig(representation=representation)
    symbols = track.encode({"id": "c", "notes": notes}, cfg)
    expected = {"chords": ["60.64", "60~", "67"], "notes": ["60", "64", "|", "60", "|", "67", "|"]}
    assert symbols == expected[representation]
    assert track.representation(cfg) == {"chords": "pianoroll", "notes": "notes_per_frame"}[representation]
    meta = {"encode": {"representation": representation, "distinguish_holds": True},
            "prepare": {"frames_per_beat": 2}}
    assert track.notes(symbols, meta).tolist() == [[60, 0, 1], [64, 0, 0.5], [67, 1, 1.5]]

    def played(midi: pretty_midi.PrettyMIDI) -> list[tuple[int, float, float]]:
        return sorted((n.pitch, round(n.start, 3), round(n.end, 3)) for i in midi.instruments for n in i.notes)

    expected_notes = [(60, 0.0, 0.5), (64, 0.0, 0.25), (67, 0.5, 0.75)]  # 2 frames a beat at 120 bpm
    assert played(track.decode([*symbols, track.end, "72"], meta)) == expected_notes
    files: list[str] = []
    assert track.write_music([*symbols, track.end], meta, tmp_path / "s", files, title="") == 3
    assert files == ["s.mid", "s.musicxml"] and track.scores
    assert played(pretty_midi.PrettyMIDI(str(tmp_path / "s.mid"))) == expected_notes
    # the score a reader engraves: the same pitches on two staves, read back by music21
    import music21

    score = music21.converter.parse(str(tmp_path / "s.musicxml"))
    assert len(score.parts) == 2
    # chordify ties a held note across a chord change: the same pitches, some tied on
    assert {p.midi for n in score.flatten().notes for p in n.pitches} == {n[0] for n in expected_notes}


def test_classical_holds_include_a_rest_after_a_rest():
    track = get_track("classical")
    vocab = ["<end>", "<unk>", "r", "60", "60~"]
    assert track.hold_ids(vocab) == frozenset({1, 4})
    ids = np.array([2, 2, 3, 4, 2, 1])
    assert track.hold_mask(ids, vocab).tolist() == [False, True, False, True, False, True]


def test_a_sample_that_is_no_music_is_a_music_input_error(tmp_path):
    with pytest.raises(MusicInputError):
        get_track("essen").write_music(["r", "_"], {}, tmp_path / "s", [], title="")
    with pytest.raises(MusicInputError):
        get_track("classical").write_music(["r", "r"], {}, tmp_path / "s", [], title="")


def test_only_a_midi_track_reads_midi_primers(tmp_path):
    from tunesmith.generation.samples import primer_symbols

    path = tmp_path / "p.mid"
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(velocity=80, pitch=60, start=0.0, end=0.5),
                  pretty_midi.Note(velocity=80, pitch=64, start=0.5, end=1.0)]
    pm.instruments.append(inst)
    pm.write(str(path))
    meta = {"corpus": "classical", "prepare": {"frames_per_beat": 2}, "encode": {"distinguish_holds": True}}

    class Cfg:
        num_samples = 2
        primer = PrimerConfig(mode="midi", text=str(path), length=3)

    assert primer_symbols(Cfg, meta) == [["60", "60~", "64"]] * 2
    with pytest.raises(ConfigError, match="nottingham"):
        primer_symbols(Cfg, meta, track="nottingham")


def test_only_nottingham_has_playability_and_published_figures():
    nottingham = get_track("nottingham")
    tunes = ["M:4/4\nL:1/4\nK:C\nCDEF|GABc|\n", "M:4/4\nL:1/4\nK:C\nCDEF|CDE|CDEF|\n", "K:C\nCD|\n"]
    shares = nottingham.playability([list(t) for t in tunes])  # right bars; a short bar; no ABC music21 reads
    assert shares["n"] == 3 and shares["parse_rate"] == pytest.approx(2 / 3)
    assert shares["bar_rate"] == pytest.approx(1 / 3)
    assert shares["reasons"] == {"bar_length": 1, "parse_error": 1}
    assert nottingham.published is not None and "test" in nottingham.published["values"]
    for name in ("essen", "classical"):
        assert get_track(name).playability([["60"]]) is None and get_track(name).published is None


# --------------------------------------------------------------------------- no track branches outside tracks/


_BRANCH = re.compile(r"""\b(track|corpus)\s*(==|!=)\s*["'](nottingham|essen|classical)["']""")


def _track_name_comparisons(text: str) -> list[int]:
    """Lines comparing anything with a track's name literal (``==``, ``!=``, ``in``), from the syntax tree."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Compare):
            literals = [c for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
            literals += [e for c in node.comparators if isinstance(c, ast.Tuple | ast.List | ast.Set)
                         for e in c.elts if isinstance(e, ast.Constant)]
            if any(lit.value in TRACKS for lit in literals):
                found.append(node.lineno)
    return found


def test_no_track_name_branches_outside_the_tracks_package():
    root = SRC.parents[1]
    offenders = []
    for path in sorted([*SRC.rglob("*.py"), *(root / "stages").glob("*.py")]):
        if "tracks" in path.relative_to(root).parts:
            continue
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root).as_posix()
        offenders += [f"{rel}: {m.group(0)}" for m in _BRANCH.finditer(text)]
        offenders += [f"{rel}:{line}" for line in _track_name_comparisons(text)]
    assert not offenders, f"shared code branches on a track's name: {offenders}"


def test_the_branch_finder_finds_a_branch():
    code = 'def f(track, x):\n    if track == "essen":\n        return 1\n    return x in ("classical", "y")\n'
    assert _track_name_comparisons(code) == [2, 4]
    assert _BRANCH.search(code).group(0) == 'track == "essen"'
    assert _track_name_comparisons('def f(x):\n    return x == "other"\n') == []


# --------------------------------------------------------------------------- the contract, every track

CONTRACT = {
    "nottingham": ({"id": "t", "abc": "M:4/4\nL:1/4\nK:C\nC D E F|G4|]\n"}, EncodeConfig(), {}),
    "essen": ({"id": "e", "events": [[60, "1"], [None, "1/2"], [62, "3/2"]]}, EncodeConfig(time_step=0.25),
              {"encode": {"time_step": 0.25}}),
    "classical": ({"id": "c", "notes": [[60, 0, 2], [64, 0, 1], [67, 2, 3]]}, EncodeConfig(representation="notes"),
                  {"encode": {"representation": "notes"}, "prepare": {"frames_per_beat": 2}}),
}
"""One tiny prepared piece per track, its encode config and the meta its decoders read."""


def test_every_registry_track_has_a_contract_example():
    assert set(CONTRACT) == set(TRACKS)


@pytest.mark.parametrize("name", TRACKS)
def test_track_contract(tmp_path, name):
    """What shared code relies on, for every track: symbols round-trip through the stored text,
    decoding stops at the end token, the notes come back, the music files are written and read,
    holds are a bool mask over ids, and a primer in the track's own text parses."""
    track = get_track(name)
    piece, cfg, meta = CONTRACT[name]
    symbols = track.encode(piece, cfg)
    assert symbols and track.end not in symbols
    assert track.split_text(track.sample_text(symbols)) == symbols
    notes = track.notes(symbols, meta)
    assert len(notes) and notes.shape[1] == 3
    assert track.notes([*symbols, track.end, *symbols], meta).tolist() == notes.tolist()  # stops at the end
    files: list[str] = []
    assert track.write_music([*symbols, track.end], meta, tmp_path / "s", files, title="contract") == len(notes)
    assert files and all((tmp_path / f).stat().st_size > 0 for f in files) and "s.mid" in files
    played = pretty_midi.PrettyMIDI(str(tmp_path / "s.mid"))
    assert sorted(n.pitch for i in played.instruments for n in i.notes) == sorted(notes[:, 0].astype(int).tolist())
    vocab = [track.end, "<unk>", *dict.fromkeys(symbols)]
    ids = np.array([vocab.index(s) for s in symbols])
    mask = track.hold_mask(ids, vocab)
    assert mask.dtype == bool and mask.shape == ids.shape
    primer = track.split_text(track.sample_text(symbols[:2]))
    assert primer == symbols[:2]
