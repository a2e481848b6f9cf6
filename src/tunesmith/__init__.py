"""tunesmith: reproducible LSTM music generation on symbolic corpora."""

from tunesmith.tracks import TRACKS  # the registry names the tracks

__version__ = "0.1.0"

__all__ = ["TRACKS", "__version__"]
