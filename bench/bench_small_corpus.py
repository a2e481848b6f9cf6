"""Does the default recipe hold on a small corpus of your own? Essen subsets, 3 seeds each.

A user's first corpus is often a few hundred songs. For each size N this takes N songs of the
encoded Essen corpus (``data/encoded/essen``: 80% drawn from its training split, 10% from
validation, 10% from test, so versions of one tune stay in one split as encode grouped them),
builds their vocabulary, trains ``train.essen`` (params.yaml, the defaults otherwise: the rows of
carried state fit to ``max_padding``) once per seed and scores each on the subset's test split
exactly as ``make noise`` does: LSTM + cache against the best n-gram with its own cache (order
chosen on the subset's validation split). Resumable: a finished seed is not trained again.

    .venv/bin/python bench/bench_small_corpus.py --sizes 150 207 400 --seeds 0 1 2
    .venv/bin/python bench/bench_small_corpus.py --sizes 207 --max-padding 1 --out bench/out/small_before

Writes ``<out>/<N>/seeds.json`` per size and ``<out>/small_corpus.json``; prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

SHARES = {"train": 0.8, "validation": 0.1, "test": 0.1}


def subset(encoded: Path, n: int, out: Path) -> dict[str, int]:
    """``n`` songs of ``encoded`` into ``out`` (train/validation/test.jsonl and meta.json)."""
    from tunesmith.core import io

    rng = np.random.default_rng(n)
    counts = {"validation": round(n * SHARES["validation"]), "test": round(n * SHARES["test"])}
    counts["train"] = n - counts["validation"] - counts["test"]
    out.mkdir(parents=True, exist_ok=True)
    for split, k in counts.items():
        pieces = list(io.read_jsonl(encoded / f"{split}.jsonl"))
        if k > len(pieces):
            raise SystemExit(f"{encoded / f'{split}.jsonl'} has {len(pieces)} pieces, fewer than {k}")
        keep = sorted(rng.choice(len(pieces), size=k, replace=False))
        io.write_jsonl(out / f"{split}.jsonl", [pieces[i] for i in keep])
    io.write_json(out / "meta.json", io.read_json(encoded / "meta.json"))
    return counts


def run_size(n: int, args: argparse.Namespace, params: dict) -> dict:
    from tunesmith.core import io
    from tunesmith.pipeline.seeds import seeds_stage
    from tunesmith.pipeline.vocab import vocab_stage

    work = args.out / str(n)
    counts = subset(args.encoded, n, work / "encoded")
    vocab_stage(work / "encoded", work / "vocab", work / "vocab.json", params["vocab"]["essen"]["min_count"])
    record = seeds_stage("essen", params["train"]["essen"], args.seeds, params["evaluate"]["essen"]["ngram_order"],
                         work / "vocab", work / "seeds", work / "seeds.json")
    rows = [io.read_json(work / "seeds" / f"seed-{s}" / "metrics.json").get("rows") or {} for s in args.seeds]
    fig = record["figures"]
    return {
        "songs": n, "split": counts,
        "train_tokens": int(np.load(work / "vocab" / "train.npy").size),
        "rows": sorted({r.get("used") for r in rows}), "padding_share": max(r.get("padding_share", 0) for r in rows),
        "lstm_cache": [fig["test_nll"]["mean"], fig["test_nll"]["sd"], fig["test_nll"]["n"]],
        "lstm_alone": [fig["test_nll_no_cache"]["mean"], fig["test_nll_no_cache"]["sd"]],
        "ngram": record["baselines"],
        "margin_with_cache": [fig["margin_vs_best_ngram_with_cache"]["mean"],
                              fig["margin_vs_best_ngram_with_cache"]["sd"]],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoded", type=Path, default=Path("data/encoded/essen"), help="encode's folder for essen")
    p.add_argument("--sizes", type=int, nargs="+", default=[150, 207, 400])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=Path("bench/out/small_corpus"), help="scratch and results")
    p.add_argument("--max-padding", type=float, default=None,
                   help="train.essen.max_padding for this run (1 = always batch_size rows, as before it existed)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from tunesmith.config.load import load_params

    params = load_params("params.yaml")
    if args.max_padding is not None:
        params["train"]["essen"]["max_padding"] = args.max_padding
    results = [run_size(n, args, params) for n in args.sizes]
    (args.out / "small_corpus.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| songs (train/val/test) | train tokens | rows | padding | LSTM + cache | LSTM alone "
          "| best n-gram + cache | margin (with caches) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s = r["split"]
        print(f"| {r['songs']} ({s['train']}/{s['validation']}/{s['test']}) | {r['train_tokens']:,} "
              f"| {'/'.join(map(str, r['rows']))} | {100 * r['padding_share']:.1f}% "
              f"| {r['lstm_cache'][0]:.3f} ± {r['lstm_cache'][1]:.3f} (n={r['lstm_cache'][2]}) "
              f"| {r['lstm_alone'][0]:.3f} ± {r['lstm_alone'][1]:.3f} "
              f"| {r['ngram']['nll_with_cache']:.3f} ({r['ngram']['name']}) "
              f"| {100 * r['margin_with_cache'][0]:+.1f}% ± {100 * r['margin_with_cache'][1]:.1f} |")


if __name__ == "__main__":
    main()
