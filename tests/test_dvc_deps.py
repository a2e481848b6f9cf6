"""The graph knows its code: every module a stage runs is one of its DVC deps.

Each stage script's import closure within ``src/tunesmith`` (imports inside
functions included, since stages import heavy modules lazily) must be covered
by that stage's ``deps`` in dvc.yaml, either by the file itself or by a folder
holding it. Otherwise editing, say, a decoding function would leave
``dvc repro`` saying "up to date" with stale samples.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "tunesmith"
sys.path.insert(0, str(ROOT / "tools"))
import deps  # noqa: E402  -- tools/deps.py, the generator of the deps this file checks

STAGES = [(f"{pipeline}:{name}", script, per_track, deps.declared(body))
          for pipeline in deps.PIPELINES for name, body, _, script, per_track in deps.stages(pipeline)]


def test_dvc_yaml_runs_stage_scripts():
    names = {name.split(":")[1] for name, *_ in STAGES}
    assert names >= {"fetch", "prepare", "encode", "vocab", "train", "generate", "evaluate", "report", "bl_train"}


@pytest.mark.parametrize(("stage", "script", "per_track", "declared"), STAGES, ids=[s[0] for s in STAGES])
def test_code_deps_are_exactly_the_import_closure(stage, script, per_track, declared):
    """Every module the stage can run is a dep, and nothing else is: `python tools/deps.py` writes them."""
    pipeline = stage.split(":")[0]
    want = deps.expected(pipeline)[stage.split(":")[1]]
    have = [d for d in declared if d.removeprefix("../").startswith(("src/tunesmith", "stages/"))]
    assert sorted(set(want) - set(have)) == [], f"{stage} runs these but does not depend on them"
    assert sorted(set(have) - set(want)) == [], f"{stage} depends on these but never runs them"


def _stages_depending_on(path: str) -> set[str]:
    """The dvc.yaml stages (per track resolved through the kinds in params.yaml) a file is a dep of."""
    import yaml

    kinds = {name: spec["kind"] for name, spec in yaml.safe_load((ROOT / "params.yaml").read_text())["tracks"].items()}
    hit = set()
    for stage, _, per_track, declared in STAGES:
        if not stage.startswith("dvc.yaml:"):
            continue
        name = stage.split(":")[1]
        for track, kind in (kinds.items() if per_track else [(None, None)]):
            folders = [d.replace("${item.kind}", kind) if kind else d for d in declared]
            if any(path == d or path.startswith(d.rstrip("/") + "/") for d in folders):
                hit.add(f"{name}@{track}" if track else name)
    return hit


def test_editing_the_samplers_reruns_generate_only():
    """The samplers' code is generate's alone: evaluate and the report rerun on its new samples."""
    stale = {s.split("@")[0] for s in _stages_depending_on("src/tunesmith/generation/samplers.py")}
    assert stale == {"generate"}


@pytest.mark.parametrize("kind_file", ["src/tunesmith/tracks/abc/track.py", "src/tunesmith/tracks/melody/track.py",
                                       "src/tunesmith/tracks/piano/pianoroll.py"])
def test_editing_one_kind_never_makes_another_tracks_stages_stale(kind_file):
    stale = _stages_depending_on(kind_file)
    tracks = {s.split("@")[1] for s in stale if "@" in s}
    assert len(tracks) == 1 and "train@" + tracks.pop() in stale


def test_editing_the_report_reruns_the_report_only():
    assert _stages_depending_on("src/tunesmith/report/sections.py") == {"report"}


def test_the_closure_follows_lazy_and_relative_imports():
    """The generator itself: a stage importing inside a function still reaches the module's own imports."""
    closure = deps.import_closure(ROOT / "stages" / "evaluate.py")
    names = {p.relative_to(PACKAGE).as_posix() for p in closure}
    assert "config/load.py" in names  # a top-level import of the stage
    assert "modeling/models.py" in names  # reached only through a function-level import and further modules


def test_a_missing_dep_is_reported():
    """The generator itself: generate runs the decoder, so a dvc.yaml without it would be caught."""
    _, _, _, declared = next(s for s in STAGES if s[0] == "dvc.yaml:generate")
    module = "src/tunesmith/generation/decode.py"
    pruned = [d for d in declared if d != module]
    assert pruned != declared
    assert set(deps.expected("dvc.yaml")["generate"]) - set(pruned) == {module}


def test_import_tunesmith_loads_no_track():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tunesmith.core.errors, tunesmith"],
                         capture_output=True, text=True, check=True).stderr
    loaded = [line.rsplit("|", 1)[1].strip() for line in out.splitlines() if "tunesmith" in line]
    assert loaded and not [m for m in loaded if m.startswith("tunesmith.tracks")], loaded


def test_bytecode_caches_leave_dvc_status_clean(tmp_path):
    """Importing a module writes __pycache__/ into the package folders that stages depend on; the
    project's .dvcignore keeps that from making the stages stale."""
    import os
    import shutil
    import subprocess
    import sys

    shutil.copytree(PACKAGE, tmp_path / "src" / "tunesmith",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".dvcignore", tmp_path / ".dvcignore")
    folders = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "src" / "tunesmith").iterdir()
                     if p.is_dir() and (p / "__init__.py").is_file())
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(
        {"stages": {"code": {"cmd": "true", "deps": ["src/tunesmith", *folders]}}}))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(tmp_path / "src")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def run(*args: str) -> str:
        proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    run("git", "init", "-q")
    run(sys.executable, "-m", "dvc", "init", "-q")
    run(sys.executable, "-m", "dvc", "repro", "-q")
    # every module byte-compiled where an import would write it (compileall writes the same __pycache__/
    # files; importing them all would also load TensorFlow for nothing)
    run(sys.executable, "-m", "compileall", "-q", "src/tunesmith")
    assert list((tmp_path / "src" / "tunesmith").rglob("__pycache__/*.pyc")), "nothing was byte-compiled"
    assert "up to date" in run(sys.executable, "-m", "dvc", "status")
