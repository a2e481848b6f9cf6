"""Samplers: logits -> next token ids (``samplers``), and the configuration that
picks one (``config``: :class:`SamplerConfig`, :func:`make_sampler`)."""

from tunesmith.sampling.config import SamplerConfig, make_sampler
from tunesmith.sampling.samplers import (
    METHODS,
    Sampler,
    adaptive_temperature,
    bias_to_log_weights,
    entropy,
    log_softmax,
    sample_entropy_adaptive,
    sample_greedy,
    sample_temperature,
    sample_top_k,
    sample_top_p,
    top_k_mask,
    top_p_mask,
)

__all__ = [
    "METHODS",
    "Sampler",
    "SamplerConfig",
    "adaptive_temperature",
    "bias_to_log_weights",
    "entropy",
    "log_softmax",
    "make_sampler",
    "sample_entropy_adaptive",
    "sample_greedy",
    "sample_temperature",
    "sample_top_k",
    "sample_top_p",
    "top_k_mask",
    "top_p_mask",
]
