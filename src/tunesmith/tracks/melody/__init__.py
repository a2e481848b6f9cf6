"""The ``melody`` kind: monophonic melodies as a time series, one token per sixteenth (Vasudeva).

``track`` reads Humdrum kern (or any music21 score) into ``(midi, duration)`` events;
``time_series`` is the representation (a MIDI number, ``r`` or the hold ``_`` per step). The
bundled Essen track is of this kind.
"""
