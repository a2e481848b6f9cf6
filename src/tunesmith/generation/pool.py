"""The judging pool: samples generated like the rendered ones, but more of them and not rendered,
for the evaluate stage's two-sample test (``generate.<c>.judge_samples``, ``pool.jsonl``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from tunesmith.generation.primers import primer_symbols, symbol_ids
from tunesmith.tracks.base import Track

POOL = "pool.jsonl"
"""The pool's file in a samples folder: one JSON line per sample, ``{"symbols": [...], "primer": k}``."""
SEED_OFFSET = 100_000
"""The pool's seeds start here past ``generate.<c>.seed``, so its draws never repeat the rendered samples'."""


def judge_pool(cfg, vocab: dict, music: Track, sample: Callable[[Sequence[int], int, int], list[list[int]]], *,
               test_pieces: Path | None) -> list[dict]:
    """``cfg.judge_samples`` samples (primer included, end token dropped) from ``sample(primer_ids, n,
    seed)``, the generate stage's own sampling with its own primer mode, bars and sampler; the primers
    are drawn like the rendered samples' with the pool's seed. Primers of one length are one batch.
    ``sample`` takes a shared primer or one primer per sample."""
    if not cfg.judge_samples:
        return []
    pool_cfg = replace(cfg, num_samples=cfg.judge_samples, seed=cfg.seed + SEED_OFFSET)
    primers = primer_symbols(pool_cfg, vocab, test_pieces=test_pieces, track=music)
    symbols = list(vocab["symbols"])
    end = vocab["special"]["end"]
    ids = [symbol_ids(primer, symbols, end, allow_unk=True) for primer in primers]
    groups: dict[int, list[int]] = {}  # primers of one length are one batch, each row its own primer
    for i, row in enumerate(ids):
        groups.setdefault(len(row), []).append(i)
    out: list[dict] = [{} for _ in primers]
    for g, members in enumerate(groups.values()):
        for m, new in zip(members, sample([ids[m] for m in members], len(members), pool_cfg.seed + g)):
            out[m] = {"symbols": [*primers[m], *(symbols[t] for t in new if symbols[t] != end)],
                      "primer": len(primers[m])}
    return out


REAL_DIR = "real"
"""The subfolder of a samples folder holding real test pieces rendered exactly like the samples."""


def write_real_pieces(track: str, music: Track, vocab: dict, cfg, out_dir: Path, test_pieces: Path | None,
                      count: int) -> None:
    """Render ``count`` real test pieces (a seeded draw) into ``out_dir/real/`` as the samples are
    rendered (music files, audio, score, piano roll, ``samples.csv``, ``samples.jsonl``), so a
    listener hears and reads the real thing beside the model's. Nothing when there is no test split."""
    import random

    import pandas as pd

    from tunesmith.core.sample_record import SampleRecord, write_records
    from tunesmith.generation.music_files import write_sample

    if not count or test_pieces is None or not test_pieces.is_file():
        return
    pieces = read_pieces(test_pieces)
    chosen = sorted(random.Random(cfg.seed).sample(range(len(pieces)), min(count, len(pieces))))
    folder = out_dir / REAL_DIR
    folder.mkdir()
    rows = []
    for k, i in enumerate(chosen):
        piece = pieces[i]
        stem = folder / f"real_{k:03d}"
        info = write_sample(track, piece["symbols"], vocab, stem, title=str(piece.get("title") or piece["id"]))
        (folder / f"{stem.name}.txt").write_text(music.sample_text(piece["symbols"]), encoding="utf-8")
        rows.append({"sample": stem.name, "title": str(piece.get("title") or ""), "piece": str(piece.get("id")),
                     "notes": info["notes"], "decoded": info["decoded"], "error": info["error"]})
    table = pd.DataFrame(rows)
    table.to_csv(folder / "samples.csv", index=False, lineterminator="\n")
    if cfg.render:
        from tunesmith.render.sample_set import render_samples

        records = render_samples(folder, folder, max_seconds=cfg.render_seconds, scores=music.scores,
                                 keep_wav=cfg.keep_wav)
    else:
        records = [SampleRecord.found(folder, str(r["sample"]), {k: v for k, v in r.items() if k != "sample"},
                                      str(r.get("error") or "")) for r in rows]
    write_records(folder, records)


def read_pieces(path: Path) -> list[dict]:
    """The encoded pieces of a split file (``id``, ``title``, ``symbols``), each line parsed with limits.

    Raises:
        ArtifactError: a line that is no encoded piece, naming the file and line.
    """
    from tunesmith.core.errors import ArtifactError
    from tunesmith.core.safe_json import parse_json_bounded

    pieces = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            piece = parse_json_bounded(line, f"{path}, line {number}")
            if not isinstance(piece, dict) or not isinstance(piece.get("symbols"), list):
                raise ArtifactError(f"{path}, line {number}: not an encoded piece (no list of 'symbols')")
            pieces.append(piece)
    return pieces
