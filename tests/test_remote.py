"""A shared DVC remote on a real server: WebDAV (wsgidav) on 127.0.0.1, as docs/team.md sets one up.

One clone runs a toy pipeline twice (its committed params, then other params never committed) and
pushes the outputs and run-cache after each; a second clone pulls them, is clean, and reproduces
both without running a command:
what `dvc pull --run-cache && dvc repro --pull` does for a trained model, whose output is a plain
(non-persist) output for this reason (tests/test_experiments.py checks the real dvc.yaml).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PUSH = Path(__file__).resolve().parents[1] / "tools" / "push_run_cache.py"

pytestmark = pytest.mark.slow

# The toy stage: a "model" folder (a plain, cached output) from an input file and a param, plus a
# metrics file in git (cache: false), like train. Each run appends a line to ../runs.log (outside
# both clones): that log says whether a command ran or its outputs came from the run-cache.
DVC_YAML = """\
stages:
  train:
    cmd: >-
      python -c "import pathlib, yaml; p = yaml.safe_load(open('params.yaml'))['train'];
      m = pathlib.Path('model'); m.mkdir(exist_ok=True);
      (m / 'weights.txt').write_text(open('input.txt').read() * p['epochs']);
      open('metrics.json', 'w').write('{\\"epochs\\": %d}' % p['epochs']);
      open('../runs.log', 'a').write('ran %d\\n' % p['epochs'])"
    deps: [input.txt]
    params: [train.epochs]
    outs: [model]
    metrics:
      - metrics.json:
          cache: false
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webdav(tmp_path_factory):
    """A WebDAV server on 127.0.0.1 serving an empty folder, anonymous; its URL for DVC."""
    root = tmp_path_factory.mktemp("dav")
    port = _free_port()
    server = subprocess.Popen([str(BIN / "wsgidav"), "--host", "127.0.0.1", "--port", str(port), "--root", str(root),
                               "--auth", "anonymous", "--no-config", "--server", "cheroot", "-q"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None, "wsgidav exited"
                time.sleep(0.1)
        yield f"webdav://127.0.0.1:{port}/", root
    finally:
        server.terminate()
        server.wait(timeout=10)


def _run(cwd: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def test_outputs_and_run_cache_travel_through_a_webdav_remote(webdav, tmp_path):
    url, served = webdav
    first, second, log = tmp_path / "first", tmp_path / "second", tmp_path / "runs.log"
    first.mkdir()
    (first / "dvc.yaml").write_text(DVC_YAML)
    (first / "params.yaml").write_text("train:\n  epochs: 2\n")
    (first / "input.txt").write_text("la ")
    _run(first, "git", "init", "-q")
    _run(first, "dvc", "init", "-q")
    _run(first, "dvc", "remote", "add", "-d", "shared", url)  # committed: every clone has it
    _run(first, "dvc", "repro")
    _run(first, "git", "add", "-A")
    _run(first, "git", "commit", "-qm", "toy pipeline and its results")
    _run(first, "dvc", "push", "--run-cache")
    # a second run that is never committed (CI on a branch, a colleague's try): pushed with its run-cache
    (first / "params.yaml").write_text("train:\n  epochs: 3\n")
    _run(first, "dvc", "repro")
    _run(first, sys.executable, str(PUSH))  # dvc push --run-cache, and the entries' metrics files too
    _run(first, "git", "checkout", "--", "params.yaml", "dvc.lock", "metrics.json")
    assert log.read_text() == "ran 2\nran 3\n"
    assert list(served.rglob("runs/*/*/*")), "no run-cache on the server"

    _run(tmp_path, "git", "clone", "-q", str(first), str(second))
    _run(second, "dvc", "pull", "--run-cache")
    assert (second / "model/weights.txt").read_text() == "la la "
    assert "up to date" in _run(second, "dvc", "status")
    assert "didn't change, skipping" in _run(second, "dvc", "repro")
    # the experiment's params on the second machine: restored from the run-cache, not run. `--pull`:
    # `dvc pull --run-cache` fetches the run-cache's entries, their outputs only when a stage needs them
    (second / "params.yaml").write_text("train:\n  epochs: 3\n")
    out = _run(second, "dvc", "repro", "--pull")
    assert "is cached - skipping run" in out, out
    assert (second / "model/weights.txt").read_text() == "la la la "
    assert (second / "metrics.json").read_text() == '{"epochs": 3}'
    assert log.read_text() == "ran 2\nran 3\n"  # nothing ran on the second machine
    shutil.rmtree(second / "model")
