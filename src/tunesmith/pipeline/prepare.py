"""The prepare stage: a corpus's raw files -> prepared pieces, the rejected files and the counts."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from tunesmith.config.stages import PrepareConfig
from tunesmith.core import io
from tunesmith.core.errors import ArtifactError
from tunesmith.data.prepare import prepare_corpus


def prepare_stage(track: str, raw_dir: Path, out_dir: Path, metrics: Path, cfg: PrepareConfig) -> None:
    """The prepare stage: ``raw_dir`` (fetch's folder) -> ``out_dir`` with ``pieces.jsonl``,
    ``rejected.csv`` (fetch's rejections too: nothing is lost silently) and ``meta.json``; the
    counts to ``metrics``.

    Raises:
        ArtifactError: fetch's manifest is missing; or, after writing, no piece could be used
            (the message points at ``rejected.csv``).
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not (raw_dir / "manifest.csv").is_file():
        raise ArtifactError(f"{raw_dir / 'manifest.csv'} not found: run the fetch stage first")
    manifest = io.read_csv(raw_dir / "manifest.csv", dtype=str, keep_default_na=False)
    pieces, rejected, stats = prepare_corpus(track, raw_dir, manifest, cfg)
    fetch_rejected = raw_dir / "rejected.csv"
    n_inputs = len(manifest)
    if fetch_rejected.exists():
        earlier = io.read_csv(fetch_rejected, dtype=str, keep_default_na=False)
        n_inputs += len(earlier)
        if len(earlier):
            rejected = pd.concat([earlier.assign(stage="fetch"), rejected.assign(stage="prepare")])
    with io.atomic_path(out_dir, owned_if=("pieces.jsonl",)) as tmp:
        tmp.mkdir()
        io.write_jsonl(tmp / "pieces.jsonl", pieces, sort_keys=True)
        io.write_csv(tmp / "rejected.csv", rejected)
        io.write_json(tmp / "meta.json", {"corpus": track, "prepare": asdict(cfg)})
    io.write_json(metrics, stats)
    if not pieces:
        raise ArtifactError(f"0 of {n_inputs} files in {raw_dir} could be used: see {out_dir / 'rejected.csv'}")
