"""The vocab stage."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tunesmith.data.vocab import build_vocab, coverage


def vocab_stage(encoded_dir: Path, out_dir: Path, metrics: Path, min_count: int) -> None:
    """The vocab stage: encode's splits -> ``out_dir`` with ``vocab.json`` (built from the training
    split, with each split's coverage) and ``{train,validation,test}.npy`` token ids; size, tokens,
    coverage and the count of ``<unk>`` symbols to ``metrics``."""
    from tunesmith.config.stages import SPLITS
    from tunesmith.core import io
    from tunesmith.tracks import get_track

    encoded_dir, out_dir = Path(encoded_dir), Path(out_dir)
    meta = io.read_json(encoded_dir / "meta.json")
    splits = {s: [piece["symbols"] for piece in io.read_jsonl(encoded_dir / f"{s}.jsonl")] for s in SPLITS}
    always = get_track(meta["corpus"]).closed_symbols(meta.get("encode", {}))
    vocab = build_vocab(splits["train"], end=meta["end"], min_count=min_count,
                        meta={**meta, "min_count": min_count}, always=always)
    cover = {s: round(coverage(vocab, pieces), 6) for s, pieces in splits.items()}
    vocab = replace(vocab, meta={**vocab.meta, "coverage": cover})  # the same symbols: built once
    ids = {s: vocab.corpus_ids(pieces) for s, pieces in splits.items()}
    with io.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        io.write_json(tmp / "vocab.json", vocab.to_json())
        for split, array in ids.items():
            io.write_npy(tmp / f"{split}.npy", array)
    io.write_json(metrics, {
        "size": len(vocab),
        "tokens": {s: int(a.size) for s, a in ids.items()},
        "coverage": cover,
        "unk_symbols": sum(1 for s, c in vocab.counts.items() if c < min_count),
    })
