"""Make the running environment hold what a lock file names: uninstall every other distribution.

`make install` runs it with the venv's python before ``pip install -r requirements/<kind>.lock``:
pip only adds, so switching a venv from CPU to GPU (or back), or from the old ``tensorflow-cpu``
to ``tensorflow``, would otherwise leave the previous kind's packages beside the new ones.

Two distributions can own the same files (``tensorflow-cpu`` and ``tensorflow`` both install the
``tensorflow/`` package): removing one deletes files the other still lists. So a locked
distribution that shares a file with one being removed is removed too, and the lock installs it
again whole.

    python tools/sync_venv.py requirements/cpu.lock [--dry-run]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# never uninstalled: the installer itself and the project (installed editable after the lock)
KEEP = {"pip", "tunesmith"}


def canonical(name: str) -> str:
    """PEP 503 normalised name: ``Flufl.Lock`` and ``flufl_lock`` are ``flufl-lock``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_names(lock: Path) -> set[str]:
    """The distribution names a pip requirements lock pins (``name==version`` lines)."""
    names = set()
    for line in lock.read_text().splitlines():
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==", line)
        if m:
            names.add(canonical(m.group(1)))
    return names


def _files(dist: metadata.Distribution) -> set[str]:
    # files outside site-packages (scripts in bin/) do not clash between two builds of one package
    return {str(f) for f in dist.files or () if not str(f).startswith("..") and "dist-info" not in str(f)}


def to_remove(lock: Path) -> list[str]:
    """Installed distributions to uninstall: those the lock does not name, and the locked ones
    sharing a file with them."""
    wanted = locked_names(lock)
    installed = {canonical(d.metadata["Name"]): d for d in metadata.distributions()}
    stray = {n for n in installed if n not in wanted and n not in KEEP}
    stray_files = set().union(*(_files(installed[n]) for n in stray)) if stray else set()
    clashing = {n for n in installed if n in wanted and _files(installed[n]) & stray_files}
    return sorted(stray | clashing)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lock", type=Path)
    ap.add_argument("--dry-run", action="store_true", help="print what would be uninstalled")
    args = ap.parse_args(argv)
    names = to_remove(args.lock)
    if not names:
        return 0
    print(f"uninstalling what {args.lock} does not hold: {' '.join(names)}")
    if args.dry_run:
        return 0
    return subprocess.call([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", *names])


if __name__ == "__main__":
    sys.exit(main())
