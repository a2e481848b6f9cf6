"""MusicXML or ABC -> an engraved score (SVG, verovio)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

from tunesmith.core.io import write_text

log = logging.getLogger(__name__)


_VEROVIO_INPUT = {
    ".abc": "abc",
    ".musicxml": "musicxml",
    ".xml": "musicxml",
    ".mei": "mei",
    ".krn": "humdrum",
}

# Run in a child process: verovio's ABC importer segfaults on some malformed
# input (seen with 6.4.1), and a generated sample may be exactly that; a crash
# there must cost one score, not the whole stage. Self-contained (only
# verovio) so it needs nothing from this package's import path.
_ENGRAVE_SCRIPT = """
import json, sys
import verovio
args = json.loads(sys.argv[1])
verovio.enableLog(verovio.LOG_ERROR)
tk = verovio.toolkit()
tk.resetXmlIdSeed(0)
tk.setOptions(args["options"])
tk.setInputFrom(args["input"])
if not tk.loadFile(args["path"]) or tk.getPageCount() < 1:
    sys.exit(3)
sys.stderr.write("pages: %d\\n" % tk.getPageCount())
sys.stdout.write(tk.renderToSVG(1))
"""


def render_score_svg(
    path: Path | str,
    svg_path: Path | str,
    *,
    page_width: int = 2100,
    scale: int = 40,
    timeout: float = 120.0,
) -> bool:
    """Engrave a monophonic score (MusicXML, ABC, MEI or kern) as one SVG with verovio.

    Layout: systems broken to ``page_width`` (verovio units; at ``scale`` 40
    the SVG is ``page_width * scale / 100`` = 840 px wide) on one page as tall
    as the music needs (verovio's maximum page height), so a whole generated
    tune is a single image. Music longer than that page keeps its first page
    only, with a log line. The SVG has a ``viewBox`` as well as a pixel
    width/height, so an ``<img>`` scales it cleanly; ids are seeded for
    repeatable output. Verovio runs in a child process (it can crash on
    malformed ABC), about 0.1 s of overhead per score.

    Args:
        path: the score; its suffix picks the reader (``.abc``, ``.musicxml``/``.xml``,
            ``.mei``, ``.krn``; anything else: verovio guesses).
        svg_path: the SVG to write (atomically).
        page_width: verovio page width, >= 500.
        scale: percent, 10-100.
        timeout: seconds before the engraving is abandoned.

    Returns:
        True when the SVG was written; False (with a warning naming the file)
        when verovio cannot read, lay out or survive the score -- a bad
        generated sample must not stop a report.
    """
    path, svg_path = Path(path), Path(svg_path)
    args = {
        "path": str(path),
        "input": _VEROVIO_INPUT.get(path.suffix.lower(), "auto"),
        "options": {
            "pageWidth": max(500, int(page_width)),
            "pageHeight": 60000,  # verovio's maximum: one page for a whole tune
            "adjustPageHeight": True,
            "scale": min(100, max(10, int(scale))),
            "breaks": "auto",
            "footer": "none",
            "svgViewBox": True,
            "xmlIdSeed": 1,  # ids from a fixed seed: same score, same SVG (0 would mean random)
        },
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _ENGRAVE_SCRIPT, json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("verovio took over %.0f s on %s: no score", timeout, path)
        return False
    if proc.returncode != 0:
        why = "could not read" if proc.returncode == 3 else f"crashed (exit {proc.returncode}) on"
        detail = proc.stderr.strip().splitlines()[-1:] or [""]
        log.warning("verovio %s the score %s %s", why, path, detail[0][:200])
        return False
    svg = proc.stdout
    pages = re.search(r"pages: (\d+)", proc.stderr)
    if pages and int(pages.group(1)) > 1:
        log.info("score %s spans %s pages: keeping the first", path, pages.group(1))
    match = re.search(r'<svg viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    if match is None or float(match.group(1)) <= 0 or float(match.group(2)) <= 0:
        log.warning("verovio produced an empty score for %s", path)
        return False
    width, height = match.groups()
    svg = svg.replace(match.group(0), f'{match.group(0)} width="{width}px" height="{height}px"', 1)
    write_text(svg_path, svg)
    return True


