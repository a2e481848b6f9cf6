"""The value checks every config dataclass uses in ``__post_init__`` (a ValueError naming the field;
`tunesmith.config.load.build` turns it into a ConfigError naming the params.yaml key)."""

from __future__ import annotations

MAX_SEED = (1 << 31) - 1
"""The largest seed: every RNG tunesmith seeds (numpy, TensorFlow, Python) takes it, with room for
the offsets added per epoch, batch and retry."""


def check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    # bool is an int subclass; True as a layer count is a typo, not a value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


def check_count(name: str, value: object, low: int, high: int) -> None:
    """``check_int`` with an upper bound that keeps time or memory bounded; below ``low`` it says
    ``>= low`` (what the field means), above ``high`` the range."""
    check_int(name, value, low)
    if value > high:  # type: ignore[operator]
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
