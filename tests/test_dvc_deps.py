"""The graph knows its code: every module a stage runs is one of its DVC deps.

Each stage script's import closure within ``src/tunesmith`` (imports inside
functions included, since stages import heavy modules lazily) must be covered
by that stage's ``deps`` in dvc.yaml, either by the file itself or by a folder
holding it. Otherwise editing, say, a decoding function would leave
``dvc repro`` saying "up to date" with stale samples.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "tunesmith"


def _module_file(name: str) -> Path | None:
    """``tunesmith.a.b`` -> its file under src/ (module or package), or None if not ours."""
    if name != "tunesmith" and not name.startswith("tunesmith."):
        return None
    rel = Path(*name.split("."))
    for candidate in (ROOT / "src" / rel.with_suffix(".py"), ROOT / "src" / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "src").with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module name ``path`` imports, anywhere in the file (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _package_name(path) if path.is_relative_to(ROOT / "src") else ""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            # `from tunesmith import io` imports the submodule tunesmith.io
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def import_closure(script: Path) -> set[Path]:
    """Files of src/tunesmith that running ``script`` may execute (parent packages' __init__ included)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        current = todo.pop()
        for name in _imported_modules(current):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
                found = _module_file(".".join(parts[:i]))
                if found and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return seen


PIPELINES = ("dvc.yaml", "benchmark/dvc.yaml", "noise/dvc.yaml")
"""The default graph, the benchmark tracks' graph and the seeds (stages run from the repository root)."""


def _stages() -> list[tuple[str, Path, list[str]]]:
    """(stage name, its script, its deps relative to the root) for every stage that runs a stages/ script."""
    out = []
    for pipeline in PIPELINES:
        spec = yaml.safe_load((ROOT / pipeline).read_text(encoding="utf-8"))
        for name, stage in spec["stages"].items():
            body = stage.get("do", stage)
            match = re.search(r"(?:\.\./)?stages/\w+\.py", body["cmd"])
            if not match:
                continue
            wdir = (ROOT / pipeline).parent / body.get("wdir", ".")
            deps = [next(iter(d)) if isinstance(d, dict) else d for d in body.get("deps", [])]
            deps = [(wdir / d).resolve().relative_to(ROOT).as_posix() for d in deps]
            out.append((f"{pipeline}:{name}", (wdir / match.group(0)).resolve(), deps))
    return out


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == d.rstrip("/") or rel.startswith(d.rstrip("/") + "/") for d in deps)


STAGES = _stages()


def test_dvc_yaml_runs_stage_scripts():
    names = {name.split(":")[1] for name, _, _ in STAGES}
    assert names >= {"fetch", "prepare", "encode", "vocab", "train", "generate", "evaluate", "report", "bl_train"}


@pytest.mark.parametrize(("stage", "script", "deps"), STAGES, ids=[s[0] for s in STAGES])
def test_every_imported_module_is_a_dep(stage, script, deps):
    assert script.relative_to(ROOT).as_posix() in deps, f"{stage}: its own script is not a dep"
    missing = sorted(p.relative_to(ROOT).as_posix() for p in import_closure(script) if not _covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage!r} runs these modules but does not depend on them: {missing}"


def test_the_closure_follows_lazy_and_relative_imports(tmp_path):
    """The checker itself: a stage importing inside a function still reaches the module's own imports."""
    closure = import_closure(ROOT / "stages" / "evaluate.py")
    names = {p.relative_to(PACKAGE).as_posix() for p in closure}
    assert "config.py" in names  # a top-level import of the stage
    assert "models.py" in names  # reached only through a function-level import and further modules


def test_a_removed_dep_is_reported():
    """The checker itself: dropping the dep on a module generate runs makes that module missing."""
    _, script, deps = next(s for s in STAGES if s[0] == "dvc.yaml:generate")
    module = PACKAGE / "generation.py"
    assert module in import_closure(script)
    pruned = [d for d in deps if not _covered(module, [d])]
    assert pruned != deps
    assert not _covered(module, pruned)


def test_bytecode_caches_leave_dvc_status_clean(tmp_path):
    """Importing every module writes __pycache__/ into the package folders that stages depend on;
    the project's .dvcignore keeps that from making the stages stale."""
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
    modules = sorted(".".join(p.relative_to(tmp_path / "src").with_suffix("").parts)
                     for p in (tmp_path / "src" / "tunesmith").rglob("*.py") if p.name != "__init__.py")
    run(sys.executable, "-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)", *modules)
    assert list((tmp_path / "src" / "tunesmith").rglob("__pycache__/*.pyc")), "nothing was byte-compiled"
    assert "up to date" in run(sys.executable, "-m", "dvc", "status")
