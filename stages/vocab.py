"""vocab@<corpus>: vocab.json from the training split, and {train,validation,test}.npy token ids."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from tunesmith import io
from tunesmith.config import VocabConfig, build, section
from tunesmith.encoding import SPLITS
from tunesmith.stage import parser, run
from tunesmith.vocab import build_vocab, coverage


def _pieces(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)["symbols"] for line in fh]


def main(args, params: dict) -> None:
    key = f"vocab.{args.corpus}"
    cfg = build(VocabConfig, section(params, key), key)
    meta = io.read_json(args.encoded / "meta.json")
    splits = {s: _pieces(args.encoded / f"{s}.jsonl") for s in SPLITS}
    always: tuple[str, ...] = ()
    if meta.get("encode", {}).get("representation") == "notes":
        from tunesmith.representations.notes_per_frame import SYMBOLS as always
    vocab = build_vocab(splits["train"], end=meta["end"], min_count=cfg.min_count,
                        meta={**meta, "min_count": cfg.min_count}, always=always)
    cover = {s: round(coverage(vocab, pieces), 6) for s, pieces in splits.items()}
    vocab = replace(vocab, meta={**vocab.meta, "coverage": cover})  # the same symbols: built once
    ids = {s: vocab.corpus_ids(pieces) for s, pieces in splits.items()}
    with io.atomic_path(args.out) as tmp:
        tmp.mkdir()
        io.write_json(tmp / "vocab.json", vocab.to_json())
        for split, array in ids.items():
            io.write_npy(tmp / f"{split}.npy", array)
    io.write_json(args.metrics, {
        "size": len(vocab),
        "tokens": {s: int(a.size) for s, a in ids.items()},
        "coverage": cover,
        "unk_symbols": sum(1 for s, c in vocab.counts.items() if c < cfg.min_count),
    })


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--encoded", type=Path, required=True, help="the encode stage's folder")
    p.add_argument("--out", type=Path, required=True, help="vocab folder to write")
    p.add_argument("--metrics", type=Path, required=True, help="size, tokens and coverage (JSON)")
    run(main, p.parse_args())
