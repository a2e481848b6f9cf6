"""Bars as a model writes them, one symbol at a time, for generation with a form plan
(`tunesmith.generation.form_plan`): where a sample is in its form (:class:`Position`) and the bars
of a representation with a fixed number of time units a bar (:class:`FixedBars`, and
:class:`HomeBars`, which end a piece of frames on its tonic); ABC text has its own reader
(:mod:`tunesmith.tracks.abc.bars`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

MAX_TRIES = 8
"""A bar that breaks the form is drawn again at most this many times, then kept (the form plan's)."""
CLOSING_TRIES = 32
"""Draws of a piece's last bar that does not bring it home (a reader's ``max_tries`` there)."""

HELD = "~"
"""The suffix of a held pitch in the onsets representations (``"60~"``): it sounds, not struck."""

# Krumhansl & Kessler's probe-tone profiles (major, minor), C first
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def kk_tonic(hist: np.ndarray) -> int:
    """The tonic pitch class of the major or minor key whose Krumhansl-Kessler profile correlates
    best with a 12-bin pitch-class histogram (0 for an empty one)."""
    hist = np.asarray(hist, dtype=float)
    if not hist.any():
        return 0
    best, tonic = -np.inf, 0
    for profile in (KK_MAJOR, KK_MINOR):
        for t in range(12):
            r = np.corrcoef(hist, np.roll(profile, t))[0, 1]
            if r > best:
                best, tonic = r, t
    return tonic


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


class HomeBars(FixedBars):
    """:class:`FixedBars` of frames (``unit``: the frame ends, pitches as MIDI numbers) whose piece
    ends only where a bar closes with the bass of its last sounding frame on the tonic: the
    Krumhansl-Kessler tonic (:func:`kk_tonic`) of every frame's pitches so far, since the
    representation names no key. ``room`` (frames the piece's length leaves, set by the form plan
    each step): a bar that leaves no room for another is the last, and one whose bass is not the
    tonic is drawn again, up to :data:`CLOSING_TRIES` times; a piece with no room left ends where
    its bar closes, home or not. ``early`` (set likewise): too short to end yet."""

    rules = ("a piece ends where a bar closes, with the bass of its last sounding frame on the tonic its "
             f"pitches suggest (a piece at its length limit keeps its last bar after {CLOSING_TRIES} draws, "
             "home or not)")
    """What generation with this reader enforces, in words (the report quotes it)."""

    def __init__(self, unit: str | tuple[str, ...], per_bar: int) -> None:
        super().__init__(unit, per_bar, end_at_line=True)
        self.room: int | None = None
        self.early = False
        self._hist = np.zeros(12)
        self._frame: list[int] = []
        self._bass: int | None = None

    def feed(self, symbol: str) -> tuple[bool, FixedBar | None]:
        if symbol in self._units_of:
            if self._frame:
                self._bass = min(self._frame) % 12
                np.add.at(self._hist, np.array(self._frame) % 12, 1.0)
            self._frame = []
            if self.room is not None:
                self.room -= 1
        elif symbol.rstrip(HELD).isdigit():  # struck "60" or held "60~" (onsets)
            self._frame.append(int(symbol.rstrip(HELD)))
        return super().feed(symbol)

    def home(self) -> bool:
        """The last sounding frame's bass is the tonic of the pitches so far."""
        return self._bass is not None and self._bass == kk_tonic(self._hist)

    def _last(self) -> bool:
        return self.room is not None and self.room < self.per_bar

    @property
    def max_tries(self) -> int:
        return CLOSING_TRIES if self._last() else MAX_TRIES

    def check(self, bar: FixedBar, where: Position) -> str | None:
        """The piece's last bar (no room for another) must bring it home."""
        if self._last() and not self.home():
            return f"piece ends with the bass on pitch class {self._bass}, not the tonic {kk_tonic(self._hist)}"
        return None

    def repeatable(self, bar: FixedBar) -> bool:
        """Not as the piece's last bar, which must bring it home."""
        return not (self.room is not None and self.room < 2 * self.per_bar)

    def can_end(self, where: Position) -> bool:
        return super().can_end(where) and not self.early and (self.home() or self._last())
