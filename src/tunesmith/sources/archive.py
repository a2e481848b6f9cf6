"""Taking the selected files out of a repository archive, safely and verified.

The archive (``.tar.gz`` or ``.zip``, told apart by its first bytes) is checked as a
whole before anything is written: no member may have an absolute path or a ``..``
component; below the archive's top folder only the repository's files; below the
manifest's common folder no link, device or file of the corpus's kinds (suffixes)
that the manifest does not list. The repository's other files (code, READMEs,
checksum lists) are never read. Each selected member is then written while its
sha256 and size are computed and compared with the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm.auto import tqdm

from tunesmith.core.errors import FetchError
from tunesmith.sources.manifest import Manifest, ManifestFile

_CHUNK = 1 << 16
_SHOWN = 5  # problems listed in one error message


def mismatch(path: str, f: ManifestFile, actual: str, size: int) -> str:
    return (f"{path}: got sha256 {actual} ({size} bytes), the manifest pins sha256 {f.sha256} "
            f"({f.size} bytes)")


def refuse(manifest: Manifest, what: str, problems: list[str]) -> FetchError:
    shown = "; ".join(problems[:_SHOWN])
    more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
    return FetchError(f"refusing the {manifest.name} corpus: {len(problems)} {what}: {shown}{more}")


def _member_parts(name: str) -> tuple[str, ...]:
    """The path parts of an archive member, refusing anything that could escape the destination."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise FetchError(f"unsafe archive: member {name!r} has an absolute path")
    parts = tuple(p for p in posix.split("/") if p not in ("", "."))
    if ".." in parts:
        raise FetchError(f"unsafe archive: member {name!r} has a '..' path component")
    return parts


class _Member:
    """One archive entry, for tar and zip alike."""

    def __init__(self, name: str, kind: str, opener: Callable[[], IO[bytes] | None], link: str = "") -> None:
        self.name, self.kind, self.open, self.link = name, kind, opener, link


def _members(archive: Path, stack: contextlib.ExitStack) -> list[_Member]:
    with open(archive, "rb") as fh:
        zipped = fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    if zipped:
        zf = stack.enter_context(zipfile.ZipFile(archive))
        out = []
        for info in zf.infolist():
            mode = info.external_attr >> 16
            kind = "link" if (mode & 0o170000) == 0o120000 else "dir" if info.is_dir() else "file"
            out.append(_Member(info.filename, kind, lambda info=info: zf.open(info)))
        return out
    tf = stack.enter_context(tarfile.open(archive, "r:*"))  # noqa: SIM115 (closed by the caller's stack)
    out = []
    for m in tf.getmembers():  # reads the whole index: a truncated archive fails here
        kind = ("link" if m.issym() or m.islnk() else "dir" if m.isdir() else "file" if m.isfile() else "special")
        out.append(_Member(m.name, kind, lambda m=m: tf.extractfile(m), m.linkname))
    return out


def extract_selected(archive: Path, manifest: Manifest, files: list[ManifestFile], dest: Path) -> None:
    """Write the selected members of ``archive`` to ``dest`` after checking the whole archive."""
    wanted = {f.path: f for f in files}
    listed = {f.path for f in manifest.files}
    suffixes = {PurePosixPath(p).suffix.lower() for p in listed}
    root = manifest.root
    found: dict[str, _Member] = {}
    unexpected: list[str] = []
    with contextlib.ExitStack() as stack:
        for member in _members(archive, stack):
            parts = _member_parts(member.name)
            if not parts:
                continue
            if manifest.archive_top:
                if parts[0] != manifest.archive_top:
                    unexpected.append(f"{member.name!r} lies outside the top folder {manifest.archive_top!r}")
                    continue
                parts = parts[1:]
            rel = "/".join(parts)
            in_corpus = rel in wanted or (not root or rel.startswith(root + "/"))
            if not rel or member.kind == "dir" or not in_corpus:
                continue  # the repository's other files (code, READMEs) are never read
            if member.kind in ("link", "special"):
                what = f"a link to {member.link!r}" if member.kind == "link" else "not a regular file"
                raise FetchError(f"unsafe archive: member {member.name!r} is {what}")
            if rel in wanted:
                if rel in found:
                    raise FetchError(f"archive holds {rel!r} twice")
                found[rel] = member
            elif rel not in listed and PurePosixPath(rel).suffix.lower() in suffixes:
                unexpected.append(f"{rel!r} is not in the manifest")
        if unexpected:
            raise refuse(manifest, "unexpected archive member(s)", unexpected)
        missing = [p for p in wanted if p not in found]
        if missing:
            raise refuse(manifest, "file(s) missing from the archive", missing)
        problems = []
        for path, f in tqdm(wanted.items(), desc=f"extract {manifest.name}", unit="file", leave=False):
            target = dest / manifest.relative(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            digest, size = _copy_hashed(found[path].open(), target)
            if digest != f.sha256 or size != f.size:
                problems.append(mismatch(path, f, digest, size))
        if problems:
            raise refuse(manifest, "file(s) differ from the manifest", problems)


def _copy_hashed(src: IO[bytes] | None, target: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        if src is not None:
            with src:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
    return h.hexdigest(), size
