"""The ``abc`` kind: tunes as ABC text, one character per token (Vinze et al.; Reitman & Cho).

``track`` reads ABC files (bar checks, chord symbols, transposition to C) and writes samples as
ABC, MusicXML and MIDI; ``abc_chars`` is the representation (normalised tune text <-> characters).
The bundled Nottingham track is of this kind.
"""
