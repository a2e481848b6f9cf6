"""Music statistics in the manner of Yang & Lerch (2020) and MusPy.

A track turns its symbols into notes ``(pitch, start_beat, end_beat)``
(:meth:`tunesmith.tracks.Track.notes`); :func:`music_stats` summarises a set of
pieces and :func:`compare_distributions` sets a generated set against a real one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks import get_track
from tunesmith.tracks.base import Track

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- symbols -> notes


def symbols_to_notes(
    track: str | Track, symbols: Sequence[str], meta: Mapping[str, Any] | None = None
) -> np.ndarray:
    """Notes of one piece of ``track``, decoding options from the vocab's metadata.

    ``meta`` is ``vocab.json`` (keys ``encode.time_step``, ``encode.distinguish_holds``,
    ``prepare.frames_per_beat`` / ``prepare.fs``); defaults as params.yaml's.
    Returns float64 ``(n, 3)`` ``[pitch, start_beat, end_beat]`` sorted by start then pitch.

    Raises:
        MusicInputError: the piece does not decode (bad ABC, malformed token).
        UnknownTrackError: an unknown track, naming the known ones.
    """
    return get_track(track).notes(symbols, meta or {})


def pieces_to_notes(
    track: str | Track, pieces: Iterable[Sequence[str]], meta: Mapping[str, Any] | None = None
) -> tuple[list[np.ndarray], int]:
    """:func:`symbols_to_notes` over many pieces, skipping those that fail or hold no notes.

    Returns ``(notes per decoded piece, number skipped)``.
    """
    track = get_track(track)
    out, skipped = [], 0
    for i, symbols in enumerate(
        tqdm(list(pieces), desc=f"{track.name} notes", leave=False, unit="piece")
    ):
        try:
            notes = symbols_to_notes(track, symbols, meta)
        except MusicInputError as exc:
            log.debug("piece %d skipped (%s): %s", i, exc.reason, exc)
            skipped += 1
            continue
        if len(notes) == 0:
            skipped += 1
            continue
        out.append(notes)
    if skipped:
        log.info(
            "%s: %d of %d pieces gave no notes and were skipped", track.name, skipped, skipped + len(out)
        )
    return out, skipped


# --------------------------------------------------------------------------- music statistics

NOTE_LENGTH_EDGES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, math.inf)
"""Bin edges in beats (quarter notes) of the note-length and inter-onset histograms.

Bins are left-closed, ``[a, b)``: shorter than a 16th, 16th, 8th, dotted 8th,
quarter, dotted quarter, half, dotted half, whole or longer; a triplet falls in
the bin of the next shorter plain value.
"""

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
SCALES = tuple(
    frozenset((root + step) % 12 for step in steps)
    for steps in (_MAJOR, _MINOR)
    for root in range(12)
)
"""The 24 major and natural-minor scales as pitch-class sets (MusPy's; a natural
minor has the pitch classes of its relative major, so 12 distinct sets)."""

HISTOGRAMS = ("pitch_class_hist", "note_length_hist", "ioi_hist")
SCALARS = (
    "pitch_range",
    "pitch_class_entropy",
    "scale_consistency",
    "empty_beat_rate",
    "polyphony",
)


def _hist(values: np.ndarray) -> np.ndarray:
    return np.histogram(values, bins=np.array(NOTE_LENGTH_EDGES))[0]


def piece_stats(notes: np.ndarray) -> dict[str, Any]:
    """Features of one piece: ``notes`` float ``(n, 3)``, ``[pitch, start_beat, end_beat]``, n >= 1.

    Returns:
        ``pitch_class_hist`` (12 ints: notes per pitch class, C first),
        ``note_length_hist`` and ``ioi_hist`` (ints per :data:`NOTE_LENGTH_EDGES`
        bin; inter-onset intervals are the gaps between consecutive distinct
        onset times), and scalars: ``pitch_range`` (highest minus lowest MIDI
        pitch), ``pitch_class_entropy`` (bits, of the pitch-class histogram),
        ``scale_consistency`` (largest share of notes inside one of
        :data:`SCALES`), ``empty_beat_rate`` (share of beats ``[b, b + 1)``,
        ``b = 0 .. ceil(last end) - 1``, in which no note sounds) and
        ``polyphony`` (total note time over the time any note sounds: the mean
        number of notes sounding when one does; 1 for a melody).
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 3)
    if len(notes) == 0:
        raise ValueError("a piece needs at least one note for its statistics")
    pitch, start, end = notes[:, 0].astype(np.int64), notes[:, 1], notes[:, 2]
    pcs = np.bincount(pitch % 12, minlength=12)
    share = pcs / pcs.sum()
    nz = share[share > 0]
    onsets = np.unique(start)

    n_beats = max(1, math.ceil(end.max()))
    beats = np.arange(n_beats)
    # a note sounds in beat b when it starts before b + 1 and ends after b
    busy = (start[None, :] < beats[:, None] + 1) & (end[None, :] > beats[:, None])

    order = np.argsort(start, kind="stable")
    covered, reach = 0.0, -math.inf
    for s, e in zip(start[order], end[order]):  # length of the union of note intervals
        if e > reach:
            covered += e - max(s, reach)
            reach = e
    return {
        "pitch_class_hist": pcs.tolist(),
        "note_length_hist": _hist(end - start).tolist(),
        "ioi_hist": _hist(np.diff(onsets)).tolist(),
        "pitch_range": float(pitch.max() - pitch.min()),
        "pitch_class_entropy": float(-(nz * np.log2(nz)).sum()),
        "scale_consistency": max(float(pcs[list(scale)].sum()) for scale in SCALES) / len(pitch),
        "empty_beat_rate": float(1.0 - busy.any(axis=1).mean()),
        "polyphony": float((end - start).sum() / covered) if covered > 0 else math.nan,
    }


