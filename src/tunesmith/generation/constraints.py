"""Constraints generation keeps while sampling (`tunesmith.generation.decode.generate`): each masks
the logits of a step, is fed the ids drawn and reads its rows again after a form plan took a bar back."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np


class Cycle:
    """Ids that must come in a fixed order, round and round: a metered frame end names the place
    of its frame in the bar (`tunesmith.tracks.piano.metered_frames`), so after ``|3`` the next frame
    can only close with ``|4``. :meth:`mask` leaves each row only the member due next (the model
    learns the order, but sampling from its whole distribution would sometimes draw another, and
    its sense of the beat would then be off from the frames'); other ids are untouched.

    ``rows``: the primer of each row; the member due next follows the last one there (the first
    member when there is none)."""

    def __init__(self, ids: Sequence[int], vocab_size: int, rows: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.index = np.full(vocab_size, -1, dtype=np.int64)
        self.index[self.ids] = np.arange(len(self.ids))
        self.start = np.array([self._after(row, 0) for row in np.asarray(rows)], dtype=np.int64)
        self.due = self.start.copy()

    def _after(self, row, default: int) -> int:
        for i in reversed(row):
            k = int(self.index[int(i)])
            if k >= 0:
                return (k + 1) % len(self.ids)
        return default

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """``logits`` with every member but each row's due one at -inf (a copy)."""
        logits = np.array(logits, copy=True)
        rows, due = np.arange(len(logits)), self.ids[self.due]
        keep = logits[rows, due]
        logits[:, self.ids] = -np.inf
        logits[rows, due] = keep
        return logits

    def feed(self, ids: np.ndarray) -> None:
        """Each row's new id: a member moves that row's due member on."""
        k = self.index[np.asarray(ids, dtype=np.int64)]
        hit = k >= 0
        self.due[hit] = (k[hit] + 1) % len(self.ids)

    def resync(self, rows: Sequence[Sequence[int]]) -> None:
        """The due members read again from each row's new ids (the primer's when it has none)."""
        self.due = np.array([self._after(row, s) for row, s in zip(rows, self.start)], dtype=np.int64)


class Both:
    """Two constraints of :func:`generate` kept together, each masking, fed and read again in turn
    (either may be None)."""

    def __init__(self, *parts) -> None:
        self.parts = [p for p in parts if p is not None]

    def mask(self, logits: np.ndarray) -> np.ndarray:
        for part in self.parts:
            logits = part.mask(logits)
        return logits

    def feed(self, ids: np.ndarray) -> None:
        for part in self.parts:
            part.feed(ids)

    def resync(self, rows: Sequence[Sequence[int]]) -> None:
        for part in self.parts:
            part.resync(rows)


class FrameRules:
    """The grammar of a frame representation, kept while sampling: a frame lists its pitches in
    ascending order, and a held pitch (``"60~"``, `tunesmith.tracks.piano.onsets_per_frame`) goes on
    from the frame before, so it must have sounded there. The model learns both from the corpus, which
    never breaks them, but sampling from its whole distribution drew a hold of a pitch that was not
    sounding in 7-9% of classical frames: each one a note cut off and another begun off the beat, the
    16ths and dotted 8ths that told the samples from real pieces. :meth:`mask` leaves each row only the
    pitches the grammar allows next (frame ends and the piece end are untouched; a row the masks
    would leave empty keeps its logits); the model's probabilities among them are renormalised by
    the sampler.

    ``frame_ends``: ids that close a frame; ``pitch_of``: ``(V,)`` each id's pitch, -1 for a symbol
    that is not one; ``held``: ``(V,)`` True for a held pitch's id; ``rows``: each row's primer,
    whose last frames the first step continues."""

    def __init__(self, frame_ends: Sequence[int], pitch_of: np.ndarray, held: np.ndarray, rows: np.ndarray) -> None:
        self.is_end = np.zeros(len(pitch_of), dtype=bool)
        self.is_end[np.asarray(frame_ends, dtype=np.int64)] = True
        self.pitch_of = np.asarray(pitch_of, dtype=np.int64)
        self.is_pitch = self.pitch_of >= 0
        self.held = np.asarray(held, dtype=bool) & self.is_pitch
        self.column = np.where(self.is_pitch, self.pitch_of, 0)  # a pitch's column in the sounding table
        self.primers = [list(map(int, row)) for row in np.asarray(rows)]
        n = len(self.primers)
        self.before = np.zeros((n, int(self.pitch_of.max(initial=0)) + 1), dtype=bool)  # the frame before
        self.now = np.zeros_like(self.before)  # the frame so far
        self.last = np.full(n, -1, dtype=np.int64)  # its highest pitch so far
        self.resync([[] for _ in range(n)])

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """``logits`` with every pitch the grammar forbids next at -inf (a copy)."""
        bad = self.is_pitch[None, :] & (self.pitch_of[None, :] <= self.last[:, None])
        bad |= self.held[None, :] & ~self.before[:, self.column]
        masked = np.where(bad, -np.inf, np.asarray(logits, dtype=np.float64))
        empty = ~np.isfinite(masked).any(axis=1)
        masked[empty] = logits[empty]
        return masked

    def feed(self, ids: np.ndarray) -> None:
        """Each row's new id: a frame end closes the frame, a pitch sounds in it."""
        ids = np.asarray(ids, dtype=np.int64)
        end, pitch = self.is_end[ids], self.is_pitch[ids]
        self.before[end], self.now[end], self.last[end] = self.now[end], False, -1
        rows = np.flatnonzero(pitch)
        self.now[rows, self.column[ids[rows]]] = True
        self.last[rows] = self.pitch_of[ids[rows]]

    def resync(self, rows: Sequence[Sequence[int]]) -> None:
        """The frames read again from each row's new ids, after its primer's (a bar drawn again took
        its tokens back)."""
        for i, row in enumerate(rows):
            frames: list[list[int]] = [[]]  # the frame so far, then the one before, read backwards
            for t in itertools.chain(reversed(row), reversed(self.primers[i])):
                if self.is_end[int(t)]:
                    if len(frames) == 2:
                        break
                    frames.append([])
                elif self.is_pitch[int(t)]:
                    frames[-1].append(int(t))
            now, before = frames[0], frames[1] if len(frames) == 2 else []
            self.now[i], self.before[i] = False, False
            self.now[i, self.column[now]] = True
            self.before[i, self.column[before]] = True
            self.last[i] = self.pitch_of[now].max(initial=-1)


def frame_rules(music, vocab: dict, symbols: Sequence[str]):
    """The track's frame grammar as ids (:class:`FrameRules`'s
    ``(frame_ends, pitch_of, held)``), or None for a representation without frames."""
    grammar = music.frame_rules(vocab)
    if grammar is None:
        return None
    ends, pitches = grammar
    pitch_of = np.full(len(symbols), -1, dtype=np.int64)
    held = np.zeros(len(symbols), dtype=bool)
    for i, s in enumerate(symbols):
        if s in pitches:
            pitch_of[i], held[i] = pitches[s]
    closing = set(ends)
    return [i for i, s in enumerate(symbols) if s in closing], pitch_of, held


def frame_rules_text(rules) -> str:
    """What :func:`frame_rules` keeps, in words (the report says it)."""
    held = rules[2].any()
    return "pitches in ascending order" + (", a held pitch only where it sounded in the frame before" if held else "")


def kept_order_and_rules(music, vocab, symbols: Sequence[str], cfg):
    """The ids generation keeps in their order (e.g. metered frame ends) and the frame grammar it keeps
    (:class:`Cycle`, :func:`frame_rules`; None when ``cfg.frame_rules`` is off or there are no frames)."""
    cycle = [symbols.index(c) for c in music.cycle(vocab) if c in symbols]
    return cycle, frame_rules(music, vocab, symbols) if cfg.frame_rules else None
