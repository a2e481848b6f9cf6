"""The CI retraining workflow passes a workflow linter and the GitHub workflow schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github/workflows/retrain.yml"
BIN = Path(sys.executable).parent


def test_workflow_passes_zizmor():
    proc = subprocess.run([str(BIN / "zizmor"), "--offline", str(WORKFLOW)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_matches_the_github_schema():
    proc = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           str(WORKFLOW)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_reproduces_and_compares_with_main():
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["retrain"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "make repro" in runs and "make compare REV=origin/main" in runs
    assert "GITHUB_STEP_SUMMARY" in runs


@pytest.mark.parametrize("command", [[], ["generate"], ["compare"], ["sweeps"], ["inspect"]])
def test_help_is_plain_text(command, capsys):
    from tunesmith.cli import main

    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "usage: tunesmith" in out
    for rst in ("``", "::", "`"):  # reStructuredText markup reads as noise in a terminal
        assert rst not in out, (rst, out)
