"""The house rules of issue 20, checked on the code itself: imports only go down the layers
(no cycles), no module over 400 lines or function over 80, no package imports another's
``_private`` names, and `dvc plots show` draws offline."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "tunesmith"
sys.path.insert(0, str(ROOT / "tools"))
import deps  # noqa: E402  -- tools/deps.py: the import reader the DVC deps come from

LAYERS = ("core", "config", "tracks", "sources", "data", "modeling", "evaluation", "training", "render",
          "generation", ("benchmark", "report", "compare"), "pipeline", "api", "cli")
"""Bottom to top (docs/design.md draws them): a module imports its own package and those below it."""
RANK = {name: i for i, layer in enumerate(LAYERS) for name in (layer if isinstance(layer, tuple) else (layer,))}
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def _package(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _edges() -> dict[Path, set[Path]]:
    edges = {}
    for path in MODULES:
        targets = {deps.module_file(name) for name in deps.imported_modules(path)}
        edges[path] = {t for t in targets if t is not None and t != path}
    return edges


def test_every_package_has_a_layer():
    packages = {_package(p) for p in MODULES} - {"__init__"}
    assert packages <= set(RANK), sorted(packages - set(RANK))


def test_imports_point_down_the_layers():
    upward = [f"{a.relative_to(PACKAGE)} -> {b.relative_to(PACKAGE)}"
              for a, targets in _edges().items() for b in targets
              if _package(a) != "__init__" and _package(b) != "__init__" and RANK[_package(b)] > RANK[_package(a)]]
    assert upward == []


def test_no_import_cycle():
    edges = _edges()
    state: dict[Path, int] = {}
    cycle: list[Path] = []

    def visit(node: Path, stack: list[Path]) -> bool:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend([*stack[stack.index(nxt):], nxt])
                return True
            if nxt not in state and visit(nxt, [*stack, nxt]):
                return True
        state[node] = 2
        return False

    for module in MODULES:
        if module not in state and visit(module, [module]):
            break
    assert cycle == [], " -> ".join(str(p.relative_to(PACKAGE)) for p in cycle)


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The checker itself: two modules importing each other are reported."""
    pkg = tmp_path / "tunesmith"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("from tunesmith.core import b\n")
    (pkg / "core" / "b.py").write_text("from tunesmith.core import a\n")
    monkeypatch.setattr(deps, "SRC", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    monkeypatch.setattr(sys.modules[__name__], "MODULES", sorted(pkg.rglob("*.py")))
    with pytest.raises(AssertionError, match=r"core/a.py -> core/b.py -> core/a.py|core/b.py -> core/a.py"):
        test_no_import_cycle()


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_modules_and_functions_stay_short(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400, f"{path.name}: {len(text.splitlines())} lines"
    long = [f"{node.name}: {node.end_lineno - node.lineno + 1} lines" for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80]
    assert long == []


def test_no_package_imports_another_packages_private_names():
    found = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tunesmith."):
                target = node.module.split(".")[1]
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private and target != _package(path):
                    found.append(f"{path.relative_to(PACKAGE)}: {node.module} {private}")
    assert found == []


def test_dvc_plots_show_draws_offline(tmp_path):
    """The plots page carries Vega, Vega-Lite and Vega-Embed itself: no script from the network.
    (The loss curves: their TSVs are in git, so this works on a fresh clone too.)"""
    out = tmp_path / "plots"
    proc = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "loss", "-o", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script src=" not in page and "cdn.jsdelivr" not in page
    assert "vegaEmbed(" in page and page.count("<script>") >= 3
    assert "/dvc_plots/" in (ROOT / ".gitignore").read_text().splitlines()