def music_stats(pieces: Sequence[np.ndarray]) -> dict[str, Any]:
    """Statistics of a set of pieces (each as :func:`piece_stats` takes; empty pieces skipped).

    Histograms are summed over the set's pieces (integer counts); scalars are
    the mean over pieces of each piece's value (NaN for an empty set).
    Also ``n_pieces`` and ``n_notes``.
    """
    per = [piece_stats(p) for p in pieces if len(p)]
    out: dict[str, Any] = {
        "n_pieces": len(per),
        "n_notes": int(sum(sum(s["pitch_class_hist"]) for s in per)),
    }
    sizes = {
        "pitch_class_hist": 12,
        "note_length_hist": len(NOTE_LENGTH_EDGES) - 1,
        "ioi_hist": len(NOTE_LENGTH_EDGES) - 1,
    }
    for name in HISTOGRAMS:
        total = [0] * sizes[name]
        for s in per:
            total = [a + b for a, b in zip(total, s[name])]
        out[name] = total
    for name in SCALARS:
        values = [s[name] for s in per if not math.isnan(s[name])]
        out[name] = float(np.mean(values)) if values else math.nan
    return out


KL_EPSILON = 1e-6
"""Added to every bin of both normalised histograms (then renormalised) before KL,
so a bin one set never fills costs about ``ln(1 / KL_EPSILON)`` ~ 14 nats of its
share instead of an infinite divergence."""


def _smoothed(h: Sequence[int], eps: float) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    return (h / h.sum() + eps) / (1.0 + eps * h.size)


def compare_distributions(
    gen_stats: Mapping[str, Any], real_stats: Mapping[str, Any], *, eps: float = KL_EPSILON
) -> dict[str, float]:
    """How far generated music's statistics are from the real music's.

    For each histogram ``name`` in :data:`HISTOGRAMS`:

    - ``<name>_kl``: ``KL(real || generated)`` in nats of the histograms
      normalised to sum 1, each smoothed as ``(p + eps) / (1 + K * eps)`` over
      its ``K`` bins (:data:`KL_EPSILON`): how badly the generated distribution
      covers what real music does. 0 for identical histograms.
    - ``<name>_overlap``: ``sum_i min(p_i, q_i)`` of the unsmoothed normalised
      histograms, in [0, 1]; 1 for identical histograms (computed on the
      integer counts, so exactly 1).

    For each scalar in :data:`SCALARS`: ``<name>_abs_diff`` = ``|generated - real|``.
    A histogram with no counts in either set gives NaN.
    """
    out: dict[str, float] = {}
    for name in HISTOGRAMS:
        g, r = list(gen_stats[name]), list(real_stats[name])
        if len(g) != len(r):
            raise ValueError(f"{name}: generated has {len(g)} bins, real {len(r)}")
        gs, rs = sum(g), sum(r)
        if gs == 0 or rs == 0:
            out[f"{name}_kl"] = out[f"{name}_overlap"] = math.nan
            continue
        p, q = _smoothed(r, eps), _smoothed(g, eps)
        out[f"{name}_kl"] = float(np.sum(p * np.log(p / q)))
        # exact when the counts are integers: min(a/A, b/B) = min(a*B, b*A) / (A*B)
        out[f"{name}_overlap"] = sum(min(a * rs, b * gs) for a, b in zip(g, r)) / (gs * rs)
    for name in SCALARS:
        out[f"{name}_abs_diff"] = abs(float(gen_stats[name]) - float(real_stats[name]))
    return out
