"""The fetch stage's work: one corpus from the source its params name, with its tables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tunesmith.core import io
from tunesmith.core.errors import ArtifactError
from tunesmith.sources.bundled import fetch_bundled
from tunesmith.sources.local import fetch_local
from tunesmith.sources.manifest import packaged_manifest
from tunesmith.sources.pinned import fetch_download

if TYPE_CHECKING:
    from tunesmith.config.stages import FetchConfig


def fetch_stage(corpus: str, cfg: FetchConfig, out: Path, *, cache_dir: Path, key: str) -> pd.DataFrame:
    """Write ``out`` (raw pieces, ``manifest.csv``, ``rejected.csv``) from ``cfg.source``:
    ``bundled``, ``download`` (the packaged manifest of ``corpus``, cached in ``cache_dir``)
    or ``local``. ``key`` is the params key, named in errors. Returns the manifest.

    Raises:
        ArtifactError: not one piece could be used (see ``rejected.csv``).
    """
    if cfg.source == "bundled":
        manifest, rejected = fetch_bundled(corpus, out, collections=cfg.collections, rhythms=cfg.rhythms,
                                           max_pieces=cfg.max_pieces, workers=cfg.workers)
    elif cfg.source == "download":
        manifest, rejected = fetch_download(corpus, packaged_manifest(corpus), out, cache_dir=cache_dir,
                                            mirror=cfg.mirror, subsets=cfg.subsets, method=cfg.method,
                                            subsets_key=f"{key}.subsets")
    else:
        manifest, rejected = fetch_local(corpus, Path(cfg.local_dir).expanduser(), out, rhythms=cfg.rhythms,
                                         max_pieces=cfg.max_pieces, include=cfg.include, exclude=cfg.exclude,
                                         same_name=cfg.same_name)
    io.write_csv(out / "manifest.csv", manifest)
    io.write_csv(out / "rejected.csv", rejected)
    if manifest.empty:
        raise ArtifactError(f"0 of {len(rejected)} pieces of {corpus} could be used: see {out / 'rejected.csv'}")
    return manifest
