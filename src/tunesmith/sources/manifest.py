"""Manifests of the canonical corpora: a repository at a fixed commit, one line per file.

A manifest is a small tab-separated text file (``sources/manifests/<name>.tsv``)::

    # repository: jukedeck/nottingham-dataset
    # commit: 0992bb6cd864f6d4b90d6663e08c0ef53ffaa08f
    # whole archive: https://github.com/<repo>/archive/<commit>.tar.gz (members sit below one top
    #   folder, '<name>-<commit>/')   [one line in the file]
    # one file: https://raw.githubusercontent.com/<repo>/<commit>/<path, percent-encoded>
    # columns: path<TAB>sha256<TAB>bytes
    ABC_cleaned/jigs.abc<TAB>5bb6f6...<TAB>129665

``path`` is the file's posix path in the repository, ``sha256`` its lower-case hex
digest and ``bytes`` its size. The manifests of tunesmith's corpora ship inside the
package (`packaged_manifest`), so a user's run never depends on anything outside it.
"""

from __future__ import annotations

import difflib
import functools
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from tunesmith.core.errors import ConfigError, FetchError

MANIFESTS: tuple[str, ...] = ("nottingham", "essen", "classical", "bl")
"""Names of the manifests that ship with tunesmith (``sources/manifests/<name>.tsv``)."""

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_PATH_PLACEHOLDER = re.compile(r"<path[^>]*>")


@dataclass(frozen=True)
class ManifestFile:
    """One pinned file: its path in the repository, sha256 (hex) and size in bytes."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A corpus pinned to one commit of one repository.

    Attributes:
        name: the manifest's name (its file stem), used in messages.
        repository: ``owner/name``.
        commit: the pinned commit.
        archive_url: URL of the whole repository at ``commit`` (``.tar.gz`` or ``.zip``).
        archive_top: folder every archive member sits below (``<name>-<commit>/``),
            ``""`` when members sit at the top.
        file_url: URL of one file with ``{path}`` where its percent-encoded path goes.
        files: every file, in manifest order.
    """

    name: str
    repository: str
    commit: str
    archive_url: str
    archive_top: str
    file_url: str
    files: tuple[ManifestFile, ...]

    @functools.cached_property
    def root(self) -> str:
        """The deepest folder holding every file (``ABC_cleaned``), ``""`` for the repository's top."""
        parents = [PurePosixPath(f.path).parent.parts for f in self.files]
        common: list[str] = []
        for parts in zip(*parents):
            if len(set(parts)) != 1:
                break
            common.append(parts[0])
        return "/".join(common)

    def relative(self, path: str) -> str:
        """``path`` relative to `root` (``ABC_cleaned/jigs.abc`` -> ``jigs.abc``)."""
        root = self.root
        return path[len(root) + 1 :] if root else path

    def url_of(self, path: str, mirror: str = "") -> str:
        """Where one file is downloaded from: ``<mirror>/<path>`` or the pinned one-file URL."""
        quoted = urllib.parse.quote(path, safe="/")
        if mirror:
            return f"{mirror.rstrip('/')}/{quoted}"
        return self.file_url.replace("{path}", quoted)

    def subsets(self) -> list[str]:
        """Names a subset can take: the first part of each file's `relative` path, without suffix."""
        return sorted({_subset_name(self.relative(f.path)) for f in self.files}, key=str.lower)

    def select(self, subsets: Sequence[str] = (), *, key: str = "subsets") -> tuple[ManifestFile, ...]:
        """The files of the named subsets (all files when ``subsets`` is empty).

        A subset is the first part of a file's path below `root`, without its
        suffix, compared case-insensitively: a folder (Essen's ``erk``,
        piano-midi.de's ``Chopin``) or a file (Nottingham's ``jigs``).

        Raises:
            ConfigError: a name matches no file; the message names ``key``,
                the name and the subsets there are.
        """
        if not subsets:
            return self.files
        known = {name.lower(): name for name in self.subsets()}
        wanted = set()
        for i, name in enumerate(subsets):
            if name.lower() not in known:
                close = difflib.get_close_matches(name.lower(), list(known), n=1)
                hint = f" (did you mean '{known[close[0]]}'?)" if close else ""
                raise ConfigError(
                    f"{key}[{i}]: {name!r} is no subset of the {self.name} manifest{hint}; "
                    f"it has: {', '.join(self.subsets())}"
                )
            wanted.add(name.lower())
        return tuple(f for f in self.files if _subset_name(self.relative(f.path)).lower() in wanted)


