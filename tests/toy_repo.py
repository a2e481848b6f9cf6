"""What the tests of the fan-out tools share (tests/test_noise_fanout.py, tests/test_repro_fanout.py):
git, DVC and the tools run in a toy repository with this venv's programs first on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def env() -> dict[str, str]:
    """This environment, this venv first on PATH, a git identity, no analytics, and no checkpoint root
    of a real workspace (tools/fanout.py sets one for the stages it queues)."""
    base = {k: v for k, v in os.environ.items() if k != "TUNESMITH_CHECKPOINT_ROOT"}
    return {**base, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t.invalid"}


def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """``args`` in ``repo`` with :func:`env`, output captured."""
    return subprocess.run(args, cwd=repo, env=env(), capture_output=True, text=True, timeout=600)


def ok(repo: Path, *args: str) -> str:
    """:func:`run`, which must succeed; its stdout and stderr."""
    proc = run(repo, *args)
    assert proc.returncode == 0, f"{' '.join(args)} -> {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr
