"""How memory and time grow with the corpus: the vocab, train, generate and evaluate stages on an
Essen corpus scaled to 0.5M and 5M training tokens, each stage's peak RSS from ``/usr/bin/time -v``.

A corpus of 5M training tokens is what a user's MIDI folder of a thousand tunes gives. The
scaled corpus is ``data/encoded/essen`` with every piece of every split also transposed by
``-k .. +k`` semitones (distinct n-grams, as a larger corpus has, not copies), so train,
validation and test grow together. Each stage runs as the pipeline runs it (``stages/<stage>.py``
in a fresh process) with params.yaml's essen params, except the train stage runs ``--epochs``
epochs (1 by default: time per epoch is the figure; a full run is that times
``train.essen.epochs``). prepare and encode are not timed: they read files one by one
(`tunesmith.core.workers`), linear in the files and bounded by the largest one.

    .venv/bin/python bench/bench_scale.py --tokens 0.5e6 5e6
    .venv/bin/python bench/bench_scale.py --tokens 0.5e6 5e6 --stages evaluate   # after a change

Prints a table (stage, peak RSS, wall seconds per scale); ``<out>/scale.json`` keeps it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SPLITS = ("train", "validation", "test")
STAGES = ("vocab", "train", "generate", "evaluate")


def _shift(symbol: str, k: int) -> str:
    parts = symbol.split(".")
    if all(p.isdigit() for p in parts):
        return ".".join(str(int(p) + k) for p in parts)
    return symbol


def scaled_corpus(encoded: Path, shifts: list[int], out: Path) -> int:
    """``encoded`` with each piece also transposed by each of ``shifts``; returns the train symbols."""
    from tunesmith.core import io

    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for split in SPLITS:
        pieces = io.read_jsonl(encoded / f"{split}.jsonl")
        rows = [{**p, "id": f"{p['id']}@{k:+d}", "symbols": [_shift(s, k) for s in p["symbols"]]}
                for k in shifts for p in pieces]
        io.write_jsonl(out / f"{split}.jsonl", rows)
        if split == "train":
            total = sum(len(r["symbols"]) + 1 for r in rows)
    io.write_json(out / "meta.json", io.read_json(encoded / "meta.json"))
    return total


def timed(cmd: list[str], cwd: Path) -> dict[str, float]:
    """Run ``cmd`` under ``/usr/bin/time -v``: its peak RSS (MiB) and wall seconds."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return {"peak_mib": rss_kib / 1024, "seconds": wall}


def run_scale(tokens: float, args: argparse.Namespace) -> dict:
    from tunesmith.core import io

    base = sum(len(p["symbols"]) + 1 for p in io.read_jsonl(args.encoded / "train.jsonl"))
    copies = max(1, round(tokens / base))
    shifts = sorted(range(-(copies // 2), copies - copies // 2), key=abs)[:copies]
    work = args.out / f"{tokens:g}"
    if set(args.stages) != set(STAGES) and (work / "encoded" / "meta.json").is_file():
        train_symbols = sum(len(p["symbols"]) + 1 for p in io.read_jsonl(work / "encoded" / "train.jsonl"))
    else:
        train_symbols = scaled_corpus(args.encoded, shifts, work / "encoded")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["essen"].update(epochs=args.epochs, average_epochs=0)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    py, st = sys.executable, REPO / "stages"
    common = ["--corpus", "essen", "--params", str(work / "params.yaml")]
    stages = {
        "vocab": [py, str(st / "vocab.py"), *common, "--encoded", "encoded", "--out", "vocab",
                  "--metrics", "metrics/vocab.json"],
        "train": [py, str(st / "train.py"), *common, "--vocab", "vocab", "--out", "model", "--live", "live",
                  "--metrics", "metrics/train.json"],
        "generate": [py, str(st / "generate.py"), *common, "--model", "model", "--test", "encoded/test.jsonl",
                     "--out", "samples"],
        "evaluate": [py, str(st / "evaluate.py"), *common, "--model", "model", "--vocab", "vocab",
                     "--encoded", "encoded", "--samples", "samples", "--live", "live", "--out", "eval",
                     "--metrics", "metrics/evaluate.json"],
    }
    row = {"tokens": train_symbols, "transpositions": len(shifts)}
    for name, cmd in stages.items():
        if name not in args.stages:
            continue
        row[name] = timed(cmd, work)
        print(f"{tokens:g}: {name}: {row[name]['peak_mib']:.0f} MiB, {row[name]['seconds']:.0f} s", flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoded", type=Path, default=REPO / "data/encoded/essen", help="encode's folder for essen")
    p.add_argument("--tokens", type=float, nargs="+", default=[0.5e6, 5e6], help="training tokens to scale to")
    p.add_argument("--epochs", type=int, default=1, help="epochs the train stage runs")
    p.add_argument("--out", type=Path, default=REPO / "bench/out/scale", help="scratch and results")
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES),
                   help="the stages to run (others keep their figures from <out>/scale.json: rerun one "
                        "stage after a change)")
    args = p.parse_args()
    previous = {r["tokens"]: r for r in json.loads((args.out / "scale.json").read_text())} \
        if (args.out / "scale.json").is_file() else {}
    rows = []
    for t in args.tokens:
        row = run_scale(t, args)
        rows.append({**previous.get(row["tokens"], {}), **row})
    (args.out / "scale.json").write_text(json.dumps(rows, indent=2) + "\n")
    names = STAGES
    print("| training tokens | " + " | ".join(f"{n}: peak, time" for n in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for r in rows:
        print(f"| {r['tokens'] / 1e6:.2f}M | "
              + " | ".join(f"{r[n]['peak_mib']:,.0f} MiB, {r[n]['seconds']:.0f} s" for n in names) + " |")


if __name__ == "__main__":
    main()
