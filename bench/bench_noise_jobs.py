"""Seeds in parallel or one after the other: is ``make noise`` faster as 2 jobs of 1 thread each or as
1 job of 2 threads? Run by hand on the target machine, never in the tests:

    python bench/bench_noise_jobs.py --corpus essen --seeds 0 1        # prints a table
    python bench/bench_noise_jobs.py --corpus essen --seeds 0 1 --arms 1x2 2x1 1x1

Each arm trains the same seeds of ``train.<corpus>`` with noise/dvc.yaml's own command
(``stages/seed.py``) into a scratch folder under bench/out/ (fresh checkpoints each time), needing
``data/vocab/<corpus>`` (``dvc repro vocab@<corpus>`` first). Threads are capped with
TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS and OMP_NUM_THREADS. The figures of each seed are
compared with the first arm's: the thread count changes the order of floating-point sums (so 1x2
and 2x1 differ within the seed noise), the number of jobs beside a seed must not (1x1 and 2x1 agree).
2 jobs of 1 thread won on 2 cores, so noise.threads is 1 and ``make noise`` runs one seed per core."""

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
    """Wall seconds to train ``seeds`` with ``jobs`` processes of ``threads`` threads; each seed's figures.
    An arm whose wall time and figures are on disk (``arm.json``) is read back (its seconds from then)."""
    scratch = ROOT / "bench/out/noise_jobs" / f"{jobs}x{threads}"
    done = scratch / "arm.json"
    if done.is_file():
        record = json.loads(done.read_text())
        if record["corpus"] == corpus and record["seeds"] == seeds:
            return record["seconds"], {int(k): v for k, v in record["figures"].items()}
    shutil.rmtree(scratch, ignore_errors=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        figures = dict(zip(seeds, pool.map(lambda s: _train(corpus, s, threads, scratch), seeds)))
    seconds = time.perf_counter() - start
    done.write_text(json.dumps({"corpus": corpus, "seeds": seeds, "seconds": seconds, "figures": figures}))
    return seconds, figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="essen")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    p.add_argument("--arms", nargs="+", default=None, metavar="JOBSxTHREADS",
                   help="the arms to run, the first the baseline (default: 1x<cores> <cores>x1); an arm "
                        "already run (its seed.json files in bench/out/noise_jobs/) is read back, not rerun")
    args = p.parse_args()
    arms = [tuple(map(int, a.split("x"))) for a in args.arms] if args.arms else [(1, args.cores), (args.cores, 1)]
    results = {a: arm(args.corpus, args.seeds, *a) for a in arms}
    print(f"| {args.corpus}, seeds {args.seeds} | wall (s) | same figures as 1 job |")
    print("|---|---|---|")
    base = results[arms[0]][1]
    for (jobs, threads), (seconds, figures) in results.items():
        print(f"| {jobs} job(s) x {threads} thread(s) | {seconds:.0f} | {figures == base} |")


if __name__ == "__main__":
    main()
