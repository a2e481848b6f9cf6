"""Corpus sources: fetch raw pieces into ``data/raw/<corpus>/`` with a manifest.

Three sources, chosen in params.yaml by the fetch stage:

``bundled`` (no network)
    The corpus folder that ships inside the music21 package. ABC collections
    (Nottingham, O'Neill's, Ryan's Mammoth, Essen folksongs, ...) are split into
    one ``.abc`` file per tune, optionally filtered by their ``R:`` rhythm
    field; classical scores are parsed with music21 and written out as ``.mid``.
``download``
    The canonical corpus at a pinned commit: every file verified against a
    manifest shipped with tunesmith (`tunesmith.sources`), cached, optionally
    from a mirror.
``local``
    A folder of the user's own ``.abc``, ``.krn``, MusicXML and MIDI files.

Every ``fetch_*`` function returns ``(manifest, rejected)``:

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
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd
from tqdm.auto import tqdm

from tunesmith.errors import FetchError
from tunesmith.io import atomic_path, decode_text
from tunesmith.sources import Manifest, fetch_manifest_files
from tunesmith.workers import process_pool

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

CLASSICAL_COMPOSERS: tuple[str, ...] = (
    "bach",
    "beethoven",
    "chopin",
    "handel",
    "haydn",
    "joplin",
    "mozart",
    "schubert",
    "schumann_clara",
    "schumann_robert",
)
"""Composer folders of the music21 corpus with classical scores worth writing as MIDI."""

# Score formats music21 ships for classical composers, most reliable first: when a
# piece exists in two formats (Beethoven's op. 18 no. 1 as .krn and .mxl) the
# first one wins. Roman-numeral analyses (.rntxt) and Finale files are not scores.
_SCORE_PREFERENCE: tuple[str, ...] = (".mxl", ".musicxml", ".xml", ".krn", ".mid", ".midi")


# --------------------------------------------------------------------------- ABC


_X_LINE = re.compile(r"^X:", re.MULTILINE)
_FIELD_LINE = re.compile(r"^[A-Za-z+]:")


def split_abc_tunes(text: str) -> list[str]:
    """Split the text of an ABC file into one text per tune.

    A tune starts at a line beginning with ``X:`` and runs to the next such
    line (as music21 reads ABC), with trailing blank lines dropped and one
    final newline. The file header (lines before the first ``X:``) is put in
    front of every tune, keeping only its field lines (``M:``, ``L:``, ...)
    and ``%%`` directives: those change how a tune is read, while free text
    and ``%`` comments there describe the collection, not the tune.

    Line endings are normalised to ``\\n``. A text without any ``X:`` line but
    with a ``K:`` field is one tune; a text with neither gives ``[]``.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in _X_LINE.finditer(text)]
    if not starts:
        body = text.strip("\n")
        return [body + "\n"] if _field(body, "K") is not None else []
    header = "".join(
        line + "\n"
        for line in text[: starts[0]].split("\n")
        if _FIELD_LINE.match(line) or line.startswith("%%")
    )
    ends = [*starts[1:], len(text)]
    tunes = []
    for start, end in zip(starts, ends):
        body = "\n".join(line.rstrip() for line in text[start:end].rstrip().split("\n"))
        tunes.append(header + body + "\n")
    return tunes


def normalise_rhythm(value: str) -> str:
    """Normalise an ABC ``R:`` value: lower case, stripped, inner spaces collapsed.

    ``"R: Jig"`` and ``"jig"`` compare equal; ``"slip jig"`` and
    ``"slipjig"`` stay distinct (they are different spellings, not spacing).
    """
    return " ".join(value.lower().split())


def _field(tune: str, name: str) -> str | None:
    """The value of the first ``name:`` field line of an ABC tune, without ``%`` comments."""
    match = re.search(rf"^{name}:(.*)$", tune, re.MULTILINE)
    if match is None:
        return None
    return match.group(1).split("%", 1)[0].strip()


def _abc_x(tune: str) -> str:
    return _field(tune, "X") or ""


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
                "message": message,
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
        rhythm = normalise_rhythm(_field(tune, "R") or "")
        if rhythms and rhythm not in rhythms:
            continue
        x = _safe(_abc_x(tune)) if _abc_x(tune) else str(index)
        stem = f"{stem_dir}/{_safe(file_stem)}-{x}" if stem_dir else f"{_safe(file_stem)}-{x}"
        tune_origin = f"{origin}#{index}"
        if _field(tune, "K") is None:
            collector.reject(
                stem,
                tune_origin,
                "abc_missing_key",
                f"{tune_origin}: ABC tune X:{_abc_x(tune)} has no K: field, so it has no body",
            )
            continue
        title = _field(tune, "T") or file_stem
        collector.add(_Piece(stem, ".abc", tune.encode("utf-8"), title, tune_origin, split, rhythm))
        added += 1
    return added


