"""prepare@<corpus>: parse, filter and transpose the raw pieces.

Writes pieces.jsonl, rejected.csv and meta.json to --out and the counts to --metrics.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from tunesmith import io
from tunesmith.config import PrepareConfig, build, section
from tunesmith.errors import ArtifactError
from tunesmith.prepare import prepare_corpus
from tunesmith.stage import parser, run


def main(args, params: dict) -> None:
    key = f"prepare.{args.corpus}"
    cfg = build(PrepareConfig, section(params, key), key)
    if not (args.raw / "manifest.csv").is_file():
        raise ArtifactError(f"{args.raw / 'manifest.csv'} not found: run the fetch stage first")
    manifest = pd.read_csv(args.raw / "manifest.csv", dtype=str, keep_default_na=False)
    pieces, rejected, stats = prepare_corpus(args.corpus, args.raw, manifest, cfg)
    fetch_rejected = args.raw / "rejected.csv"
    n_inputs = len(manifest)
    if fetch_rejected.exists():  # pieces fetch could not write are listed too: nothing is lost silently
        earlier = pd.read_csv(fetch_rejected, dtype=str, keep_default_na=False)
        n_inputs += len(earlier)
        if len(earlier):
            rejected = pd.concat([earlier.assign(stage="fetch"), rejected.assign(stage="prepare")])
    with io.atomic_path(args.out, owned_if=("pieces.jsonl",)) as tmp:
        tmp.mkdir()
        with open(tmp / "pieces.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            for piece in pieces:
                fh.write(json.dumps(piece, ensure_ascii=False, sort_keys=True) + "\n")
        rejected.to_csv(tmp / "rejected.csv", index=False, lineterminator="\n")
        io.write_json(tmp / "meta.json", {"corpus": args.corpus, "prepare": asdict(cfg)})
    io.write_json(args.metrics, stats)
    if not pieces:
        raise ArtifactError(f"0 of {n_inputs} files in {args.raw} could be used: "
                            f"see {args.out / 'rejected.csv'}")


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--raw", type=Path, required=True, help="the fetch stage's folder")
    p.add_argument("--out", type=Path, required=True, help="prepared folder to write")
    p.add_argument("--metrics", type=Path, required=True, help="counts and files/s (JSON)")
    run(main, p.parse_args())
