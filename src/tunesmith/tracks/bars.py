"""Bars as a model writes them, one symbol at a time, for generation with a form plan
(`tunesmith.generation.form_plan`): where a sample is in its form (:class:`Position`) and the bars
of a representation with a fixed number of time units a bar (:class:`FixedBars`); ABC text has
its own reader (:mod:`tunesmith.tracks.abc.bars`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass
class Position:
    """Where a sample is in its form: bars counted in the current section, sections completed."""

    bar: int = 0
    sections: int = 0
    pickup: Fraction = Fraction(0)
    """The length of the current section's pickup (its last bar may complete it)."""
    back: int = 0
    """How many bars back the last bar repeated an earlier one (0: it was new)."""


@dataclass(frozen=True)
class FixedBar:
    """A bar of a representation with a fixed number of time units a bar (time series, frames)."""

    tokens: tuple[str, ...]
    ends_section: bool = False

    @property
    def key(self) -> tuple[str, ...]:
        return self.tokens


class FixedBars:
    """Bars of ``per_bar`` units (one per ``unit`` symbol, or per any of several, or per symbol when
    ``unit`` is None),
    counted from the piece's start, with no rule of their own: a generation plan repeats them, and
    the piece ends where the model ends it (without meter or key no cadence can be placed), or
    (``end_at_line``) only at a bar line.

    ``feed(symbol)`` returns ``(at_line, closed)`` as :class:`tunesmith.tracks.abc.bars.AbcBars`
    does; here the symbol that completes a bar is its last, so the next bar starts after it."""

    undo_on_close = False

    def __init__(self, unit: str | tuple[str, ...] | None, per_bar: int, *, end_at_line: bool = False) -> None:
        self.unit, self.per_bar, self.end_at_line = unit, per_bar, end_at_line
        self._units_of = None if unit is None else frozenset((unit,) if isinstance(unit, str) else unit)
        self._bar: list[str] = []
        self._units = 0

    def feed(self, symbol: str) -> tuple[bool, FixedBar | None]:
        self._bar.append(symbol)
        is_unit = self._units_of is None or symbol in self._units_of
        self._units += 1 if is_unit else 0
        if self._units and self._units % self.per_bar == 0 and is_unit:
            bar, self._bar = FixedBar(tuple(self._bar)), []
            return True, bar
        return False, None

    def counts(self, bar: FixedBar, where: Position) -> bool:
        return True

    def check(self, bar: FixedBar, where: Position) -> str | None:
        return None

    def repeatable(self, bar: FixedBar) -> bool:
        return True

    def restrict(self, where: Position) -> tuple[str | None, str]:
        return None, ""

    def can_end(self, where: Position) -> bool:
        """Anywhere, or (``end_at_line``) only where a bar has just closed: whole bars."""
        return not self.end_at_line or (not self._bar and self._units > 0)

    @staticmethod
    def copy_of(bar: FixedBar) -> list[str]:
        return list(bar.tokens)


