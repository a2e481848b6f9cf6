"""Write each DVC stage's code deps: exactly the modules its script can run.

    python tools/deps.py          # rewrite dvc.yaml, noise/dvc.yaml, benchmark/dvc.yaml in place
    python tools/deps.py --check  # exit 1 and list the stages whose deps differ (tests run this)

A stage's code is the import closure of its script within ``src/tunesmith`` (imports inside
functions included). Tracks are imported by name (:func:`tunesmith.tracks.get_track`), so a
stage that reaches the registry also runs its track's kind: a ``foreach`` stage over
``tracks`` depends on ``src/tunesmith/tracks/${item.kind}`` (that kind's folder), a stage over
every track on every kind's folder. Other deps (data, params) are kept as written.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "tunesmith"
PIPELINES = ("dvc.yaml", "noise/dvc.yaml", "benchmark/dvc.yaml")
REGISTRY = PACKAGE / "tracks" / "__init__.py"
KIND_DEP = "src/tunesmith/tracks/${item.kind}"
PACKAGE_DATA = {
    PACKAGE / "sources" / "manifest.py": "src/tunesmith/sources/manifests",  # the pinned manifests
    PACKAGE / "report" / "page.py": "src/tunesmith/templates",  # the report's template and stylesheet
}
"""Modules that read package data, and the folder they read."""


def module_file(name: str) -> Path | None:
    """``tunesmith.a.b`` -> its file (module or package ``__init__``), or None if not ours."""
    if name != "tunesmith" and not name.startswith("tunesmith."):
        return None
    rel = Path(*name.split("."))
    for candidate in (SRC / rel.with_suffix(".py"), SRC / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def imported_modules(path: Path) -> set[str]:
    """Every module name ``path`` imports, anywhere in the file (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _package_name(path) if path.is_relative_to(SRC) else ""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from a import submodule`
    return names


def import_closure(*scripts: Path) -> set[Path]:
    """Files of src/tunesmith that running ``scripts`` may execute (parent packages' __init__ included)."""
    seen: set[Path] = set()
    todo = list(scripts)
    while todo:
        current = todo.pop()
        for name in imported_modules(current):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
                found = module_file(".".join(parts[:i]))
                if found and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return seen


def kinds() -> list[str]:
    return sorted(p.name for p in (PACKAGE / "tracks").iterdir() if (p / "track.py").is_file())


def stage_helpers(script: Path) -> list[Path]:
    """The modules beside ``script`` in stages/ that it imports, transitively (``_bootstrap``, which
    puts this checkout's src/ first on sys.path, and ``bl_common``)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for name in imported_modules(todo.pop()):
            found = script.parent / f"{name}.py"
            if "." not in name and found.is_file() and found != script and found not in seen:
                seen.add(found)
                todo.append(found)
    return sorted(seen)


def code_deps(script: Path, *, per_track: bool) -> list[str]:
    """The code deps of a stage running ``script``, relative to the repository root."""
    helpers = stage_helpers(script)
    files = import_closure(script, *helpers)
    folders: list[str] = []
    if REGISTRY in files:
        kind_dirs = [PACKAGE / "tracks" / k for k in kinds()]
        files |= import_closure(*(d / "track.py" for d in kind_dirs))
        files = {f for f in files if not any(f.is_relative_to(d) for d in kind_dirs)}
        folders = [KIND_DEP] if per_track else [d.relative_to(ROOT).as_posix() for d in kind_dirs]
    data = sorted({folder for module, folder in PACKAGE_DATA.items() if module in files})
    return [script.relative_to(ROOT).as_posix(), *(h.relative_to(ROOT).as_posix() for h in helpers),
            *sorted(f.relative_to(ROOT).as_posix() for f in files),
            *data, *folders]


def _is_code(dep: str) -> bool:
    return dep.startswith(("src/tunesmith", "stages/"))


def stages(pipeline: str):
    """(name, body, wdir, script, per_track) for every stage of ``pipeline`` that runs a script."""
    from ruamel.yaml import YAML

    spec = YAML().load((ROOT / pipeline).read_text(encoding="utf-8"))
    for name, stage in spec["stages"].items():
        body = stage.get("do", stage)
        match = re.search(r"(?:\.\./)?stages/\w+\.py", body["cmd"])
        if match:
            wdir = (ROOT / pipeline).parent / body.get("wdir", ".")
            per_track = "foreach" in stage and str(stage["foreach"]).strip() == "${tracks}"
            yield name, body, wdir, (wdir / match.group(0)).resolve(), per_track


def expected(pipeline: str) -> dict[str, list[str]]:
    """Each stage's code deps as dvc.yaml should list them (relative to the stage's wdir)."""
    out = {}
    for name, _, wdir, script, per_track in stages(pipeline):
        rel = Path(*[".."] * len(wdir.resolve().relative_to(ROOT).parts)) if wdir.resolve() != ROOT else Path()
        out[name] = [(rel / d).as_posix() for d in code_deps(script, per_track=per_track)]
    return out


def declared(body) -> list[str]:
    return [str(next(iter(d)) if isinstance(d, dict) else d) for d in body.get("deps", [])]


def _code_of(deps: list[str]) -> list[str]:
    return [d for d in deps if _is_code(d.removeprefix("../"))]


def rewrite(pipeline: str) -> None:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    path = ROOT / pipeline
    spec = yaml.load(path.read_text(encoding="utf-8"))
    want = expected(pipeline)
    for name, stage in spec["stages"].items():
        if name not in want:
            continue
        body = stage.get("do", stage)
        others = [d for d in body.get("deps", []) if not _is_code(str(next(iter(d)) if isinstance(d, dict) else d)
                                                                  .removeprefix("../"))]
        body["deps"] = [*want[name], *others]
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(spec, fh)


def check() -> list[str]:
    problems = []
    for pipeline in PIPELINES:
        want = expected(pipeline)
        for name, body, *_ in stages(pipeline):
            have = _code_of(declared(body))
            if have != want[name]:
                missing = sorted(set(want[name]) - set(have))
                extra = sorted(set(have) - set(want[name]))
                problems.append(f"{pipeline}:{name}: missing {missing}, not run {extra}"
                                if missing or extra else f"{pipeline}:{name}: order differs")
    return problems


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        found = check()
        print("\n".join(found) or "every stage's code deps are its import closure")
        sys.exit(1 if found else 0)
    for pipeline in PIPELINES:
        rewrite(pipeline)
    print("rewrote", ", ".join(PIPELINES))
