"""encode@<corpus>: symbols per piece, split by piece into train/validation/test.

Writes {train,validation,test}.jsonl ({"id", "title", "symbols"} per line),
split.csv, rejected.csv and meta.json to --out; counts to --metrics.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from tunesmith import io
from tunesmith.config import EncodeConfig, build, section
from tunesmith.encoding import SPLITS, check_splits, encode_corpus
from tunesmith.errors import ArtifactError
from tunesmith.stage import parser, run
from tunesmith.tracks import get_track


def main(args, params: dict) -> None:
    key = f"encode.{args.corpus}"
    cfg = build(EncodeConfig, section(params, key), key)
    pieces = io.read_jsonl(args.prepared / "pieces.jsonl")
    prepared_meta = io.read_json(args.prepared / "meta.json")
    if not pieces:
        raise ArtifactError(f"{args.prepared / 'pieces.jsonl'} holds no pieces: nothing to encode; "
                            f"see {args.prepared / 'rejected.csv'}")
    by_split, rejected, stats = encode_corpus(args.corpus, pieces, cfg)
    check_splits(by_split, len(pieces), cfg, where=f"encode.{args.corpus}")
    with io.atomic_path(args.out) as tmp:
        tmp.mkdir()
        for split in SPLITS:
            with open(tmp / f"{split}.jsonl", "w", encoding="utf-8", newline="\n") as fh:
                for piece in by_split[split]:
                    fh.write(json.dumps(piece, ensure_ascii=False) + "\n")
        pd.DataFrame([{"id": p["id"], "split": s} for s in SPLITS for p in by_split[s]]).sort_values(
            "id").to_csv(tmp / "split.csv", index=False, lineterminator="\n")
        rejected.to_csv(tmp / "rejected.csv", index=False, lineterminator="\n")
        io.write_json(tmp / "meta.json", {
            "corpus": args.corpus,
            "representation": get_track(args.corpus).representation(cfg),
            "end": get_track(args.corpus).end,
            "prepare": prepared_meta["prepare"],
            "encode": asdict(cfg),
        })
    io.write_json(args.metrics, stats)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--prepared", type=Path, required=True, help="the prepare stage's folder")
    p.add_argument("--out", type=Path, required=True, help="encoded folder to write")
    p.add_argument("--metrics", type=Path, required=True, help="pieces and symbols per split (JSON)")
    run(main, p.parse_args())
