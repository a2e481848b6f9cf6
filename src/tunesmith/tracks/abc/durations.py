"""How long ABC text lasts, in the tune's unit note (``L:``): note lengths (``A2``, ``A/``,
``A3/2``), chords (``[GB]2``, the first note's length), tuplets (``(3abc``: three in the time of
two), rests ``z``/``x``; grace notes ``{}``, chord symbols ``"G"``, decorations ``!trill!`` and
inline fields ``[K:D]`` last nothing, and broken rhythm (``A>B``) keeps the pair's total, so it is
read as written."""

from __future__ import annotations

import re
from fractions import Fraction

_IGNORED = re.compile(r'"[^"]*"|![^!]*!|\+[^+]*\+|\{[^}]*\}|\[[A-Za-z]:[^\]]*\]')
_NOTE = re.compile(r"(\^{1,2}|_{1,2}|=)?([A-Ga-gzxZ])([,']*)(\d*)(/*)(\d*)")
_CHORD = re.compile(r"\[([^\]]*)\](\d*)(/*)(\d*)")
_TUPLET = re.compile(r"\((\d)(?::(\d*))?(?::(\d*))?")
_TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}


def _multiplier(digits: str, slashes: str, denominator: str) -> Fraction:
    value = Fraction(int(digits) if digits else 1)
    if slashes:
        value /= int(denominator) if denominator else 2 ** len(slashes)
    return value


def bar_length(text: str) -> Fraction:
    """The length of a bar's text in unit notes (``L:``); see the module docstring."""
    text = _IGNORED.sub("", text)
    total, pos, tuplet_left, factor = Fraction(0), 0, 0, Fraction(1)
    while pos < len(text):
        if (m := _TUPLET.match(text, pos)) is not None:
            p = int(m.group(1))
            q = int(m.group(2)) if m.group(2) else _TUPLET_Q.get(p, 2)
            tuplet_left, factor = int(m.group(3)) if m.group(3) else p, Fraction(q, p)
            pos = m.end()
            continue
        m = _CHORD.match(text, pos)
        if m is not None:
            inner = _NOTE.search(m.group(1))
            length = _multiplier(*inner.group(4, 5, 6)) if inner else Fraction(1)
            length *= _multiplier(*m.group(2, 3, 4))
        elif (m := _NOTE.match(text, pos)) is not None:
            length = _multiplier(*m.group(4, 5, 6))
        else:
            pos += 1
            continue
        if tuplet_left:
            length *= factor
            tuplet_left -= 1
        total += length
        pos = m.end()
    return total


def last_letter(text: str) -> str | None:
    """The letter of the bar's last note (upper case), None when it has no note."""
    notes = re.findall(r"[A-Ga-g]", _IGNORED.sub("", text))
    return notes[-1].upper() if notes else None


def unit_note(header: str, bar_beats: float) -> Fraction:
    """The tune's unit note length from ``L:``; ABC's default (1/16 below a 3/4 meter, else 1/8)
    for a bar of ``bar_beats`` quarter notes."""
    m = re.search(r"^L:\s*(\d+)\s*/\s*(\d+)", header, flags=re.M)
    if m and int(m.group(2)):
        return Fraction(int(m.group(1)), int(m.group(2)))
    return Fraction(1, 16) if bar_beats / 4 < 0.75 else Fraction(1, 8)
