"""Generation with a form plan (``generate.<c>.form: plan``): bars that keep the meter, sections of
the corpus's length that end on the tonic, and bars that come back as often as the corpus's do.

A model that predicts the next symbol well still writes music with no form: its bars rarely
return and its tunes stop anywhere (docs/experiments.md, "Music with form"). The plan works at the
level of bars, around the model's own next-symbol distribution:

- **Bars come back.** Magenta's Lookback RNN (Waite et al., "Generating Long-Term Structure in
  Songs and Stories") lets the model choose to repeat the bar of one or two bars ago. Here the
  choice is a bar-level model fitted on the training split (:func:`fit_plan`): for each place in
  the form (section, bar of the section), how often a real bar there repeats an earlier bar of its
  piece, and how many bars back. At the start of each bar a sample repeats an earlier bar with that
  probability: the bar's symbols are fed through the model (its state follows them), and the
  model goes on from there.
- **The meter and the sections hold.** A track's bar reader (:class:`FixedBars`, or
  :class:`tunesmith.tracks.abc.bars.AbcForm` for ABC text) says where each bar closes and whether
  it keeps the form: for ABC, a bar fills the ``M:`` meter, a section ends with a section bar line
  after the corpus's commonest section length, on the ``K:`` tonic. A bar that breaks the form is
  drawn again from the model, from the state at its start (at most ``MAX_TRIES`` times, then kept
  as it is).
- **Pieces end at home.** The end token is masked out except where the reader allows an end: ABC
  after a section's last bar line, from the second section on; other tracks at a bar line on the
  tonic (the Krumhansl-Kessler estimate from the notes so far).

The plan changes what is sampled, never what the model predicts: the likelihoods in evaluate are
the model's own. The repeat rate of the samples is fitted to the corpus's, so matching it is by
construction; the two-sample test (`tunesmith.evaluation.two_sample`) judges the rest.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunesmith.tracks.bars import MAX_TRIES, Position

log = logging.getLogger(__name__)

MAX_POSITION = 16
"""Bars of a section past this one share one row of the repeat table."""


@dataclass
class Plan:
    """The bar-level model :func:`fit_plan` fits on the training split."""

    section_bars: int | None
    """Bars a section lasts (ABC: the corpus's commonest section length); None: no sections."""
    sections: int | None = None
    """Sections a piece has (the corpus's commonest count); None: no sections."""
    repeats: dict[tuple[int, int, int], tuple[int, Counter]] = field(default_factory=dict)
    """(section, bar of section, bars back the bar before repeated) -> (bars seen there, Counter of
    bars back to the bar repeated)."""

    def repeat_share(self) -> float:
        seen = sum(n for n, _ in self.repeats.values())
        return sum(sum(c.values()) for _, c in self.repeats.values()) / seen if seen else 0.0

    def draw(self, where: Position, rng: np.random.Generator) -> int:
        """Bars back to repeat at this place of the form, 0 for a new bar."""
        seen, back = self.repeats.get(_place(where.sections, where.bar, where.back), (0, Counter()))
        if not seen or rng.random() >= sum(back.values()) / seen:
            return 0
        offsets = sorted(back)
        weights = np.array([back[o] for o in offsets], dtype=float)
        return int(offsets[int(rng.choice(len(offsets), p=weights / weights.sum()))])

    def summary(self) -> dict[str, Any]:
        return {"section_bars": self.section_bars, "sections": self.sections,
                "repeat_share": round(self.repeat_share(), 4), "places": len(self.repeats)}


def _place(section: int, bar: int, back: int) -> tuple[int, int, int]:
    """A row of the repeat table: the section (first or later), the bar of the section, and how
    far back the bar before repeated (repeats come in runs: bars 5-7 as bars 1-3)."""
    return min(section, 1), min(bar, MAX_POSITION), min(back, MAX_POSITION)


def _advance(reader, bar, where: Position, seen: list | None = None) -> bool:
    """Move ``where`` past ``bar``; whether it counted as a bar of its section. ``seen``: the
    counted bars' keys so far, to which ``bar``'s is added (``where.back`` says how far back it
    repeats one of them)."""
    counted = reader.counts(bar, where)
    if not counted:
        if where.bar == 0:
            where.pickup = getattr(bar, "length", 0)
        return False
    where.bar += 1
    if seen is not None:
        where.back = 0
        if reader.repeatable(bar):
            for k in range(len(seen) - 1, -1, -1):
                if seen[k] == bar.key:
                    where.back = len(seen) - k
                    break
        seen.append(bar.key)
    if bar.ends_section:
        where.sections, where.bar, where.pickup = where.sections + 1, 0, 0
    return True


def fit_plan(pieces: Sequence[Sequence[str]], reader_for: Callable[[Sequence[str]], Any],
             body_of: Callable[[Sequence[str]], Sequence[str]], sections: bool) -> Plan:
    """The plan of a training split: each piece read bar by bar (``reader_for(piece)`` a fresh
    reader, fed ``body_of(piece)``), the repeats of its counted, whole bars, and (``sections``)
    the commonest section length."""
    repeats: dict[tuple[int, int, int], tuple[int, Counter]] = {}
    lengths: Counter = Counter()
    counts: Counter = Counter()
    for piece in pieces:
        reader, where, seen = reader_for(piece), Position(), []
        closed = [bar for bar in (reader.feed(s)[1] for s in body_of(piece)) if bar is not None]
        last = reader.finish() if hasattr(reader, "finish") else None
        for bar in [*closed, *([last] if last is not None else [])]:
            place, before = _place(where.sections, where.bar, where.back), where.bar
            if not _advance(reader, bar, where, seen):
                continue
            if bar.ends_section:
                lengths[before + 1] += 1
            if reader.repeatable(bar):
                n, back = repeats.get(place, (0, Counter()))
                if where.back:
                    back[where.back] += 1
                repeats[place] = (n + 1, back)
        counts[where.sections] += 1
    section_bars = lengths.most_common(1)[0][0] if sections and lengths else None
    return Plan(section_bars, counts.most_common(1)[0][0] if sections and counts else None, repeats)


@dataclass
class _Snap:
    length: int
    state: list[np.ndarray]
    logits: np.ndarray
    reader: Any


@dataclass
class _Row:
    reader: Any
    where: Position = field(default_factory=Position)
    bars: list = field(default_factory=list)  # counted bars so far
    seen: list = field(default_factory=list)  # their keys
    queue: list[int] = field(default_factory=list)
    start: _Snap | None = None  # the state where the current bar began
    here: _Snap | None = None  # the latest state after a bar line (the next bar's start)
    tries: int = 0
    decided: set = field(default_factory=set)


class FormControl:
    """Drives :func:`tunesmith.generation.decode.generate` along a :class:`Plan` (module docstring).

    ``readers``: one bar reader per sample, already fed its primer; ``stepper``: a stepper whose
    rows can be read and set (`row_states`, `set_row_states`)."""

    def __init__(self, plan: Plan, readers: Sequence[Any], symbols: Sequence[str], end_id: int,
                 rng: np.random.Generator) -> None:
        self.plan, self.symbols, self.end_id, self.rng = plan, list(symbols), end_id, rng
        self.index = {s: i for i, s in enumerate(symbols)}
        self.rows = [_Row(reader) for reader in readers]
        self.redrawn = 0
        self.repeated = 0
        self.reasons: Counter = Counter()

    def start(self, stepper, logits: np.ndarray) -> None:
        states = stepper.row_states()
        for i, row in enumerate(self.rows):
            row.here = row.start = _Snap(0, [s[i].copy() for s in states], logits[i].copy(), copy.deepcopy(row.reader))

    def mask(self, logits: np.ndarray, active: np.ndarray, room: np.ndarray | None = None,
             short: np.ndarray | None = None) -> np.ndarray:
        """Each row's next symbol limited to what keeps its form (the reader's ``restrict``), the
        end token masked where the row may not end yet, and forced where it has its sections or
        (``room``: time units left a row) where another whole bar would not fit. A reader with a
        ``room`` of its own (:class:`tunesmith.tracks.melody.metered_series.MeteredBars`) is told the
        room left and (``short``) whether the row is too short to end yet."""
        logits = np.array(logits, copy=True)
        for i, row in enumerate(self.rows):
            if not active[i] or row.queue:
                continue
            room_of_own = hasattr(row.reader, "room")
            if room_of_own:  # a reader that closes a piece in the room left (and whose bar rules hold at its end)
                row.reader.room = None if room is None else int(room[i])
                row.reader.early = bool(short is not None and short[i])
            if row.reader.can_end(row.where):
                full = self.plan.sections and row.where.sections + 1 >= self.plan.sections
                full = full or getattr(row.reader, "must_end", False)  # a last bar short by the pickup
                if full or (room is not None and room[i] < getattr(row.reader, "per_bar", 0)):
                    logits[i, :] = -np.inf  # the piece has its sections, or no room for a bar: it ends here
                    logits[i, self.end_id] = 0.0
                    continue
                if not room_of_own:  # where a piece may end, the reader has no rule of its own
                    continue
            else:
                logits[i, self.end_id] = -np.inf
            only, forbid = row.reader.restrict(row.where)
            if only is not None:
                keep = [self.index[c] for c in only if c in self.index]
                if keep:
                    kept = logits[i, keep].copy()
                    logits[i, :] = -np.inf
                    logits[i, keep] = kept
            for c in forbid:
                if c in self.index:
                    logits[i, self.index[c]] = -np.inf
            if not np.isfinite(logits[i]).any():
                logits[i, self.end_id] = 0.0  # nothing the form allows: the piece ends
        return logits

    def forced(self, ids: np.ndarray, active: np.ndarray) -> np.ndarray:
        ids = np.array(ids, copy=True)
        for i, row in enumerate(self.rows):
            if active[i] and row.queue:
                ids[i] = row.queue.pop(0)
        return ids

    def after(self, ids: np.ndarray, out: list[list[int]], stepper, logits: np.ndarray,
              active: np.ndarray) -> np.ndarray:
        """Read each active row's new symbol (already appended to ``out[i]`` and stepped); redraw a
        bar that breaks the form, start a repeated bar. Returns the logits to sample from next."""
        states = None
        restore: dict[int, _Snap] = {}
        logits = np.array(logits, copy=True)
        for i, row in enumerate(self.rows):
            if not active[i] or ids[i] == self.end_id:
                continue
            symbol = self.symbols[ids[i]]
            at_line, bar = row.reader.feed(symbol)
            if bar is None:
                if at_line:  # the state after a bar line: where the next bar may start
                    states = stepper.row_states() if states is None else states
                    row.here = _Snap(len(out[i]), [s[i].copy() for s in states], logits[i].copy(), None)
                continue
            reason = row.reader.check(bar, row.where)
            if reason is not None and row.tries < getattr(row.reader, "max_tries", MAX_TRIES):  # draw it again
                row.tries += 1
                self.redrawn += 1
                self.reasons[reason.split(" ")[0]] += 1
                row.queue.clear()
                restore[i] = row.start
                continue
            row.tries = 0
            if _advance(row.reader, bar, row.where, row.seen):
                row.bars.append(bar)
            undo = getattr(row.reader, "undo_on_close", True)
            if undo:  # this symbol opened the next bar: its start is the state before it
                row.reader.open_bar()
                base = row.here
            else:  # this symbol was the bar line: the next bar starts after it
                states = stepper.row_states() if states is None else states
                base = _Snap(len(out[i]), [s[i].copy() for s in states], logits[i].copy(), None)
            row.start = _Snap(base.length, base.state, base.logits, copy.deepcopy(row.reader))
            place = (row.where.sections, row.where.bar)
            back = 0
            if place not in row.decided:
                row.decided.add(place)
                back = self.plan.draw(row.where, self.rng)
            if back and back <= len(row.bars) and row.reader.repeatable(row.bars[-back]):
                row.queue = [self.index[s] for s in row.reader.copy_of(row.bars[-back]) if s in self.index]
                self.repeated += 1
                if undo:
                    restore[i] = row.start
            elif undo:
                row.reader.feed(symbol)
        if restore:
            rows = sorted(restore)
            stepper.set_row_states(rows, [restore[i].state for i in rows])
            for i in rows:
                snap = restore[i]
                del out[i][snap.length:]
                self.rows[i].reader = copy.deepcopy(snap.reader)
                logits[i] = snap.logits
        return logits

    def summary(self) -> dict[str, Any]:
        """The plan's figures, the bars drawn again (and why) and repeated, and (``rules``) what the
        bar reader enforces in words, where it says (the report quotes it)."""
        rules = getattr(self.rows[0].reader, "rules", None) if self.rows else None
        return {**self.plan.summary(), "bars_redrawn": self.redrawn, "bars_repeated": self.repeated,
                "redrawn_for": dict(self.reasons.most_common()),
                **({"rules": rules} if isinstance(rules, str) else {})}


def track_plan(music, vocab: dict, train_pieces) -> Plan:
    """The plan of a track's encoded training split (``train.jsonl``), logged."""
    from tunesmith.core.errors import ConfigError
    from tunesmith.generation.pool import read_pieces

    if train_pieces is None or not train_pieces.is_file():
        raise ConfigError(f"generate.{music.name}.form: plan needs the encoded train split, {train_pieces} not found")
    if music.bar_unit(vocab) is None:
        raise ConfigError(f"generate.{music.name}.form: the {music.name} track cannot count bars; use form: none")
    pieces = [[s for s in p["symbols"] if s != music.end] for p in read_pieces(train_pieces)]

    def reader_for(piece):
        return music.bar_reader(_header(music, piece), vocab)

    plan = fit_plan(pieces, reader_for, music.after_header, sections=music.char_symbols)
    log.info("%s: form plan from %d training pieces: %s", music.name, len(pieces), plan.summary())
    return plan


def _header(music, symbols: Sequence[str]) -> list[str]:
    body = music.after_header(symbols)
    return list(symbols[: len(symbols) - len(body)])


def control_for(music, vocab: dict, plan: Plan, primers: Sequence[Sequence[str]], seed: int) -> FormControl:
    """A :class:`FormControl` for samples opening with ``primers`` (symbols, one per sample), its
    repeats drawn from a generator of their own (``seed``), apart from the sampler's."""
    readers = []
    for primer in primers:
        primer = [s for s in primer if s != music.end]
        reader = music.bar_reader(_header(music, primer), vocab, plan.section_bars)
        for symbol in music.after_header(primer):
            reader.feed(symbol)
        readers.append(reader)
    symbols = list(vocab["symbols"])
    return FormControl(plan, readers, symbols, symbols.index(vocab["special"]["end"]),
                       np.random.default_rng([seed, 31]))
