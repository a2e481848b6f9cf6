"""What a piece does over 8 and 16 bars: repeats, sections, cadences home, textures that move.

A model can predict held-out music well and still make music with no form. These statistics
read a piece as a musician would, from its notes (``(n, 3)`` ``[pitch, start_beat, end_beat]``,
beats are quarter notes) and the few facts its notation states (:class:`FormHints`: the bar's
length, the tonic, the sections the notation marks). The same function reads a real piece and a
sample, so the two sides are measured alike.

Per piece (:func:`piece_form`):

- ``bar_repeat``: the share of bars (after the first) whose notes, relative to the bar's start,
  equal those of an earlier bar of the piece (pitch, onset and length to a 48th of a beat); bars
  count from the first bar line, so a pickup the notation states (``FormHints.pickup``) is a bar
  of its own.
- ``motif_repeat``: the share of 4-note motifs of the top line (3 intervals and 4 durations) that
  occurred earlier in the piece.
- ``tonic_end``: the lowest note of the last onset is the tonic (the key the notation declares,
  else the Krumhansl-Kessler estimate from the notes' durations).
- ``whole_bars``: the piece lasts a whole number of bars (to a 16th note): its notated length
  (``FormHints.length``, rests at its end included) where the notation states it, else from its
  first bar's start to its last note's end.
- ``bars``: its length in bars.
- ``longest_chord``: the longest span, in beats, over which the set of sounding pitches does not
  change (a re-struck identical chord is no change).
- ``two_parts_of_8``: the notation marks at least two sections, each of 8 bars (9 bar lines where
  a pickup opens it); None where the notation marks no sections.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from tunesmith.tracks.bars import kk_tonic
from tunesmith.tracks.base import FormHints

GRID = 48
"""Onsets and lengths are compared on a grid of 1/48 beat (16th-note triplets and 32nds)."""

def estimate_tonic(notes: np.ndarray) -> int:
    """The tonic pitch class of the major or minor key whose Krumhansl-Kessler profile correlates
    best with the notes' duration-weighted pitch-class histogram (`tunesmith.tracks.bars.kk_tonic`)."""
    hist = np.zeros(12)
    np.add.at(hist, notes[:, 0].astype(int) % 12, notes[:, 2] - notes[:, 1])
    if not hist.any():
        return int(notes[0, 0]) % 12
    return kk_tonic(hist)


def top_line(notes: np.ndarray) -> np.ndarray:
    """The highest note of each onset, in time order: the melody of a polyphonic piece."""
    order = np.lexsort((-notes[:, 0], notes[:, 1]))
    ordered = notes[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = np.diff(ordered[:, 1]) > 1e-9
    return ordered[first]


def _bar_repeat(notes: np.ndarray, bar_beats: float, pickup: float = 0.0) -> float:
    start = notes[0, 1] + pickup  # bars count from the first bar line: a pickup is a bar of its own
    bar_of = np.floor((notes[:, 1] - start) / bar_beats + 1e-9).astype(int)
    bars: dict[int, tuple] = {}
    for b in np.unique(bar_of):
        rows = notes[bar_of == b]
        rel = np.round((rows[:, 1:] - start - b * bar_beats) * GRID).astype(int)
        bars[int(b)] = tuple(zip(rows[:, 0].astype(int), rel[:, 0], rel[:, 1] - rel[:, 0]))
    seen, repeats, counted = set(), 0, 0
    for b in sorted(bars):
        if b > 0:
            counted += 1
            repeats += bars[b] in seen
        seen.add(bars[b])
    return repeats / counted if counted else 0.0


def _motif_repeat(line: np.ndarray, size: int = 4) -> float:
    if len(line) < size + 1:
        return 0.0
    pitches = line[:, 0].astype(int)
    lengths = np.round((line[:, 2] - line[:, 1]) * GRID).astype(int)
    seen, repeats = set(), 0
    total = len(line) - size + 1
    for i in range(total):
        key = (tuple(np.diff(pitches[i:i + size])), tuple(lengths[i:i + size]))
        repeats += key in seen
        seen.add(key)
    return repeats / total


def _longest_chord(notes: np.ndarray) -> float:
    times = np.unique(np.concatenate([notes[:, 1], notes[:, 2]]))
    longest, run_start, current = 0.0, None, None
    for a, b in itertools.pairwise(times):
        mid = (a + b) / 2
        sounding = frozenset(notes[(notes[:, 1] <= mid) & (notes[:, 2] > mid), 0].astype(int))
        if sounding != current:
            if current:
                longest = max(longest, a - run_start)
            run_start, current = a, sounding
    if current:
        longest = max(longest, times[-1] - run_start)
    return float(longest)


def piece_form(notes: np.ndarray, hints: FormHints) -> dict[str, float | bool | None]:
    """The form statistics of one piece (see the module's docstring); ``notes`` non-empty."""
    bar = hints.bar_beats
    length = hints.length if hints.length else float(notes[:, 2].max() - min(notes[:, 1].min(), 0.0))
    last = notes[np.isclose(notes[:, 1], notes[:, 1].max())]
    tonic = hints.tonic if hints.tonic is not None else estimate_tonic(notes)
    bars = length / bar
    sections = hints.sections
    parts = None
    if sections is not None:
        parts = len(sections) >= 2 and all(s in (8, 9) for s in sections)
    return {
        "bar_repeat": _bar_repeat(notes, bar, hints.pickup),
        "motif_repeat": _motif_repeat(top_line(notes)),
        "tonic_end": int(last[:, 0].min()) % 12 == tonic,
        "whole_bars": abs(bars - round(bars)) * bar < 0.25 - 1e-9,
        "bars": bars,
        "longest_chord": _longest_chord(notes),
        "two_parts_of_8": parts,
        "endings": hints.endings if sections is not None else None,
    }


FORM_KEYS = ("bar_repeat", "motif_repeat", "tonic_end", "whole_bars", "bars", "longest_chord",
             "two_parts_of_8", "endings")
"""The per-piece statistics, in the order the report's form table shows them."""


def summarise(forms: Sequence[Mapping[str, float | bool | None]], *, chord_beats: float = 8.0,
              boot: int = 200, seed: int = 0) -> dict[str, dict[str, float]]:
    """Each statistic's mean over pieces with its bootstrap sd (pieces resampled ``boot`` times),
    plus ``chord_at_most_<chord_beats>``: the share of pieces whose longest chord is that short, and
    the 10th/50th/90th percentiles of ``bars``. A statistic that is None for every piece is left out."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    columns = {k: [f[k] for f in forms if f.get(k) is not None] for k in FORM_KEYS}
    columns[f"chord_at_most_{chord_beats:g}"] = [f["longest_chord"] <= chord_beats for f in forms]
    for key, values in columns.items():
        if not values:
            continue
        arr = np.asarray(values, dtype=float)
        means = arr[rng.integers(0, len(arr), (boot, len(arr)))].mean(axis=1)
        out[key] = {"mean": float(arr.mean()), "sd": float(means.std(ddof=1)), "n": len(arr)}
    bars = np.asarray(columns["bars"], dtype=float)
    if len(bars):
        out["bars"].update({f"p{q}": float(np.percentile(bars, q)) for q in (10, 50, 90)})
    return out
