"""Notes per frame: a piano roll serialised so that every frame has a probability.

Each frame becomes the ascending list of its sounding pitches, one token per
pitch, followed by a frame-end token; an empty frame is the frame-end token
alone. Pieces are separated by the piece-end token. The vocabulary is fixed --
the 88 piano pitches (MIDI 21-108), frame end and piece end, 90 symbols -- so
there is no ``<unk>`` whatever the corpus, and a model's log-probability of a
frame is the sum over its tokens (:func:`tunesmith.evaluation.full_context.frame_nll`). This
is the serialisation with which Walder (2016, "Modelling Symbolic Music: Beyond
the Piano Roll") reached state-of-the-art likelihoods with an LSTM.

Symbols are strings (``"60"``, ``"|"``, ``"<end>"``); token ids follow
:func:`vocabulary`: ``<end>`` 0, ``|`` 1, pitch ``p`` ``p - 21 + 2``.

Encoding is exact: ``decode_ids(encode_roll(roll)) == roll`` for every binary
roll (frames x 88). A roll does not tell a held pitch from a re-struck one, so
decoding to notes (:func:`roll_to_notes`) joins a pitch sounding in consecutive
frames into one note, as the published benchmark rolls do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from tunesmith.core.errors import MusicInputError

NAME = "notes_per_frame"

PITCH_LOW = 21
"""Lowest piano pitch (A0), column 0 of a roll."""
PITCH_HIGH = 108
"""Highest piano pitch (C8), column 87 of a roll."""
N_PITCHES = PITCH_HIGH - PITCH_LOW + 1
FRAME_END = "|"
"""Token closing every frame."""
PIECE_END = "<end>"
"""Token between pieces (the track's end token)."""
END = PIECE_END
"""The shared name of the end token."""
PIECE_END_ID = 0
FRAME_END_ID = 1
PITCH_OFFSET = 2
"""Id of pitch ``p`` is ``p - PITCH_LOW + PITCH_OFFSET``."""
SYMBOLS: tuple[str, ...] = (PIECE_END, FRAME_END, *(str(p) for p in range(PITCH_LOW, PITCH_HIGH + 1)))
"""Every symbol, in id order (90)."""


def vocabulary(**meta):
    """The fixed :class:`tunesmith.core.vocab.Vocab` (no ``<unk>``); ``meta`` is stored with it."""
    from tunesmith.core.vocab import Vocab

    return Vocab(SYMBOLS, {"end": PIECE_END, "frame_end": FRAME_END}, {},
                 {"representation": "notes_per_frame", **meta})


def check_roll(roll: np.ndarray, where: str = "roll") -> np.ndarray:
    """Return ``roll`` as a bool ``(frames, 88)`` array; anything but 0/1 values is an error.

    Raises:
        MusicInputError: reason ``"bad_roll"``, naming ``where``, the shape or the bad value.
    """
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != N_PITCHES:
        raise MusicInputError(f"{where}: a piano roll is frames x {N_PITCHES}, got shape {roll.shape}",
                              reason="bad_roll")
    if roll.dtype != bool:
        bad = (roll != 0) & (roll != 1)
        if bad.any():
            f, p = (int(i) for i in np.argwhere(bad)[0])
            raise MusicInputError(f"{where}: frame {f} pitch column {p} holds {roll[f, p].item()!r}, not 0 or 1",
                                  reason="bad_roll")
    return roll.astype(bool, copy=False)


def encode_roll(roll: np.ndarray) -> np.ndarray:
    """Token ids of one piece (no piece-end tokens): int64 ``(notes + frames,)``.

    Args:
        roll: binary ``(frames, 88)``, column ``j`` = MIDI pitch ``21 + j``.
    """
    roll = check_roll(roll)
    frames, cols = np.nonzero(roll)  # row-major: by frame, then ascending pitch
    n_frames = roll.shape[0]
    out = np.empty(frames.size + n_frames, dtype=np.int64)
    # a note is preceded by every earlier note and by one frame end per earlier frame
    out[np.arange(frames.size) + frames] = cols + PITCH_OFFSET
    notes_through = np.cumsum(roll.sum(axis=1))
    out[notes_through + np.arange(n_frames)] = FRAME_END_ID
    return out


def decode_ids(ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """The piano roll of token ids: bool ``(frames, 88)``.

    Stops at the first piece end. Tokens after the last frame end (a sample cut
    short) are dropped; a pitch repeated within a frame sounds once, and pitch
    order within a frame does not matter (generated sequences need not be sorted).

    Raises:
        MusicInputError: reason ``"malformed_token"`` for an id outside the vocabulary.
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    stop = np.flatnonzero(ids == PIECE_END_ID)
    if stop.size:
        ids = ids[: stop[0]]
    bad = (ids < 0) | (ids >= len(SYMBOLS))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MusicInputError(f"token id {int(ids[i])} at position {i} is not in the notes-per-frame vocabulary "
                              f"(0-{len(SYMBOLS) - 1})", reason="malformed_token")
    is_end = ids == FRAME_END_ID
    n_frames = int(is_end.sum())
    frame = np.cumsum(is_end) - is_end  # frame ends before each token
    pitch = (ids >= PITCH_OFFSET) & (frame < n_frames)
    roll = np.zeros((n_frames, N_PITCHES), dtype=bool)
    roll[frame[pitch], ids[pitch] - PITCH_OFFSET] = True
    return roll


def encode_symbols(roll: np.ndarray) -> list[str]:
    """Symbols of one piece (``["60", "64", "|", "|", ...]``)."""
    return [SYMBOLS[i] for i in encode_roll(roll).tolist()]


def decode_symbols(symbols: Iterable[str]) -> np.ndarray:
    """The piano roll of symbols (see :func:`decode_ids`); ``<unk>`` is read as nothing.

    Raises:
        MusicInputError: reason ``"malformed_token"`` naming an unknown symbol and its position.
    """
    index = {s: i for i, s in enumerate(SYMBOLS)}
    ids = []
    for position, s in enumerate(symbols):
        if s == "<unk>":
            continue
        if s not in index:
            raise MusicInputError(f"notes-per-frame symbol {s!r} at position {position} is not "
                                  f"{FRAME_END!r}, {PIECE_END!r} or a pitch {PITCH_LOW}-{PITCH_HIGH}",
                                  reason="malformed_token")
        ids.append(index[s])
    return decode_ids(ids)


def notes_to_roll(notes: np.ndarray, n_frames: int | None = None) -> np.ndarray:
    """``[pitch, start, end]`` notes (frames) -> bool roll ``(frames, 88)``.

    Raises:
        MusicInputError: reason ``"pitch_range"`` for a pitch outside 21-108.
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 3)
    frames = int(notes[:, 2].max()) if notes.size else 0
    roll = np.zeros((max(frames, n_frames or 0), N_PITCHES), dtype=bool)
    for pitch, start, end in notes.tolist():
        if not PITCH_LOW <= pitch <= PITCH_HIGH:
            raise MusicInputError(f"pitch {pitch} is outside the piano range {PITCH_LOW}-{PITCH_HIGH}",
                                  reason="pitch_range")
        roll[start:end, pitch - PITCH_LOW] = True
    return roll


def roll_to_notes(roll: np.ndarray) -> np.ndarray:
    """Notes of a roll, a pitch sounding in consecutive frames being one note.

    Returns:
        int32 ``(n, 3)`` of ``[pitch, start_frame, end_frame]`` sorted by (start, pitch),
        as :func:`tunesmith.tracks.piano.pianoroll.to_midi` takes.
    """
    roll = check_roll(roll)
    padded = np.zeros((roll.shape[0] + 2, N_PITCHES), dtype=np.int8)
    padded[1:-1] = roll
    change = np.diff(padded, axis=0)
    on_f, on_p = np.nonzero(change == 1)
    off_f, off_p = np.nonzero(change == -1)
    # per pitch, onsets and offsets alternate; sort both by (pitch, frame) to pair them
    on = np.lexsort((on_f, on_p))
    off = np.lexsort((off_f, off_p))
    notes = np.stack([on_p[on] + PITCH_LOW, on_f[on], off_f[off]], axis=1).astype(np.int32)
    return notes[np.lexsort((notes[:, 0], notes[:, 1]))] if notes.size else notes.reshape(0, 3)


def encode_notes(notes: np.ndarray) -> list[str]:
    """Symbols of ``[pitch, start, end]`` notes on a frame grid (the classical track's ``notes`` option).

    Raises:
        MusicInputError: reason ``"pitch_range"`` for a pitch outside 21-108.
    """
    return encode_symbols(notes_to_roll(notes))


def decode_notes(symbols: Iterable[str]) -> np.ndarray:
    """Notes of symbols (:func:`decode_symbols`, then :func:`roll_to_notes`): int32 ``(n, 3)``."""
    return roll_to_notes(decode_symbols(symbols))


def transpose_roll(roll: np.ndarray, semitones: int) -> np.ndarray | None:
    """``roll`` shifted by ``semitones``, or None when a pitch would leave 21-108."""
    roll = check_roll(roll)
    if semitones == 0:
        return roll
    used = np.flatnonzero(roll.any(axis=0))
    if used.size and (used[0] + semitones < 0 or used[-1] + semitones >= N_PITCHES):
        return None
    return np.roll(roll, semitones, axis=1)


def encode(notes: np.ndarray) -> list[str]:
    """Symbols of ``[pitch, start, end]`` notes (the shared name of `encode_notes`)."""
    return encode_notes(notes)


def decode(symbols: Iterable[str], *, frames_per_beat: int | None = 4, fs: float | None = None):
    """Symbols -> a one-piano ``pretty_midi.PrettyMIDI`` on the grid given (`decode_notes`, then
    :func:`tunesmith.tracks.piano.pianoroll.to_midi`)."""
    from tunesmith.tracks.piano.pianoroll import to_midi

    return to_midi(decode_notes(symbols), frames_per_beat=frames_per_beat, fs=fs)
