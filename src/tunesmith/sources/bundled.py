"""The ``bundled`` source (no network): the corpus folder that ships inside the music21 package.

ABC collections (Nottingham, O'Neill's, Ryan's Mammoth, Essen folksongs, ...)
are split into one ``.abc`` file per tune, optionally filtered by their ``R:``
rhythm field; classical scores are parsed with music21 and written out as ``.mid``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import as_completed
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from tunesmith.core.errors import FetchError
from tunesmith.core.io import atomic_path
from tunesmith.core.workers import process_pool
from tunesmith.sources.pieces import _add_abc_file, _Collector, _safe, normalise_rhythm

logger = logging.getLogger(__name__)

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
    from tunesmith.tracks import TRACKS, UnknownTrackError, get_track

    try:
        track = get_track(corpus)
    except UnknownTrackError:
        raise FetchError(f"fetch_bundled: unknown corpus {corpus!r}; expected one of {', '.join(TRACKS)}") from None
    if track.bundled_as == "midi":
        return _fetch_bundled_scores(root, out_dir, collections, max_pieces, workers)
    return _fetch_bundled_abc(corpus, root, out_dir, collections, rhythms, max_pieces)


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


