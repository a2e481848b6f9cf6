"""Samples judged against real pieces of a split, for choosing models and generation settings.

Generates ``--num`` samples from a model folder with the track's ``generate.<c>`` params (keys of
``--set`` replaced), then sets them beside as many real pieces of ``--split`` (default validation:
selection never looks at test) as the evaluate stage does: the form statistics and the two-sample
classifier's accuracy (`tunesmith.evaluation.judge`). Prints one table; ``--json`` writes the record.

    .venv/bin/python bench/bench_form.py nottingham --model data/models/nottingham
    .venv/bin/python bench/bench_form.py nottingham --model data/models/nottingham --set "max_bars: 48"

``--pool`` keeps the samples (the generate stage's ``pool.jsonl``) for reading or further analysis.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
from pathlib import Path

import yaml


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--model", type=Path, required=True, help="a train stage's model folder")
    ap.add_argument("--num", type=int, default=64, help="samples (and real pieces at most)")
    ap.add_argument("--split", default="validation", choices=("validation", "test"))
    ap.add_argument("--encoded", type=Path, default=None, help="the encode stage's folder (default data/encoded/<c>)")
    ap.add_argument("--set", default="{}", help="YAML mapping of generate.<corpus> keys to replace")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--json", type=Path, default=None, help="write the whole record here")
    ap.add_argument("--pool", type=Path, default=None, help="keep the samples' symbols here (JSON lines)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from tunesmith.config.load import build, section
    from tunesmith.config.stages import GenerateConfig
    from tunesmith.core import io
    from tunesmith.evaluation.judge import judge
    from tunesmith.generation.pool import POOL, read_pieces
    from tunesmith.generation.samples import generate_samples
    from tunesmith.tracks import get_track

    params = yaml.safe_load(args.params.read_text())
    key = f"generate.{args.corpus}"
    settings = {**section(params, key), **(yaml.safe_load(args.set) or {}),
                "num_samples": 1, "render": False, "judge_samples": args.num, "real_pieces": 0}
    cfg = build(GenerateConfig, settings, key)
    encoded = args.encoded or Path(f"data/encoded/{args.corpus}")
    with tempfile.TemporaryDirectory() as tmp:
        # primer mode "test" opens with real pieces of the split judged against (openings: train)
        generate_samples(args.corpus, args.model, cfg, Path(tmp) / "out", test_pieces=encoded / f"{args.split}.jsonl")
        pool = [line["symbols"] for line in io.read_jsonl(Path(tmp) / "out" / POOL)]
        if args.pool:
            args.pool.write_bytes((Path(tmp) / "out" / POOL).read_bytes())
    real = [p["symbols"] for p in read_pieces(encoded / f"{args.split}.jsonl")]
    real = random.Random(0).sample(real, min(len(pool), len(real)))
    vocab = io.read_json(args.model / "vocab.json")
    record = judge(get_track(args.corpus), pool, real, vocab)
    test = record["two_sample"]
    print(f"{args.corpus} {args.set}: two-sample accuracy {test['accuracy']:.3f} +- {test['sd']:.3f} "
          f"(n={test['n_per_side']} a side, {test.get('groups', 1)} group(s) of the larger side; {args.split}; "
          f"{test['undecoded_samples']} undecoded)")
    for stat in record["form"]["samples"]:
        g, r = record["form"]["samples"][stat], record["form"]["real"].get(stat, {})
        print(f"  {stat:18s} samples {g['mean']:7.3f} +- {g['sd']:.3f}   real {r.get('mean', float('nan')):7.3f}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