# ----------------------------------------------------------------------- bundled


def music21_corpus_root() -> Path:
    """The ``corpus`` folder inside the installed music21 package."""
    import music21

    return Path(music21.__file__).parent / "corpus"


def fetch_bundled(
    corpus: str,
    out_dir: Path,
    *,
    collections: Sequence[str],
    rhythms: Sequence[str] = (),
    max_pieces: int = 0,
    workers: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fetch a track from the corpus that ships inside music21 (no network).

    Args:
        corpus: ``nottingham`` or ``essen`` (ABC tunes, one file per tune) or
            ``classical`` (scores written out as ``.mid``).
        out_dir: folder to (re)create atomically, e.g. ``data/raw/<corpus>``.
        collections: for ABC tracks, names of music21 corpus folders
            (``oneills1850``, ``ryansMammoth``, ``nottingham-dataset``,
            ``miscFolk``, ...) or of ABC files in ``essenFolksong`` by stem
            (``erk5``, ``erk10``, ...); a whole folder skips its ``test*.abc``
            files, which are music21's test fixtures. For ``classical``,
            composer folders (see `CLASSICAL_COMPOSERS`) or a sub-folder or
            piece of one, without extension (``mozart/k545``,
            ``joplin/maple_leaf_rag``).
        rhythms: ABC ``R:`` values to keep (normalised, see
            `normalise_rhythm`); empty keeps every tune. Ignored for classical.
        max_pieces: ABC tracks: the most tunes in total, in collection order
            then file and tune order; classical: the most scores per composer,
            by sorted path (a score that cannot be converted is rejected and
            not replaced). 0 means no cap.
        workers: processes converting classical scores; 0 means every core.

    Returns:
        ``(manifest, rejected)``, see the module docstring.

    Raises:
        FetchError: unknown corpus or collection, or nothing selected.
    """
    if max_pieces < 0:
        raise ValueError(f"max_pieces must be >= 0, got {max_pieces}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if not collections:
        raise FetchError(f"fetch_bundled({corpus!r}): no collections given")
    root = music21_corpus_root()
    out_dir = Path(out_dir)
    if corpus == "classical":
        return _fetch_bundled_scores(root, out_dir, collections, max_pieces, workers)
    if corpus in ("nottingham", "essen"):
        return _fetch_bundled_abc(corpus, root, out_dir, collections, rhythms, max_pieces)
    raise FetchError(
        f"fetch_bundled: unknown corpus {corpus!r}; expected nottingham, essen or classical"
    )


def _abc_collection_files(root: Path, name: str) -> list[Path]:
    """ABC files of one bundled collection: a corpus folder or an essenFolksong file stem."""
    folder = root / name
    if folder.is_dir():
        files = sorted(
            p
            for p in folder.rglob("*")
            if p.is_file() and p.suffix.lower() == ".abc" and not p.name.lower().startswith("test")
        )
        if files:
            return files
    for candidate in (root / f"{name}.abc", root / "essenFolksong" / f"{name}.abc", root / name):
        if candidate.is_file() and candidate.suffix.lower() == ".abc":
            return [candidate]
    available = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    raise FetchError(
        f"bundled collection {name!r} not found in {root}: expected a folder with ABC files "
        f"({', '.join(available)}) or an essenFolksong file stem such as 'erk5'"
    )


def _fetch_bundled_abc(
    corpus: str,
    root: Path,
    out_dir: Path,
    collections: Sequence[str],
    rhythms: Sequence[str],
    max_pieces: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    wanted = frozenset(normalise_rhythm(r) for r in rhythms)
    sources = [(name, _abc_collection_files(root, name)) for name in collections]
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        collector = _Collector(tmp)
        total = 0
        for name, files in sources:
            for path in tqdm(files, desc=f"fetch {corpus}: {name}", unit="file", leave=False):
                limit = max_pieces - total if max_pieces else 0
                if max_pieces and limit <= 0:
                    break
                total += _add_abc_file(
                    collector,
                    path.read_bytes(),
                    _safe(name),
                    path.stem,
                    path.relative_to(root).as_posix(),
                    rhythms=wanted,
                    limit=limit,
                )
        if not collector.rows:
            raise FetchError(
                f"no ABC tunes in bundled collections {list(collections)} match rhythms "
                f"{sorted(wanted)} (rhythms are compared after lower-casing and collapsing spaces)"
            )
        manifest, rejected = collector.frames()
    logger.info(
        "fetched %d %s tunes into %s (%d rejected)", len(manifest), corpus, out_dir, len(rejected)
    )
    return manifest, rejected


def _score_files(root: Path, name: str) -> list[Path]:
    """Scores of one composer folder (or a sub-folder or piece of it, such as ``mozart/k545``).

    Sorted by path, one file per piece: when a piece ships in two formats, the
    first in `_SCORE_PREFERENCE` wins.
    """
    target = root / name
    if target.is_dir():
        candidates = sorted(target.rglob("*"))
    else:
        candidates = (
            sorted(p for p in target.parent.glob(f"{target.name}.*"))
            if target.parent.is_dir()
            else []
        )
        if target.is_file():
            candidates.append(target)
    by_piece: dict[Path, Path] = {}
    for path in candidates:
        suffix = path.suffix.lower()
        if not path.is_file() or suffix not in _SCORE_PREFERENCE:
            continue
        key = path.with_suffix("")
        best = by_piece.get(key)
        if best is None or _SCORE_PREFERENCE.index(suffix) < _SCORE_PREFERENCE.index(
            best.suffix.lower()
        ):
            by_piece[key] = path
    if not by_piece:
        raise FetchError(
            f"bundled composer {name!r} not found: no scores at {target}; composer folders "
            f"include {', '.join(CLASSICAL_COMPOSERS)} (a sub-folder or piece such as "
            "'mozart/k545' works too)"
        )
    return [by_piece[k] for k in sorted(by_piece)]


def _strip_repeats(score: object) -> None:
    """Turn repeat barlines into plain ones and drop voltas and D.C./segno marks, in place."""
    from music21 import bar, repeat, spanner, stream

    for measure in score.recurse().getElementsByClass(stream.Measure):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(measure, side), bar.Repeat):
                setattr(measure, side, bar.Barline("regular"))
    marks = list(
        score.recurse().getElementsByClass((repeat.RepeatExpression, spanner.RepeatBracket))
    )
    score.remove(marks, recurse=True)


def _convert_score(src: str, dst: str) -> tuple[str, str, str]:
    """Parse one score with music21 and write it as MIDI (runs in a worker process).

    music21 expands repeats when it writes MIDI and gives up on badly formed
    ones (Chopin's mazurka, two Mozart movements); such a score is written
    once through, without its repeats, rather than lost.

    Returns ``(title, reason, message)``: ``reason`` is ``""`` on success, else
    ``parse_error`` or ``midi_write_error`` with music21's message.
    """
    import music21

    try:
        score = music21.converter.parse(src)
    except Exception as exc:  # music21 raises many unrelated types for bad scores
        return "", "parse_error", f"{src}: music21 cannot parse it: {type(exc).__name__}: {exc}"
    meta = score.metadata
    title = str((meta.title or meta.movementName or "") if meta is not None else "")
    if title.lower() == Path(src).name.lower():  # music21's stand-in when a score has no title
        title = ""
    try:
        try:
            score.write("midi", fp=dst)
        except music21.repeat.ExpanderException:
            _strip_repeats(score)
            score.write("midi", fp=dst)
    except Exception as exc:  # music21 raises many unrelated types here too
        Path(dst).unlink(missing_ok=True)
        return (
            title,
            "midi_write_error",
            f"{src}: music21 cannot write it as MIDI: {type(exc).__name__}: {exc}",
        )
    return title, "", ""


def _fetch_bundled_scores(
    root: Path,
    out_dir: Path,
    composers: Sequence[str],
    max_pieces: int,
    workers: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    jobs: list[tuple[Path, str]] = []  # (score, unique stem)
    naming = _Collector(Path())
    seen: set[Path] = set()
    for composer in composers:
        files = _score_files(root, composer)
        if max_pieces:
            files = files[:max_pieces]
        for path in files:
            if path in seen:  # named twice, e.g. "mozart" and "mozart/k545"
                continue
            seen.add(path)
            folder, *rest = path.relative_to(root).with_suffix("").parts
            jobs.append((path, naming.claim(f"{_safe(folder)}/{_safe('-'.join(rest))}")))
    n_workers = min(workers or os.cpu_count() or 1, len(jobs))
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for _, stem in jobs:
            (tmp / stem).parent.mkdir(parents=True, exist_ok=True)
        results: dict[int, tuple[str, str, str]] = {}
        bar = tqdm(total=len(jobs), desc="fetch classical: score -> MIDI", unit="score")
        if n_workers <= 1:
            for i, (path, stem) in enumerate(jobs):
                results[i] = _convert_score(str(path), str(tmp / f"{stem}.mid"))
                bar.update()
        else:
            with process_pool(n_workers) as pool:  # workers die with this process, even by kill -9
                futures = {
                    pool.submit(_convert_score, str(path), str(tmp / f"{stem}.mid")): i
                    for i, (path, stem) in enumerate(jobs)
                }
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update()
        bar.close()
        collector = _Collector(tmp)
        for i, (path, stem) in enumerate(jobs):
            title, reason, message = results[i]
            origin = path.relative_to(root).as_posix()
            if reason:
                logger.warning("skipped %s", message)
                collector.reject(stem, origin, reason, message)
                continue
            rel = f"{stem}.mid"
            collector.add_written(stem, rel, title or path.stem, (tmp / rel).read_bytes(), origin)
        manifest, rejected = collector.frames()
        if manifest.empty:
            raise FetchError(f"no bundled score of {list(composers)} could be written as MIDI")
        _remove_empty_dirs(tmp)
    logger.info(
        "fetched %d classical scores into %s (%d rejected)", len(manifest), out_dir, len(rejected)
    )
    return manifest, rejected


def _remove_empty_dirs(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


# ------------------------------------------------------------------------- local


def fetch_local(corpus: str, src: Path, out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copy the music files of a local folder (recursively) into ``out_dir``.

    Files with an extension in `FORMATS` (case-insensitive) are taken; other
    files and hidden or ``__MACOSX`` folders are ignored. ABC files are split
    into one file per tune (see `split_abc_tunes`). If ``src`` (or the single
    folder it wraps) has a ``train/`` sub-folder and ``valid/``,
    ``validation/`` or ``test/`` beside it, files under them keep that split in
    the manifest's ``split`` column; otherwise ``split`` is ``""``.

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
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        collector = _Collector(tmp)
        _collect_files(collector, src, files, origin_prefix="")
        manifest, rejected = collector.frames()
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


# ---------------------------------------------------------------------- download


def fetch_download(
    corpus: str,
    manifest: Manifest,
    out_dir: Path,
    *,
    cache_dir: Path,
    mirror: str = "",
    subsets: Sequence[str] = (),
    method: Literal["auto", "archive", "files"] = "auto",
    subsets_key: str = "subsets",
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Download the pinned files of ``manifest``, verify them, and collect their pieces.

    Args:
        corpus: track name, used in messages.
        manifest: the pinned corpus (`tunesmith.sources.packaged_manifest`).
        out_dir: folder to (re)create atomically.
        cache_dir: download cache, e.g. ``.cache/downloads/<corpus>``.
        mirror: base URL serving the manifest's file layout; ``""`` for the pinned URLs.
        subsets: names of sub-folders or files below the manifest's common folder
            (see `Manifest.select`); empty takes every file.
        method: ``auto``, ``archive`` or ``files`` (see `fetch_manifest_files`).
        subsets_key: the params key of ``subsets``, named in errors.

    Pieces are collected as in `fetch_local` (an ABC file gives one piece per
    tune); ``origin`` is the file's path in the repository (``#n`` for a tune).

    Raises:
        FetchError: as `fetch_manifest_files` (no network, a digest mismatch, a
            missing or unexpected file, an unsafe or corrupt archive): the whole
            corpus is refused and ``out_dir`` keeps what it held.
        ConfigError: a subset the manifest does not have.
    """
    files = manifest.select(subsets, key=subsets_key)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache_dir))
    try:
        folder = staging / "files"
        fetch_manifest_files(manifest, folder, cache_dir=cache_dir, mirror=mirror,
                             select=[f.path for f in files], method=method, progress=progress)
        with atomic_path(out_dir) as tmp:
            tmp.mkdir()
            collector = _Collector(tmp)
            prefix = f"{manifest.root}/" if manifest.root else ""
            _collect_files(collector, folder, _music_files(folder), origin_prefix=prefix)
            manifest_frame, rejected = collector.frames()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("fetched %d %s pieces from %d verified files of %s@%s into %s", len(manifest_frame), corpus,
                len(files), manifest.repository, manifest.commit[:12], out_dir)
    return manifest_frame, rejected
