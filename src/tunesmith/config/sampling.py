"""How to pick each next token: :class:`SamplerConfig` (params.yaml ``generate.<corpus>.sampler``)
and :func:`make_sampler`, which binds it to a vocabulary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

METHODS = ("temperature", "greedy", "top_k", "top_p", "entropy")
"""Allowed values of ``SamplerConfig.method``."""


@dataclass(frozen=True)
class SamplerConfig:
    """How to pick each next token; built from params.yaml ``generate.<corpus>.sampler``.

    Attributes:
        method: one of :data:`METHODS`.
        temperature: T in (0, inf) for ``temperature``, ``top_k`` and
            ``top_p``; the base temperature of ``entropy``.
        top_k: k >= 1 for ``top_k``.
        top_p: nucleus mass in (0, 1] for ``top_p``.
        min_temperature, max_temperature: range of the ``entropy`` method's
            temperature, ``0 < min <= temperature <= max < inf``.
        low_entropy, high_entropy: the ``entropy`` method's thresholds in nats,
            ``0 <= low <= high``; Vasudeva used 2.5 as the high threshold.
        bias: ``{symbol: weight >= 0}`` multiplying the probabilities of those
            symbols before renormalising (Vasudeva: ``{"r": 0.9}``); applies to
            every method; 0 forbids the symbol.
    """

    method: str = "temperature"
    temperature: float = 1.0
    top_k: int = 10
    top_p: float = 0.9
    min_temperature: float = 0.5
    max_temperature: float = 1.5
    low_entropy: float = 0.5
    high_entropy: float = 2.5
    bias: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        for name in ("temperature", "min_temperature", "max_temperature"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < math.inf
            ):
                raise ValueError(f"{name} must be in (0, inf), got {value!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"top_k must be an integer >= 1, got {self.top_k!r}")
        if (
            isinstance(self.top_p, bool)
            or not isinstance(self.top_p, (int, float))
            or not 0 < self.top_p <= 1
        ):
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        for name in ("low_entropy", "high_entropy"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value < math.inf
            ):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.low_entropy > self.high_entropy:
            raise ValueError(
                f"low_entropy must be <= high_entropy ({self.high_entropy!r}), "
                f"got {self.low_entropy!r}"
            )
        if (
            self.method == "entropy"
            and not self.min_temperature <= self.temperature <= self.max_temperature
        ):
            raise ValueError(
                "temperature must lie in [min_temperature, max_temperature] = "
                f"[{self.min_temperature!r}, {self.max_temperature!r}] for method 'entropy', "
                f"got {self.temperature!r}"
            )
        if not isinstance(self.bias, Mapping):
            raise ValueError(f"bias must be a mapping of symbol -> weight, got {self.bias!r}")
        for symbol, weight in self.bias.items():
            check_weight(symbol, weight)
        # a private copy: a frozen config must not change when the caller's dict does
        object.__setattr__(self, "bias", dict(self.bias))


def check_weight(symbol: str, weight: object) -> None:
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not 0 <= weight < math.inf
    ):
        raise ValueError(f"bias[{symbol!r}] must be a finite weight >= 0, got {weight!r}")


# --------------------------------------------------------------------------- samplers
