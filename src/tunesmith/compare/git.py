"""The git side of a comparison: the repository root, a revision's commit, a file at a revision."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tunesmith.core.errors import TunesmithError


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True)
    except FileNotFoundError as exc:
        raise TunesmithError("git is not installed: compare reads the other revision from git") from exc


def git_root(path: Path) -> Path:
    """The top folder of the git work tree holding ``path``; an error when there is none."""
    if not path.is_dir():
        raise TunesmithError(f"{path} is not a folder")
    proc = _git(path, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise TunesmithError(f"{path.resolve()} is not in a git repository: compare reads other revisions "
                             "from git (clone the project, or `git init` and commit)")
    return Path(proc.stdout.decode().strip())


REV_NAME = re.compile(r"[A-Za-z0-9._/~^@{}-]{1,200}")
"""What a revision may be spelled with: branch and tag names, hashes, ``HEAD~2``, ``main^``,
``@{upstream}``; never a shell metacharacter, a space or a quote."""


def resolve_rev(root: Path, rev: str) -> str:
    """The commit ``rev`` names, as a full hash; an error naming ``rev`` when git knows none, or when
    it starts with ``-`` or holds a character git revision names do not need (`REV_NAME`)."""
    if not rev or rev.startswith("-") or not REV_NAME.fullmatch(rev):
        raise TunesmithError(f"--rev {rev!r:.80}: not a git revision name (letters, digits and ._/~^@{{}}-, "
                             "not starting with -)")
    proc = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if proc.returncode != 0:
        raise TunesmithError(f"unknown git revision {rev!r} (try `git fetch` or `git branch -a`)")
    return proc.stdout.decode().strip()


def git_text(root: Path, rev: str, path: str) -> str | None:
    """``path`` (relative to ``root``) as committed at ``rev``, or None where git has no such file."""
    proc = _git(root, "show", f"{rev}:./{path}")
    return proc.stdout.decode("utf-8") if proc.returncode == 0 else None


# --------------------------------------------------------------------------- params and metrics


