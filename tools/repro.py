"""``make repro``: the tracks' stages ``--jobs`` tracks at a time, then the report.

    python tools/repro.py [--jobs N]          # N: default one per core (make repro REPRO_JOBS=N)

Each track's chain (fetch, prepare, encode, vocab, train, generate, evaluate) depends on no other
track's, and most of it runs on one core: a training step of these small LSTMs gains little from a
second thread, music21 and the renderers none. So when two or more tracks have stale stages, each
such track's ``evaluate@<track>`` (with everything upstream of it) is queued as an experiment named
``repro-<track>`` and the queue runs N at a time (tools/fanout.py says how); then ``dvc repro``
restores those stages from the run-cache and runs the report. With one job, one stale track, no
commit yet, or an experiment queue that already holds someone's experiments (``--run-all`` would run
them too), this is plain ``dvc repro``, one stage after the other.

Each training stage uses ``repro.threads`` TensorFlow threads however many tracks run, so a model
does not depend on N. The tracks are queued longest first (`training_cost`), so the longest chain
does not start last.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import fanout
from fanout import (
    dvc,
    has_commit,
    mark_for_restore,
    queued_names,
    read_params,
    run_queued,
    stale_stages,
    training_cost,
)

PIPELINE = "dvc.yaml"
PREFIX = "repro-"
"""The names of the experiments this queues: ``repro-essen`` for ``evaluate@essen``."""
TRACK_STAGES = ("fetch", "prepare", "encode", "vocab", "train", "generate", "evaluate")
"""A track's own chain, in dvc.yaml: ``<stage>@<track>``; ``evaluate`` is its last."""


def stale_tracks(status: dict) -> list[str]:
    """The tracks with a stale stage of their own chain in ``dvc status --json``."""
    tracks = set()
    for name in stale_stages(status):
        stage, _, track = name.partition("@")
        if stage in TRACK_STAGES and track:
            tracks.add(track)
    return sorted(tracks)


def fan_out(jobs: int) -> list[str]:
    """Queue each stale track's chain and run the queue ``jobs`` at a time; the experiments' names
    (none when the tracks run one after the other)."""
    if not has_commit():
        print("repro: no commit yet to queue from: the stages run one after the other", flush=True)
        return []
    others = queued_names()
    if others:
        print(f"repro: the experiment queue holds {', '.join(others)}: the stages run one after the other "
              "(run the queue with dvc queue start, or empty it with dvc queue remove --queued)", flush=True)
        return []
    tracks = stale_tracks(json.loads(dvc("status", PIPELINE, "--json", capture=True) or "{}"))
    if len(tracks) < 2:
        return []
    params = read_params()
    tracks.sort(key=lambda track: -training_cost(track, params))  # stable: by name among equals
    targets = {PREFIX + track: f"{PIPELINE}:evaluate@{track}" for track in tracks}
    run_queued(targets, jobs, "track(s)")
    mark_for_restore(Path("dvc.lock"), [f"{stage}@{track}" for track in tracks for stage in TRACK_STAGES])
    return list(targets)


def main(argv: list[str] | None = None) -> int:
    return fanout.main(argv, doc=__doc__, name="repro", pipeline=PIPELINE, what="tracks reproduced", fan_out=fan_out,
                       repro=())


if __name__ == "__main__":
    sys.exit(main())
