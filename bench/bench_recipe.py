"""A candidate training recipe for one track, k seeds, scored exactly as ``make noise`` scores.

Choosing a default means comparing recipes on the mean of several seeds on validation (never
test). This trains ``train.<corpus>`` from params.yaml with the keys of ``--set`` replaced, once
per seed, into ``<out>/<name>/seed-<s>/`` (resumable: a finished seed is not trained again) and
writes ``<out>/<name>/seeds.json`` (`tunesmith.pipeline.seeds.seeds_stage`: each seed's
validation and test figures, mean, sd, n). The table it prints puts validation first.

    .venv/bin/python bench/bench_recipe.py classical --name drop3 --set "model: {dropout: 0.3}"
    .venv/bin/python bench/bench_recipe.py classical --name base      # the current recipe

A seed folder trained here under the current params and code holds a finished run for ``make noise``
too: copying ``<out>/<name>/seed-<s>/checkpoints`` to ``.cache/checkpoints/seeds/<corpus>/seed-<s>``
lets ``seed@<corpus>-<s>`` rebuild its model folder without training.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import yaml


def merged(recipe: dict, changes: dict) -> dict:
    """``recipe`` with ``changes`` applied; a ``model`` mapping is merged key by key."""
    out = dict(recipe)
    for key, value in changes.items():
        if key == "model" and isinstance(value, dict):
            out["model"] = {**out.get("model", {}), **value}
        else:
            out[key] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--name", required=True, help="the candidate's folder under --out")
    ap.add_argument("--set", default="{}", help="YAML mapping of train.<corpus> keys to replace")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, default=Path("bench/out/recipe"))
    ap.add_argument("--vocab", type=Path, default=None,
                    help="the vocab stage's folder to train on (default data/vocab/<corpus>): another encoding")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")

    from tunesmith.config.load import build, section
    from tunesmith.config.stages import EvaluateConfig
    from tunesmith.pipeline.seeds import seeds_stage

    params = yaml.safe_load(args.params.read_text())
    try:
        changes = yaml.safe_load(args.set) or {}
    except yaml.YAMLError as exc:
        raise SystemExit(f"--set is not YAML: {args.set!r}: {str(exc).splitlines()[0]}") from None
    if not isinstance(changes, dict):
        raise SystemExit(f"--set must be a YAML mapping, got {args.set!r}")
    recipe = merged(section(params, f"train.{args.corpus}"), changes)
    key = f"evaluate.{args.corpus}"
    evaluate = build(EvaluateConfig, section(params, key), key)
    out = args.out / args.corpus / args.name
    record = seeds_stage(args.corpus, recipe, args.seeds, evaluate.ngram_order,
                         args.vocab or Path(f"data/vocab/{args.corpus}"), out, out / "seeds.json")
    print(f"\n{args.corpus} {args.name} {changes}")
    for name in ("val_nll", "test_nll", "test_nll_no_cache"):
        fig = record["figures"][name]
        print(f"  {name:18s} {fig['mean']:.4f} +- {fig['sd']:.4f} ({100 * fig['sd'] / fig['mean']:.2f}%, n={fig['n']})"
              f"  per seed {' '.join(f'{v:.4f}' for v in fig['values'])}")


if __name__ == "__main__":
    main()
