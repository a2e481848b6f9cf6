"""Every CI workflow passes a workflow linter and the GitHub workflow schema; the test and retrain
workflows do what docs/team.md says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.y*ml"))
WORKFLOW = ROOT / ".github/workflows/retrain.yml"
BIN = Path(sys.executable).parent


def _load(path: Path) -> dict:
    spec = yaml.safe_load(path.read_text())
    spec["on"] = spec.pop(True, spec.get("on"))  # YAML 1.1 reads the key `on` as True
    return spec


def test_there_are_workflows():
    assert {p.name for p in WORKFLOWS} >= {"retrain.yml", "test.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_passes_zizmor(workflow):
    proc = subprocess.run([str(BIN / "zizmor"), "--offline", str(workflow)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_matches_the_github_schema(workflow):
    proc = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           str(workflow)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_tests_run_on_every_push_and_pull_request_with_pip_cached():
    spec = _load(ROOT / ".github/workflows/test.yml")
    assert "push" in spec["on"] and "pull_request" in spec["on"]
    steps = spec["jobs"]["test"]["steps"]
    assert any("make test" in step.get("run", "") for step in steps)
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["cache"] == "pip" and python["with"]["cache-dependency-path"] == "pyproject.toml"


def test_workflow_reproduces_and_compares_with_main():
    spec = _load(WORKFLOW)
    steps = spec["jobs"]["retrain"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "make repro" in runs and "make compare REV=origin/main" in runs
    assert "GITHUB_STEP_SUMMARY" in runs
    # on pull requests, not for docs; the run-cache pulled before and pushed after
    assert "pull_request" in spec["on"] and {"docs/**", "**.md"} <= set(spec["on"]["pull_request"]["paths-ignore"])
    assert runs.index("dvc pull --run-cache") < runs.index("dvc repro --pull") < runs.index("tools/push_run_cache.py")
    assert "cml comment create --publish report.md" in runs  # images published: they render in the comment
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["cache"] == "pip"


@pytest.mark.parametrize("command", [[], ["generate"], ["compare"], ["sweeps"], ["inspect"]])
def test_help_is_plain_text(command, capsys):
    from tunesmith.cli import main

    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "usage: tunesmith" in out
    for rst in ("``", "::", "`"):  # reStructuredText markup reads as noise in a terminal
        assert rst not in out, (rst, out)
