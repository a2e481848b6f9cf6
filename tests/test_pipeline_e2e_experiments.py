"""The real pipeline's experiments and comparisons: `dvc exp run`, `tunesmith sweeps` and
`tunesmith compare`, in a copy of test_pipeline_e2e's reproduced repository (a module apart, so
pytest-xdist runs it beside that module's own checks)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from test_pipeline_e2e import BIN, _dvc, _git, copy_of_built

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return copy_of_built(tmp_path_factory)


@pytest.fixture(scope="module")
def knob_experiment(repo) -> str:
    """`dvc exp run` of one generation knob on a commit of the first results (the team workflow:
    dvc.lock with the metrics and plots; -f: the fixture's .gitignore ignores /data/); its output.
    The sweep chart reads this experiment too (one experiment, not two: each reruns generation and
    the report)."""
    _git(repo, "add", "-f", "dvc.lock", "data/metrics", *map(str, repo.glob("data/live/*/plots")))
    _git(repo, "commit", "-qm", "first results")
    return _dvc(repo, "exp", "run", "-S", "generate.essen.seed=7")


def test_a_generation_knob_reruns_only_generation(knob_experiment):
    ran = sorted(set(re.findall(r"Running stage '([^']+)'", knob_experiment)))
    # generation and what follows it, never training or the data stages
    assert ran == ["evaluate@essen", "generate@essen", "report"], knob_experiment


def test_sweep_summary_charts_the_experiments(repo, knob_experiment, tmp_path):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(repo / "src"),
           "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([str(BIN / "tunesmith"), "sweeps", "--corpus", "essen", "--metric", "model.nll",
                           "--out", str(tmp_path)], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "sweeps_essen.md").read_text()
    assert "| generate.essen.seed=7 |" in table  # the experiment, labelled by what it changed
    assert "(baseline)" in table
    assert (tmp_path / "sweeps_essen.png").stat().st_size > 1000


def test_compare_with_an_earlier_revision(repo, tmp_path):
    # the team workflow: dvc.lock with the metrics and plots (cache: false). -f: this fixture
    # ignores /data/; the project's .gitignore lets these two folders through
    _git(repo, "add", "-f", "dvc.lock", "data/metrics", *map(str, repo.glob("data/live/*/plots")))
    _git(repo, "commit", "-qm", "first results")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["essen"]["learning_rate"] = 0.01
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _dvc(repo, "repro", "train@essen")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(repo / "src"),
           "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([str(BIN / "tunesmith"), "compare", "--rev", "HEAD", "--out", str(tmp_path / "cmp")],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "cmp/report.md").read_text()
    assert "train.essen.learning_rate" in report and "0.01" in report
    assert "data/metrics/essen/train.json" in report
    headline = [line for line in report.split("## Headline metrics")[1].split("## Loss curves")[0].splitlines()
                if line.startswith("| ") and not line.startswith("| metric")]
    assert len(headline) >= 3 * 4 and all(" | - |" not in line for line in headline), headline
    assert (tmp_path / "cmp/loss_essen.png").exists() and "![essen loss](loss_essen.png)" in report
