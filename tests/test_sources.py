"""Tests for tunesmith.sources: bundled, download (from a local HTTP server) and local sources."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pretty_midi
import pytest

from archives import tar_gz  # tests/archives.py
from tunesmith.core.errors import ConfigError, FetchError
from tunesmith.sources import bundled, pieces
from tunesmith.sources.bundled import fetch_bundled
from tunesmith.sources.local import fetch_local
from tunesmith.sources.manifest import Manifest, parse_manifest
from tunesmith.sources.pieces import FORMATS, MANIFEST_COLUMNS, REJECTED_COLUMNS
from tunesmith.sources.pinned import fetch_download
from tunesmith.tracks.abc.abc_chars import abc_field, split_abc_tunes

TWO_TUNES = """% a collection header comment
%%abc-charset utf-8
L:1/8

X: 1
T:First Jig
R: Jig
M:6/8
K:G
GAB c2d|

X: 2
T:Second Hornpipe
R:hornpipe
M:4/4
K:D
d2fa   g2e2 |
"""
MIDI_BYTES = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"
KERN = b"!!!OTL: Ein Lied\n**kern\n4c\n*-\n"


POLL = {"poll_interval": 0.02}
"""serve_forever's poll: shutdown() waits up to one poll (0.5 s by default, in every test)."""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www``; yields (base url, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www))
    )
    thread = threading.Thread(target=httpd.serve_forever, kwargs=POLL, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


def check_manifest(manifest: pd.DataFrame, out: Path) -> None:
    """Columns, order, unique ids and that sha256 and format describe the written files."""
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["id"]) == sorted(manifest["id"])
    assert manifest["id"].is_unique
    for row in manifest.itertuples():
        data = (out / row.source_file).read_bytes()
        assert row.sha256 == sha(data)
        assert row.format == FORMATS[Path(row.source_file).suffix.lower()]
        assert "/" not in row.id
    assert set(tree(out)) == set(manifest["source_file"])


# ------------------------------------------------------------------ split_abc_tunes


def test_split_abc_tunes_keeps_header_fields_and_bodies_verbatim() -> None:
    tunes = split_abc_tunes(TWO_TUNES)
    assert len(tunes) == 2
    header = "%%abc-charset utf-8\nL:1/8\n"
    assert tunes[0] == header + "X: 1\nT:First Jig\nR: Jig\nM:6/8\nK:G\nGAB c2d|\n"
    assert tunes[1].startswith(header + "X: 2\nT:Second Hornpipe\n")
    assert "d2fa   g2e2 |" in tunes[1]  # inner spacing untouched
    assert all("collection header comment" not in t for t in tunes)


def test_split_abc_tunes_without_x_and_crlf() -> None:
    assert split_abc_tunes("T:Lone\r\nK:C\r\nCDEF|\r\n") == ["T:Lone\nK:C\nCDEF|\n"]
    assert split_abc_tunes("% only a comment\n") == []


# -------------------------------------------------------------------------- local


