"""Vasudeva's melody time series with the song's meter and bar lines (``encode.essen.representation: metered``).

The time series (:mod:`tunesmith.tracks.melody.time_series`) has no meter: a model must count 16th
notes to know where a bar begins, and its songs stop anywhere. Here a song opens with its meter,
``M3/4`` (the first time signature the score declares; ``M-`` when it has none), then its key as
prepare transposed it, ``K:C`` or ``K:Am`` (tonic and mode, ABC's way; none when prepare did not
transpose), and a bar line ``|`` stands before the first 16th of every bar the score marks and
after the song's last:

    M3/4 K:C 67 _ _ _ | 72 _ _ _ 71 _ _ _ 69 _ _ _ | ... 72 _ _ _ _ _ _ _ |

(a pickup of one quarter, then whole 3/4 bars, the last one short by the pickup). The bar lines are
the score's own (a change of meter moves them), so a model sees where it is in the bar and how long
bars last, and where its song's home is; generation can keep the meter (:class:`MeteredBars`).
The notes are the time series' own: ``steps_only(encode(e, ...)) == time_series.encode(e)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from fractions import Fraction

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.bars import CLOSING_TRIES, MAX_TRIES, FixedBar, Position
from tunesmith.tracks.melody import time_series
from tunesmith.tracks.melody.time_series import _frac

NAME = "metered_series"

BAR = "|"
METER_PREFIX = "M"
NO_METER = "M-"
"""The header of a song whose score declares no meter."""
KEY_PREFIX = "K:"
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = {"major": "", "minor": "m", "dorian": "dor", "phrygian": "phr", "lydian": "lyd", "mixolydian": "mix",
         "locrian": "loc"}
"""ABC's mode suffixes (``K:Am``, ``K:Ddor``)."""


def meter_symbol(meter: str) -> str:
    """The header symbol of a meter (``3/4`` -> ``M3/4``; "" -> :data:`NO_METER`)."""
    return f"{METER_PREFIX}{meter}" if meter else NO_METER


def is_header(symbol: str) -> bool:
    return symbol.startswith((METER_PREFIX, KEY_PREFIX))


def key_symbol(key_name: str, transposed: int) -> str | None:
    """The header symbol of a song in ``key_name`` (``G major``, prepare's key before transposing)
    moved by ``transposed`` semitones: ``K:C``; None when the key is not known."""
    parts = key_name.split()
    if len(parts) != 2 or parts[1] not in MODES:
        return None
    from music21 import pitch

    try:
        tonic = (pitch.Pitch(parts[0]).pitchClass + transposed) % 12
    except Exception:
        return None
    return f"{KEY_PREFIX}{PITCH_NAMES[tonic]}{MODES[parts[1]]}"


def tonic_of(symbols: Sequence[str]) -> int | None:
    """The tonic pitch class of the key a song's header declares, or None."""
    for s in symbols[:3]:
        if s.startswith(KEY_PREFIX):
            name = s[len(KEY_PREFIX):]
            for length in (2, 1):
                if name[:length] in PITCH_NAMES:
                    return PITCH_NAMES.index(name[:length])
    return None


def steps_only(symbols: Sequence[str]) -> list[str]:
    """The time series inside metered symbols: the header and bar lines dropped."""
    return [s for s in symbols if s != BAR and not is_header(s)]


def encode(events: Sequence[time_series.Event], bars: Sequence[str | Fraction], meter: str,
           time_step: float | Fraction = 0.25, key: str | None = None) -> list[str]:
    """The meter's header (and ``key``'s, :func:`key_symbol`), then the time series with ``|`` at
    every bar line (``bars``: their offsets in quarter lengths; those outside the song are dropped)
    and after the last step.

    Raises MusicInputError (reason ``unrepresentable_duration``) for a bar line off the time-step grid.
    """
    steps = time_series.encode(events, time_step)
    step = _frac(time_step)
    lines = set()
    for offset in bars:
        k = _frac(offset) / step
        if k.denominator != 1:
            raise MusicInputError(f"bar line at {_frac(offset)} quarter lengths is not on the time_step {step} grid",
                                  reason="unrepresentable_duration")
        if 0 < k < len(steps):
            lines.add(int(k))
    out = [meter_symbol(meter), *([key] if key else [])]
    for i, s in enumerate(steps):
        if i in lines:
            out.append(BAR)
        out.append(s)
    return [*out, BAR]


def meter_of(symbols: Sequence[str]) -> str | None:
    """The meter a song's header declares (``3/4``), or None."""
    for s in symbols[:3]:
        if s.startswith(METER_PREFIX):
            return s[len(METER_PREFIX):] if s != NO_METER else None
    return None


