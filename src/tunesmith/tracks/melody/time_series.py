"""Vasudeva's melody time series (the essen track).

One symbol per ``time_step`` quarter lengths: the MIDI number when a note
starts, ``r`` when a rest starts, ``_`` while the previous note or rest holds.
Songs are separated by ``/``. A quarter note at MIDI 63 with time_step 0.25 is
``["63", "_", "_", "_"]``.

A melody here is a list of *events* ``(pitch, duration)``: ``pitch`` a MIDI
number or ``None`` for a rest, ``duration`` in quarter lengths as a Fraction.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from tunesmith.core.errors import MusicInputError

NAME = "time_series"
END = "/"
REST = "r"
HOLD = "_"

Event = tuple[int | None, Fraction]


def _frac(value: float | Fraction | str) -> Fraction:
    # limit_denominator turns binary floats such as 0.1 back into the fraction meant
    return Fraction(value).limit_denominator(960)


def encode(events: Sequence[Event], time_step: float | Fraction = 0.25) -> list[str]:
    """Encode events as symbols, one per ``time_step``.

    Raises MusicInputError (reason ``unrepresentable_duration``) when a
    duration is not a whole number of time steps, naming the duration.
    """
    step = _frac(time_step)
    symbols: list[str] = []
    for i, (pitch, duration) in enumerate(events):
        steps = _frac(duration) / step
        if steps.denominator != 1 or steps <= 0:
            raise MusicInputError(
                f"event {i}: duration {_frac(duration)} quarter lengths is not a whole number "
                f"of time_step {step}",
                reason="unrepresentable_duration",
            )
        if pitch is not None and not 0 <= pitch <= 127:
            raise MusicInputError(f"event {i}: MIDI pitch {pitch} outside 0..127", reason="bad_pitch")
        symbols.append(REST if pitch is None else str(pitch))
        symbols.extend([HOLD] * (int(steps) - 1))
    return symbols


def decode_events(symbols: Sequence[str], time_step: float | Fraction = 0.25) -> list[Event]:
    """Decode symbols back into events; stops at the end symbol ``/``.

    A hold with nothing before it (a generated sample may start with one) is
    read as a rest. Unknown symbols (e.g. ``<unk>``) also hold the previous
    event, so a sample always decodes. A symbol that is neither a MIDI number,
    ``r``, ``_`` nor a special token raises MusicInputError naming it.
    """
    step = _frac(time_step)
    events: list[list] = []
    for i, sym in enumerate(symbols):
        if sym == END:
            break
        if sym == HOLD or (sym.startswith("<") and sym.endswith(">")):
            if events:
                events[-1][1] += step
            else:
                events.append([None, step])
        elif sym == REST:
            events.append([None, step])
        elif sym.isdigit() and 0 <= int(sym) <= 127:
            events.append([int(sym), step])
        else:
            raise MusicInputError(f"symbol {i} {sym!r} is not a MIDI number, 'r' or '_'", reason="bad_symbol")
    return [(p, d) for p, d in events]


def to_stream(symbols: Sequence[str], time_step: float | Fraction = 0.25, *, title: str = "",
              sharps: int | None = 0):
    """Decode symbols into a music21 Stream (notes and rests), as Vasudeva's save_melody.

    ``sharps``: the key signature to engrave (0: C major / A minor, the key the essen track
    transposes to; negative for flats), or None to guess it from the notes (music21's key
    analysis). A note is spelled without an accidental object where its pitch needs none: music21
    gives every MIDI-numbered note an explicit natural, which MusicXML then prints on most notes.
    """
    from music21 import key, metadata, note, stream

    part = stream.Stream()
    if title:
        part.metadata = metadata.Metadata(title=title)
    for pitch, duration in decode_events(symbols, time_step):
        element = note.Rest() if pitch is None else note.Note(pitch)
        if pitch is not None and element.pitch.accidental is not None and element.pitch.accidental.name == "natural":
            element.pitch.accidental = None
        element.duration.quarterLength = duration
        part.append(element)
    if sharps is None:
        from tunesmith.tracks.music21_io import analyse_key

        sharps = analyse_key(part).sharps if part.notes else 0
    part.insert(0, key.KeySignature(sharps))
    return part


def decode(symbols: Sequence[str], time_step: float | Fraction = 0.25, *, title: str = "",
           sharps: int | None = 0):
    """Symbols -> a music21 Stream (the shared name of `to_stream`)."""
    return to_stream(symbols, time_step, title=title, sharps=sharps)
