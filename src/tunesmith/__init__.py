"""tunesmith: reproducible LSTM music generation on symbolic corpora."""

__version__ = "0.1.0"

TRACKS = ("nottingham", "essen", "classical")
