"""Samplers: logits -> next token ids.

Every sampler takes ``logits`` of shape ``(batch, vocab)`` (any float dtype;
``-inf`` marks an impossible symbol) and a ``numpy.random.Generator`` and
returns int64 ids of shape ``(batch,)``. They are pure numpy functions: the
same logits and generator state give the same ids.

Work happens in float64 log space with the row maximum subtracted first, so
no temperature in ``(0, inf)`` produces an overflow or a NaN, and a symbol
whose probability is exactly zero (logit ``-inf``, bias weight 0) is never
drawn.

Methods (``SamplerConfig.method``):

* ``greedy``: argmax (Reitman & Cho's baseline).
* ``temperature``: ``p_i ∝ exp(log p_i / T)`` (Reitman & Cho used T = 0.5, 0.7, 1, 2).
* ``top_k``: temperature sampling restricted to the ``k`` most likely symbols.
* ``top_p``: temperature sampling restricted to the nucleus, the smallest set
  of most likely symbols whose probability reaches ``p``.
* ``entropy``: Vasudeva's entropy-adaptive temperature, see
  :func:`adaptive_temperature`.

Every method then applies the per-symbol bias of Vasudeva (e.g. ``{"r": 0.9}``
makes rests 10 % less likely): probabilities are multiplied by the weights and
renormalised, i.e. ``log w`` is added in log space after the temperature.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from tunesmith.config.sampling import SamplerConfig, check_weight

Sampler = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""``sampler(logits (B, V) float, rng) -> ids (B,) int64``."""


# --------------------------------------------------------------------------- helpers


