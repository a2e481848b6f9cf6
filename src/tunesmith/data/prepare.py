"""Parse, filter and transpose the raw pieces of a corpus (the prepare stage).

Per track, one raw file gives one or more prepared pieces (JSON-friendly dicts):

- nottingham: ``{"id", "title", "rhythm", "abc"}``: normalised ABC text that music21 parses.
- essen: ``{"id", "title", "key", "transposed", "events"}``: a monophonic melody,
  events ``[midi | None, "duration as a fraction of quarter lengths"]``, filtered by
  ``acceptable_durations`` and transposed to C major / A minor (Vasudeva).
- classical: ``{"id", "title", "n_frames", "notes"}``: notes ``[pitch, start, end]`` in
  piano-roll frames (Lorinczi & Brailovsky).

Each track reads its own files (``Track.prepare_file``, in :mod:`tunesmith.tracks`);
this module runs it over a corpus. A piece that cannot be parsed or is filtered out
raises MusicInputError inside the worker; :func:`prepare_corpus` records it in the
rejected table and goes on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from tunesmith.config.stages import PrepareConfig
from tunesmith.core.errors import ArtifactError, MusicInputError, one_line
from tunesmith.core.workers import TimeLimitExceeded, process_pool, time_limit
from tunesmith.tracks import get_track

log = logging.getLogger(__name__)

REJECTED_COLUMNS = ["id", "source_file", "reason", "message"]


def _work(args: tuple) -> tuple[str, Any]:
    """Prepare one raw file; runs in a worker process. Never raises for bad music."""
    track, path, fmt, piece_id, title, rhythm, cfg = args
    import music21  # noqa: F401 -- imported before the clock starts: it takes seconds the first time

    try:
        with time_limit(cfg.parse_timeout):
            return "ok", get_track(track).prepare_file(path, fmt, piece_id, title, cfg, rhythm)
    except TimeLimitExceeded:
        return "rejected", ("timeout", f"{path.name}: preparing it took longer than parse_timeout "
                                       f"{cfg.parse_timeout:g} s")
    except MusicInputError as exc:
        return "rejected", (exc.reason, str(exc))
    except Exception as exc:  # a library bug on one odd file must not cost the other pieces
        return "rejected", ("error", f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- whole corpus


def check_manifest_files(raw_dir: Path, rows: list[dict]) -> None:
    """Every ``source_file`` of the manifest must be a path inside ``raw_dir`` whose bytes match
    its ``sha256`` (when the manifest gives one), checked before any file is parsed.

    Raises:
        ArtifactError: naming the manifest row, the path and, for a changed file, both digests.
    """
    manifest = Path(raw_dir) / "manifest.csv"
    for number, row in enumerate(rows, 2):  # line 1 is the header
        name = str(row.get("source_file", ""))
        parts = Path(name).parts
        if not name or Path(name).is_absolute() or ".." in parts or "\\" in name:
            raise ArtifactError(f"{manifest}, line {number}: source_file {name!r} is not a path inside "
                                f"{raw_dir}; nothing was read (rerun fetch)")
        want = str(row.get("sha256", "") or "")
        if want:
            path = Path(raw_dir) / name
            try:
                got = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                raise ArtifactError(f"{manifest}, line {number}: cannot read {path}: {exc.strerror or exc}") from exc
            if got != want:
                raise ArtifactError(f"{manifest}, line {number}: {path} has sha256 {got[:16]}..., the manifest "
                                    f"says {want[:16]}...: the file changed after fetch (rerun fetch)")


def prepare_corpus(track: str, raw_dir: Path, manifest: pd.DataFrame, cfg: PrepareConfig,
                   *, progress: bool = True) -> tuple[list[dict], pd.DataFrame, dict]:
    """Prepare every piece in ``manifest`` (the fetch stage's table) in parallel.

    Returns ``(pieces, rejected, stats)``: pieces in manifest order, each with its
    ``split`` from the manifest; the rejected table (id, source_file, reason,
    message); counts read / kept / rejected by reason and files per second. A piece a
    track keeps with a ``warning`` (an ABC tune that stays in its own key) is logged here,
    naming its file, and counted as ``kept_with_warnings``.
    """
    get_track(track)  # an unknown track is an error naming the known ones, before any work
    rows = manifest.fillna("").to_dict("records")
    check_manifest_files(raw_dir, rows)
    jobs = [
        (track, raw_dir / r["source_file"], r["format"], r["id"], r.get("title", "") or r["id"],
         r.get("rhythm", ""), cfg)
        for r in rows
    ]
    workers = cfg.workers or os.cpu_count() or 1
    start = time.perf_counter()
    results: Iterable[tuple[str, Any]]
    if workers == 1 or len(jobs) < 8:
        results = map(_work, jobs)
        pool = None
    else:
        pool = process_pool(workers)  # workers die with this process, even by kill -9
        results = pool.map(_work, jobs, chunksize=max(1, len(jobs) // (workers * 16)))
    pieces: list[dict] = []
    rejected: list[dict] = []
    warnings: list[str] = []
    try:
        for row, (status, value) in tqdm(zip(rows, results), total=len(rows), desc=f"prepare {track}",
                                         unit="file", disable=not progress):
            if status == "ok":
                for piece in value:
                    if "warning" in piece:  # kept, with something the user should know (said here, not in a worker)
                        warnings.append(f"{row['source_file']}: {one_line(piece.pop('warning'))}")
                    piece["split"] = row.get("split", "") or ""
                    piece["source_file"] = row["source_file"]
                    pieces.append(piece)
            else:
                reason, message = value
                rejected.append({"id": row["id"], "source_file": row["source_file"],
                                 "reason": reason, "message": one_line(message)})
    finally:
        if pool is not None:
            pool.shutdown()
    seconds = time.perf_counter() - start
    reasons = Counter(r["reason"] for r in rejected)
    stats = {
        "files_read": len(rows),
        "pieces_kept": len(pieces),
        "files_rejected": len(rejected),
        "rejected_by_reason": dict(sorted(reasons.items())),
    }  # no timings: the counts are a committed DVC metric, which changes only when the result does
    for warning in warnings:
        log.warning("prepare %s: %s", track, warning)
    if warnings:
        stats["kept_with_warnings"] = len(warnings)
    log.info("prepare %s: %d files -> %d pieces kept, %d rejected %s in %.1f s (%.1f files/s)", track, len(rows),
             len(pieces), len(rejected), dict(reasons), seconds, len(rows) / seconds if seconds > 0 else 0.0)
    return pieces, pd.DataFrame(rejected, columns=REJECTED_COLUMNS), stats


