"""tunesmith: reproducible LSTM music generation on symbolic corpora.

Importing the package loads nothing else: every module imports what it needs, and the
tracks are loaded by name (:func:`tunesmith.tracks.get_track`). ``docs/design.md`` draws the layout.
The Python API (``docs/api.md``) is loaded on first use: ``tunesmith.load_model(folder)``.
"""

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["Model", "Sample", "Score", "__version__", "load_model"]

_API = frozenset({"Model", "Sample", "Score", "load_model"})


def __getattr__(name: str) -> Any:
    # the API imports TensorFlow when a model loads; `import tunesmith` stays light. Imported by name,
    # not by an import statement, so that tools/deps.py does not count the API among every stage's deps
    # (each imports this package; none calls the API)
    if name in _API:
        return getattr(importlib.import_module("tunesmith.api"), name)
    raise AttributeError(f"module 'tunesmith' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
