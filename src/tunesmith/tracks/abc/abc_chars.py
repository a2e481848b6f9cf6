"""Characters of ABC text (the nottingham track; Vinze et al. and Reitman & Cho).

A tune is its normalised ABC text; its symbols are its characters, and one
``<end>`` token separates tunes. Normalisation makes equal music equal text:
``\\n`` line endings, no trailing or repeated spaces, no comment or blank
lines, and a choice of headers to keep (``all`` as Reitman & Cho, or ``musical``:
only M:, L: and K:, which the music needs).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.music21_io import music21_abc, without_beams

NAME = "abc_chars"
END = "<end>"
MUSICAL_HEADERS = ("M", "L", "K")
_FIELD = re.compile(r"^([A-Za-z]):")


def decode_bytes(data: bytes) -> str:
    """Text of an ABC file: as its byte-order mark says (UTF-8/16/32), else UTF-8, else
    Latin-1 (older tune collections use it); see :func:`tunesmith.core.io.decode_text`."""
    from tunesmith.core.io import decode_text

    return decode_text(data)


def normalise_tune(text: str, headers: str = "musical") -> str:
    """Normalise the text of one tune (from its X: line or first header to its end).

    headers: ``all`` keeps every header line; ``musical`` keeps M:, L: and K:
    only (in their order; K: ends the header as ABC requires).
    Raises MusicInputError (reason ``parse_error``) when the tune has no K: field.
    """
    if headers not in ("all", "musical"):
        raise ValueError(f"headers must be 'all' or 'musical', got {headers!r}")
    lines = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = re.sub(r"[ \t]+", " ", raw).strip()
        if not line or line.startswith("%"):
            continue
        lines.append(line)
    k_index = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if k_index is None:
        first = lines[0] if lines else "<empty>"
        raise MusicInputError(f"tune starting {first!r} has no K: (key) field", reason="parse_error")
    head, body = lines[: k_index + 1], lines[k_index + 1 :]
    if headers == "musical":
        head = [line for line in head if (m := _FIELD.match(line)) and m.group(1) in MUSICAL_HEADERS]
    else:
        head = [line for line in head if _FIELD.match(line)]
    if not body:
        raise MusicInputError(f"tune {head[0]!r}... has a header but no music", reason="empty")
    return "\n".join(head + body) + "\n"


_QUOTED = re.compile(r'"[^"\n]*"')


def drop_chord_symbols(text: str) -> str:
    """Remove the quoted strings of a tune's music lines: chord symbols (``"G"``, ``"D7"``)
    and annotations (``"^text"``); field lines (``T:``, ``P:``, ...) are kept as they are.

    Spaces left behind are collapsed and lines left empty are dropped, so the text
    stays normalised (see `normalise_tune`).
    """
    lines = []
    for line in text.split("\n"):
        if not _FIELD.match(line):
            line = re.sub(r"[ \t]+", " ", _QUOTED.sub("", line)).strip()
        if line:
            lines.append(line)
    return "\n".join(lines) + "\n"


def encode(text: str) -> list[str]:
    """The tune's characters, one symbol each."""
    return list(text)


def decode_text(symbols: Sequence[str]) -> str:
    """Join symbols back into ABC text, stopping at ``<end>``; other special tokens are dropped."""
    out = []
    for sym in symbols:
        if sym == END:
            break
        if len(sym) > 1 and sym.startswith("<") and sym.endswith(">"):
            continue
        out.append(sym)
    return "".join(out)


def to_stream(text: str, *, beams: bool = True):
    """Parse one tune's ABC text with music21 into a Score, its notes beamed for a written score
    (``beams=False`` when only its notes and bars are read: `music21_io.without_beams`).

    Raises MusicInputError (reason ``parse_error``) when music21 cannot parse it
    or it holds no notes.
    """
    from music21 import converter

    if not re.search(r"^X:", text, flags=re.M):
        text = "X:1\n" + text  # music21 wants a reference number to start a tune
    try:
        with contextlib.nullcontext() if beams else without_beams():
            score = converter.parse(music21_abc(text), format="abc")
    except Exception as exc:  # music21 raises many types for bad ABC; report them all per tune
        raise MusicInputError(f"music21 cannot parse the ABC: {type(exc).__name__}: {exc}",
                              reason="parse_error") from exc
    if hasattr(score, "scores") and len(score.scores) and type(score).__name__ == "Opus":
        score = score.scores[0]
    if not score.flatten().notes:
        raise MusicInputError("the ABC parses but holds no notes", reason="empty")
    return score


def decode(symbols: Sequence[str]):
    """Symbols -> a music21 Score (`decode_text`, then `to_stream`).

    Raises MusicInputError as `to_stream` does.
    """
    return to_stream(decode_text(symbols))


_X_LINE = re.compile(r"^X:", re.MULTILINE)
_FIELD_LINE = re.compile(r"^[A-Za-z+]:")


def split_abc_tunes(text: str) -> list[str]:
    """Split the text of an ABC file into one text per tune.

    A tune starts at a line beginning with ``X:`` and runs to the next such
    line (as music21 reads ABC), with trailing blank lines dropped and one
    final newline. The file header (lines before the first ``X:``) is put in
    front of every tune, keeping only its field lines (``M:``, ``L:``, ...)
    and ``%%`` directives: those change how a tune is read, while free text
    and ``%`` comments there describe the collection, not the tune.

    Line endings are normalised to ``\\n``. A text without any ``X:`` line but
    with a ``K:`` field is one tune; a text with neither gives ``[]``.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in _X_LINE.finditer(text)]
    if not starts:
        body = text.strip("\n")
        return [body + "\n"] if abc_field(body, "K") is not None else []
    header = "".join(
        line + "\n"
        for line in text[: starts[0]].split("\n")
        if _FIELD_LINE.match(line) or line.startswith("%%")
    )
    ends = [*starts[1:], len(text)]
    tunes = []
    for start, end in zip(starts, ends):
        body = "\n".join(line.rstrip() for line in text[start:end].rstrip().split("\n"))
        tunes.append(header + body + "\n")
    return tunes


def abc_field(tune: str, name: str) -> str | None:
    """The value of the first ``name:`` field line of an ABC tune, without ``%`` comments."""
    match = re.search(rf"^{name}:(.*)$", tune, re.MULTILINE)
    if match is None:
        return None
    return match.group(1).split("%", 1)[0].strip()


