"""The per-file time limit holds even where the code it interrupts swallows the exception."""

from __future__ import annotations

import time

import pytest

from tunesmith.core.workers import TimeLimitExceeded, time_limit


def _busy(seconds: float, *, swallow: bool) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sum(range(1000))
        except BaseException:  # a parser's catch-all, or a __del__ whose exception Python only prints
            if not swallow:
                raise


def test_a_block_past_its_limit_is_interrupted() -> None:
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match=r"longer than 0\.05 s"), time_limit(0.05):
        _busy(5, swallow=False)
    assert time.monotonic() - start < 4


def test_a_swallowed_expiry_still_ends_in_time_limit_exceeded() -> None:
    with pytest.raises(TimeLimitExceeded), time_limit(0.05):
        _busy(0.3, swallow=True)


def test_a_block_within_its_limit_runs_untouched() -> None:
    with time_limit(5):
        _busy(0.05, swallow=False)
    with time_limit(0):  # 0: no limit
        _busy(0.05, swallow=False)


def test_a_stage_process_freezes_its_objects_after_every_other_exit_handler(tmp_path) -> None:
    """`run` (every stage) and the CLI end without the collector's last walk over their objects: the freeze
    runs after the exit handlers registered later (TensorFlow's, logging's), and the process still exits 0
    with what those handlers wrote."""
    import subprocess
    import sys

    out = tmp_path / "seen.txt"
    script = (
        "import atexit, gc, sys\n"
        "from tunesmith.core.workers import skip_final_collection\n"
        "skip_final_collection()\n"
        f"atexit.register(lambda: open({str(out)!r}, 'w').write(str(gc.get_freeze_count())))\n"
        "atexit.register(lambda: sys.stdout.write('handler ran\\n'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "handler ran\n", proc.stderr
    assert out.read_text() == "0"  # the later handlers ran before the freeze
    frozen = subprocess.run(
        [sys.executable, "-c", "import atexit, gc\nfrom tunesmith.core.workers import skip_final_collection\n"
         "skip_final_collection()\natexit._run_exitfuncs()\nprint(gc.get_freeze_count() > 1000)"],
        capture_output=True, text=True, timeout=60)
    assert frozen.stdout.strip() == "True", frozen.stderr


def test_every_stage_and_the_cli_skip_the_final_collection(monkeypatch, tmp_path) -> None:
    import argparse

    import tunesmith.cli as cli
    import tunesmith.pipeline.common as common

    calls = []
    monkeypatch.setattr(common, "skip_final_collection", lambda: calls.append("stage"))
    monkeypatch.setattr(cli, "skip_final_collection", lambda: calls.append("cli"))
    params = tmp_path / "params.yaml"
    params.write_text("tracks: {essen: {kind: melody}}\n")
    common.run(lambda args, p: calls.append("main"), argparse.Namespace(corpus="essen", params=params))
    assert cli.main(["completion", "bash"]) == 0
    assert calls == ["stage", "main", "cli"]
