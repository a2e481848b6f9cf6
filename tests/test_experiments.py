"""Experiments as a team runs them, on a tiny copy of the repository (the real dvc.yaml, stage scripts
and src/, tiny local corpora): a queued experiment runs the code it was queued with, a single stage
runs as an experiment on a fresh clone, and no stage output needs `persist` (which DVC's run-cache
cannot hold). Only the fetch stages run: they are the cheapest, and what is tested is DVC's
handling of the graph, not the music."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from test_pipeline_e2e import _corpora, tiny_params

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _run(repo: Path, *args: str, env_src: Path | None = None, ok: bool = True) -> str:
    """A command in ``repo``; PYTHONPATH is ``env_src`` (what an editable install would put first)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid"}
    env.pop("PYTHONPATH", None)
    if env_src is not None:
        env["PYTHONPATH"] = str(env_src)
    # output to a file, not a pipe: `dvc exp run --run-all`'s queue workers keep a pipe open for the
    # 10 s they idle after the run, and a reader of the pipe would wait for them
    with tempfile.TemporaryFile() as log:
        proc = subprocess.run(args, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600)
        log.seek(0)
        out = log.read().decode(errors="replace")
    assert (proc.returncode == 0) == ok, f"{' '.join(args)} -> {proc.returncode}:\n{out}"
    return out


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh clone: the repository's dvc.yaml and dvc.lock (which name main's cached outputs, none
    of them here), stages/ and src/, params pointed at tiny local corpora, committed."""
    base = tmp_path_factory.mktemp("team")
    repo = base / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", "dvc.lock", "params.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    for name in ("stages", "src"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = tiny_params(yaml.safe_load((repo / "params.yaml").read_text()), _corpora(base / "corpora"))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / ".gitignore").write_text("/data/\n/.cache/\n__pycache__/\n")
    _run(repo, "git", "init", "-q")
    _run(repo, "dvc", "init", "-q")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "tiny clone")
    return repo


def test_a_single_stage_runs_as_an_experiment_without_the_other_outputs(clone):
    """`dvc exp run <stage> -S ...` on a fresh clone: no output of main is in the cache (dvc.lock names
    data/eval/<c>, whose .dir is absent), and the experiment still runs and is recorded."""
    assert "data/eval/nottingham" in (clone / "dvc.lock").read_text()
    out = _run(clone, "dvc", "exp", "run", "fetch@nottingham", "-S", "fetch.nottingham.rhythms=[jig]",
               "-n", "jigs-only", env_src=clone / "src")
    assert "failed to load directory" not in out
    manifest = (clone / "data/raw/nottingham/manifest.csv").read_text()
    assert "First Jig" in manifest and "A Hornpipe" not in manifest
    shown = json.loads(_run(clone, "dvc", "exp", "show", "--json"))
    names = [exp.get("name") for rev in shown for exp in (rev.get("experiments") or [])]
    assert "jigs-only" in names


def test_a_queued_experiment_runs_the_code_it_was_queued_with(clone):
    """Queue an experiment, then break the workspace's code (which the environment imports first, as an
    editable install of this checkout would); the queue's run still uses the code it was queued with."""
    _run(clone, "dvc", "exp", "run", "--queue", "fetch@essen", "-S", "fetch.essen.rhythms=[]", "-n", "queued",
         env_src=clone / "src")
    broken = clone / "src/tunesmith/pipeline/fetch.py"
    broken.write_text(broken.read_text() + "\nraise RuntimeError('the workspace code broken after queueing')\n")
    out = _run(clone, "dvc", "exp", "run", "--run-all", env_src=clone / "src")
    assert "broken after queueing" not in out
    status = _run(clone, "dvc", "queue", "status")
    assert re.search(r"\bqueued\b.*\bSuccess\b", status), status
    # the workspace really is broken: run there, the same stage fails
    _run(clone, "dvc", "repro", "fetch@essen", env_src=clone / "src", ok=False)
    broken.write_text(broken.read_text().replace(
        "\nraise RuntimeError('the workspace code broken after queueing')\n", ""))


@pytest.mark.parametrize("pipeline", ["dvc.yaml", "noise/dvc.yaml"])
def test_no_output_needs_persist(pipeline):
    """DVC's run-cache skips any stage with a `persist` output: `dvc pull --run-cache` could never restore
    a trained model. Checkpoints live outside the outputs instead (train's --checkpoints)."""
    text = (ROOT / pipeline).read_text()
    assert "persist: true" not in text
    spec = yaml.safe_load(text)["stages"]
    trains = [s.get("do", s) for name, s in spec.items() if name in ("train", "seed")]
    assert trains and all("--checkpoints .cache/checkpoints/" in t["cmd"] for t in trains)
