"""Seeds in parallel or one after the other: is ``make noise`` faster as 2 jobs of 1 thread each or as
1 job of 2 threads (the default)? Run by hand on the target machine, never in the tests:

    python bench/bench_noise_jobs.py --corpus essen --seeds 0 1        # prints a table

Each arm trains the same seeds of ``train.<corpus>`` with noise/dvc.yaml's own command
(``stages/seed.py``) into a scratch folder under bench/out/ (fresh checkpoints each time), needing
``data/vocab/<corpus>`` (``dvc repro vocab@<corpus>`` first). Threads are capped with
TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS and OMP_NUM_THREADS. The figures of each seed are
compared across the arms: a parallel run must not change them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _train(corpus: str, seed: int, threads: int, scratch: Path) -> dict:
    out, ckpt = scratch / f"seed-{seed}", scratch / "checkpoints" / f"seed-{seed}"
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
           "OMP_NUM_THREADS": str(threads), "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "stages/seed.py", "--corpus", corpus, "--seed", str(seed), "--vocab",
                    f"data/vocab/{corpus}", "--out", str(out), "--checkpoints", str(ckpt)],
                   cwd=ROOT, env=env, check=True)
    return json.loads((out / "seed.json").read_text())["figures"]


def arm(corpus: str, seeds: list[int], jobs: int, threads: int) -> tuple[float, dict]:
    """Wall seconds to train ``seeds`` with ``jobs`` processes of ``threads`` threads; each seed's figures."""
    scratch = ROOT / "bench/out/noise_jobs" / f"{jobs}x{threads}"
    shutil.rmtree(scratch, ignore_errors=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        figures = dict(zip(seeds, pool.map(lambda s: _train(corpus, s, threads, scratch), seeds)))
    return time.perf_counter() - start, figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="essen")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    args = p.parse_args()
    arms = [(1, args.cores), (args.cores, 1)]
    results = {a: arm(args.corpus, args.seeds, *a) for a in arms}
    print(f"| {args.corpus}, seeds {args.seeds} | wall (s) | same figures as 1 job |")
    print("|---|---|---|")
    base = results[arms[0]][1]
    for (jobs, threads), (seconds, figures) in results.items():
        print(f"| {jobs} job(s) x {threads} thread(s) | {seconds:.0f} | {figures == base} |")


if __name__ == "__main__":
    main()
