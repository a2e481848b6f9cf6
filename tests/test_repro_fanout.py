"""`make repro`'s fan-out (tools/repro.py) on a toy pipeline shaped like the real one: a chain of
stages per track (train@<t>, evaluate@<t>) and a report over every track. Each stage writes where it
ran and the checkpoint folder it was given, so the test sees which ran in the queue's temporary copies
and that the final `dvc repro` restored them from the run-cache instead of running them again."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import toy_repo
from tunesmith.pipeline.common import CHECKPOINT_ROOT_ENV, shared_checkpoints

ROOT = Path(__file__).resolve().parents[1]
RESTORE_MARK = "# queued: restore from the run-cache"
BIN = toy_repo.BIN

pytestmark = pytest.mark.slow

# what a train stage records: where it ran and where tunesmith would keep its checkpoints
TRAIN_CMD = ("python -c \"import json, os, sys; sys.path.insert(0, sys.argv[2]); "
             # TOY_FAIL_IN_QUEUE=<track>: that track's training fails in the queue's copies only
             "os.environ.get('TOY_FAIL_IN_QUEUE') == sys.argv[1] and '.dvc/tmp/exps' in os.getcwd() and sys.exit(3); "
             "from pathlib import Path; from tunesmith.pipeline.common import shared_checkpoints; "
             "os.makedirs('data/models/' + sys.argv[1], exist_ok=True); "
             "ck = shared_checkpoints(Path('.cache/checkpoints/' + sys.argv[1])); "
             "json.dump({'cwd': os.getcwd(), 'checkpoints': str(ck)}, "
             "open('data/models/' + sys.argv[1] + '/run.json', 'w'))\" ${key} " + str(ROOT / "src"))
EVAL_CMD = ("python -c \"import json, os, sys; os.makedirs('data/eval/' + sys.argv[1], exist_ok=True); "
            "json.dump({'cwd': os.getcwd()}, open('data/eval/' + sys.argv[1] + '/run.json', 'w'))\" ${key}")
REPORT_CMD = ("python -c \"import glob, json, os; os.makedirs('data/report', exist_ok=True); "
              "json.dump({'cwd': os.getcwd(), 'tracks': sorted(glob.glob('data/eval/*'))}, "
              "open('data/report/run.json', 'w'))\"")


_run, _ok = toy_repo.run, toy_repo.ok


def _read(repo: Path, path: str) -> dict:
    return json.loads((repo / path).read_text())


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text("tracks:\n  a: {kind: abc}\n  b: {kind: abc}\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        # a stage without deps is never in the run-cache: the real ones read their code and data
        "train": {"foreach": "${tracks}", "do": {"cmd": TRAIN_CMD, "deps": ["corpus-${key}.txt"],
                                                  "outs": ["data/models/${key}"]}},
        "evaluate": {"foreach": "${tracks}", "do": {"cmd": EVAL_CMD, "deps": ["data/models/${key}"],
                                                     "outs": ["data/eval/${key}"]}},
        "report": {"cmd": REPORT_CMD, "deps": ["data/eval"], "outs": ["data/report"]}}}))
    for track in ("a", "b"):
        (repo / f"corpus-{track}.txt").write_text(track)
    (repo / ".gitignore").write_text("/data/\n/.cache/\n")
    _ok(repo, "git", "init", "-q")
    _ok(repo, str(BIN / "dvc"), "init", "-q")
    _ok(repo, "git", "add", "-A")
    _ok(repo, "git", "commit", "-qm", "toy pipeline")
    return repo


def test_a_track_whose_queued_run_failed_runs_in_the_workspace(repo, monkeypatch):
    """A queued chain that fails (an untracked file it needs, a killed worker) is not lost: the final
    `dvc repro` runs that track in the workspace, and keeps the other track's queued results."""
    monkeypatch.setenv("TOY_FAIL_IN_QUEUE", "b")
    out = _ok(repo, sys.executable, str(ROOT / "tools/repro.py"), "--jobs", "2")
    assert "2 track(s) queued, 2 at a time" in out
    assert ".dvc/tmp/exps" in _read(repo, "data/eval/a/run.json")["cwd"]
    assert Path(_read(repo, "data/eval/b/run.json")["cwd"]).resolve() == repo.resolve()
    assert "up to date" in _ok(repo, str(BIN / "dvc"), "status")


