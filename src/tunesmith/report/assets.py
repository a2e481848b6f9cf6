"""The report's files: copies under ``assets/<corpus>/``, linked by relative hrefs."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from urllib.parse import quote

from tunesmith.report.values import slug

log = logging.getLogger(__name__)



class Assets:
    """Copies files into ``root/assets/<corpus>/`` once each; hands back relative hrefs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.copied: dict[tuple[str, Path], str] = {}

    def folder(self, corpus: str) -> Path:
        path = self.root / "assets" / slug(corpus)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, corpus: str, source: Path | str | None) -> str | None:
        """Copy ``source`` (if it exists) and return its href, else log and return None."""
        if source is None or source == "":
            return None
        src = Path(source)
        if not src.is_file():
            log.warning("report: %s not found, left out", src)
            return None
        key = (corpus, src.resolve())
        if key in self.copied:
            return self.copied[key]
        folder = self.folder(corpus)
        target = folder / src.name
        n = 1
        while target.exists():  # two plots both called loss.png: keep both
            target = folder / f"{src.stem}-{n}{src.suffix}"
            n += 1
        shutil.copyfile(src, target)
        href = self.href(target)
        self.copied[key] = href
        return href

    def href(self, path: Path) -> str:
        return quote(path.relative_to(self.root).as_posix())
