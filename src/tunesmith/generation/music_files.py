"""One sample's music files, written by its track (the generate stage's samples and real pieces)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks import get_track
from tunesmith.tracks.base import Track

log = logging.getLogger(__name__)


def write_sample(track: str | Track, symbols: Sequence[str], meta: dict, stem: Path,
                 *, title: str = "", primer_length: int = 0) -> dict[str, Any]:
    """Decode one generated sample and write its music files next to ``stem`` (which files is
    the track's choice, :meth:`tunesmith.tracks.Track.write_music`).

    Returns ``{"decoded": bool, "error": str, "notes": int, "files": [names]}``; a
    sample that does not decode is reported, never raised.
    """
    stem.parent.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    try:
        n = get_track(track).write_music(symbols, meta, stem, files, title=title, primer_length=primer_length)
    except MusicInputError as exc:
        log.warning("%s does not decode: %s", stem.name, exc)
        return {"decoded": False, "error": str(exc), "notes": 0, "files": files}
    return {"decoded": True, "error": "", "notes": n, "files": files}
