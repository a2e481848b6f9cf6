"""bl_pooled: one LSTM over notes per frame trained on the four training sets pooled, scored on each test set
(off unless benchmark.pooled.enabled is true: then it only records that it did not run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.core import io
from tunesmith.pipeline.common import run


def main(args, params: dict) -> None:
    from tunesmith.benchmark import BENCHMARKS
    from tunesmith.benchmark.pooled import run_pooled
    from tunesmith.benchmark.settings import PooledConfig
    from tunesmith.config.load import build, section

    cfg = build(PooledConfig, section(params, "benchmark.pooled"), "benchmark.pooled")
    encoded = {name: args.encoded / name for name in BENCHMARKS}
    io.write_json(args.metrics, run_pooled(encoded, cfg, args.out, args.live))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="the params file")
    p.add_argument("--encoded", type=Path, required=True, help="the folder holding each set's bl_encode folder")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--live", type=Path, default=None, help="DVCLive folder (default: none)")
    p.add_argument("--metrics", type=Path, required=True, help="the pooled record to write (JSON)")
    run(main, p.parse_args())
