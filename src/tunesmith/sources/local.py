"""The ``local`` source: a folder of the user's own ``.abc``, ``.krn``, MusicXML and MIDI files."""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from tunesmith.core.errors import FetchError
from tunesmith.core.io import atomic_path
from tunesmith.sources.pieces import (
    FORMATS,
    SPLIT_FOLDERS,
    _add_abc_file,
    _Collector,
    _Piece,
    _read_text,
    _safe,
    normalise_rhythm,
)

logger = logging.getLogger(__name__)


def fetch_local(corpus: str, src: Path, out_dir: Path, *, rhythms: Sequence[str] = (),
                max_pieces: int = 0, include: Sequence[str] = (), exclude: Sequence[str] = (),
                same_name: str = "first") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copy the music files of a local folder (recursively) into ``out_dir``.

    Files with an extension in `FORMATS` (case-insensitive) are taken; other
    files and hidden or ``__MACOSX`` folders are ignored. ABC files are split
    into one file per tune (see `split_abc_tunes`). If ``src`` (or the single
    folder it wraps) has a ``train/`` sub-folder and ``valid/``,
    ``validation/`` or ``test/`` beside it, files under them keep that split in
    the manifest's ``split`` column; otherwise ``split`` is ``""``.

    ``rhythms`` (ABC ``R:`` values, normalised) keeps only the tunes of those rhythms, and
    ``max_pieces`` (> 0) the first that many pieces in file order, as for the bundled corpora;
    the others are listed in ``rejected.csv`` as ``not_selected`` and not copied.
    ``include``/``exclude`` and ``same_name`` choose among the files first (`FetchConfig`); a
    file ``same_name`` drops is listed as ``same_name``, naming the version kept.

    Raises:
        FetchError: ``src`` is missing or holds no music file.
    """
    src = Path(src)
    if not src.is_dir():
        raise FetchError(f"local corpus folder for {corpus!r} not found: {src}")
    files = _music_files(src)
    if not files:
        raise FetchError(
            f"local corpus folder {src} holds no music files "
            f"(extensions: {', '.join(sorted(FORMATS))})"
        )
    files = _matching(src, files, include, exclude)
    if not files:
        raise FetchError(f"no music file of {src} matches include {list(include)} without exclude {list(exclude)}")
    files, versions = _one_per_name(src, files) if same_name == "first" else (files, [])
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        collector = _Collector(tmp)
        _collect_files(collector, src, files, origin_prefix="")
        manifest, rejected = _select(tmp, *collector.frames(), rhythms, max_pieces)
        if versions:
            rejected = pd.concat([rejected, pd.DataFrame(versions)], ignore_index=True)
    logger.info("fetched %d local %s pieces from %s into %s", len(manifest), corpus, src, out_dir)
    return manifest, rejected


def _music_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(part.startswith(".") or part == "__MACOSX" for part in rel):
            continue
        if path.is_file() and not path.is_symlink() and path.suffix.lower() in FORMATS:
            files.append(path)
    return files


def _matching(root: Path, files: Sequence[Path], include: Sequence[str], exclude: Sequence[str]) -> list[Path]:
    """The files whose path below ``root`` matches an ``include`` glob (any, when none) and no
    ``exclude`` glob (`fnmatch`: ``*`` also crosses ``/``)."""
    def rel(path: Path) -> str:
        return path.relative_to(root).as_posix()

    return [f for f in files
            if (not include or any(fnmatch.fnmatchcase(rel(f), p) for p in include))
            and not any(fnmatch.fnmatchcase(rel(f), p) for p in exclude)]


def _one_per_name(root: Path, files: Sequence[Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """One file per name (case-insensitive, extension included; per split in a train/valid/test
    layout): the one nearest the top of ``root``, then first in path order; the others as
    ``same_name`` rejected rows."""
    split_root = _split_root(root)

    def split_of(f: Path) -> str:  # a kept train/valid/test layout: one name may recur across splits
        if split_root is None or not f.is_relative_to(split_root):
            return ""
        return SPLIT_FOLDERS.get(f.relative_to(split_root).parts[0].lower(), "")

    by_name: dict[tuple[str, str], list[Path]] = {}
    for f in files:
        by_name.setdefault((split_of(f), f.name.lower()), []).append(f)
    kept, dropped = [], []
    for group in by_name.values():
        group.sort(key=lambda f: (len(f.relative_to(root).parts), f.relative_to(root).as_posix()))
        kept.append(group[0])
        first = group[0].relative_to(root).as_posix()
        for other in group[1:]:
            rel = other.relative_to(root).as_posix()
            dropped.append({"id": rel, "source_file": rel, "reason": "same_name",
                            "message": f"{rel}: another version of {first} (fetch.<corpus>.same_name: all keeps both)"})
    if dropped:
        logger.info("%d files share a name with another (kept the one nearest the top: same_name first)",
                    len(dropped))
    keep = set(kept)
    return [f for f in files if f in keep], dropped


def _split_root(root: Path) -> Path | None:
    """The folder holding ``train/`` and ``valid/``/``test/``, looking through wrapper folders."""
    folder = root
    while True:
        names = {p.name.lower() for p in folder.iterdir() if p.is_dir()}
        if "train" in names and names & {"valid", "validation", "test"}:
            return folder
        entries = [
            p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"
        ]
        if len(entries) == 1 and entries[0].is_dir():
            folder = entries[0]
            continue
        return None


def _collect_files(
    collector: _Collector,
    root: Path,
    files: Iterable[Path],
    *,
    origin_prefix: str,
    stem_prefix: str = "",
) -> None:
    """Add ``files`` (music files under ``root``) to ``collector``, keeping their folders."""
    split_root = _split_root(root)
    for path in tqdm(list(files), desc="fetch: copy", unit="file", leave=False):
        rel = path.relative_to(root)
        split = ""
        if split_root is not None and path.is_relative_to(split_root):
            first = path.relative_to(split_root).parts[0].lower()
            split = (
                SPLIT_FOLDERS.get(first, "") if len(path.relative_to(split_root).parts) > 1 else ""
            )
        parent = "/".join([stem_prefix] * bool(stem_prefix) + [_safe(p) for p in rel.parent.parts])
        origin = f"{origin_prefix}{rel.as_posix()}"
        suffix = path.suffix.lower()
        data = path.read_bytes()
        if suffix == ".abc":
            _add_abc_file(collector, data, parent, path.stem, origin, split=split)
            continue
        stem = f"{parent}/{_safe(path.stem)}" if parent else _safe(path.stem)
        collector.add(_Piece(stem, suffix, data, _title_of(path.stem, suffix, data), origin, split))


_KERN_TITLE = re.compile(rb"^!!!OTL[^:]*:\s*(.+?)\s*$", re.MULTILINE)
_XML_TITLE = re.compile(rb"<(?:work-title|movement-title)>\s*([^<]+?)\s*</", re.MULTILINE)


def _title_of(stem: str, suffix: str, data: bytes) -> str:
    """A title from Humdrum ``!!!OTL`` or MusicXML title tags, else the file stem."""
    pattern = {".krn": _KERN_TITLE, ".xml": _XML_TITLE, ".musicxml": _XML_TITLE}.get(suffix)
    match = pattern.search(data[:200_000]) if pattern is not None else None
    return _read_text(match.group(1)).strip() if match else stem


def _select(folder: Path, manifest: pd.DataFrame, rejected: pd.DataFrame, rhythms: Sequence[str],
            max_pieces: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pieces ``rhythms`` and ``max_pieces`` keep; the others' files removed from ``folder``
    (the stage's own temporary copy) and listed as ``not_selected``."""
    wanted = frozenset(normalise_rhythm(r) for r in rhythms)
    keep = pd.Series(True, index=manifest.index)
    why = pd.Series("", index=manifest.index)
    if wanted:
        rhythm = manifest.get("rhythm", pd.Series("", index=manifest.index)).fillna("").map(normalise_rhythm)
        keep &= rhythm.isin(wanted)
        why[~keep] = "R: " + rhythm[~keep].replace("", "(none)") + f" is not one of rhythms {sorted(wanted)}"
    if max_pieces > 0:
        beyond = keep & (keep.cumsum() > max_pieces)
        why[beyond] = f"beyond max_pieces {max_pieces}"
        keep &= ~beyond
    dropped = manifest[~keep]
    for name in dropped["source_file"]:
        (folder / name).unlink(missing_ok=True)
    extra = pd.DataFrame({"id": dropped["id"], "source_file": dropped["source_file"],
                          "reason": "not_selected", "message": why[~keep]})
    rejected = pd.concat([rejected, extra], ignore_index=True) if len(extra) else rejected
    return manifest[keep].reset_index(drop=True), rejected