def test_one_stale_track_or_one_job_runs_in_the_workspace(repo):
    _ok(repo, sys.executable, str(ROOT / "tools/repro.py"), "--jobs", "1")
    assert Path(_read(repo, "data/eval/a/run.json")["cwd"]).resolve() == repo.resolve()
    # only b is stale now: nothing to fan out
    (repo / "corpus-b.txt").write_text("b, revised")
    out = _ok(repo, sys.executable, str(ROOT / "tools/repro.py"), "--jobs", "2")
    assert "queued" not in out
    assert Path(_read(repo, "data/eval/b/run.json")["cwd"]).resolve() == repo.resolve()


def test_a_queue_holding_someone_elses_experiment_runs_the_stages_in_turn_and_keeps_it(repo):
    _ok(repo, str(BIN / "dvc"), "exp", "run", "--queue", "--name", "colleagues-sweep", "dvc.yaml:train@a")
    out = _ok(repo, sys.executable, str(ROOT / "tools/repro.py"), "--jobs", "2")
    assert "the experiment queue holds colleagues-sweep: the stages run one after the other" in out
    assert Path(_read(repo, "data/eval/b/run.json")["cwd"]).resolve() == repo.resolve()
    assert "colleagues-sweep" in _ok(repo, str(BIN / "dvc"), "queue", "status")


def test_shared_checkpoints_moves_only_relative_checkpoint_folders(monkeypatch, tmp_path):
    monkeypatch.delenv(CHECKPOINT_ROOT_ENV, raising=False)
    assert shared_checkpoints(Path(".cache/checkpoints/essen")) == Path(".cache/checkpoints/essen")
    monkeypatch.setenv(CHECKPOINT_ROOT_ENV, str(tmp_path / "ws/.cache/checkpoints"))
    moved = shared_checkpoints(Path(".cache/checkpoints/seeds/essen/seed-0"))
    assert moved == tmp_path / "ws/.cache/checkpoints/seeds/essen/seed-0"
    assert shared_checkpoints(Path("/elsewhere/ck")) == Path("/elsewhere/ck")
    assert shared_checkpoints(Path("models/ck")) == Path("models/ck")
    assert shared_checkpoints(None) is None


