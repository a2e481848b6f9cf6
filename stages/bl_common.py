"""What the benchmark stage scripts share: --benchmark instead of --corpus, and the typed params."""

from __future__ import annotations

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.benchmark import BENCHMARKS


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--benchmark", required=True, choices=BENCHMARKS, help="which benchmark split")
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="the params file")
    return p


def benchmark_config(params: dict, benchmark: str):
    from tunesmith.benchmark.settings import BenchmarkConfig
    from tunesmith.config.load import build, section

    key = f"benchmark.{benchmark}"
    return build(BenchmarkConfig, section(params, key), key)
