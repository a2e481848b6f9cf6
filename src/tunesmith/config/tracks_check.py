"""Track names checked before DVC reads them: ``python -m tunesmith.config.tracks_check params.yaml``.

A track's name becomes a folder under ``data/`` in every output path of dvc.yaml
(``data/raw/${key}``), and DVC deletes a stage's outputs before its command runs, so a name
such as ``..`` would have DVC delete ``data/`` itself before any tunesmith code could refuse it.
`make repro`, `make noise` and `make benchmark` run this check first: one line and exit status 2
for a name that is not `TRACK_NAME` (params.yaml's ``tracks``, benchmark/params.yaml's
``benchmarks``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunesmith.core.errors import ConfigError

TRACK_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
"""A track's (or benchmark's) name, matched whole: a lower-case letter, then lower-case letters,
digits and ``_``; never a path (``..``, ``a/b``), a hidden name or a shell word."""


def check_name(name: Any, where: str) -> str:
    """``name`` when it is a `TRACK_NAME`.

    Raises:
        ConfigError: naming ``where`` and the name.
    """
    if not isinstance(name, str) or not TRACK_NAME.fullmatch(name):
        raise ConfigError(f"{where}: track name {name!r:.60} must be a lower-case letter, then lower-case "
                          "letters, digits and _ (at most 40): it becomes a folder under data/ and part of "
                          "DVC stage names")
    return name


def check_params(path: Path | str) -> list[str]:
    """The track names of params file ``path`` (its ``tracks`` mapping and ``benchmarks`` list),
    each checked with `check_name`.

    Raises:
        ConfigError: a bad name, naming the file and key; a file tunesmith cannot read.
    """
    from tunesmith.config.load import load_params

    params = load_params(path)
    names: list[str] = []
    tracks = params.get("tracks")
    if tracks is not None:
        if not hasattr(tracks, "keys"):
            raise ConfigError(f"{path}: tracks must map each track to its kind, got {tracks!r:.60}")
        names += [check_name(n, f"{path}: tracks") for n in tracks]
    benchmarks = params.get("benchmarks")
    if benchmarks is not None:
        if not isinstance(benchmarks, list):
            raise ConfigError(f"{path}: benchmarks must be a list of names, got {benchmarks!r:.60}")
        names += [check_name(n, f"{path}: benchmarks") for n in benchmarks]
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Check each params file named in ``argv``; 0 when every name is good, else 2 and one line."""
    paths = list(sys.argv[1:] if argv is None else argv) or ["params.yaml"]
    try:
        for path in paths:
            check_params(path)
    except ConfigError as exc:
        print(f"tunesmith: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
