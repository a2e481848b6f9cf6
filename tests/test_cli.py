"""The `tunesmith` command's conventions (issue 33): --version, -v/-q after the subcommand, no TensorFlow
banners where nothing trains, a missing --params file is one line, one default per option in --help,
shell completion, and `tunesmith score` through the Python API."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tunesmith
from tunesmith import cli

ROOT = Path(__file__).resolve().parents[1]
PIECE = "X:1\nT:Test\nM:4/4\nL:1/4\nK:C\nC D E z | E2 C2 |]\n"
COMMANDS = ("generate", "score", "compare", "sweeps", "inspect", "completion")


def _error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"tunesmith {tunesmith.__version__}\n"


@pytest.mark.parametrize(("argv", "level"), [
    (["inspect", "x"], logging.INFO),
    (["-v", "inspect", "x"], logging.DEBUG),
    (["inspect", "x", "-v"], logging.DEBUG),
    (["-q", "inspect", "x"], logging.WARNING),
    (["inspect", "-q", "x"], logging.WARNING),
    (["compare", "--rev", "main", "--quiet"], logging.WARNING),
    (["generate", "--model", "m", "--out", "o", "--verbose"], logging.DEBUG),
])
def test_verbose_and_quiet_go_before_or_after_the_subcommand(argv, level):
    assert cli.log_level(cli._parser().parse_args(argv)) == level


def test_verbose_and_quiet_together_is_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["-v", "inspect", "x", "-q"])
    assert info.value.code == 2
    assert _error_lines(capsys)[-1] == "tunesmith: error: -v/--verbose and -q/--quiet do not go together"


def test_tensorflow_quiet_before_anything_imports_it(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert cli.main(["completion", "bash"]) == 0
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"


def test_a_missing_params_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["generate", "--model", str(tmp_path / "model"), "--out", str(out),
                     "--params", str(tmp_path / "params-x.yaml")]) == 2
    assert _error_lines(capsys) == [f"tunesmith: error: --params {tmp_path / 'params-x.yaml'}: no such file"]
    assert not out.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_gives_one_default_per_option(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = capsys.readouterr().out
    options = text.split("options:\n", 1)[1]
    entries = re.split(r"\n(?=  -)", options)  # one entry per option, its help wrapped under it
    assert len(entries) >= 3
    for entry in entries:
        assert len(re.findall(r"\bdefault\b", " ".join(entry.split()), flags=re.I)) <= 1, entry
    if command == "generate":
        assert "(default: 0)" in text and "(default: None)" not in text


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_name_the_commands_and_options(shell, tmp_path, capsys):
    assert cli.main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in (*COMMANDS, "--max-length", "--primer-mode", "--unknown"):
        assert word in script, word
    if shell == "zsh":
        assert script.startswith("#compdef tunesmith")
    checker = shutil.which(shell)
    if checker is not None:  # the script parses in its shell
        (tmp_path / "completion").write_text(script)
        subprocess.run([checker, "-n", str(tmp_path / "completion")], check=True)


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`tunesmith completion bash | head -1`: the pipe closes before the script is written; the command
    ends quietly with 141 (128 + SIGPIPE, what a shell reports) instead of a BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte
    proc = subprocess.run([sys.executable, "-m", "tunesmith.cli", "completion", "bash"], stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert "Traceback" not in proc.stderr


def test_commands_that_do_not_train_import_no_tensorflow(tmp_path):
    (tmp_path / "vocab.json").write_text('{"corpus": "essen", "symbols": ["/", "60"], "special": {"end": "/"}}')
    code = ("import sys\n"
            "from tunesmith.cli import main\n"
            "import dvc.api, dvc.repo, tunesmith.compare.run, tunesmith.compare.page, tunesmith.compare.samples\n"
            "import tunesmith.compare.sweeps, tunesmith.render.plots\n"
            f"assert main(['inspect', {str(tmp_path)!r}]) == 0 and main(['completion', 'zsh']) == 0\n"
            "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.stdout.strip().splitlines()[-1] == "LOADED []"


def test_score_prints_the_apis_summary_without_tensorflows_banners(tiny_model_dir, tmp_path):
    """One child process, as a user runs it: TensorFlow loads (the model) and prints none of its banners."""
    piece = tmp_path / "piece.abc"
    piece.write_text(PIECE)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-m", "tunesmith.cli", "score", "--model", str(tiny_model_dir),
                           str(piece), "-q"], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(rf"{re.escape(str(piece))}: \d+\.\d{{4}} nats/symbol, \d+\.\d{{3}} nats/note "
                        r"\(33 symbols, 5 notes, 1 piece\); no cache\n", proc.stdout)
    for banner in ("oneDNN", "cpu_feature_guard", "absl::InitializeLog", "I0000"):
        assert banner not in proc.stderr, proc.stderr


def test_score_of_unknown_symbols_is_one_line(tiny_model_dir, tmp_path, capsys):
    piece = tmp_path / "other.abc"
    piece.write_text(PIECE.replace("C D E z", "C D F z"))
    assert cli.main(["score", "--model", str(tiny_model_dir), str(piece)]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith(f"tunesmith: error: {piece}: 1 symbol not in the vocabulary")
    assert "'65' (1x)" in lines[0]
