"""The rows every corpus source writes: ABC tunes split out of collections, unique
file-safe piece ids, the ``manifest.csv`` and ``rejected.csv`` frames.

A ``fetch_*`` function (`tunesmith.sources.bundled`, `.local`, `.pinned`) returns
``(manifest, rejected)``:

manifest
    One row per written piece, sorted by ``id``, with the columns of
    `MANIFEST_COLUMNS`: ``id`` (unique, filesystem-safe), ``source_file``
    (posix path relative to ``out_dir``), ``title``, ``format`` (one of
    ``abc``, ``kern``, ``musicxml``, ``midi``), ``sha256`` (of the written
    file), ``split`` (``""`` or ``train``/``validation``/``test``), ``origin``
    (where the piece came from; ``<file>#<n>`` names the n-th tune, 1-based, of
    a multi-tune ABC file) and ``rhythm`` (the normalised ABC ``R:`` field or
    ``""``).
rejected
    One row per piece that was skipped, with the columns of
    `REJECTED_COLUMNS` (``id``, ``source_file``, ``reason``, ``message``).

``out_dir`` is always replaced as a whole and atomically: an interrupted or
failed fetch leaves the previous folder (or none), never half of one. Same
inputs give byte-identical files and manifest (sorted iteration, no
timestamps).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from tunesmith.core.errors import one_line
from tunesmith.core.io import decode_text
from tunesmith.tracks.abc.abc_chars import abc_field, split_abc_tunes

logger = logging.getLogger(__name__)

logger = logging.getLogger(__name__)

FORMATS: dict[str, str] = {
    ".abc": "abc",
    ".krn": "kern",
    ".xml": "musicxml",
    ".mxl": "musicxml",
    ".musicxml": "musicxml",
    ".mid": "midi",
    ".midi": "midi",
}
"""Lower-case file extension -> the ``format`` written in the manifest."""

MANIFEST_COLUMNS: tuple[str, ...] = (
    "id",
    "source_file",
    "title",
    "format",
    "sha256",
    "split",
    "origin",
    "rhythm",
)
REJECTED_COLUMNS: tuple[str, ...] = ("id", "source_file", "reason", "message")

SPLIT_FOLDERS: dict[str, str] = {
    "train": "train",
    "valid": "validation",
    "validation": "validation",
    "test": "test",
}
"""Sub-folder name of a pre-split corpus -> the ``split`` it gives."""


# --------------------------------------------------------------------------- ABC


def normalise_rhythm(value: str) -> str:
    """Normalise an ABC ``R:`` value: lower case, stripped, inner spaces collapsed.

    ``"R: Jig"`` and ``"jig"`` compare equal; ``"slip jig"`` and
    ``"slipjig"`` stay distinct (they are different spellings, not spacing).
    """
    return " ".join(value.lower().split())


def _abc_x(tune: str) -> str:
    return abc_field(tune, "X") or ""


# ------------------------------------------------------------------ naming, rows


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(name: str) -> str:
    """A filesystem-safe name part (letters, digits, ``. _ -``), never empty."""
    cleaned = _UNSAFE.sub("_", name).strip("._")
    return cleaned or "piece"


@dataclass
class _Piece:
    """One piece to write: its target name, bytes and manifest fields."""

    stem: str  # posix path relative to out_dir, without extension
    suffix: str  # lower-case extension of the written file
    data: bytes
    title: str
    origin: str
    split: str = ""
    rhythm: str = ""


@dataclass
class _Collector:
    """Gives pieces unique names, writes them under ``root`` and builds the frames."""

    root: Path
    rows: list[dict[str, str]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    _taken: set[str] = field(default_factory=set)

    def claim(self, stem: str) -> str:
        """Reserve a stem (``a``, ``a_2``, ``a_3``, ...) whose id no other piece has.

        Ids are compared case-insensitively so that a corpus written on Linux can
        be checked out on a case-insensitive file system without two pieces
        becoming one; distinct ids imply distinct file paths.
        """
        candidate, n = stem, 1
        while _piece_id(candidate).lower() in self._taken:
            n += 1
            candidate = f"{stem}_{n}"
        self._taken.add(_piece_id(candidate).lower())
        return candidate

    def add(self, piece: _Piece) -> None:
        stem = self.claim(piece.stem)
        rel = f"{stem}{piece.suffix}"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(piece.data)
        self.add_written(
            stem, rel, piece.title, piece.data, piece.origin, piece.split, piece.rhythm
        )

    def add_written(
        self,
        stem: str,
        rel: str,
        title: str,
        data: bytes,
        origin: str,
        split: str = "",
        rhythm: str = "",
    ) -> None:
        self.rows.append(
            {
                "id": _piece_id(stem),
                "source_file": rel,
                "title": title,
                "format": FORMATS[PurePosixPath(rel).suffix.lower()],
                "sha256": hashlib.sha256(data).hexdigest(),
                "split": split,
                "origin": origin,
                "rhythm": rhythm,
            }
        )

    def reject(self, stem: str, source_file: str, reason: str, message: str) -> None:
        self.rejected.append(
            {
                "id": _piece_id(stem),
                "source_file": source_file,
                "reason": reason,
                "message": one_line(message),
            }
        )

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return _frame(self.rows, MANIFEST_COLUMNS), _frame(self.rejected, REJECTED_COLUMNS)


def _piece_id(stem: str) -> str:
    """The manifest id of a piece: its stem with folders joined by ``--`` (ids are file names)."""
    return stem.replace("/", "--")


def _frame(rows: list[dict[str, str]], columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns), dtype=object)
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


def _read_text(data: bytes) -> str:
    # byte-order marks (UTF-8/16/32) decide; ABC collections predate UTF-8, so Latin-1
    # (which decodes every byte) is the fallback
    return decode_text(data)


def _add_abc_file(
    collector: _Collector,
    data: bytes,
    stem_dir: str,
    file_stem: str,
    origin: str,
    *,
    split: str = "",
    rhythms: frozenset[str] = frozenset(),
    limit: int = 0,
) -> int:
    """Split one ABC file into tunes and add those that match ``rhythms``.

    Returns the number of tunes added (at most ``limit`` when ``limit > 0``).
    """
    added = 0
    tunes = split_abc_tunes(_read_text(data))
    if not tunes:  # listed, never silently dropped
        stem = f"{stem_dir}/{_safe(file_stem)}" if stem_dir else _safe(file_stem)
        collector.reject(stem, origin, "no_tune",
                         f"{origin}: no ABC tune found (no X: line and no K: field)")
    for index, tune in enumerate(tunes, start=1):
        if limit and added >= limit:
            break
        rhythm = normalise_rhythm(abc_field(tune, "R") or "")
        if rhythms and rhythm not in rhythms:
            continue
        x = _safe(_abc_x(tune)) if _abc_x(tune) else str(index)
        stem = f"{stem_dir}/{_safe(file_stem)}-{x}" if stem_dir else f"{_safe(file_stem)}-{x}"
        tune_origin = f"{origin}#{index}"
        if abc_field(tune, "K") is None:
            collector.reject(
                stem,
                tune_origin,
                "abc_missing_key",
                f"{tune_origin}: ABC tune X:{_abc_x(tune)} has no K: field, so it has no body",
            )
            continue
        title = abc_field(tune, "T") or file_stem
        collector.add(_Piece(stem, ".abc", tune.encode("utf-8"), title, tune_origin, split, rhythm))
        added += 1
    return added


