"""``make noise``: the seed stages of noise/dvc.yaml, ``--jobs`` at a time, then their summaries.

    python tools/noise.py [--jobs N]          # N: default one per core (make noise NOISE_JOBS=N)

With one job this is ``dvc repro noise/dvc.yaml``: one seed after the other. With more, every seed
stage that ``dvc status`` calls changed is queued as an experiment named ``noise-<stage>``
(``dvc exp run --queue``) and the queue runs N at a time (``dvc exp run --run-all --jobs N``),
each in its own temporary copy of the workspace with the code it was queued with; their outputs
and run-cache entries land in this repository's cache. Then ``dvc repro noise/dvc.yaml`` restores
every seed from the run-cache (a seed whose run failed is trained there, one after the other) and
writes the summaries, and the experiments made here are removed: their results are in dvc.lock
and seeds.json.

Each seed trains with ``noise.threads`` threads whatever N is, so its figures do not depend on how
many seeds ran beside it. On 2 cores 2 seeds of 1 thread each took 322 s where 1 seed of 2 threads
after the other took 613 s (essen, seeds 0 and 1, ``bench/bench_noise_jobs.py``).

The queue must hold nothing else: ``--run-all`` would run a colleague's queued experiments too, so
this stops with a one-line error naming them instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PIPELINE = "noise/dvc.yaml"
PREFIX = "noise-"
"""The names of the experiments this queues: ``noise-seed-essen-0`` for ``seed@essen-0``."""
UPSTREAM = "dvc.yaml:vocab"
"""The root pipeline's stages that the seed stages read: reproduced once here, not in every queued copy."""
DVC = os.path.join(os.path.dirname(sys.executable), "dvc")


class NoiseError(Exception):
    """A one-line reason ``make noise`` stopped (exit status 2)."""


def dvc(*args: str, capture: bool = False) -> str:
    """``dvc args`` in the current folder (its exit status checked); its stdout when ``capture``."""
    proc = subprocess.run([DVC, *args], check=False, text=True, stdout=subprocess.PIPE if capture else None)
    if proc.returncode != 0:
        raise NoiseError(f"dvc {' '.join(args)} failed (exit {proc.returncode})")
    return proc.stdout or ""


def stale_seeds(status: dict) -> list[str]:
    """The seed stages (``seed@<track>-<seed>``) that ``dvc status --json`` of the pipeline lists."""
    names = [key.rsplit(":", 1)[-1] for key in status if key.startswith(f"{PIPELINE}:")]
    return sorted(name for name in names if name.startswith("seed@"))


def experiment_name(stage: str) -> str:
    """``noise-seed-essen-0`` for ``seed@essen-0``: git ref names take no ``@``."""
    return PREFIX + stage.replace("@", "-")


def queued_names() -> list[str]:
    """The names (or stash revisions) of the experiments queued in this repository."""
    from dvc.repo import Repo

    with Repo() as repo:
        return [entry.name or entry.stash_rev[:7] for entry in repo.experiments.celery_queue.iter_queued()]


def remove_experiments(names: list[str]) -> None:
    """Remove the experiments ``names`` (made here) where they exist."""
    subprocess.run([DVC, "exp", "remove", *names], check=False, capture_output=True)


def fan_out(jobs: int) -> list[str]:
    """Queue every stale seed stage and run the queue ``jobs`` at a time; the experiments' names."""
    others = queued_names()
    if others:
        raise NoiseError(f"the experiment queue already holds {', '.join(others)}: run it "
                         "(dvc queue start) or empty it (dvc queue remove --queued) first")
    dvc("repro", UPSTREAM)
    stages = stale_seeds(json.loads(dvc("status", PIPELINE, "--json", capture=True) or "{}"))
    if not stages:
        return []
    names = [experiment_name(stage) for stage in stages]
    remove_experiments(names)  # left by an interrupted run of this
    for stage, name in zip(stages, names):
        dvc("exp", "run", "--queue", "--name", name, f"{PIPELINE}:{stage}")
    print(f"noise: {len(stages)} seed(s) queued, {jobs} at a time", flush=True)
    # not checked: a seed whose queued run failed is trained by the final `dvc repro`, one after the other
    subprocess.run([DVC, "exp", "run", "--run-all", "--jobs", str(jobs)], check=False)
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, choices=range(1, 257),
                   metavar="N", help="seeds trained at a time (default: one per core)")
    args = p.parse_args(argv)
    names: list[str] = []
    try:
        if not Path(PIPELINE).is_file():
            raise NoiseError(f"no {PIPELINE} here: run from the repository's root")
        names = fan_out(args.jobs) if args.jobs > 1 else []
        dvc("repro", PIPELINE)
    except NoiseError as exc:
        print(f"noise: {exc}", file=sys.stderr)
        return 2
    finally:
        if names:
            remove_experiments(names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
