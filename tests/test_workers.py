"""The per-file time limit holds even where the code it interrupts swallows the exception."""

from __future__ import annotations

import time

import pytest

from tunesmith.core.workers import TimeLimitExceeded, time_limit


def _busy(seconds: float, *, swallow: bool) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sum(range(1000))
        except BaseException:  # a parser's catch-all, or a __del__ whose exception Python only prints
            if not swallow:
                raise


def test_a_block_past_its_limit_is_interrupted() -> None:
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match=r"longer than 0\.05 s"), time_limit(0.05):
        _busy(5, swallow=False)
    assert time.monotonic() - start < 4


def test_a_swallowed_expiry_still_ends_in_time_limit_exceeded() -> None:
    with pytest.raises(TimeLimitExceeded), time_limit(0.05):
        _busy(0.3, swallow=True)


def test_a_block_within_its_limit_runs_untouched() -> None:
    with time_limit(5):
        _busy(0.05, swallow=False)
    with time_limit(0):  # 0: no limit
        _busy(0.05, swallow=False)