def test_local_recurses_formats_and_splits_abc(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for name, data in {
        "a/tunes.abc": TWO_TUNES.encode(),
        "a/b/song.KRN": KERN,
        "score.musicxml": b"<score-partwise><work><work-title>Opus</work-title></work>"
        b"</score-partwise>",
        "piece.midi": MIDI_BYTES,
        "notes.txt": b"ignored",
        ".hidden/x.mid": MIDI_BYTES,
    }.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    out = tmp_path / "raw" / "nottingham"
    manifest, rejected = fetch_local("nottingham", src, out)
    check_manifest(manifest, out)
    assert rejected.empty and tuple(rejected.columns) == REJECTED_COLUMNS
    by_origin = manifest.set_index("origin")
    assert sorted(by_origin.index) == [
        "a/b/song.KRN",
        "a/tunes.abc#1",
        "a/tunes.abc#2",
        "piece.midi",
        "score.musicxml",
    ]
    assert by_origin.loc["a/tunes.abc#1", "title"] == "First Jig"
    assert by_origin.loc["a/tunes.abc#1", "rhythm"] == "jig"
    assert by_origin.loc["a/tunes.abc#2", "source_file"] == "a/tunes-2.abc"
    assert by_origin.loc["a/b/song.KRN", "title"] == "Ein Lied"
    assert by_origin.loc["a/b/song.KRN", "format"] == "kern"
    assert by_origin.loc["score.musicxml", "title"] == "Opus"
    assert by_origin.loc["piece.midi", "format"] == "midi"
    assert set(manifest["split"]) == {""}
    assert (out / "a/tunes-1.abc").read_text() == split_abc_tunes(TWO_TUNES)[0]


def test_local_keeps_train_valid_test_split(tmp_path: Path) -> None:
    src = tmp_path / "jsb"
    for split in ("train", "valid", "test"):
        (src / split).mkdir(parents=True)
        (src / split / "same.mid").write_bytes(MIDI_BYTES + split.encode())
    manifest, _ = fetch_local("classical", src, tmp_path / "out")
    assert dict(zip(manifest["source_file"], manifest["split"])) == {
        "train/same.mid": "train",
        "valid/same.mid": "validation",
        "test/same.mid": "test",
    }


def test_local_rejects_abc_tune_without_key(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "t.abc").write_text("X:1\nT:Good\nK:C\nC|\n\nX:2\nT:No key\n")
    manifest, rejected = fetch_local("nottingham", src, tmp_path / "out")
    assert list(manifest["title"]) == ["Good"]
    assert list(rejected["reason"]) == ["abc_missing_key"]
    assert "t.abc#2" in rejected["message"][0]


@pytest.mark.parametrize(
    "make",
    [lambda p: None, lambda p: (p.mkdir(), (p / "x.txt").write_text("x"))],
    ids=["missing", "no-music"],
)
def test_local_errors_name_the_folder(tmp_path: Path, make) -> None:
    src = tmp_path / "src"
    make(src)
    with pytest.raises(FetchError, match=str(src)):
        fetch_local("essen", src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------- download
# The downloader itself (archive safety, digests, resume, cache, mirror, no network) is
# tested in test_download.py; here, that fetch_download turns verified files into pieces.

COMMIT = "f" * 40
DOWNLOAD_FILES = {"corpus/tunes.abc": TWO_TUNES.encode(), "corpus/sub/song.krn": KERN, "corpus/piano.mid": MIDI_BYTES}


def make_manifest(base: str, files: dict[str, bytes] = DOWNLOAD_FILES) -> Manifest:
    text = "".join([
        "# repository: someone/tunes\n",
        f"# commit: {COMMIT}\n",
        f"# whole archive: {base}/tunes.tar.gz (members sit below one top folder, '<name>-{COMMIT}/')\n",
        f"# one file: {base}/raw/<path, percent-encoded>\n",
        *(f"{path}\t{sha(data)}\t{len(data)}\n" for path, data in files.items()),
    ])
    return parse_manifest(text, "tunes")


def serve_files(server: tuple[str, Path], folder: str, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        target = server[1] / folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest.fixture
def previous_out(tmp_path: Path) -> Path:
    """An out folder from an earlier fetch, which a failed fetch must leave as it was."""
    out = tmp_path / "raw" / "corpus"
    out.mkdir(parents=True)
    (out / "old.abc").write_text("X:1\nK:C\n")
    return out


def assert_untouched(out: Path) -> None:
    assert tree(out) == {"old.abc": b"X:1\nK:C\n"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["corpus"]  # no temp folder left


@pytest.mark.parametrize("method", ["files", "archive"])
def test_download_gives_pieces_from_verified_files(tmp_path: Path, server, method: str) -> None:
    base, www = server
    serve_files(server, "raw", DOWNLOAD_FILES)
    (www / "tunes.tar.gz").write_bytes(tar_gz({f"tunes-{COMMIT}/{p}": d for p, d in DOWNLOAD_FILES.items()}))
    out = tmp_path / "raw"
    manifest, rejected = fetch_download("nottingham", make_manifest(base), out, cache_dir=tmp_path / "cache",
                                        method=method, progress=False)
    check_manifest(manifest, out)
    assert rejected.empty
    assert sorted(manifest["source_file"]) == ["piano.mid", "sub/song.krn", "tunes-1.abc", "tunes-2.abc"]
    assert set(manifest["origin"]) == {"corpus/piano.mid", "corpus/sub/song.krn", "corpus/tunes.abc#1",
                                       "corpus/tunes.abc#2"}
    assert (out / "piano.mid").read_bytes() == MIDI_BYTES
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".fetch-")]  # staging removed


def test_download_subsets_and_mirror(tmp_path: Path, server) -> None:
    base, _ = server
    serve_files(server, "mirror", DOWNLOAD_FILES)
    out = tmp_path / "raw"
    manifest, _ = fetch_download("essen", make_manifest("http://127.0.0.1:9"), out, cache_dir=tmp_path / "cache",
                                 mirror=f"{base}/mirror", subsets=["SUB"], progress=False)
    assert list(manifest["source_file"]) == ["sub/song.krn"] and list(manifest["title"]) == ["Ein Lied"]
    with pytest.raises(ConfigError, match=r"fetch\.essen\.subsets\[0\]: 'erk' is no subset.*it has: piano, sub, tunes"):
        fetch_download("essen", make_manifest(base), out, cache_dir=tmp_path / "cache", subsets=["erk"],
                       subsets_key="fetch.essen.subsets")


@pytest.mark.usefixtures("no_retry_wait")
def test_download_refusal_leaves_previous_out(tmp_path: Path, server, previous_out: Path) -> None:
    base, _ = server
    serve_files(server, "raw", {**DOWNLOAD_FILES, "corpus/sub/song.krn": KERN + b"!"})
    with pytest.raises(FetchError, match=r"corpus/sub/song\.krn: got sha256") as info:
        fetch_download("essen", make_manifest(base), previous_out, cache_dir=tmp_path / "cache", progress=False,
                       method="files")
    assert sha(KERN) in str(info.value) and sha(KERN + b"!") in str(info.value)
    assert_untouched(previous_out)


# ------------------------------------------------------------------------ bundled


def test_bundled_nottingham_rhythm_filter_and_cap(tmp_path: Path) -> None:
    out = tmp_path / "nottingham"
    manifest, _ = fetch_bundled(
        "nottingham",
        out,
        collections=["oneills1850", "ryansMammoth"],
        rhythms=["Jig", " HORNPIPE "],
        max_pieces=12,
    )
    check_manifest(manifest, out)
    assert len(manifest) == 12
    assert set(manifest["rhythm"]) <= {"jig", "hornpipe"}
    for row in manifest.itertuples():
        tune = (out / row.source_file).read_text()
        assert len(split_abc_tunes(tune)) == 1
        assert pieces.normalise_rhythm(abc_field(tune, "R")) == row.rhythm
        assert row.origin.startswith("oneills1850/")  # the cap is reached in the first collection


def test_bundled_rhythm_keeps_slip_jig_distinct(tmp_path: Path) -> None:
    manifest, _ = fetch_bundled(
        "nottingham", tmp_path / "n", collections=["oneills1850"], rhythms=["slip jig"]
    )
    assert set(manifest["rhythm"]) == {"slip jig"}
    assert len(manifest) >= 10


def test_bundled_essen_cap_and_test_files_skipped(tmp_path: Path) -> None:
    out = tmp_path / "essen"
    manifest, _ = fetch_bundled("essen", out, collections=["erk5"], max_pieces=4)
    check_manifest(manifest, out)
    assert sorted(manifest["origin"]) == sorted(f"essenFolksong/erk5.abc#{i}" for i in range(1, 5))
    assert all((out / f).read_text().startswith("X:") for f in manifest["source_file"])
    names = [
        p.name
        for p in bundled._abc_collection_files(bundled.music21_corpus_root(), "essenFolksong")
    ]
    assert "erk5.abc" in names and not any(n.startswith("test") for n in names)


def test_bundled_unknown_collection_or_no_match(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="no_such_collection"):
        fetch_bundled("essen", tmp_path / "e", collections=["no_such_collection"])
    with pytest.raises(FetchError, match="match rhythms"):
        fetch_bundled(
            "nottingham", tmp_path / "n", collections=["ryansMammoth"], rhythms=["polka-mazurka"]
        )
    assert not (tmp_path / "n").exists()
    with pytest.raises(FetchError, match=r"unknown corpus 'jazz'; expected one of nottingham, essen, classical"):
        fetch_bundled("jazz", tmp_path / "j", collections=["miscFolk"])
    assert not (tmp_path / "j").exists()


def test_bundled_classical_writes_readable_midi_deterministically(tmp_path: Path) -> None:
    kwargs = {"collections": ["bach", "mozart/k545"], "max_pieces": 1}
    first, rejected = fetch_bundled("classical", tmp_path / "a", workers=2, **kwargs)
    second, _ = fetch_bundled("classical", tmp_path / "b", workers=1, **kwargs)
    check_manifest(first, tmp_path / "a")
    assert rejected.empty
    assert list(first["origin"]) == ["bach/bwv1.6.mxl", "mozart/k545/movement1_exposition.mxl"]
    assert set(first["format"]) == {"midi"}
    for f in first["source_file"]:
        midi = pretty_midi.PrettyMIDI(str(tmp_path / "a" / f))
        assert sum(len(i.notes) for i in midi.instruments) > 50
    pd.testing.assert_frame_equal(first, second)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_convert_score_reports_unparseable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mxl"
    bad.write_bytes(b"not a zip")
    _title, reason, message = bundled._convert_score(str(bad), str(tmp_path / "bad.mid"))
    assert reason == "parse_error" and str(bad) in message
    assert not (tmp_path / "bad.mid").exists()


def test_bundled_abc_is_deterministic(tmp_path: Path) -> None:
    kwargs = {"collections": ["oneills1850"], "rhythms": ["reel"], "max_pieces": 30}
    first, _ = fetch_bundled("nottingham", tmp_path / "a", **kwargs)
    second, _ = fetch_bundled("nottingham", tmp_path / "b", **kwargs)
    pd.testing.assert_frame_equal(first, second)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    first.to_csv(tmp_path / "a.csv", index=False)
    second.to_csv(tmp_path / "b.csv", index=False)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_fetch_corpus_writes_the_tables_and_refuses_a_corpus_without_one_usable_piece(tmp_path: Path) -> None:
    from tunesmith.config.stages import FetchConfig
    from tunesmith.core.errors import ArtifactError
    from tunesmith.pipeline.fetch import fetch_stage

    src = tmp_path / "mine"
    src.mkdir()
    (src / "tunes.abc").write_text(TWO_TUNES, encoding="utf-8")
    cfg = FetchConfig(source="local", local_dir=str(src))
    manifest = fetch_stage("nottingham", cfg, tmp_path / "raw", cache_dir=tmp_path / "cache", key="fetch.x")
    assert len(manifest) == 2
    assert pd.read_csv(tmp_path / "raw" / "manifest.csv")["id"].tolist() == manifest["id"].tolist()
    assert (tmp_path / "raw" / "rejected.csv").is_file()

    (src / "tunes.abc").write_text("no tune here\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"0 of 1 pieces of nottingham could be used: see .*rejected\.csv"):
        fetch_stage("nottingham", cfg, tmp_path / "raw", cache_dir=tmp_path / "cache", key="fetch.x")
    assert pd.read_csv(tmp_path / "raw" / "rejected.csv")["reason"].tolist() == ["no_tune"]
