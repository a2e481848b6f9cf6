"""Run this checkout's code: put the repository's ``src/`` first on ``sys.path``.

Every stage script imports this module before anything of tunesmith. Without it a stage would
import whichever ``tunesmith`` the environment finds first: an editable install points at the
checkout it was installed from, so a queued experiment (``dvc exp run --queue``, run in a
temporary copy), ``dvc exp run --temp`` or a second worktree would silently run that
checkout's code while ``dvc.lock`` records this one's hashes.
"""

from __future__ import annotations

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[:1] != [SRC]:
    sys.path.insert(0, SRC)
