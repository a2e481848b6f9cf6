"""The lock files `make install` installs from: every dependency of pyproject.toml pinned in them,
within its range, every pin with hashes, one TensorFlow (never tensorflow-cpu beside it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# what each lock is compiled with (`make lock`): the base, the dev and benchmark extras, and CUDA for gpu
LOCKS = {"cpu": ["dev", "benchmark"], "gpu": ["dev", "benchmark", "gpu"]}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(kind: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of ``requirements/<kind>.lock`` (pip's requirement-file format)."""
    text = (ROOT / "requirements" / f"{kind}.lock").read_text()
    pins: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", block)
        if m:
            pins[canonical(m.group(1))] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def requirements(extras: list[str]) -> list[tuple[str, str]]:
    """(canonical name, specifier) of the base dependencies and of ``extras``."""
    reqs = list(PROJECT["dependencies"])
    for extra in extras:
        reqs += PROJECT["optional-dependencies"][extra]
    out = []
    for req in reqs:
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*([^;]*)", req.strip())
        assert m, req
        out.append((canonical(m.group(1)), m.group(2).strip()))
    return out


def release(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.match(r"\d+(?:\.\d+)*", version).group(0).split("."))


def satisfies(version: str, spec: str) -> bool:
    """``version`` within ``spec`` of the forms pyproject uses (``>=a``, ``<b``, comma-joined)."""
    ops = {">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "==": lambda a, b: a == b}
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        op, bound = re.fullmatch(r"(>=|<|==)\s*(\S+)", clause).groups()
        if not ops[op](release(version), release(bound)):
            return False
    return True


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_every_dependency_is_pinned_within_its_range_with_hashes(kind):
    pins = read_lock(kind)
    for name, spec in requirements(LOCKS[kind]):
        assert name in pins, f"{name} is not in requirements/{kind}.lock: run `make lock`"
        assert satisfies(pins[name][0], spec), f"{kind}.lock pins {name}=={pins[name][0]}, outside {spec!r}"
    unhashed = sorted(n for n, (_, hashes) in pins.items() if not hashes)
    assert not unhashed, f"pins without hashes in {kind}.lock: {unhashed}"
    assert len(pins) > 100  # the whole closure, not the direct dependencies only


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_one_tensorflow_and_no_tensorflow_cpu(kind):
    pins = read_lock(kind)
    assert "tensorflow" in pins and "tensorflow-cpu" not in pins
    # project ranges: no exact pins (the lock holds those) and no second TensorFlow package
    names = [name for name, _ in requirements(list(PROJECT["optional-dependencies"]))]
    assert "tensorflow-cpu" not in names
    assert not [r for r in PROJECT["dependencies"] if "==" in r]


def test_gpu_lock_adds_cuda_to_the_cpu_set_at_the_same_versions():
    """So `make install GPU=1` over a CPU venv only adds packages (and back only removes them)."""
    cpu, gpu = read_lock("cpu"), read_lock("gpu")
    assert {n: v for n, (v, _) in cpu.items()} == {n: gpu[n][0] for n in cpu}
    added = set(gpu) - set(cpu)
    assert added and all(n.startswith("nvidia-") for n in added)


def test_license_is_an_spdx_expression():
    assert PROJECT["license"] == "MIT"
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77
               for r in PYPROJECT["build-system"]["requires"])
