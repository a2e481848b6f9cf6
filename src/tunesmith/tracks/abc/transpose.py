"""ABC text moved to the tonic C, its mode kept: ``K:G`` becomes ``K:C``, ``K:Ador`` ``K:Cdor``, ``K:Em``
``K:Cm`` (``prepare.<abc track>.transpose``).

Sturm, Santos, Ben-Tal and Korshunova ("Music transcription modelling and composition using deep
learning") trained folk-rnn on tunes all moved to the tonic C. In ABC a note's letter is then its
scale degree: the model reads home from every note, not from a ``K:`` line a hundred characters back.

The move is diatonic: each note letter shifts by the same number of letter steps (``G`` to ``C`` is
three steps and five semitones up, the smaller way round), so a note the key signature alters stays
unmarked and an explicit accidental (``^c``, ``=f``, ``_B``) is written again for its new pitch.
Accidentals carried through a bar carry the same way, letter for letter. Chord symbols in quotes
(``"D7"``, ``"G/B"``) move by the same interval; annotations (``"^text"``), decorations (``!trill!``)
and fields other than ``K:`` are left as they are.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from tunesmith.core.errors import MusicInputError

LETTERS = "CDEFGAB"
NATURAL = (0, 2, 4, 5, 7, 9, 11)
"""The pitch class of each of :data:`LETTERS` without an accidental."""
_NOTE_ACCIDENTAL = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
_WRITE_NOTE_ACCIDENTAL = {v: k for k, v in _NOTE_ACCIDENTAL.items()}
_CHORD_ACCIDENTAL = {"#": 1, "b": -1, "": 0}
_WRITE_CHORD_ACCIDENTAL = {2: "##", 1: "#", 0: "", -1: "b", -2: "bb"}

_FIELD_LINE = re.compile(r"^([A-Za-z]):(.*)$")
_KEY = re.compile(r"^(\s*)([A-Ga-g])([#b]?)(.*)$")
_TOKEN = re.compile(
    r'(?P<quoted>"[^"\n]*")'
    r"|(?P<decoration>![^!\n]*!|\+[^+\n]*\+)"
    r"|(?P<field>\[[A-Za-z]:[^\]\n]*\])"
    r"|(?P<note>(?:\^\^|\^|=|__|_)?[A-Ga-g][,']*)"
)
_CHORD = re.compile(r"^([A-G])([#b]?)([^/]*)(?:/([A-G])([#b]?)(.*))?$")


class Interval(NamedTuple):
    """A diatonic move: ``steps`` letter names and ``semitones`` semitones, the same sign."""

    steps: int
    semitones: int


def to_tonic(key: str) -> tuple[Interval, Interval]:
    """The two moves that take ABC key ``key`` (``G``, ``F#m``, ``Bb``, ``Ador``) to the tonic C,
    the smaller first: ``G`` goes up a fourth or down a fifth.

    Raises:
        ValueError: ``key`` names no tonic (``none``, ``HP``) or carries explicit accidentals.
    """
    match = _KEY.match(key)
    if not match or re.search(r"[\^_=]", match.group(4)):
        raise ValueError(f"K:{key}: no tonic to move to C")
    letter = LETTERS.index(match.group(2).upper())
    shift = _CHORD_ACCIDENTAL[match.group(3)]
    down = Interval(-letter, -NATURAL[letter] - shift)
    up = Interval(down.steps + 7, down.semitones + 12)
    return (down, up) if abs(down.semitones) <= abs(up.semitones) else (up, down)


def _root(letter: str, accidental: str, move: Interval) -> str:
    """A chord symbol's root (or bass) moved: ``F#`` by a fourth up is ``B``."""
    index = LETTERS.index(letter)
    new = (index + move.steps) % 7
    pitch = NATURAL[index] + _CHORD_ACCIDENTAL[accidental] + move.semitones
    alter = (pitch - NATURAL[new] + 6) % 12 - 6
    if alter not in _WRITE_CHORD_ACCIDENTAL:
        raise ValueError(f"{letter}{accidental} cannot be spelled after the move")
    return LETTERS[new] + _WRITE_CHORD_ACCIDENTAL[alter]


def move_key(value: str, move: Interval) -> str:
    """A ``K:`` field's value moved: its tonic respelled, the mode and anything after kept."""
    match = _KEY.match(value)
    if not match or re.search(r"[\^_=]", match.group(4)):
        raise ValueError(f"K:{value}: no tonic to move")
    return match.group(1) + _root(match.group(2).upper(), match.group(3), move) + match.group(4)


def _chord(text: str, move: Interval) -> str:
    """A quoted string moved when it is a chord symbol; an annotation (``"^Fine"``) as it is."""
    match = _CHORD.match(text)
    if not match:
        return text
    out = _root(match.group(1), match.group(2), move) + match.group(3)
    if match.group(4):
        out += "/" + _root(match.group(4), match.group(5), move) + match.group(6)
    return out


def _note(token: str, move: Interval) -> str:
    accidental = token[: len(token) - len(token.lstrip("^=_"))]
    rest = token[len(accidental):]
    letter, marks = rest[0], rest[1:]
    index = LETTERS.index(letter.upper())
    octave = (1 if letter.islower() else 0) + marks.count("'") - marks.count(",")
    degree = 7 * octave + index + move.steps
    new_octave, new_index = divmod(degree, 7)
    if new_octave >= 1:
        written = LETTERS[new_index].lower() + "'" * (new_octave - 1)
    else:
        written = LETTERS[new_index] + "," * -new_octave
    if not accidental:
        return written  # the key signature alters it as it altered the note before the move
    pitch = 12 * octave + NATURAL[index] + _NOTE_ACCIDENTAL[accidental] + move.semitones
    alter = pitch - (12 * new_octave + NATURAL[new_index])
    if alter not in _WRITE_NOTE_ACCIDENTAL:
        raise ValueError(f"note {token} cannot be spelled after the move")
    return _WRITE_NOTE_ACCIDENTAL[alter] + written


def _music_line(line: str, move: Interval) -> str:
    def one(m: re.Match) -> str:
        if m.group("quoted"):
            return '"' + _chord(m.group("quoted")[1:-1], move) + '"'
        if m.group("field"):
            field = m.group("field")
            return f"[K:{move_key(field[3:-1], move)}]" if field[1] == "K" else field
        if m.group("note"):
            return _note(m.group("note"), move)
        return m.group(0)

    return _TOKEN.sub(one, line)


def moved(text: str, move: Interval) -> str:
    """A normalised tune's text moved by ``move``: every ``K:`` field and note and chord symbol.

    Raises:
        ValueError: a ``K:`` without a tonic, or a note or chord that cannot be spelled after the
            move (beyond a double sharp or flat).
    """
    lines = []
    in_body = False
    for line in text.split("\n"):
        field = _FIELD_LINE.match(line)
        if field:
            if field.group(1) == "K":
                line = "K:" + move_key(field.group(2), move)
                in_body = True
            lines.append(line)
        else:
            lines.append(_music_line(line, move) if in_body else line)
    return "\n".join(lines)


def _octave_marks(text: str) -> int:
    body = text[text.find("\nK:") + 1:]
    return body.count("'") + body.count(",")


def transpose_to_c(text: str) -> tuple[str, int]:
    """A normalised tune's text moved so its first ``K:`` tonic is C (its mode kept), and the
    semitones every note moved (-11 to +11).

    Of the two ways to C, up and down, the one that writes fewer octave marks (``c'``, ``C,``) is
    taken, the smaller move on a tie: the tune keeps to ABC's unmarked two octaves as far as it can,
    and its text is no longer than it was for a move alone.

    Raises:
        MusicInputError: (reason ``untransposable``) the tune has no ``K:`` line with a tonic, or
            a note or chord that cannot be spelled after the move (beyond a double sharp or flat).
    """
    key = re.search(r"^K:([^\n]*)$", text, flags=re.M)
    try:
        if key is None:
            raise ValueError("no K: line")
        candidates = [(moved(text, move), move.semitones) for move in to_tonic(key.group(1))]
    except ValueError as exc:
        raise MusicInputError(f"cannot move the tune to the tonic C: {exc}", reason="untransposable") from None
    return min(candidates, key=lambda c: _octave_marks(c[0]))  # min keeps the first (smaller move) on a tie
