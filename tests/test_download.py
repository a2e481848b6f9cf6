"""tunesmith.sources: manifests and verified downloads, against an HTTP server on 127.0.0.1.

The server serves a tiny "repository" built here: its archive at a pinned commit
(members below ``<name>-<commit>/``, as GitHub's), each file at a one-file URL,
and the same files under a mirror path. It logs every request (path and Range
header), can cut a response short, and honours Range requests.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import socket
import tarfile
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from archives import tar_gz  # tests/archives.py
from tunesmith.core.errors import ConfigError, FetchError
from tunesmith.sources.download import ResumableDownloader, fetch_manifest_files
from tunesmith.sources.manifest import packaged_manifest, parse_manifest, read_manifest

POLL = {"poll_interval": 0.02}
"""serve_forever's poll: shutdown() waits up to one poll (0.5 s by default, in every test)."""

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOP = f"corpus-{COMMIT}"
ROOT = "data/tunes"
ABC = b"X:1\nT:A Jig\nM:6/8\nK:G\n\"G\"GAB c2d|\n\nX:2\nT:B Jig\nM:6/8\nK:D\nd2f a2g|\n"
KERN_1 = b"!!!OTL: Ein Lied\n**kern\n*M2/4\n=1\n8c\n8d\n4e\n=2\n2f\n==\n*-\n"
KERN_2 = b"!!!OTL: Noch ein Lied\n**kern\n*M3/4\n=1\n4g\n4a\n4b\n*-\n" + bytes(range(256)) * 40  # > one chunk
FILES = {
    f"{ROOT}/jigs.abc": ABC,
    f"{ROOT}/erk/lied 1.krn": KERN_1,  # a space: URLs must be percent-encoded
    f"{ROOT}/erk/lied2.krn": KERN_2,
    f"{ROOT}/fink/lied3.krn": KERN_1 + b"!! another\n",
}
REPO_EXTRAS = {"README.md": b"# a corpus\n", "code/make.py": b"print('hi')\n", f"{ROOT}/erk/CKSUM": b"sums\n"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    """The corpus files under ``root`` (the digest list the fetch writes beside them left out)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "SHA256SUMS"}


def zip_of(members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), data)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def repo_archive(files: dict[str, bytes] = FILES, **extra: bytes) -> dict[str, bytes]:
    """Archive members of the repository: everything below the top folder."""
    return {f"{TOP}/{path}": data for path, data in {**REPO_EXTRAS, **files, **extra}.items()}


class Server:
    """State of the loopback server: what it serves and what it was asked."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut: dict[str, int] = {}  # path -> bytes sent before the connection drops (once)
        self.ranges = True
        self.base = ""

    def serve_repository(self, files: dict[str, bytes] = FILES, archive: bytes | None = None,
                         archive_suffix: str = ".tar.gz") -> None:
        self.files[f"/archive/{COMMIT}{archive_suffix}"] = archive if archive is not None else tar_gz(repo_archive())
        for path, data in files.items():
            self.files[f"/raw/{COMMIT}/{path}"] = data
            self.files[f"/mirror/{path}"] = data

    def manifest_text(self, files: dict[str, bytes] = FILES, archive_suffix: str = ".tar.gz") -> str:
        lines = [
            "# repository: someone/corpus",
            f"# commit: {COMMIT}",
            f"# whole archive: {self.base}/archive/{COMMIT}{archive_suffix} (members sit below one top folder, "
            f"'<name>-{COMMIT}/')",
            f"# one file: {self.base}/raw/{COMMIT}/<path, percent-encoded>",
            "# columns: path<TAB>sha256<TAB>bytes",
        ]
        lines += [f"{path}\t{sha(data)}\t{len(data)}" for path, data in files.items()]
        return "\n".join(lines) + "\n"

    def manifest(self, files: dict[str, bytes] = FILES, archive_suffix: str = ".tar.gz"):
        return parse_manifest(self.manifest_text(files, archive_suffix), "corpus")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        path = urllib.parse.unquote(self.path)
        rng = self.headers.get("Range")
        state.requests.append((path, rng))
        data = state.files.get(path)
        if data is None:
            self.send_error(404)
            return
        start = int(re.match(r"bytes=(\d+)-", rng).group(1)) if rng and state.ranges else 0
        if start >= len(data) > 0:
            self.send_error(416)
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = state.cut.pop(path, None)
        self.wfile.write(body if cut is None else body[:cut])
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    state = Server()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs=POLL, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def previous(tmp_path: Path) -> Path:
    """A destination from an earlier fetch, which a failed fetch must leave as it was."""
    dest = tmp_path / "raw" / "corpus"
    dest.mkdir(parents=True)
    (dest / "old.krn").write_bytes(KERN_1)
    (dest / "SHA256SUMS").write_text(f"{sha(KERN_1)}  old.krn\n")
    return dest


def assert_untouched(dest: Path) -> None:
    assert tree(dest) == {"old.krn": KERN_1}
    assert sorted(p.name for p in dest.parent.iterdir()) == ["corpus"]  # no temporary left beside it


def expected_tree(files: dict[str, bytes] = FILES) -> dict[str, bytes]:
    return {path[len(ROOT) + 1:]: data for path, data in files.items()}


def fetch(server: Server, dest: Path, cache: Path, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("retries", 0)
    return fetch_manifest_files(kwargs.pop("manifest", None) or server.manifest(), dest, cache_dir=cache, **kwargs)


# --------------------------------------------------------------------------- the real manifests


def test_packaged_manifests_list_the_issue_counts() -> None:
    notts = packaged_manifest("nottingham")
    assert (notts.repository, len(notts.files), notts.root) == ("jukedeck/nottingham-dataset", 14, "ABC_cleaned")
    assert {"jigs", "hpps", "waltzes"} <= set(notts.subsets())
    essen = packaged_manifest("essen")
    assert len(essen.files) == 5365 and all(f.path.endswith(".krn") for f in essen.files)
    assert len(essen.select(["erk"])) == 1700
    assert essen.subsets() == ["allerkbd", "altdeu1", "altdeu2", "ballad", "boehme", "dva", "erk", "fink",
                               "kinder", "test", "variant", "zuccal"]
    classical = packaged_manifest("classical")
    assert len(classical.files) == 337 and all(f.path.endswith(".mid") for f in classical.files)
    composers = set(classical.subsets()) - {"Christmas"}  # carols, not a composer
    assert len(composers) == 25 and {"Bach", "Beethoven", "Chopin", "Mozart"} <= composers
    bl = packaged_manifest("bl")
    assert sorted(Path(f.path).name for f in bl.files) == [
        "JSB_Chorales.mat", "MuseData.mat", "Nottingham.mat", "Piano_midi.mat"]
    for m in (notts, essen, classical, bl):
        assert re.fullmatch(r"[0-9a-f]{40}", m.commit)
        assert m.archive_url.endswith(f"{m.commit}.tar.gz") and m.archive_top.endswith(m.commit)
        assert m.url_of(m.files[0].path).startswith(f"https://raw.githubusercontent.com/{m.repository}/{m.commit}/")
        assert " " not in m.url_of(m.files[0].path)  # Essen's folder names have spaces
        assert all(f.size > 0 for f in m.files)


SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


@pytest.mark.skipif(not (SHARED / "nottingham").is_dir(), reason="the verified corpus copies exist only on the "
                    "development machine")
def test_nottingham_manifest_pins_the_verified_bytes_with_1034_tunes() -> None:
    notts = packaged_manifest("nottingham")
    assert read_manifest(SHARED / "nottingham.tsv").files == notts.files
    tunes = 0
    for f in notts.files:
        data = (SHARED / "nottingham" / f.path).read_bytes()
        assert (sha(data), len(data)) == (f.sha256, f.size)
        tunes += len(re.findall(rb"^X:", data, flags=re.M))
    assert tunes == 1034


def test_select_subsets_case_insensitively_and_names_the_key(server: Server) -> None:
    m = server.manifest()
    assert [f.path for f in m.select(["ERK", "jigs"])] == [f"{ROOT}/jigs.abc", f"{ROOT}/erk/lied 1.krn",
                                                            f"{ROOT}/erk/lied2.krn"]
    assert m.select([]) == m.files
    with pytest.raises(ConfigError, match=r"fetch\.essen\.subsets\[1\]: 'fnk' is no subset.*did you mean 'fink'.*"
                       r"it has: erk, fink, jigs"):
        m.select(["erk", "fnk"], key="fetch.essen.subsets")


@pytest.mark.parametrize(("line", "message"), [
    ("a.krn\tnothex\t3", "sha256 must be 64"),
    ("a.krn\t" + "0" * 64, "expected path<TAB>sha256<TAB>bytes"),
    ("../a.krn\t" + "0" * 64 + "\t3", "unsafe or malformed path"),
    ("/etc/a.krn\t" + "0" * 64 + "\t3", "unsafe or malformed path"),
    ("a.krn\t" + "0" * 64 + "\tlots", "bytes must be a whole number"),
    ("x/jigs.abc\t" + "0" * 64 + "\t3\nx/jigs.abc\t" + "0" * 64 + "\t3", "listed twice"),
], ids=["digest", "columns", "dotdot", "absolute", "size", "twice"])
def test_bad_manifest_lines_name_file_and_line(server: Server, line: str, message: str) -> None:
    text = server.manifest_text().split("\n")[:5]
    with pytest.raises(FetchError, match=rf"my\.tsv:6: .*{message}|my\.tsv:7: .*{message}"):
        parse_manifest("\n".join([*text, line]) + "\n", "my", "my.tsv")


def test_manifest_without_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bare.tsv"
    path.write_text("a.krn\t" + "0" * 64 + "\t3\n")
    with pytest.raises(FetchError, match=r"bare\.tsv: header line '# repository: \.\.\.' is missing"):
        read_manifest(path)


# --------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("method", ["archive", "files"])
def test_fetch_writes_verified_files_and_reuses_the_cache(tmp_path: Path, server: Server, method: str) -> None:
    server.serve_repository()
    cache = tmp_path / "cache"
    written = fetch(server, tmp_path / "a", cache, method=method)
    assert written == [tmp_path / "a" / rel for rel in expected_tree()]  # manifest order
    assert tree(tmp_path / "a") == expected_tree()  # the CKSUM, README and code are not taken
    paths = [p for p, _ in server.requests]
    if method == "archive":
        assert paths == [f"/archive/{COMMIT}.tar.gz"]
    else:
        assert sorted(paths) == sorted(f"/raw/{COMMIT}/{p}" for p in FILES)
    server.requests.clear()
    again = fetch(server, tmp_path / "b", cache, method=method)
    assert server.requests == []  # the second run is served by the cache alone
    assert tree(tmp_path / "b") == expected_tree() and len(again) == len(FILES)
    sums = (tmp_path / "a" / "SHA256SUMS").read_text().splitlines()
    assert sums == [f"{sha(data)}  {rel}" for rel, data in expected_tree().items()]
    fetch(server, tmp_path / "a", cache, method=method)  # a rerun replaces its own earlier fetch
    assert tree(tmp_path / "a") == expected_tree()


def test_mirror_serves_every_file_at_its_manifest_path(tmp_path: Path, server: Server) -> None:
    server.serve_repository()
    fetch(server, tmp_path / "out", tmp_path / "cache", mirror=f"{server.base}/mirror/")
    assert tree(tmp_path / "out") == expected_tree()
    assert sorted(p for p, _ in server.requests) == sorted(f"/mirror/{p}" for p in FILES)


def test_auto_takes_few_files_one_by_one_and_many_from_the_archive(tmp_path: Path, server: Server,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server.serve_repository()
    fetch(server, tmp_path / "few", tmp_path / "c1")
    assert all(p.startswith("/raw/") for p, _ in server.requests)
    monkeypatch.setattr("tunesmith.sources.download.FILES_AT_MOST", 2)
    server.requests.clear()
    fetch(server, tmp_path / "many", tmp_path / "c2")
    assert [p for p, _ in server.requests] == [f"/archive/{COMMIT}.tar.gz"]


@pytest.mark.parametrize("method", ["archive", "files"])
def test_select_takes_a_subset_only(tmp_path: Path, server: Server, method: str) -> None:
    server.serve_repository()
    m = server.manifest()
    keep = [f.path for f in m.select(["erk"])]
    written = fetch(server, tmp_path / "out", tmp_path / "cache", method=method, select=keep)
    assert tree(tmp_path / "out") == {"erk/lied 1.krn": KERN_1, "erk/lied2.krn": KERN_2}
    assert [p.name for p in written] == ["lied 1.krn", "lied2.krn"]
    fetch(server, tmp_path / "fn", tmp_path / "cache", method=method, select=lambda p: p.endswith(".abc"))
    assert tree(tmp_path / "fn") == {"jigs.abc": ABC}
    with pytest.raises(ValueError, match="does not list"):
        fetch(server, tmp_path / "x", tmp_path / "cache", select=["nope.krn"])


def test_zip_archive_without_top_folder(tmp_path: Path, server: Server) -> None:
    text = server.manifest_text(archive_suffix=".zip").replace(f" (members sit below one top folder, "
                                                                f"'<name>-{COMMIT}/')", "")
    server.serve_repository(archive=zip_of({**REPO_EXTRAS, **FILES}), archive_suffix=".zip")
    fetch(server, tmp_path / "out", tmp_path / "cache", method="archive", manifest=parse_manifest(text, "z"))
    assert tree(tmp_path / "out") == expected_tree()


# --------------------------------------------------------------------------- refusals


def changed(data: bytes) -> bytes:
    return data[:10] + bytes([data[10] ^ 1]) + data[11:]


def test_archive_with_a_changed_byte_is_refused_naming_file_and_digests(tmp_path: Path, server: Server,
                                                                        previous: Path) -> None:
    bad = {**FILES, f"{ROOT}/erk/lied2.krn": changed(KERN_2)}
    server.serve_repository(archive=tar_gz(repo_archive(bad)))
    cache = tmp_path / "cache"
    with pytest.raises(FetchError) as info:
        fetch(server, previous, cache, method="archive")
    message = str(info.value)
    assert f"{ROOT}/erk/lied2.krn" in message and sha(KERN_2) in message and sha(changed(KERN_2)) in message
    assert "refusing the corpus" in message and "\n" not in message
    assert_untouched(previous)
    assert not any((cache / "archives").iterdir())  # the bad archive is not kept for the next run


def test_file_with_a_changed_byte_is_refused_naming_file_and_digests(tmp_path: Path, server: Server,
                                                                     previous: Path) -> None:
    server.serve_repository()
    server.files[f"/raw/{COMMIT}/{ROOT}/jigs.abc"] = changed(ABC)
    cache = tmp_path / "cache"
    with pytest.raises(FetchError) as info:
        fetch(server, previous, cache, method="files")
    message = str(info.value)
    assert f"{ROOT}/jigs.abc" in message and sha(ABC) in message and sha(changed(ABC)) in message
    assert_untouched(previous)
    assert not (cache / "files" / ROOT / "jigs.abc").exists()


def test_a_cached_file_that_changed_is_downloaded_again(tmp_path: Path, server: Server) -> None:
    server.serve_repository()
    cache = tmp_path / "cache"
    fetch(server, tmp_path / "a", cache, method="files")
    (cache / "files" / ROOT / "jigs.abc").write_bytes(changed(ABC))  # a damaged cache
    server.requests.clear()
    fetch(server, tmp_path / "b", cache, method="files")
    assert [p for p, _ in server.requests] == [f"/raw/{COMMIT}/{ROOT}/jigs.abc"]
    assert tree(tmp_path / "b") == expected_tree()


def test_missing_file_is_refused(tmp_path: Path, server: Server, previous: Path) -> None:
    short = {k: v for k, v in FILES.items() if not k.endswith("lied3.krn")}
    server.serve_repository(archive=tar_gz(repo_archive(short)))
    with pytest.raises(FetchError, match=rf"1 file\(s\) missing from the archive: {ROOT}/fink/lied3\.krn"):
        fetch(server, previous, tmp_path / "cache", method="archive")
    del server.files[f"/raw/{COMMIT}/{ROOT}/fink/lied3.krn"]
    with pytest.raises(FetchError, match=rf"cannot download {ROOT}/fink/lied3\.krn from .*: HTTP 404"):
        fetch(server, previous, tmp_path / "cache", method="files")
    assert_untouched(previous)


@pytest.mark.parametrize(("extra", "message"), [
    ({f"{TOP}/{ROOT}/erk/intruder.krn": KERN_1}, f"unexpected archive member.*'{ROOT}/erk/intruder.krn' is not in "
                                                  "the manifest"),
    ({"elsewhere/song.krn": KERN_1}, "'elsewhere/song.krn' lies outside the top folder"),
], ids=["unlisted-in-corpus", "outside-top-folder"])
def test_unexpected_member_is_refused(tmp_path: Path, server: Server, previous: Path, extra: dict[str, bytes],
                                      message: str) -> None:
    server.serve_repository(archive=tar_gz({**repo_archive(), **extra}))
    with pytest.raises(FetchError, match=message):
        fetch(server, previous, tmp_path / "cache", method="archive")
    assert_untouched(previous)


def _unsafe_archives() -> dict[str, tuple[bytes, str, str]]:
    """(archive bytes, its suffix, regex the FetchError must match)."""
    good = repo_archive()
    evil = b"X:1\nK:C\n"
    tgz = tar_gz(good)
    return {
        "truncated-tgz": (tgz[: len(tgz) // 2], ".tar.gz", "corrupt or truncated archive"),
        "truncated-zip": (zip_of(good)[:200], ".zip", "corrupt or truncated archive"),
        "dotdot-tar": (tar_gz({**good, f"{TOP}/../../evil.abc": evil}), ".tar.gz", r"'\.\.' path component"),
        "dotdot-zip": (zip_of({**good, f"{TOP}/../../evil.abc": evil}), ".zip", r"'\.\.' path component"),
        "absolute-tar": (tar_gz({**good, "/tmp/evil.abc": evil}), ".tar.gz", "absolute path"),
        "absolute-zip": (zip_of({**good, "/tmp/evil.abc": evil}), ".zip", "absolute path"),
        "symlink-tar": (tar_gz(good, {f"{TOP}/{ROOT}/jigs.abc": (tarfile.SYMTYPE, "/etc/passwd")}), ".tar.gz",
                        "is a link to '/etc/passwd'"),
        "hardlink-tar": (tar_gz(good, {f"{TOP}/{ROOT}/l.krn": (tarfile.LNKTYPE, f"{TOP}/README.md")}), ".tar.gz",
                         "is a link to"),
        "symlink-zip": (zip_of(good, symlinks=(f"{TOP}/{ROOT}/erk/l.krn",)), ".zip", "is a link"),
    }


@pytest.mark.parametrize("case", list(_unsafe_archives()))
def test_unsafe_or_corrupt_archive_is_refused(tmp_path: Path, server: Server, previous: Path, case: str) -> None:
    data, suffix, pattern = _unsafe_archives()[case]
    server.serve_repository(archive=data, archive_suffix=suffix)
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match=pattern) as info:
        fetch(server, previous, cache, method="archive", manifest=server.manifest(archive_suffix=suffix))
    assert f"/archive/{COMMIT}{suffix}" in str(info.value)
    assert_untouched(previous)
    assert not (tmp_path / "evil.abc").exists() and not Path("/tmp/evil.abc").exists()
    assert not any((cache / "archives").iterdir())


def test_no_network_is_one_clear_line(tmp_path: Path, previous: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = Server()
    unreachable.base = f"http://127.0.0.1:{port}"
    for method in ("archive", "files"):
        with pytest.raises(FetchError, match="no network, or the host cannot be reached") as info:
            fetch(unreachable, previous, tmp_path / "cache", method=method)
        assert f"from http://127.0.0.1:{port}/" in str(info.value) and "\n" not in str(info.value)
    assert_untouched(previous)


# --------------------------------------------------------------------------- interrupted downloads


@pytest.mark.parametrize("ranges", [True, False], ids=["resumes", "server-ignores-range"])
def test_interrupted_download_resumes_on_the_next_run(tmp_path: Path, server: Server, previous: Path,
                                                      ranges: bool) -> None:
    server.serve_repository()
    server.ranges = ranges
    path = f"/raw/{COMMIT}/{ROOT}/erk/lied2.krn"
    server.cut[path] = 4000
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match=rf"cannot download {ROOT}/erk/lied2\.krn"):
        fetch(server, previous, cache, method="files")
    assert_untouched(previous)
    part = ResumableDownloader(cache / "partial").partial_path(f"{server.base}{urllib.parse.quote(path)}")
    assert part.stat().st_size == 4000  # kept for the next run
    # a broken connection stops the run from starting more files (`stop` in _from_files), so which of the
    # others the first run reached depends on the threads' timing; each it reached it fetched whole
    first = {p for p, _ in server.requests}
    server.requests.clear()
    fetch(server, previous, cache, method="files")
    assert tree(previous) == expected_tree()
    assert [r for r in server.requests if r[0] == path] == [(path, "bytes=4000-")]  # from where it stopped
    others = [r for r in server.requests if r[0] != path]
    assert all(byte_range is None and p not in first for p, byte_range in others), others  # nothing fetched twice
    assert not part.exists()


@pytest.mark.usefixtures("no_retry_wait")
def test_interrupted_archive_is_retried_within_the_run(tmp_path: Path, server: Server) -> None:
    server.serve_repository()
    archive = f"/archive/{COMMIT}.tar.gz"
    server.cut[archive] = 100
    fetch(server, tmp_path / "out", tmp_path / "cache", method="archive", retries=1)
    assert tree(tmp_path / "out") == expected_tree()
    assert server.requests == [(archive, None), (archive, "bytes=100-")]


@pytest.mark.skipif(not (SHARED / "nottingham").is_dir(), reason="the verified corpus copies exist only on the "
                    "development machine")
def test_fetch_stage_downloads_real_nottingham_from_a_loopback_mirror(tmp_path: Path) -> None:
    """The stage script, its params and the packaged manifest, on the real bytes (jigs + hornpipes)."""
    import functools
    import subprocess
    import sys

    import pandas as pd
    import yaml

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(SHARED / "nottingham")))
    threading.Thread(target=httpd.serve_forever, kwargs=POLL, daemon=True).start()
    repo = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["fetch"]["nottingham"].update(source="download", mirror=f"http://127.0.0.1:{httpd.server_address[1]}")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    try:
        run = subprocess.run([sys.executable, str(repo / "stages" / "fetch.py"), "--corpus", "nottingham",
                              "--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "raw"),
                              "--cache", str(tmp_path / "cache")], capture_output=True, text=True, timeout=300)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert run.returncode == 0, run.stderr
    manifest = pd.read_csv(tmp_path / "raw" / "manifest.csv", dtype=str, keep_default_na=False)
    assert len(manifest) == 405  # jigs.abc (340 tunes) + hpps.abc (65)
    assert set(manifest["origin"].str.split("#").str[0]) == {"ABC_cleaned/jigs.abc", "ABC_cleaned/hpps.abc"}


@pytest.mark.skipif(not (SHARED / "essen").is_dir(), reason="the verified corpus copies exist only on the "
                    "development machine")
def test_real_essen_archive_layout_gives_erk(tmp_path: Path, server: Server) -> None:
    """The packaged Essen manifest against an archive laid out as GitHub's (top folder, the
    repository's other files, deutschl's CKSUM files), built from the verified copies."""
    essen = packaged_manifest("essen")
    members = {f"{essen.archive_top}/README.md": b"# melodies\n"}
    for path in sorted((SHARED / "essen").rglob("*")):
        if path.is_file():
            members[f"{essen.archive_top}/{path.relative_to(SHARED / 'essen').as_posix()}"] = path.read_bytes()
    assert sum(name.endswith("/CKSUM") for name in members) == 13
    url_path = urllib.parse.urlparse(essen.archive_url).path
    server.files[url_path] = tar_gz(members)
    manifest = parse_manifest(
        (Path(__file__).resolve().parents[1] / "src/tunesmith/sources/manifests/essen.tsv").read_text()
        .replace("https://github.com", server.base), "essen")
    erk = [f.path for f in manifest.select(["erk"])]
    written = fetch(server, tmp_path / "erk", tmp_path / "cache", method="archive", select=erk, manifest=manifest)
    assert len(written) == 1700 and all(p.parent.name == "erk" and p.suffix == ".krn" for p in written)
    assert sha(written[0].read_bytes()) == manifest.select(["erk"])[0].sha256
