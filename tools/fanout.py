"""Stages of a DVC pipeline ``--jobs`` at a time, through DVC's experiment queue (``make repro``,
``make noise``).

DVC runs the stages of one ``dvc repro`` one after the other, and one ``dvc repro`` holds the
repository's lock. So the independent work is queued as experiments (``dvc exp run --queue``, one
per target, each named here) and the queue runs N at a time (``dvc exp run --run-all --jobs N``),
each in its own temporary copy of the workspace with the code and params it was queued with. Their
outputs and run-cache entries land in this repository's cache, so the ``dvc repro`` that follows
restores them instead of running them again (a target whose queued run failed is run there, one
after the other), and the experiments made here are then removed: their results are in dvc.lock.

A training stage's checkpoints (``.cache/checkpoints/...``, outside DVC's outputs) would otherwise
land in the temporary copy and vanish with it: `CHECKPOINT_ROOT_ENV` points the queued stages at
this workspace's ``.cache/checkpoints`` (`tunesmith.pipeline.common.shared_checkpoints`), so a
killed run continues where it stopped, queued or not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

DVC = shutil.which("dvc") or os.path.join(os.path.dirname(sys.executable), "dvc")
"""The dvc on PATH (the Makefile puts .venv/bin first, as for the stages' ``python``), else .venv's."""
CHECKPOINT_ROOT_ENV = "TUNESMITH_CHECKPOINT_ROOT"
"""Where a queued copy's stages keep their checkpoints: this workspace's ``.cache/checkpoints``."""


class FanoutError(Exception):
    """A one-line reason the fan-out stopped (exit status 2)."""


def dvc(*args: str, capture: bool = False) -> str:
    """``dvc args`` in the current folder (its exit status checked); its stdout when ``capture``."""
    proc = subprocess.run([DVC, *args], check=False, text=True, stdout=subprocess.PIPE if capture else None)
    if proc.returncode != 0:
        raise FanoutError(f"dvc {' '.join(args)} failed (exit {proc.returncode})")
    return proc.stdout or ""


def stale_stages(status: dict, pipeline: str | None = None) -> list[str]:
    """The stage names (``train@essen``) that ``dvc status --json`` lists; of ``pipeline`` only when
    given (``noise/dvc.yaml``: its stages are keyed ``noise/dvc.yaml:seed@essen-0``)."""
    keys = [key for key in status if pipeline is None or key.startswith(f"{pipeline}:")]
    return sorted({key.rsplit(":", 1)[-1] for key in keys})


def queued_names() -> list[str]:
    """The names (or stash revisions) of the experiments queued in this repository."""
    from dvc.repo import Repo

    with Repo() as repo:
        return [entry.name or entry.stash_rev[:7] for entry in repo.experiments.celery_queue.iter_queued()]


def has_commit() -> bool:
    """Whether HEAD names a commit (the queue copies one; ``make repro`` may have just run ``git init``)."""
    return subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], check=False,
                          capture_output=True).returncode == 0


def remove_experiments(names: Iterable[str]) -> None:
    """Remove the experiments ``names`` (made here) where they exist."""
    names = list(names)
    if names:
        subprocess.run([DVC, "exp", "remove", *names], check=False, capture_output=True)


def run_queued(targets: dict[str, str], jobs: int, what: str) -> None:
    """Queue each ``name -> target`` (``dvc.yaml:evaluate@essen``) and run the queue ``jobs`` at a time.

    Not checked: a target whose queued run failed is run by the caller's ``dvc repro`` afterwards.
    """
    remove_experiments(targets)  # left by an interrupted run of this
    for name, target in targets.items():
        dvc("exp", "run", "--queue", "--name", name, target)
    print(f"{len(targets)} {what} queued, {jobs} at a time", flush=True)
    env = {**os.environ, CHECKPOINT_ROOT_ENV: str(Path(".cache/checkpoints").resolve())}
    run_until_exit([DVC, "exp", "run", "--run-all", "--jobs", str(jobs)], env=env)


def run_until_exit(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd`` and return its exit status as soon as it exits; its output goes to ours.

    DVC's queue workers are forked from ``dvc exp run --run-all`` and keep its stdout and stderr
    open for the 10 s they idle before shutting down. Where those are a pipe (CI logs, ``make repro |
    tee``, a test capturing the output) whoever reads it would wait for them; so the output comes
    through a pipe of our own, copied until the command has exited and the pipe holds nothing more.
    On a terminal (or where select cannot watch a pipe) the command writes there directly.
    """
    if os.name == "nt" or sys.stdout.isatty():
        return subprocess.run(cmd, check=False, env=env).returncode
    import select

    sys.stdout.flush()
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        fd = proc.stdout.fileno()
        while True:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
            elif proc.poll() is not None:  # exited, and everything it wrote has been copied
                break
    return proc.returncode


def read_params() -> dict:
    """params.yaml here, or {} when it is missing or not a mapping (the stages then say why)."""
    import yaml

    try:
        params = yaml.safe_load(Path("params.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return params if isinstance(params, dict) else {}


def training_cost(track: str, params: dict) -> float:
    """A track's training work, for the queue's order: epochs x training tokens (the last vocab
    stage's ``data/metrics/<track>/vocab.json``, in git) x layers x units squared; 0 when unknown
    (a new track: queued after the known ones)."""
    from tunesmith.config.model import ModelConfig
    from tunesmith.config.train import TrainConfig

    train = (params.get("train") or {}).get(track) or {}
    model = train.get("model") or {}
    try:
        tokens = json.loads(Path(f"data/metrics/{track}/vocab.json").read_text())["tokens"]["train"]
        units, layers = model.get("units", ModelConfig.units), model.get("layers", ModelConfig.layers)
        epochs = train.get("epochs", TrainConfig.epochs)
        shifts = 1 + len(train.get("transpositions") or ())
        return float(epochs * tokens * shifts * layers * units * units)
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0

RESTORE_MARK = "# queued: restore from the run-cache (tools/fanout.py)"
"""What `mark_for_restore` writes as a lock entry's cmd, so that DVC looks the stage up in the run-cache."""


def mark_for_restore(lockfile: Path, stages: Iterable[str]) -> None:
    """Mark the lock entries of ``stages`` (``train@essen``) in ``lockfile`` as changed, in place.

    DVC reruns a stage whose lock entry is current but whose outputs are not in the local cache (a
    fresh clone's, in the workspace after the queue ran it) instead of looking it up in the
    run-cache, where the queued run put its outputs: it consults the run-cache only for a stage whose
    command or deps differ from its lock entry. A changed command sends it there; the final ``dvc
    repro`` then restores the stage and writes its entry back, and a stage whose queued run failed
    is run as it would have been.
    """
    from ruamel.yaml import YAML

    if not lockfile.is_file():
        return
    yaml = YAML()  # round trip: the rest of the file as DVC wrote it
    data = yaml.load(lockfile.read_text())
    entries = (data or {}).get("stages") or {}
    marked = 0
    for name in stages:
        entry = entries.get(name)
        if isinstance(entry, dict) and "cmd" in entry:
            entry["cmd"] = RESTORE_MARK
            marked += 1
    if marked:
        with lockfile.open("w") as fh:
            yaml.dump(data, fh)


def main(argv: list[str] | None, *, doc: str, name: str, pipeline: str, what: str,
         fan_out: Callable[[int], list[str]], repro: tuple[str, ...]) -> int:
    """A fan-out tool's command line: ``--jobs N``; ``fan_out(N)`` when N > 1 (the experiments it
    made), then ``dvc repro *repro``; the experiments removed whatever happens; a `FanoutError` is one
    line on stderr, ``<name>: ...``, and exit status 2."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, choices=range(1, 257),
                   metavar="N", help=f"{what} at a time (default: one per core)")
    args = p.parse_args(argv)
    names: list[str] = []
    try:
        if not Path(pipeline).is_file():
            raise FanoutError(f"no {pipeline} here: run from the repository's root")
        names = fan_out(args.jobs) if args.jobs > 1 else []
        dvc("repro", *repro)
    except FanoutError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    finally:
        remove_experiments(names)
    return 0
