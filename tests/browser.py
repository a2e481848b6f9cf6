"""Headless Chromium for the report tests: load a page, report which images and audio
elements failed to load and what the console said."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROBE = """<script>
(function () {
  var tries = 0;
  function check() {
    var imgs = Array.prototype.slice.call(document.images);
    var auds = Array.prototype.slice.call(document.querySelectorAll('audio'));
    var waiting = imgs.filter(function (i) { return !i.complete; }).length +
      auds.filter(function (a) { return a.readyState < 1 && a.networkState !== 3; }).length;
    if (waiting && tries++ < 100) { setTimeout(check, 100); return; }
    var out = document.createElement('pre');
    out.id = 'probe-result';
    out.textContent = JSON.stringify({
      images: imgs.length,
      badImages: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                     .map(function (i) { return i.getAttribute('src'); }),
      audio: auds.length,
      badAudio: auds.filter(function (a) { return a.readyState < 1; })
                    .map(function (a) { return a.currentSrc || a.innerHTML; }),
      durations: auds.map(function (a) { return a.duration; }),
      // blocks that stick out of the card or section holding them (after opening every details)
      overflow: (function () {
        Array.prototype.forEach.call(document.querySelectorAll('details'), function (d) { d.open = true; });
        var bad = [];
        Array.prototype.forEach.call(document.querySelectorAll('.card, pre, table, img, figure, audio, .tags, p'),
          function (el) {
            var up = el.parentElement;
            var box = (up && (up.closest('.card') || up.closest('.tables > div') || up.closest('section'))) ||
                      document.body;
            var a = el.getBoundingClientRect(), b = box.getBoundingClientRect();
            if (a.width > 0 && a.right > b.right + 1) {
              bad.push(el.tagName.toLowerCase() + ' in ' + (box.className || box.tagName) + ': ' +
                       Math.round(a.right - b.right) + ' px');
            }
          });
        return bad;
      })(),
      pageWidth: document.documentElement.scrollWidth,
      viewport: window.innerWidth});
    document.body.appendChild(out);
  }
  window.addEventListener('load', check);
})();
</script>"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


def probe(page: Path, profile: Path, width: int = 1280) -> tuple[dict, list[str]]:
    """Load ``page`` plus PROBE in headless Chromium, ``width`` CSS pixels wide: the probe's
    verdict, the console lines."""
    probed = page.with_name(f"probe-{page.name}")
    probed.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=15000",
        f"--window-size={width},900",
        "--dump-dom",
        probed.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    probed.unlink()
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert match, f"no probe result; chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    console = [
        line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line
    ]
    return json.loads(match.group(1)), console


needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="needs chromium (apt: chromium) for the browser check"
)
