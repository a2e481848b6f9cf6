"""The ``piano`` kind: polyphonic piano MIDI.

``track`` reads MIDI files into notes (``midi_read``) and encodes them as a token per sounding
chord (``pianoroll``, Lorinczi & Brailovsky) or a frame's pitches then ``|`` (``notes_per_frame``,
Walder). The bundled classical track and the polyphonic benchmarks are of this kind.
"""
