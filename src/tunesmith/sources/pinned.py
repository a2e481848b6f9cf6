"""The ``download`` source: the canonical corpus at a pinned commit, every file verified
against a manifest shipped with tunesmith (`tunesmith.sources.manifest`), cached,
optionally from a mirror, then collected into pieces as the local source does."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from tunesmith.core.io import atomic_path
from tunesmith.sources.download import fetch_manifest_files
from tunesmith.sources.local import _collect_files, _music_files
from tunesmith.sources.manifest import Manifest
from tunesmith.sources.pieces import _Collector

logger = logging.getLogger(__name__)


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
