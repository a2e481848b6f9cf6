"""Is the benchmark's lock current? ``dvc status`` of ``benchmark/``, with "not in cache" set apart.

On a fresh clone without a DVC remote, the benchmark's cached outputs (the ``.mat``
files, the encoded ids, the models, the samples) are not there, so ``cd benchmark &&
dvc status`` lists each of them as ``not in cache`` even when ``dvc.lock`` matches
every command, dependency and param of the commit. That state is the one to commit:
the metrics files and ``data/table.md`` (``cache: false``, in git) are the figures of
exactly this code and these params. Anything else ``dvc status`` says (a changed
dependency, param or command, a missing metrics file) means the committed figures
are not this commit's. This script prints the two apart and exits 1 on the second.

    python bench/bl_lock_status.py            # from the repository root
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def split_status(status: dict) -> tuple[list[str], list[str]]:
    """``dvc status --json`` -> (outputs only missing from the cache, every other change), as lines."""
    absent, changed = [], []
    for stage, entries in status.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, dict):
                changed.append(f"{stage}: {entry}")
                continue
            for kind, what in entry.items():
                items = what.items() if isinstance(what, dict) else [(what, "")]
                for path, state in items:
                    line = f"{stage}: {kind}: {path} {state}".rstrip()
                    (absent if kind == "changed outs" and state == "not in cache" else changed).append(line)
    return absent, changed


def main() -> int:
    root = Path(__file__).resolve().parents[1] / "benchmark"
    got = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=root, capture_output=True,
                         text=True, check=False)
    if got.returncode != 0:
        print(got.stderr.strip().splitlines()[-1] if got.stderr.strip() else "dvc status failed", file=sys.stderr)
        return 2
    absent, changed = split_status(json.loads(got.stdout or "{}"))
    print(f"{len(absent)} cached outputs not in this clone's cache (expected on a fresh clone without a remote)")
    by_stage: dict[str, list[str]] = {}
    for line in changed:
        stage, _, what = line.partition(": ")
        by_stage.setdefault(stage, []).append(what)
    for stage, lines in by_stage.items():  # a stage's first changes; a fresh project changes every dep
        print(f"{stage}: {len(lines)} changes: " + "; ".join(lines[:2]) + ("; ..." if len(lines) > 2 else ""))
    print("the lock is current" if not changed else f"{len(changed)} changes: the committed figures are stale")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
