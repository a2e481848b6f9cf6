"""tunesmith: reproducible LSTM music generation on symbolic corpora.

Importing the package loads nothing else: every module imports what it needs, and the
tracks are loaded by name (:func:`tunesmith.tracks.get_track`). ``docs/design.md`` draws the layout.
"""

__version__ = "0.1.0"
