"""Moved to `tunesmith.sources` (``pieces``, ``bundled``, ``local``, ``pinned``).

Only the ABC helpers that `tunesmith.prepare` still imports from here are kept.
"""

from tunesmith.sources.pieces import normalise_rhythm, split_abc_tunes

__all__ = ["normalise_rhythm", "split_abc_tunes"]
