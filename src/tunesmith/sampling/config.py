"""How to pick each next token: :class:`SamplerConfig` (params.yaml ``generate.<corpus>.sampler``)
and :func:`make_sampler`, which binds it to a vocabulary."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tunesmith.sampling.samplers import (
    METHODS,
    Sampler,
    _check_weight,
    bias_to_log_weights,
    sample_entropy_adaptive,
    sample_greedy,
    sample_temperature,
    sample_top_k,
    sample_top_p,
)


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
            _check_weight(symbol, weight)
        # a private copy: a frozen config must not change when the caller's dict does
        object.__setattr__(self, "bias", dict(self.bias))


def make_sampler(cfg: SamplerConfig, vocab_symbols: Sequence[str]) -> Sampler:
    """Bind ``cfg`` to a vocabulary: ``sampler(logits (B, V), rng) -> ids (B,) int64``.

    Raises ValueError naming a bias symbol that is not in ``vocab_symbols``.
    """
    log_bias = bias_to_log_weights(cfg.bias, vocab_symbols)
    vocab_size = len(vocab_symbols)

    def check(logits: np.ndarray) -> None:
        if np.shape(logits)[-1] != vocab_size:
            raise ValueError(
                f"logits have {np.shape(logits)[-1]} symbols, the vocabulary has {vocab_size}"
            )

    if cfg.method == "greedy":

        def sampler(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            check(logits)
            return sample_greedy(logits, rng, log_bias=log_bias)

    elif cfg.method == "temperature":

        def sampler(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            check(logits)
            return sample_temperature(logits, rng, temperature=cfg.temperature, log_bias=log_bias)

    elif cfg.method == "top_k":

        def sampler(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            check(logits)
            return sample_top_k(
                logits, rng, k=cfg.top_k, temperature=cfg.temperature, log_bias=log_bias
            )

    elif cfg.method == "top_p":

        def sampler(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            check(logits)
            return sample_top_p(
                logits, rng, p=cfg.top_p, temperature=cfg.temperature, log_bias=log_bias
            )

    else:  # entropy

        def sampler(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            check(logits)
            return sample_entropy_adaptive(
                logits,
                rng,
                base=cfg.temperature,
                min_temperature=cfg.min_temperature,
                max_temperature=cfg.max_temperature,
                low_entropy=cfg.low_entropy,
                high_entropy=cfg.high_entropy,
                log_bias=log_bias,
            )

    return sampler
