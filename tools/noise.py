"""``make noise``: the seed stages of noise/dvc.yaml, ``--jobs`` at a time, then their summaries.

    python tools/noise.py [--jobs N]          # N: default one per core (make noise NOISE_JOBS=N)

With one job this is ``dvc repro noise/dvc.yaml``: one seed after the other. With more, every seed
stage that ``dvc status`` calls changed is queued as an experiment named ``noise-<stage>``
(``dvc exp run --queue``) and the queue runs N at a time (``dvc exp run --run-all --jobs N``),
each in its own temporary copy of the workspace with the code it was queued with; their outputs
and run-cache entries land in this repository's cache. Then ``dvc repro noise/dvc.yaml`` restores
every seed from the run-cache (a seed whose run failed is trained there, one after the other) and
writes the summaries, and the experiments made here are removed: their results are in dvc.lock
and seeds.json. The queue's mechanics are tools/fanout.py's, shared with ``make repro``
(tools/repro.py); a killed run continues from the seeds' checkpoints in this workspace. The seeds
of the track with the most training work are queued first (`fanout.training_cost`), so the short
ones fill the last slots.

Each seed trains with ``noise.threads`` threads whatever N is, so its figures do not depend on how
many seeds ran beside it. On 2 cores 2 seeds of 1 thread each took 322 s where 1 seed of 2 threads
after the other took 613 s (essen, seeds 0 and 1, ``bench/bench_noise_jobs.py``).

The queue must hold nothing else: ``--run-all`` would run a colleague's queued experiments too, so
this stops with a one-line error naming them instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import fanout
from fanout import (
    FanoutError,
    dvc,
    mark_for_restore,
    queued_names,
    read_params,
    run_queued,
    stale_stages,
    training_cost,
)

PIPELINE = "noise/dvc.yaml"
PREFIX = "noise-"
"""The names of the experiments this queues: ``noise-seed-essen-0`` for ``seed@essen-0``."""
UPSTREAM = "dvc.yaml:vocab"
"""The root pipeline's stages that the seed stages read: reproduced once here, not in every queued copy."""


def stale_seeds(status: dict) -> list[str]:
    """The seed stages (``seed@<track>-<seed>``) that ``dvc status --json`` of the pipeline lists."""
    return [name for name in stale_stages(status, PIPELINE) if name.startswith("seed@")]


def experiment_name(stage: str) -> str:
    """``noise-seed-essen-0`` for ``seed@essen-0``: git ref names take no ``@``."""
    return PREFIX + stage.replace("@", "-")


def fan_out(jobs: int) -> list[str]:
    """Queue every stale seed stage and run the queue ``jobs`` at a time; the experiments' names."""
    others = queued_names()
    if others:
        raise FanoutError(f"the experiment queue already holds {', '.join(others)}: run it "
                          "(dvc queue start) or empty it (dvc queue remove --queued) first")
    dvc("repro", UPSTREAM)
    stages = stale_seeds(json.loads(dvc("status", PIPELINE, "--json", capture=True) or "{}"))
    if not stages:
        return []
    params = read_params()  # the longest training first: the last seeds to finish are the short ones
    stages.sort(key=lambda stage: -training_cost(stage.partition("@")[2].rpartition("-")[0], params))
    targets = {experiment_name(stage): f"{PIPELINE}:{stage}" for stage in stages}
    run_queued(targets, jobs, "seed(s)")
    mark_for_restore(Path(PIPELINE).with_name("dvc.lock"), stages)
    return list(targets)


def main(argv: list[str] | None = None) -> int:
    return fanout.main(argv, doc=__doc__, name="noise", pipeline=PIPELINE, what="seeds trained", fan_out=fan_out,
                       repro=(PIPELINE,))


if __name__ == "__main__":
    sys.exit(main())
