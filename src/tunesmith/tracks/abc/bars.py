"""Bars of ABC text read one character at a time, for generation with a form plan.

:class:`AbcBars` follows a tune's body as a model writes it and says where each bar line ends and
what the bar before it held: its notes (text), its bar line, its length in the tune's unit note
(:func:`tunesmith.tracks.abc.durations.bar_length`) and its last note's letter; :class:`AbcForm`
adds the rules of the tune's form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from tunesmith.tracks.abc.durations import bar_length, last_letter, unit_note
from tunesmith.tracks.abc.form import meter_beats
from tunesmith.tracks.bars import Position

_LINE_CHARS = frozenset("|:")
_SPACE = frozenset(" \n\t\\")
SECTION_MARKS = ("::", ":|", "|:", "||", "|]", "[|")
"""Bar lines that end a section (a repeat, a double or final bar line), as ``sections`` reads them."""


@dataclass(frozen=True)
class Bar:
    """One bar as written: its notes' text, the bar line that closed it, its length in units."""

    text: str
    line: str
    length: Fraction
    last: str | None

    @property
    def ends_section(self) -> bool:
        return any(mark in self.line for mark in SECTION_MARKS)

    @property
    def key(self) -> str:
        """The bar's notes without spaces: equal keys are the same bar."""
        return re.sub(r"\s+", "", self.text)


class AbcBars:
    """Feed a tune's body one character at a time; :meth:`feed` says where bars close.

    ``feed(char)`` returns ``(at_line, closed)``: ``at_line`` is True while the characters fed are
    a bar line (or spaces after one), so the state after this character may start the next bar;
    ``closed`` is the :class:`Bar` that ended when this character began the next bar's notes (the
    character itself belongs to the next bar), else None.
    """

    def __init__(self, header: str) -> None:
        beats = meter_beats((re.search(r"^M:\s*([^\n%]*)", header, flags=re.M) or [None, None])[1])
        self.unit = unit_note(header, beats)
        self.bar_units = Fraction(beats) / 4 / self.unit
        self.tonic = (m.group(1).upper() if (m := re.search(r"^K:\s*([A-Ga-g])", header, flags=re.M)) else None)
        self._text, self._line, self._in_line, self._depth = "", "", True, ""

    def feed(self, char: str) -> tuple[bool, Bar | None]:
        if self._depth:  # inside quotes, decorations, grace notes or an inline field: notes' text
            self._text += char
            if char == self._depth:
                self._depth = ""
            return False, None
        if char in _SPACE:
            if self._in_line:
                self._line += char
            else:
                self._text += char
            return self._in_line, None
        line_char = char in _LINE_CHARS or (self._in_line and self._line.rstrip().endswith(("|", ":|"))
                                            and (char.isdigit() or char == "]"))
        if line_char:
            if not self._in_line:
                self._in_line, self._line = True, ""
            self._line += char
            return True, None
        closed = None
        if self._in_line:
            if self._text.strip():
                closed = Bar(self._text, self._line.strip(), bar_length(self._text), last_letter(self._text))
            self._in_line, self._text, self._line = False, "", ""
        self._text += char
        self._depth = {'"': '"', "!": "!", "{": "}", "+": "+", "[": "]"}.get(char, "")
        return False, closed

    def open_bar(self) -> None:
        """Forget the character that closed the last bar by opening the next: the bar is empty."""
        self._text, self._line, self._in_line, self._depth = "", "", False, ""

    def finish(self) -> Bar | None:
        """The bar pending at the tune's end (its bar line written, or none), None when empty."""
        if not self._text.strip():
            return None
        return Bar(self._text, self._line.strip(), bar_length(self._text), last_letter(self._text))


def counts(reader: AbcBars, bar: Bar, where: Position) -> bool:
    """Whether ``bar`` counts as a bar of its section: a full bar, or a short one that ends a
    section (it completes the section's pickup); a short bar that opens a section is its pickup."""
    full = bar.length == reader.bar_units
    return full or (bar.ends_section and where.bar > 0)


class AbcForm(AbcBars):
    """:class:`AbcBars` with the rules of a tune's form for a plan of ``section_bars``-bar sections:
    every bar fills the meter (a section's pickup and last bar may be short), a section ends with
    a section bar line after exactly ``section_bars`` bars, on the tonic of ``K:``, and a tune ends
    only where a section does, after two sections at least."""

    def __init__(self, header: str, section_bars: int) -> None:
        super().__init__(header)
        self.section_bars = section_bars

    def counts(self, bar: Bar, where: Position) -> bool:
        return counts(self, bar, where)

    def check(self, bar: Bar, where: Position) -> str | None:
        """Why ``bar`` breaks the form at ``where``, or None when it keeps it."""
        if bar.length > self.bar_units:
            return f"bar of {bar.length} units in a {self.bar_units}-unit meter"
        if not self.counts(bar, where):  # short, at a section's start: its pickup, once, closed by `|`
            if where.bar == 0 and not where.pickup and not bar.ends_section:
                return None
            return f"short bar ({bar.length} of {self.bar_units} units)"
        n = where.bar + 1
        if bar.length < self.bar_units and bar.length != self.bar_units - where.pickup:
            return f"short bar ({bar.length} of {self.bar_units} units)"
        if bar.ends_section and n != self.section_bars:
            return f"section of {n} bars"
        if not bar.ends_section and n >= self.section_bars:
            return f"no section end after {n} bars"
        if bar.ends_section and self.tonic and bar.last != self.tonic:
            return f"section ends on {bar.last}, not the tonic {self.tonic}"
        return None

    def restrict(self, where: Position) -> tuple[str | None, str]:
        """The characters the next one may be (None: any) and those it may not, so that bars keep
        the meter and sections their length: a full bar takes its bar line next (a section end,
        ``:``, at the section's last bar; a plain ``|`` elsewhere), a bar short of the meter takes
        none (a section's pickup excepted)."""
        if self._in_line:  # a lone ``:`` is half a repeat sign: ``:|`` or ``::``
            return ("|:" if self._line.strip() == ":" else None), ""
        if self._depth == "]":  # a chord, or an inline field ([K:D]): no bar line inside
            inner = self._text[self._text.rfind("[") + 1:]
            return None, ("" if len(inner) == 1 and inner.isalpha() else "|:[\n")
        if self._depth:
            return None, "\n"
        length = bar_length(self._text)
        last = where.bar + 1 >= self.section_bars
        if length >= self.bar_units or (last and where.pickup and length == self.bar_units - where.pickup):
            return (":" if last else "|") + ") ", ""
        return None, (":" if where.bar == 0 and not where.pickup else "|:")

    def can_end(self, where: Position) -> bool:
        """The tune may end here: at a bar line closing its second (or later) section."""
        if not self._in_line:
            return False
        pending = self.finish()
        return (pending is not None and pending.ends_section and where.sections >= 1
                and self.counts(pending, where) and self.check(pending, where) is None)

    def repeatable(self, bar: Bar) -> bool:
        """A whole bar inside a section: one a sample may write again."""
        return bar.length == self.bar_units and not bar.ends_section

    @staticmethod
    def copy_of(bar: Bar) -> list[str]:
        """The characters that write ``bar``'s notes again (its bar line is the model's)."""
        return list(bar.text.strip())