def bar_steps(meter: str | None, time_step: float | Fraction = 0.25) -> int:
    """Time steps in a bar of ``meter`` (``3/4`` at 16ths: 12); a 4/4 bar when it cannot be read."""
    try:
        top, bottom = (int(x) for x in (meter or "4/4").split("/"))
        steps = Fraction(top * 4, bottom) / _frac(time_step)
    except (ValueError, ZeroDivisionError):
        steps = Fraction(4) / _frac(time_step)
    return max(1, int(steps)) if steps.denominator == 1 and steps > 0 else max(1, round(4 / _frac(time_step)))


def pickup_steps(symbols: Sequence[str], per_bar: int) -> int:
    """Time steps before the first bar line when they are fewer than a bar (a pickup), else 0."""
    n = 0
    for s in symbols:
        if s == BAR:
            return n if n < per_bar else 0
        if not is_header(s) and s != time_series.END:
            n += 1
    return 0


def to_stream(symbols: Sequence[str], time_step: float | Fraction = 0.25, *, title: str = "", sharps: int | None = 0):
    """A music21 Part in measures: the bars the bar lines mark (a first bar short of the meter is a
    pickup), notes held over a bar line tied, the clef that suits the notes, the header's time signature."""
    from music21 import clef, meter, note, stream, tie

    flat = time_series.to_stream(steps_only(symbols), time_step, title=title, sharps=sharps)
    step = _frac(time_step)
    lines, n = [], 0
    for s in symbols:
        if s == time_series.END:
            break
        if s == BAR:
            lines.append(n * step)
        elif not is_header(s):
            n += 1
    total = n * step
    bounds = sorted({Fraction(0), *(x for x in lines if 0 < x < total), total})
    part = stream.Part()
    if flat.metadata is not None:
        part.metadata = flat.metadata
    written = meter_of(symbols)
    measures = [stream.Measure(number=k + (0 if bounds[1] < _bar_length(written) else 1))
                for k in range(len(bounds) - 1)]
    t = Fraction(0)
    for element in flat.notesAndRests:
        start, end = t, t + _frac(element.duration.quarterLength)
        t = end
        cuts = [b for b in bounds if start < b < end]
        pieces = list(zip([start, *cuts], [*cuts, end]))
        for j, (a, b) in enumerate(pieces):
            one = note.Rest() if element.isRest else note.Note(element.pitch)
            one.duration.quarterLength = b - a
            if not element.isRest and len(pieces) > 1:
                one.tie = tie.Tie("start" if j == 0 else "stop" if j == len(pieces) - 1 else "continue")
            k = max(i for i in range(len(bounds) - 1) if bounds[i] <= a)
            measures[k].insert(float(a - bounds[k]), one)
    if measures:
        first = measures[0]
        if written:
            with contextlib.suppress(Exception):  # music21 raises many types for a meter it cannot read
                first.insert(0, meter.TimeSignature(written))
        for ks in flat.getElementsByClass("KeySignature"):
            first.insert(0, ks)
        first.insert(0, clef.bestClef(flat, recurse=True))  # measures made by hand get no clef of their own
        if bounds[1] < _bar_length(written):
            first.paddingLeft = float(_bar_length(written) - bounds[1])
    for m in measures:
        part.append(m)
    return part


def _bar_length(meter: str | None) -> Fraction:
    return bar_steps(meter, Fraction(1, 48)) * Fraction(1, 48)


