"""What an ABC tune's text states about its form: the bar's length (``M:``), the tonic (``K:``)
and the sections its bar lines mark (repeats ``|: :|``, ``::``, double bars ``||`` and ``|]``)."""

from __future__ import annotations

import re
from fractions import Fraction

from tunesmith.tracks.base import FormHints

_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_BAR = re.compile(r"::|:*\|[\]|]?:*\d?|\[\||\[\d")
_NOTE = re.compile(r"[A-Ga-gz]")
_NOISE = re.compile(r'"[^"\n]*"|![^!\n]*!|\[[A-Za-z]:[^\]\n]*\]|%[^\n]*')


def meter_beats(meter: str | None) -> float:
    """Quarter-note beats in a bar of ABC meter ``meter`` (``6/8`` -> 3, ``C`` and ``C|`` -> 4);
    4.0 when there is none or it cannot be read."""
    if not meter:
        return 4.0
    meter = meter.strip()
    if meter in ("C", "C|"):
        return 4.0
    match = re.fullmatch(r"(\d+(?:\+\d+)*)\s*/\s*(\d+)", meter)
    if not match or int(match.group(2)) == 0:
        return 4.0
    top = sum(int(x) for x in match.group(1).split("+"))
    return float(Fraction(4 * top, int(match.group(2)))) or 4.0


def key_tonic(key: str | None) -> int | None:
    """The tonic pitch class of ABC key ``key`` (``D``, ``Ador``, ``F#m``, ``Bb``), or None."""
    match = re.match(r"\s*([A-Ga-g])([#b]?)", key or "")
    if not match:
        return None
    shift = {"#": 1, "b": -1}.get(match.group(2), 0)
    return (_PITCH_CLASS[match.group(1).upper()] + shift) % 12


def sections(body: str) -> tuple[tuple[int, ...], bool]:
    """Bar lines per section of a tune's body, and whether it has numbered (first/second) endings.

    A section ends at ``:|``, ``::``, ``||``, ``|]`` or the end of the tune, and where ``|:`` opens
    a repeat after bars of its own; sections without a bar line are left out."""
    body = _NOISE.sub("", body)
    counts, current, endings, prev = [], 0, False, 0
    for match in _BAR.finditer(body):
        token, between, prev = match.group(), body[prev:match.start()], match.end()
        if token[-1].isdigit():
            endings = endings or token[-1] in "12"
        bare = token.rstrip("0123456789")
        if _NOTE.search(between):  # a bar line closes a bar only when music came since the last one
            current += 1
        if bare != "[" and (":" in bare or bare in ("||", "|]", "[|")) and current:
            counts.append(current)
            current = 0
    if current:
        counts.append(current)
    if len(counts) > 1 and counts[0] == 1:  # a pickup closed by `|:`
        counts = counts[1:]
    return tuple(counts), endings


def abc_form_hints(text: str) -> FormHints:
    """The :class:`FormHints` of one ABC tune's text (its header and body)."""
    meter = re.search(r"^M:\s*([^\n%]*)", text, flags=re.M)
    key = re.search(r"^K:\s*([^\n%]*)", text, flags=re.M)
    body = text[key.end():] if key else text
    marked, endings = sections(body)
    beats = meter_beats(meter.group(1) if meter else None)
    return FormHints(bar_beats=beats, tonic=key_tonic(key.group(1) if key else None), sections=marked or None,
                     endings=endings, pickup=_pickup_beats(text[:key.end()] if key else "", body, beats))


def _pickup_beats(header: str, body: str, bar_beats: float) -> float:
    """Quarter-note beats before the tune's first bar line when they are fewer than a bar's."""
    from tunesmith.tracks.abc.durations import bar_length, unit_note

    first = _BAR.search(_NOISE.sub("", body))
    if first is None:
        return 0.0
    beats = float(bar_length(_NOISE.sub("", body)[:first.start()]) * unit_note(header, bar_beats) * 4)
    return beats if 0 < beats < bar_beats - 1e-9 else 0.0
