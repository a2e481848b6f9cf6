"""Pieces in a stream of token ids: where each starts and ends."""

from __future__ import annotations

from itertools import pairwise

import numpy as np


def piece_spans(ids: np.ndarray, end_id: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each piece in a flat split array; see the module docstring.

    Raises:
        ValueError: ``ids`` does not start and end with ``end_id`` (not a split array).
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size < 2:
        raise ValueError(f"expected a 1-D split array of at least 2 ids, got shape {ids.shape}")
    if ids[0] != end_id or ids[-1] != end_id:
        raise ValueError(
            f"a split array starts and ends with the end token (id {end_id}); "
            f"got first id {int(ids[0])}, last id {int(ids[-1])}"
        )
    ends = np.flatnonzero(ids == end_id)
    return [(int(a), int(b)) for a, b in pairwise(ends)]