class MeteredBars:
    """Bars of a metered series as a model writes them, for generation with a form plan: a bar
    closes at ``|`` (the bar line is its last symbol), every bar holds ``bar_steps`` time steps but the
    first, which may be a pickup, and the last, which may be short by the pickup; a song ends only
    after a bar line that makes it whole bars (the pickup and the last bar together one bar), on
    its key's ``tonic`` when the header names one, with a last note of ``final_steps`` at least (a
    beat, as nearly every real song's last note). With no room for another bar (``room``, set by the
    plan from the song's length limit) the song closes at the next whole bar, tonic or not."""

    undo_on_close = False
    rules = ("every bar fills the meter (the first may be a pickup); a song ends on a bar line that makes it "
             "whole bars, on its key's tonic and on a note a beat long at least (a song at its length limit "
             f"keeps its last bar after {CLOSING_TRIES} draws, home or not)")
    """What generation with this reader enforces, in words (the report quotes it)."""
    per_bar = 1
    """Units (bar lines, :meth:`tunesmith.tracks.Track.bar_unit`) a bar takes: the form plan ends a
    song that has no room left for another bar."""

    def __init__(self, bar_steps: int, headers: Sequence[str] = (), tonic: int | None = None,
                 final_steps: int = 0) -> None:
        self.bar_steps = bar_steps
        self.headers = tuple(headers)  # the vocabulary's meters and keys: never inside a song
        self.tonic = tonic
        self.room: int | None = None  # bar lines the song's length leaves (set by the form plan each step)
        self.early = False  # the song is too short to end yet (set by the form plan each step)
        self.final_steps = final_steps  # the shortest last note a song may end on, in time steps
        self._last: int | None = None  # the pitch class of the last note begun
        self._held = 0  # time steps the last note has lasted (a rest after it ends it)
        self._note = False  # the last step belongs to a note, not a rest
        self._bar: list[str] = []
        self._steps = 0
        self._bars = 0
        self._pickup = 0
        self._whole = False  # the bar line just written closed the song's last bar

    def feed(self, symbol: str) -> tuple[bool, FixedBar | None]:
        if is_header(symbol):
            return False, None
        self._bar.append(symbol)
        if symbol != BAR:
            self._steps += 1
            self._whole = False
            if symbol.isdigit():
                self._last, self._held, self._note = int(symbol) % 12, 1, True
            elif symbol == time_series.REST:
                self._note = False
            elif symbol == time_series.HOLD and self._note:
                self._held += 1
            return False, None
        bar, steps = FixedBar(tuple(self._bar)), self._steps
        if self.room is not None:
            self.room -= 1
        if self._bars == 0 and 0 < steps < self.bar_steps:
            self._pickup = steps
        self._whole = self._closes_song(steps, self._bars) or (not self._pickup and steps == self.bar_steps)
        self._bars += 1
        self._bar, self._steps = [], 0
        return True, bar

    def counts(self, bar: FixedBar, where: Position) -> bool:
        """A pickup is not a bar of the song's count."""
        return not (where.bar == 0 and self._steps_in(bar) < self.bar_steps)

    def check(self, bar: FixedBar, where: Position) -> str | None:
        """Why ``bar`` (just closed) breaks the form: a bar that does not fill the meter, or the
        song's last bar (no room for another) ending off the tonic; None when it keeps it."""
        n = self._steps_in(bar)
        pickup = self._bars == 1 and 0 < n < self.bar_steps
        if not (n == self.bar_steps or pickup or self._closes_song(n, self._bars - 1)):
            return f"bar of {n} steps in a {self.bar_steps}-step meter"
        if self.room is not None and self.room < self.per_bar and self._whole and not self._home():
            if self._held < self.final_steps:
                return f"song ends on a note of {self._held} steps, shorter than {self.final_steps}"
            return f"song ends on pitch class {self._last}, not the tonic {self.tonic}"
        return None

    @property
    def max_tries(self) -> int:
        """Draws of a bar that breaks the form (the form plan's): a song's last bar, which must
        bring it home, gets more than others."""
        return CLOSING_TRIES if self.room is not None and self.room < self.per_bar else MAX_TRIES

    @property
    def closing(self) -> bool:
        """The song has room for the bar being written and no other: it closes with it."""
        return self.room is not None and self.room <= self.per_bar

    def repeatable(self, bar: FixedBar) -> bool:
        """A whole bar, and not as the song's last (which may be short by the pickup)."""
        return self._steps_in(bar) == self.bar_steps and not self.closing

    def restrict(self, where: Position) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
        """A full bar takes its bar line next; a bar short of the meter may not close, except the
        song's first (a pickup) and a bar short by the pickup (the last)."""
        if self._steps >= self.bar_steps:
            return (BAR,), ()
        if self._steps and self._closes_song(self._steps, self._bars):
            if self.closing:  # no room for another bar: the song closes here
                return (BAR,), ()
            return (None, self.headers) if self._home() and not self.early else (None, (BAR, *self.headers))
        if self._steps and self._bars == 0:
            return None, self.headers
        return None, (BAR, *self.headers)

    def _home(self) -> bool:
        """The last note is the key's tonic (or the key is not known) and lasts ``final_steps`` at least."""
        return (self.tonic is None or self._last == self.tonic) and self._held >= self.final_steps

    def _closes_song(self, steps: int, bars_before: int) -> bool:
        """A bar of ``steps`` after ``bars_before`` bars is the last of a song with a pickup: short
        by the pickup, after the pickup and a whole bar at least."""
        return bool(self._pickup) and bars_before >= 2 and steps == self.bar_steps - self._pickup

    @property
    def must_end(self) -> bool:
        """The bar line just written closed a last bar short of the meter: nothing may follow."""
        return self._whole and bool(self._pickup) and not self._bar

    def can_end(self, where: Position) -> bool:
        """After a bar line that makes the song whole bars, on the tonic (or with no room left)."""
        if self.early and not self.must_end:
            return False
        return self._whole and not self._bar and self._bars > 1 and (self._home() or self.closing or self.must_end)

    @staticmethod
    def copy_of(bar: FixedBar) -> list[str]:
        return list(bar.tokens)

    @staticmethod
    def _steps_in(bar: FixedBar) -> int:
        return sum(1 for s in bar.tokens if s != BAR and not is_header(s))