def _subset_name(relative: str) -> str:
    parts = PurePosixPath(relative).parts
    return parts[0] if len(parts) > 1 else PurePosixPath(relative).stem


def check_relative_path(path: str, where: str) -> None:
    """Raise FetchError unless ``path`` is a plain relative posix path (no ``..``, not absolute)."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or re.match(r"^[A-Za-z]:", path) or any(
        p in ("", ".", "..") for p in parts
    ):
        raise FetchError(f"{where}: unsafe or malformed path {path!r} (must be relative, without '.' or '..')")


def parse_manifest(text: str, name: str, where: str = "") -> Manifest:
    """Parse the text of a manifest; ``where`` (default ``name``) prefixes every error.

    Raises:
        FetchError: a missing header, a malformed line (naming its number), a
            bad digest or size, an unsafe or repeated path, or no file at all.
    """
    where = where or name
    header: dict[str, str] = {}
    files: list[ManifestFile] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            label, sep, value = line[1:].partition(":")
            if sep:
                header[label.strip().lower()] = value.strip()
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise FetchError(f"{where}:{lineno}: expected path<TAB>sha256<TAB>bytes, got {line!r}")
        path, digest, size = fields
        check_relative_path(path, f"{where}:{lineno}")
        if not _HEX64.match(digest):
            raise FetchError(f"{where}:{lineno}: sha256 must be 64 lower-case hex digits, got {digest!r}")
        if not size.isdigit():
            raise FetchError(f"{where}:{lineno}: bytes must be a whole number, got {size!r}")
        if path in seen:
            raise FetchError(f"{where}:{lineno}: {path!r} is listed twice")
        seen.add(path)
        files.append(ManifestFile(path, digest, int(size)))
    for label in ("repository", "commit", "whole archive", "one file"):
        if not header.get(label):
            raise FetchError(f"{where}: header line '# {label}: ...' is missing")
    if not files:
        raise FetchError(f"{where}: lists no files")
    repository, commit = header["repository"], header["commit"]
    archive_url, _, note = header["whole archive"].partition(" ")
    top = re.search(r"'([^']*)/'", note)
    archive_top = top.group(1).replace("<name>", repository.split("/")[-1]) if top else ""
    file_url = _PATH_PLACEHOLDER.sub("{path}", header["one file"]).split(" ")[0]
    if "{path}" not in file_url:
        raise FetchError(f"{where}: the one-file URL has no <path> placeholder: {header['one file']!r}")
    return Manifest(name, repository, commit, archive_url, archive_top, file_url, tuple(files))


def read_manifest(path: Path | str) -> Manifest:
    """Read a manifest file (see `parse_manifest`); its stem is its name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FetchError(f"cannot read manifest {path}: {exc.strerror or exc}") from exc
    return parse_manifest(text, path.stem, str(path))


def packaged_manifest(name: str) -> Manifest:
    """One of the manifests that ship with tunesmith (see `MANIFESTS`)."""
    if name not in MANIFESTS:
        raise FetchError(f"no packaged manifest {name!r}; there are: {', '.join(MANIFESTS)}")
    resource = resources.files("tunesmith.sources") / "manifests" / f"{name}.tsv"
    return parse_manifest(resource.read_text(encoding="utf-8"), name, f"tunesmith/sources/manifests/{name}.tsv")