def test_the_longest_training_is_queued_first(tmp_path, monkeypatch):
    """The queue runs in the order it was filled: the track with the most training work goes first,
    so the longest chain does not start last and leave a core idle at the end."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("repro_tool", ROOT / "tools/repro.py")
    tool = importlib.util.module_from_spec(spec)
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    spec.loader.exec_module(tool)
    monkeypatch.chdir(tmp_path)
    for track, tokens in (("small", 1000), ("deep", 1000), ("long", 5000)):
        (tmp_path / f"data/metrics/{track}").mkdir(parents=True)
        (tmp_path / f"data/metrics/{track}/vocab.json").write_text(json.dumps({"tokens": {"train": tokens}}))
    params = {"train": {"small": {"epochs": 10}, "deep": {"epochs": 10, "model": {"layers": 2}},
                        "long": {"epochs": 10}, "new": {"epochs": 10}}}
    costs = {track: tool.training_cost(track, params) for track in ("small", "deep", "long", "new")}
    assert sorted(costs, key=lambda t: -costs[t]) == ["long", "deep", "small", "new"]
    assert costs["deep"] == 2 * costs["small"] and costs["new"] == 0.0


def test_a_fresh_clone_runs_the_tracks_in_the_queue_and_restores_them(repo, tmp_path):
    """A clone of a repository whose dvc.lock is current has none of the outputs. Each track's chain runs
    in a queued experiment's temporary copy, its checkpoints in the clone's own .cache, and the final
    `dvc repro` restores the queued stages and runs only the report: DVC would rerun a stage whose lock
    entry is current (it consults the run-cache only for one whose command or deps differ from the
    lock), so tools/repro.py marks the queued tracks' entries, and writes dvc.lock back as it was. (The
    e2e tests check the same on a repository with no dvc.lock yet.)"""
    _ok(repo, sys.executable, str(ROOT / "tools/repro.py"), "--jobs", "1")
    _ok(repo, "git", "add", "dvc.lock")
    _ok(repo, "git", "commit", "-qm", "results")
    clone = tmp_path / "clone"
    _ok(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    out = _ok(clone, sys.executable, str(ROOT / "tools/repro.py"), "--jobs", "2")
    assert "2 track(s) queued, 2 at a time" in out
    final = out[out.rindex("Ran experiment(s)"):]
    assert re.findall(r"Running stage '([^']+)'", final) == ["report"], final
    for track in ("a", "b"):
        train, evaluate = _read(clone, f"data/models/{track}/run.json"), _read(clone, f"data/eval/{track}/run.json")
        # each track's chain ran in a temporary copy of the workspace (the queue's) and was restored here
        assert ".dvc/tmp/exps" in train["cwd"] and ".dvc/tmp/exps" in evaluate["cwd"], (train, evaluate)
        # ... while its checkpoints went to the workspace's own .cache, where a killed run continues
        assert Path(train["checkpoints"]) == (clone / ".cache/checkpoints" / track).resolve()
    report = _read(clone, "data/report/run.json")
    assert Path(report["cwd"]).resolve() == clone.resolve() and report["tracks"] == ["data/eval/a", "data/eval/b"]
    # the cwd recorded differs from the first run's, so the lock changed only where the outputs did
    assert RESTORE_MARK not in (clone / "dvc.lock").read_text()
    assert "up to date" in _ok(clone, str(BIN / "dvc"), "status")
    assert "repro-" not in _ok(clone, str(BIN / "dvc"), "exp", "list", "--all-commits")
    assert "queued" not in _ok(clone, sys.executable, str(ROOT / "tools/repro.py"), "--jobs", "2")


def test_the_queue_run_returns_when_dvc_exits_not_when_its_workers_close_its_output(tmp_path):
    """DVC's queue workers are forked from `dvc exp run --run-all` and keep its stdout open for the 10 s
    they idle afterwards. `run_until_exit` is done when the command exits, its output copied, even where
    its own stdout is a pipe (CI's log, `make repro | tee`): here a command forks such a worker, and the
    pipe's reader is back while the worker still lives."""
    started, release = tmp_path / "worker.started", tmp_path / "release"
    worker = ("import os, sys, time; open(sys.argv[1], 'w').close(); end = time.time() + 20\n"
              "while not os.path.exists(sys.argv[2]) and time.time() < end: time.sleep(0.05)\n"
              "open(sys.argv[1] + '.done', 'w').close()")
    queue = ("import os, subprocess, sys, time; subprocess.Popen([sys.executable, '-c', *sys.argv[1:]]); "
             "[time.sleep(0.05) for _ in range(200) if not os.path.exists(sys.argv[2])]; print('queue done')")
    tool = ("import os, sys; sys.path.insert(0, sys.argv[1]); import fanout; "
            "sys.exit(fanout.run_until_exit([sys.executable, '-c', *sys.argv[2:]], env=dict(os.environ)))")
    try:
        proc = subprocess.run([sys.executable, "-c", tool, str(ROOT / "tools"), queue, worker, str(started),
                               str(release)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "queue done" in proc.stdout, proc
        assert started.exists() and not Path(f"{started}.done").exists()  # the worker, holding the pipe, runs on
    finally:
        release.touch()
