"""The encode stage: prepared pieces -> each split's symbols and the counts."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from tunesmith.config.stages import SPLITS, EncodeConfig
from tunesmith.core import io
from tunesmith.core.errors import ArtifactError
from tunesmith.data.encode import check_splits, encode_corpus
from tunesmith.tracks import get_track


def encode_stage(track: str, prepared_dir: Path, out_dir: Path, metrics: Path, cfg: EncodeConfig) -> None:
    """The encode stage: prepare's ``pieces.jsonl`` -> ``out_dir`` with ``{train,validation,test}.jsonl``
    (``{"id", "title", "symbols"}`` per line), ``split.csv``, ``rejected.csv`` and ``meta.json``
    (what decoding needs: representation, end token, the prepare and encode options); counts to
    ``metrics``.

    Raises:
        ArtifactError: no prepared piece, or a split too small to train on (see :func:`check_splits`).
    """
    prepared_dir, out_dir = Path(prepared_dir), Path(out_dir)
    pieces = io.read_jsonl(prepared_dir / "pieces.jsonl")
    prepared_meta = io.read_json(prepared_dir / "meta.json")
    if not pieces:
        raise ArtifactError(f"{prepared_dir / 'pieces.jsonl'} holds no pieces: nothing to encode; "
                            f"see {prepared_dir / 'rejected.csv'}")
    try:
        by_split, rejected, stats = encode_corpus(track, pieces, cfg)
    except ArtifactError as exc:
        raise ArtifactError(f"{prepared_dir}/{exc}") from exc
    check_splits(by_split, len(pieces), cfg, where=f"encode.{track}")
    corpus = get_track(track)
    with io.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for split in SPLITS:
            io.write_jsonl(tmp / f"{split}.jsonl", by_split[split])
        io.write_csv(tmp / "split.csv", pd.DataFrame(
            [{"id": p["id"], "split": s} for s in SPLITS for p in by_split[s]]).sort_values("id"))
        io.write_csv(tmp / "rejected.csv", rejected)
        io.write_json(tmp / "meta.json", {
            "corpus": corpus.name,
            "kind": corpus.kind,
            "representation": corpus.representation(cfg),
            "end": corpus.end,
            "prepare": prepared_meta["prepare"],
            "encode": asdict(cfg),
        })
    io.write_json(metrics, stats)