def _as_logits(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (batch, vocab), got shape {z.shape}")
    if np.isnan(z).any():
        raise ValueError("logits contain NaN")
    if np.isposinf(z).any():
        raise ValueError("logits contain +inf")
    if not np.isfinite(z).any(axis=1).all():
        bad = int(np.flatnonzero(~np.isfinite(z).any(axis=1))[0])
        raise ValueError(f"row {bad} of the logits has no finite entry: no symbol can be sampled")
    return z


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities, float64 ``(B, V)``; ``-inf`` logits stay ``-inf``."""
    z = _as_logits(logits)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def entropy(logits: np.ndarray) -> np.ndarray:
    """Shannon entropy ``H = -sum p log p`` in nats of ``softmax(logits)``, float64 ``(B,)``.

    Ranges from 0 (one certain symbol) to ``log(V)`` (uniform).
    """
    logp = log_softmax(logits)
    p = np.exp(logp)
    # 0 * log 0 is 0 by convention; masking log p first avoids 0 * -inf = NaN
    return -(p * np.where(np.isfinite(logp), logp, 0.0)).sum(axis=1)


def _sample_from_log_weights(z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one id per row from unnormalised log weights ``z`` (B, V), -inf allowed."""
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    cdf = np.cumsum(p, axis=1)
    # dividing by the row total makes the last entry exactly 1.0, so every
    # u in [0, 1) lands; a zero-weight symbol never raises the cdf, so the
    # strict ">" below can never stop on it
    cdf /= cdf[:, -1:]
    u = rng.random(z.shape[0])
    return (cdf > u[:, None]).argmax(axis=1).astype(np.int64)


def _check_temperature(temperature: float, name: str = "temperature") -> None:
    if not (isinstance(temperature, (int, float)) and 0 < temperature < math.inf):
        raise ValueError(f"{name} must be in (0, inf), got {temperature!r}")


def _apply_temperature_and_bias(
    logp: np.ndarray, temperature: float | np.ndarray, log_bias: np.ndarray | None
) -> np.ndarray:
    # logp <= 0 with max 0 per row, so dividing by a tiny T sends the rest to
    # -inf (argmax) instead of overflowing, and a huge T flattens towards 0
    # (uniform over the possible symbols) while -inf stays -inf.
    t = np.asarray(temperature, dtype=np.float64)
    z = (logp - logp.max(axis=1, keepdims=True)) / (t[:, None] if t.ndim else t)
    if log_bias is not None:
        z = z + log_bias[None, :]
        if not np.isfinite(z).any(axis=1).all():
            raise ValueError(
                "the bias weights give every possible symbol weight 0: nothing can be sampled"
            )
    return z


def bias_to_log_weights(
    bias: Mapping[str, float], vocab_symbols: Sequence[str]
) -> np.ndarray | None:
    """Per-symbol weights ``{symbol: w}`` -> log weights ``(V,)`` (0 for unlisted symbols).

    Returns None for an empty mapping. Raises ValueError naming an unknown
    symbol (with the nearest valid ones) or a negative / non-finite weight.
    """
    if not bias:
        return None
    index = {s: i for i, s in enumerate(vocab_symbols)}
    log_w = np.zeros(len(vocab_symbols), dtype=np.float64)
    for symbol, weight in bias.items():
        if symbol not in index:
            near = difflib.get_close_matches(str(symbol), list(index), n=3)
            hint = f"; nearest: {', '.join(map(repr, near))}" if near else ""
            raise ValueError(f"bias symbol {symbol!r} is not in the vocabulary{hint}")
        check_weight(symbol, weight)
        with np.errstate(divide="ignore"):
            log_w[index[symbol]] = np.log(float(weight))
    if np.isneginf(log_w).all():
        raise ValueError("bias gives every symbol of the vocabulary weight 0: nothing could be sampled")
    return log_w


def sample_greedy(
    logits: np.ndarray,
    rng: np.random.Generator | None = None,
    *,
    log_bias: np.ndarray | None = None,
) -> np.ndarray:
    """Most likely id per row (after the bias), int64 ``(B,)``; ``rng`` is unused.

    Ties go to the lowest id.
    """
    z = _apply_temperature_and_bias(log_softmax(logits), 1.0, log_bias)
    return z.argmax(axis=1).astype(np.int64)


def sample_temperature(
    logits: np.ndarray,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    log_bias: np.ndarray | None = None,
) -> np.ndarray:
    """Sample from ``p_i ∝ exp(log p_i / T) * w_i``; int64 ``(B,)``.

    ``temperature`` in (0, inf): -> 0 approaches argmax, 1 is the model's
    distribution, -> inf approaches uniform over the symbols of non-zero
    probability.
    """
    _check_temperature(temperature)
    z = _apply_temperature_and_bias(log_softmax(logits), temperature, log_bias)
    return _sample_from_log_weights(z, rng)


def top_k_mask(logits: np.ndarray, k: int) -> np.ndarray:
    """Boolean ``(B, V)``: True for the ``k`` largest entries of each row (ties broken by id)."""
    z = np.asarray(logits, dtype=np.float64)
    k = min(int(k), z.shape[1])
    # stable sort of -z: among equal logits the lower id wins, deterministically
    order = np.argsort(-z, axis=1, kind="stable")[:, :k]
    mask = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def top_p_mask(logits: np.ndarray, p: float) -> np.ndarray:
    """Boolean ``(B, V)``: the nucleus of each row.

    The nucleus is the smallest set of most likely symbols whose total
    probability is >= ``p``: a symbol is kept if the mass of the symbols ranked
    above it is still < ``p``, so the most likely symbol is always kept.
    """
    logp = log_softmax(logits)
    order = np.argsort(-logp, axis=1, kind="stable")
    sorted_p = np.take_along_axis(np.exp(logp), order, axis=1)
    mass_before = np.cumsum(sorted_p, axis=1) - sorted_p
    keep_sorted = mass_before < p
    mask = np.zeros(logp.shape, dtype=bool)
    np.put_along_axis(mask, order, keep_sorted, axis=1)
    return mask


def sample_top_k(
    logits: np.ndarray,
    rng: np.random.Generator,
    *,
    k: int,
    temperature: float = 1.0,
    log_bias: np.ndarray | None = None,
) -> np.ndarray:
    """Temperature sampling among the ``k`` most likely symbols (chosen before the bias)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {k!r}")
    _check_temperature(temperature)
    logp = log_softmax(logits)
    z = np.where(top_k_mask(logp, k), logp, -np.inf)
    return _sample_from_log_weights(_apply_temperature_and_bias(z, temperature, log_bias), rng)


def sample_top_p(
    logits: np.ndarray,
    rng: np.random.Generator,
    *,
    p: float,
    temperature: float = 1.0,
    log_bias: np.ndarray | None = None,
) -> np.ndarray:
    """Temperature sampling within the nucleus of mass ``p`` in (0, 1] (chosen before the bias)."""
    if not (isinstance(p, (int, float)) and 0 < p <= 1):
        raise ValueError(f"top_p must be in (0, 1], got {p!r}")
    _check_temperature(temperature)
    logp = log_softmax(logits)
    z = np.where(top_p_mask(logp, p), logp, -np.inf)
    return _sample_from_log_weights(_apply_temperature_and_bias(z, temperature, log_bias), rng)


def adaptive_temperature(
    h: np.ndarray,
    vocab_size: int,
    *,
    base: float = 1.0,
    min_temperature: float = 0.5,
    max_temperature: float = 1.5,
    low_entropy: float = 0.5,
    high_entropy: float = 2.5,
) -> np.ndarray:
    """Vasudeva's entropy -> temperature mapping, made explicit; float64 like ``h``.

    Piecewise linear in the entropy ``H`` (nats) of the model's distribution:

    * ``H <= low_entropy`` (confident, risk of loops): T rises linearly from
      ``base`` at ``H = low_entropy`` to ``max_temperature`` at ``H = 0``;
    * ``low_entropy < H <= high_entropy``: T = ``base``;
    * ``H > high_entropy`` (uncertain, risk of noise; the seed's threshold is
      2.5 nats): T falls linearly from ``base`` to ``min_temperature`` at the
      largest possible entropy ``log(vocab_size)`` (uniform distribution).
      If ``log(vocab_size) <= high_entropy`` this branch never applies.

    Requires ``0 < min_temperature <= base <= max_temperature < inf`` and
    ``0 <= low_entropy <= high_entropy``.
    """
    h = np.asarray(h, dtype=np.float64)
    t = np.full(h.shape, float(base))
    if low_entropy > 0:
        low = h < low_entropy
        t[low] = base + (max_temperature - base) * (1.0 - h[low] / low_entropy)
    h_max = math.log(vocab_size)
    if h_max > high_entropy:
        high = h > high_entropy
        frac = np.clip((h[high] - high_entropy) / (h_max - high_entropy), 0.0, 1.0)
        t[high] = base - (base - min_temperature) * frac
    return t


def sample_entropy_adaptive(
    logits: np.ndarray,
    rng: np.random.Generator,
    *,
    base: float = 1.0,
    min_temperature: float = 0.5,
    max_temperature: float = 1.5,
    low_entropy: float = 0.5,
    high_entropy: float = 2.5,
    log_bias: np.ndarray | None = None,
) -> np.ndarray:
    """Vasudeva's sampler: per-row temperature from the entropy, then the bias.

    The entropy is that of the model's own distribution (before temperature
    and bias); see :func:`adaptive_temperature` for the mapping.
    """
    logp = log_softmax(logits)
    t = adaptive_temperature(
        entropy(logp),
        logp.shape[1],
        base=base,
        min_temperature=min_temperature,
        max_temperature=max_temperature,
        low_entropy=low_entropy,
        high_entropy=high_entropy,
    )
    return _sample_from_log_weights(_apply_temperature_and_bias(logp, t, log_bias), rng)


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


