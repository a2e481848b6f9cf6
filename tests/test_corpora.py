"""Tests for tunesmith.corpora: bundled, download (from a local HTTP server) and local sources."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pretty_midi
import pytest

from tunesmith import corpora
from tunesmith.corpora import (
    FORMATS,
    MANIFEST_COLUMNS,
    REJECTED_COLUMNS,
    fetch_bundled,
    fetch_download,
    fetch_local,
    split_abc_tunes,
)
from tunesmith.errors import FetchError

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


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def tar_bytes(
    members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None
) -> bytes:
    """A .tar.gz; ``links`` maps a member name to (tar type, link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    return buf.getvalue()


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
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


def serve(server: tuple[str, Path], name: str, data: bytes) -> str:
    base, www = server
    (www / name).write_bytes(data)
    return f"{base}/{name}"


GOOD_MEMBERS = {
    "corpus/tunes.abc": TWO_TUNES.encode(),
    "corpus/sub/song.krn": KERN,
    "corpus/piano.MID": MIDI_BYTES,
    "corpus/README.txt": b"not music",
}


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


def test_download_zip_gives_pieces_and_reuses_cache(tmp_path: Path, server) -> None:
    data = zip_bytes(GOOD_MEMBERS)
    url = serve(server, "corpus.zip", data)
    out, cache = tmp_path / "raw", tmp_path / "cache"
    manifest, rejected = fetch_download(
        "nottingham", [{"url": url, "sha256": sha(data)}], out, cache_dir=cache
    )
    check_manifest(manifest, out)
    assert rejected.empty
    assert sorted(manifest["source_file"]) == [
        "corpus/piano.mid",
        "corpus/sub/song.krn",
        "corpus/tunes-1.abc",
        "corpus/tunes-2.abc",
    ]
    assert "corpus.zip:corpus/sub/song.krn" in set(manifest["origin"])
    assert (out / "corpus/piano.mid").read_bytes() == MIDI_BYTES
    # The archive is gone from the server: the rerun must come from the cache.
    (server[1] / "corpus.zip").unlink()
    again, _ = fetch_download(
        "nottingham", [{"url": url, "sha256": sha(data)}], tmp_path / "raw2", cache_dir=cache
    )
    pd.testing.assert_frame_equal(manifest, again)
    assert tree(out) == tree(tmp_path / "raw2")


def test_download_tar_gz_with_split_and_single_file(tmp_path: Path, server) -> None:
    tgz = tar_bytes(
        {"jsb/train/a.mid": MIDI_BYTES, "jsb/valid/b.mid": MIDI_BYTES, "jsb/test/c.mid": MIDI_BYTES}
    )
    archives = [
        {"url": serve(server, "jsb.tar.gz", tgz), "sha256": sha(tgz)},
        {"url": serve(server, "extra.krn", KERN), "sha256": sha(KERN)},
    ]
    out = tmp_path / "raw"
    manifest, _ = fetch_download("classical", archives, out, cache_dir=tmp_path / "cache")
    check_manifest(manifest, out)
    assert dict(zip(manifest["source_file"], manifest["split"])) == {
        "jsb.tar.gz/jsb/train/a.mid": "train",
        "jsb.tar.gz/jsb/valid/b.mid": "validation",
        "jsb.tar.gz/jsb/test/c.mid": "test",
        "extra.krn/extra.krn": "",
    }


def _bad_archives() -> dict[str, tuple[str, bytes, str]]:
    """Failure cases: (served file name, bytes, regex the FetchError must match)."""
    good_zip, good_tgz = zip_bytes(GOOD_MEMBERS), tar_bytes({"a/t.abc": TWO_TUNES.encode()})
    symlink_zip = io.BytesIO()
    with zipfile.ZipFile(symlink_zip, "w") as zf:
        info = zipfile.ZipInfo("link.abc")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    return {
        "truncated-zip": ("t.zip", good_zip[: len(good_zip) // 2], "corrupt or truncated"),
        "truncated-tgz": ("t.tgz", good_tgz[: len(good_tgz) // 2], "corrupt or truncated"),
        "dotdot-zip": ("d.zip", zip_bytes({"a/../../evil.abc": b"X:1\nK:C\n"}), r"'\.\.'"),
        "dotdot-tar": ("d.tar.gz", tar_bytes({"../evil.abc": b"X:1\nK:C\n"}), r"'\.\.'"),
        "absolute-zip": ("a.zip", zip_bytes({"/tmp/evil.abc": b"X:1\nK:C\n"}), "absolute path"),
        "absolute-tar": ("a.tar.gz", tar_bytes({"/tmp/evil.abc": b"X:1\nK:C\n"}), "absolute path"),
        "symlink-tar": (
            "s.tar.gz",
            tar_bytes({"a.abc": b"X:1\nK:C\n"}, {"l.abc": (tarfile.SYMTYPE, "/etc/passwd")}),
            "symbolic link",
        ),
        "hardlink-tar": (
            "h.tar.gz",
            tar_bytes({"a.abc": b"X:1\nK:C\n"}, {"l.abc": (tarfile.LNKTYPE, "a.abc")}),
            "hard link",
        ),
        "symlink-zip": ("s.zip", symlink_zip.getvalue(), "symbolic link"),
    }


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


@pytest.mark.parametrize("case", list(_bad_archives()))
def test_download_bad_archive_is_fetch_error(
    tmp_path: Path, server, previous_out: Path, case: str
) -> None:
    name, data, pattern = _bad_archives()[case]
    url = serve(server, name, data)
    with pytest.raises(FetchError, match=pattern) as info:
        fetch_download(
            "x", [{"url": url, "sha256": sha(data)}], previous_out, cache_dir=tmp_path / "cache"
        )
    assert url in str(info.value)
    assert_untouched(previous_out)
    assert not (tmp_path / "evil.abc").exists() and not Path("/tmp/evil.abc").exists()


def test_download_checksum_mismatch_names_url_and_digests(
    tmp_path: Path, server, previous_out: Path
) -> None:
    data = zip_bytes(GOOD_MEMBERS)
    url = serve(server, "c.zip", data)
    wrong = "0" * 64
    with pytest.raises(FetchError, match="checksum mismatch") as info:
        fetch_download(
            "x", [{"url": url, "sha256": wrong}], previous_out, cache_dir=tmp_path / "cache"
        )
    assert url in str(info.value) and wrong in str(info.value) and sha(data) in str(info.value)
    assert_untouched(previous_out)


def test_download_without_sha256_prints_digest_to_pin(
    tmp_path: Path, server, previous_out: Path
) -> None:
    data = zip_bytes(GOOD_MEMBERS)
    url = serve(server, "c.zip", data)
    with pytest.raises(FetchError, match=f"sha256 {sha(data)}.*pin it") as info:
        fetch_download(
            "x", [{"url": url, "sha256": ""}], previous_out, cache_dir=tmp_path / "cache"
        )
    assert url in str(info.value)
    assert_untouched(previous_out)


def test_download_connection_refused_and_http_error(
    tmp_path: Path, server, previous_out: Path
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/c.zip"
    with pytest.raises(FetchError, match="cannot download") as info:
        fetch_download(
            "x",
            [{"url": url, "sha256": "0" * 64}],
            previous_out,
            cache_dir=tmp_path / "cache",
            timeout=5,
        )
    assert url in str(info.value)
    missing = f"{server[0]}/missing.zip"
    with pytest.raises(FetchError, match="HTTP 404") as info:
        fetch_download(
            "x", [{"url": missing, "sha256": "0" * 64}], previous_out, cache_dir=tmp_path / "cache"
        )
    assert missing in str(info.value)
    assert_untouched(previous_out)
    assert not any((tmp_path / "cache").iterdir())  # no partial download cached


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
        assert corpora.normalise_rhythm(corpora._field(tune, "R")) == row.rhythm
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
        for p in corpora._abc_collection_files(corpora.music21_corpus_root(), "essenFolksong")
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
    _title, reason, message = corpora._convert_score(str(bad), str(tmp_path / "bad.mid"))
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
