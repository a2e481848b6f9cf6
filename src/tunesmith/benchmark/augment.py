"""Transposition at the cost of one copy: each training piece moved by its own random shift each epoch.

Walder ("Modelling Symbolic Music: Beyond the Piano Roll", 2016) trains on every
piece in all twelve keys, twelve copies an epoch (``benchmark.<set>.transpose``
here). :class:`RandomShift` shows each piece once an epoch instead, moved by a
whole number of semitones drawn from ``[low, high]``, so over 20-40 epochs a
piece is seen in most keys while an epoch costs what the untransposed data
costs.

- **On the keyboard.** A piece's range of shifts is ``[low, high]`` clipped by its
  own lowest and highest notes, so no note leaves 21-108 (A0-C8); 0 is always in
  it (``low <= 0 <= high``), so a piece whose notes fill the keyboard stays put.
- **Deterministic.** Epoch ``e``'s shifts are a pure function of ``(seed, e)``:
  a run resumed at epoch ``k`` draws epoch ``k``'s shifts, as the uninterrupted
  run did.
- **Same length.** A shift moves pitch tokens and keeps every frame end and
  piece end, so each epoch's token array is as long as the original: the windows,
  the steps per epoch and the carried-state rows do not change from epoch to epoch.

Validation and test are never shifted.
"""

from __future__ import annotations

import numpy as np

from tunesmith.tracks.piano import notes_per_frame as npf

SALT = 0x5A17
"""Mixed into the seed so the shifts do not share a stream with the window order of the same seed."""


def piece_ends(ids: np.ndarray) -> np.ndarray:
    """Positions of the piece ends of a split array ``[END] p1 [END] ... [END]`` (int64, ``pieces + 1``).

    Raises:
        ValueError: ``ids`` does not start and end with the piece end.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size < 2 or ids[0] != npf.PIECE_END_ID or ids[-1] != npf.PIECE_END_ID:
        raise ValueError("a split array starts and ends with the piece end token "
                         f"(id {npf.PIECE_END_ID}); got shape {ids.shape}")
    return np.flatnonzero(ids == npf.PIECE_END_ID)


def shift_room(ids: np.ndarray, ends: np.ndarray | None = None) -> np.ndarray:
    """Per piece, the shifts that keep it on the keyboard: int64 ``(pieces, 2)``, ``[lowest, highest]``.

    A piece without notes gets ``[0, 0]``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    ends = piece_ends(ids) if ends is None else ends
    key = ids - npf.PITCH_OFFSET
    is_pitch = ids >= npf.PITCH_OFFSET
    starts = ends[:-1]
    lowest = np.minimum.reduceat(np.where(is_pitch, key, npf.N_PITCHES), starts)
    highest = np.maximum.reduceat(np.where(is_pitch, key, -1), starts)
    empty = highest < 0
    room = np.stack([-lowest, npf.N_PITCHES - 1 - highest], axis=1)
    room[empty] = 0
    return room


def shift_ids(ids: np.ndarray, shifts: np.ndarray, ends: np.ndarray | None = None) -> np.ndarray:
    """``ids`` with every pitch token of piece ``k`` moved by ``shifts[k]`` semitones (same dtype and length)."""
    ids = np.asarray(ids)
    ends = piece_ends(ids) if ends is None else ends
    per_token = np.zeros(ids.size, dtype=np.int64)
    per_token[ends[0]: ends[-1]] = np.repeat(np.asarray(shifts, dtype=np.int64), np.diff(ends))
    moved = ids.astype(np.int64) + np.where(ids >= npf.PITCH_OFFSET, per_token, 0)
    return moved.astype(ids.dtype)


def shift_frames(frames: np.ndarray, bounds: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Rolls ``(F, 88)`` with piece ``k`` (``frames[bounds[k]:bounds[k+1]]``) moved by ``shifts[k]`` keys.

    The caller keeps the shifts on the keyboard (:func:`frame_room`); a note pushed off it would wrap.
    """
    out = np.array(frames, copy=True)
    for k, s in enumerate(np.asarray(shifts, dtype=np.int64).tolist()):
        if s:
            a, b = int(bounds[k]), int(bounds[k + 1])
            out[a:b] = np.roll(frames[a:b], s, axis=1)
    return out


def frame_room(frames: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """:func:`shift_room` of rolls stored as ``(frames, bounds)``."""
    rows = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        used = np.flatnonzero(np.asarray(frames[a:b]).any(axis=0))
        rows.append((-int(used[0]), npf.N_PITCHES - 1 - int(used[-1])) if used.size else (0, 0))
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


class RandomShift:
    """Each epoch's shifts for a set of pieces, drawn from ``[low, high]`` clipped per piece.

    Args:
        room: int64 ``(pieces, 2)``, each piece's own ``[lowest, highest]`` shift (:func:`shift_room`).
        low, high: the shifts asked for, ``low <= 0 <= high``.
        seed: with the epoch, the only source of randomness.
    """

    def __init__(self, room: np.ndarray, low: int, high: int, seed: int) -> None:
        if not low <= 0 <= high:
            raise ValueError(f"random_shift must be [low, high] with low <= 0 <= high, got {[low, high]}")
        room = np.asarray(room, dtype=np.int64).reshape(-1, 2)
        self.low = np.maximum(room[:, 0], low)
        self.high = np.minimum(room[:, 1], high)
        self.seed = int(seed)
        self.key = {"random_shift": [int(low), int(high)], "seed": self.seed}
        """What a resumed run must match (with the data itself) to continue this one."""

    def shifts(self, epoch: int) -> np.ndarray:
        """int64 ``(pieces,)``: epoch ``epoch``'s shift of each piece (0-based epochs)."""
        rng = np.random.default_rng([self.seed, int(epoch), SALT])
        return rng.integers(self.low, self.high, endpoint=True).astype(np.int64)


class EpochIds:
    """The token ids of each epoch: a split array with every piece moved by :class:`RandomShift`.

    Called with an epoch (0-based), returns that epoch's ids; ``key`` is what a resumed run must match.
    """

    def __init__(self, ids: np.ndarray, low: int, high: int, seed: int) -> None:
        self.ids = np.asarray(ids)
        self.ends = piece_ends(self.ids)
        self.random = RandomShift(shift_room(self.ids, self.ends), low, high, seed)
        self.key = self.random.key

    def __call__(self, epoch: int) -> np.ndarray:
        return shift_ids(self.ids, self.random.shifts(epoch), self.ends)


class EpochFrames:
    """The rolls of each epoch for the frame-wise model, moved as :class:`EpochIds` moves tokens."""

    def __init__(self, frames: np.ndarray, bounds: np.ndarray, low: int, high: int, seed: int) -> None:
        self.frames, self.bounds = np.asarray(frames), np.asarray(bounds)
        self.random = RandomShift(frame_room(self.frames, self.bounds), low, high, seed)
        self.key = self.random.key

    def __call__(self, epoch: int) -> np.ndarray:
        return shift_frames(self.frames, self.bounds, self.random.shifts(epoch))
