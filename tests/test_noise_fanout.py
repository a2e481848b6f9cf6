"""`make noise`'s fan-out (tools/noise.py) on a toy pipeline shaped like the real one: a vocab stage
in dvc.yaml, a seed matrix and a summary in noise/dvc.yaml. Each seed stage writes where it ran, so
the test sees that the seeds ran in the queue's temporary copies and that the final `dvc repro`
restored them from the run-cache instead of running them again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import toy_repo

ROOT = Path(__file__).resolve().parents[1]
BIN = toy_repo.BIN

pytestmark = pytest.mark.slow

SEED_CMD = ("python -c \"import json, os, sys; d = 'data/seeds/' + sys.argv[1] + '/runs/seed-' + sys.argv[2]; "
            "os.makedirs(d, exist_ok=True); json.dump({'seed': int(sys.argv[2]), 'cwd': os.getcwd()}, "
            "open(d + '/seed.json', 'w'))\" ${item.track} ${item.seed}")
SUMMARY_CMD = ("python -c \"import glob, json, sys; runs = sorted(glob.glob('data/seeds/' + sys.argv[1] + "
               "'/runs/*/seed.json')); json.dump([json.load(open(r))['seed'] for r in runs], "
               "open('data/seeds/' + sys.argv[1] + '/seeds.json', 'w'))\" ${key}")


_run, _ok = toy_repo.run, toy_repo.ok


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    (repo / "noise").mkdir(parents=True)
    (repo / "params.yaml").write_text("tracks:\n  a: {kind: abc}\nnoise:\n  seeds: [0, 1, 2]\n")
    vocab_cmd = ("python -c \"import os; os.makedirs('data/vocab/${key}', exist_ok=True); "
                 "open('data/vocab/${key}/v.txt', 'w').write('v')\"")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({
        "stages": {"vocab": {"foreach": "${tracks}", "do": {"cmd": vocab_cmd, "outs": ["data/vocab/${key}"]}}}}))
    (repo / "noise/dvc.yaml").write_text(yaml.safe_dump({
        "vars": ["../params.yaml:tracks,noise"],
        "stages": {
            "seed": {"matrix": {"track": "${tracks}", "seed": "${noise.seeds}"}, "wdir": "..", "cmd": SEED_CMD,
                     "deps": ["data/vocab/${item.track}"], "outs": ["data/seeds/${item.track}/runs/seed-${item.seed}"]},
            "seeds": {"foreach": "${tracks}", "do": {"wdir": "..", "cmd": SUMMARY_CMD,
                                                    "deps": ["data/seeds/${key}/runs"],
                                                    "outs": ["data/seeds/${key}/seeds.json"]}}}}))
    (repo / ".gitignore").write_text("/data/\n")
    _ok(repo, "git", "init", "-q")
    _ok(repo, str(BIN / "dvc"), "init", "-q")
    _ok(repo, "git", "add", "-A")
    _ok(repo, "git", "commit", "-qm", "toy noise pipeline")
    return repo


def test_seeds_run_in_the_queue_two_at_a_time_and_are_restored_not_rerun(repo):
    out = _ok(repo, sys.executable, str(ROOT / "tools/noise.py"), "--jobs", "2")
    assert "3 seed(s) queued, 2 at a time" in out
    runs = [json.loads((repo / f"data/seeds/a/runs/seed-{s}/seed.json").read_text()) for s in range(3)]
    # each seed ran in a temporary copy of the workspace (the queue's), none in the repository itself:
    # the final repro restored them from the run-cache
    assert all(Path(run["cwd"]).resolve() != repo.resolve() for run in runs), runs
    assert all(".dvc/tmp/exps" in run["cwd"] for run in runs), runs
    assert json.loads((repo / "data/seeds/a/seeds.json").read_text()) == [0, 1, 2]
    assert "up to date" in _ok(repo, str(BIN / "dvc"), "status", "noise/dvc.yaml")
    # the experiments it made are gone; a second run has nothing to queue
    assert "noise-" not in _ok(repo, str(BIN / "dvc"), "exp", "list", "--all-commits")
    assert "queued" not in _ok(repo, sys.executable, str(ROOT / "tools/noise.py"), "--jobs", "2")


def test_one_job_is_dvc_repro_in_the_workspace(repo):
    _ok(repo, sys.executable, str(ROOT / "tools/noise.py"), "--jobs", "1")
    run = json.loads((repo / "data/seeds/a/runs/seed-1/seed.json").read_text())
    assert Path(run["cwd"]).resolve() == repo.resolve()


def test_a_queue_holding_someone_elses_experiment_is_refused(repo):
    _ok(repo, str(BIN / "dvc"), "exp", "run", "--queue", "--name", "colleagues-sweep", "dvc.yaml:vocab@a")
    proc = _run(repo, sys.executable, str(ROOT / "tools/noise.py"), "--jobs", "2")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("noise: the experiment queue already holds colleagues-sweep")
    assert not (repo / "data/seeds").exists()


def test_a_seed_stage_fixes_tensorflows_threads():
    """stages/seed.py --threads N: TensorFlow starts with N intra- and inter-op threads (the pools that
    decide the order of its floating-point sums), whatever the machine's cores."""
    code = ("import sys; sys.path.insert(0, 'src'); from tunesmith.pipeline.common import fix_threads; "
            "fix_threads(1); import tensorflow as tf; "
            "tf.constant(1.0) + 1.0; "
            "print(tf.config.threading.get_intra_op_parallelism_threads(), "
            "tf.config.threading.get_inter_op_parallelism_threads())")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_NUM_", "OMP_NUM"))}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-2:] == ["1", "1"]
