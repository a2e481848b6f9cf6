"""A continuous cache over the piece so far (Grave, Joulin & Usunier, "Improving Neural Language
Models with a Continuous Cache", ICLR 2017).

Music repeats itself: a folk tune plays its first phrase again four bars later, a chorale
restates its opening. The LSTM's hidden state ``h_t`` summarises the piece so far; the cache
keeps every earlier ``h_i`` of the same piece together with the token that followed it, and
points at the tokens whose contexts looked like this one:

    p_cache(w | t) = sum_{i < t, x_{i+1} = w} exp(theta * cos(h_t, h_i)) / sum_{i < t} exp(theta * cos(h_t, h_i))
    p(w | t)       = (1 - lambda) * p_lstm(w | t) + lambda * p_cache(w | t)

Grave et al. score ``h_t . h_i``, which lets the length of a state decide how sharply it
attends (lengths vary by about a sixth within a model, their mean by a few percent from one
training seed to the next); the
cosine (each state scaled to unit length first) compares directions only. On the same five
trained models per track it validated lower on every seed and narrowed the spread of the
headline across seeds (docs/reproducibility.md).

Nothing is trained: ``lambda`` and ``theta`` are chosen on the validation split (a grid, with
``lambda = 0``, the LSTM alone, always among the candidates) after the weights are, and the same
mixture scores the test split (`score_with_cache`) and is sampled from during generation
(`CachedStepper`). The first token of a piece has an empty cache and gets the LSTM's own
distribution. ``h`` is the last recurrent layer's output (what the ``logits`` layer reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

LAMBDAS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)
"""The interpolation weights tried on validation."""
THETAS = (2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 60.0, 80.0, 120.0)
"""The inverse temperatures of the cache's attention over cosine similarities tried on validation
(five seeds per track chose 20 or 30 on nottingham, 20 on classical, 30 to 60 on essen)."""

SIMILARITY = "cosine"
"""How a query state is compared with the cached ones; written into ``cache.json`` so that a cache
fitted under the dot product (older tunesmith, a different scale of ``theta``) is refitted, not
misread."""


def unit_rows(hidden: np.ndarray) -> np.ndarray:
    """Each row of ``hidden`` scaled to unit length (an all-zero row stays zero)."""
    hidden = np.asarray(hidden, dtype=np.float64)
    norms = np.linalg.norm(hidden, axis=-1, keepdims=True)
    return hidden / np.where(norms > 0.0, norms, 1.0)


@dataclass(frozen=True)
class Cache:
    """A fitted cache: ``lam`` (0 = off, the LSTM alone) and ``theta``."""

    lam: float = 0.0
    theta: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam < 1.0:
            raise ValueError(f"cache lambda must be in [0, 1), got {self.lam!r}")
        if not self.theta > 0.0:
            raise ValueError(f"cache theta must be > 0, got {self.theta!r}")

    @property
    def on(self) -> bool:
        return self.lam > 0.0


@dataclass(frozen=True)
class PieceStates:
    """One piece as the model saw it: hidden states ``(T, H)``, the LSTM's log-probabilities
    ``(T, V)`` and the targets ``(T,)`` (row ``t`` predicts ``targets[t]`` from ``hidden[t]``)."""

    hidden: np.ndarray
    logp: np.ndarray
    targets: np.ndarray

    @property
    def target_logp(self) -> np.ndarray:
        return self.logp[np.arange(self.targets.size), self.targets]


def hidden_and_logits_model(model):
    """``model`` (ids -> logits) as ids -> ``(hidden, logits)``, sharing its layers and weights.

    ``hidden`` is the input of the ``logits`` layer: the last recurrent layer's output.
    """
    import keras

    logits = model.get_layer("logits")
    return keras.Model(model.inputs, [logits.input, model.outputs[0]], name=f"{model.name}_with_hidden")


def iter_piece_states(model, model_cfg, ids: np.ndarray, end_id: int, vocab_size: int) -> Iterator[PieceStates]:
    """Run ``model`` over every piece of a split array (``[END] p1 [END] p2 ... [END]``), one
    piece per call, in order (so the pieces' targets, concatenated, are ``ids[1:]``), yielding
    each piece's states as it goes: memory holds one piece, whatever the split's size (a
    split of 640k tokens would hold 1.3 GB of hidden states at 256 units)."""
    import tensorflow as tf

    from tunesmith.core.numeric import log_softmax as _log_softmax
    from tunesmith.data.pieces import piece_spans
    from tunesmith.modeling.models import any_length_model

    both = hidden_and_logits_model(any_length_model(model, model_cfg, vocab_size))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)], reduce_retracing=True)
    def run(x):
        return both(x, training=False)

    ids = np.asarray(ids)
    for a, b in piece_spans(ids, end_id):
        hidden, logits = run(tf.constant(ids[a:b][None], dtype=tf.int32))
        yield PieceStates(np.asarray(hidden[0], dtype=np.float64), _log_softmax(np.asarray(logits[0])),
                          ids[a + 1 : b + 1].astype(np.int64))


def piece_states(model, model_cfg, ids: np.ndarray, end_id: int, vocab_size: int) -> list[PieceStates]:
    """:func:`iter_piece_states` as a list (small splits and tests)."""
    return list(iter_piece_states(model, model_cfg, ids, end_id, vocab_size))


CACHE_SIZE = 2048
"""The most recent hidden states a query attends to (Grave et al. used 100 to 2,000): bounds the
work per token on long pieces."""
_BLOCK = 256


def _cache_weights(hidden: np.ndarray, theta: float, r0: int, r1: int, size: int) -> tuple[np.ndarray, int]:
    """Attention of queries ``r0:r1`` over the keys before each (at most ``size``): ``(r1 - r0, K)``
    weights summing to 1 (or 0 where there is no key) and the first key's index. ``hidden`` is
    already scaled to unit rows (:func:`unit_rows`), so the scores are ``theta`` x cosines."""
    k0 = max(0, r0 - size)
    scores = theta * hidden[r0:r1] @ hidden[k0:r1].T
    t = np.arange(r0, r1)[:, None]
    j = np.arange(k0, r1)[None, :]
    scores = np.where((j < t) & (j >= t - size), scores, -np.inf)
    top = scores.max(axis=1, keepdims=True)
    top[~np.isfinite(top)] = 0.0
    w = np.exp(scores - top)
    total = w.sum(axis=1, keepdims=True)
    return w / np.where(total > 0, total, 1.0), k0


def cache_target_probs(piece: PieceStates, theta: float, size: int = CACHE_SIZE) -> np.ndarray:
    """``p_cache(target_t)`` for every row of one piece (0 for the first row: no cache yet)."""
    n = piece.targets.size
    out = np.zeros(n)
    hidden = unit_rows(piece.hidden)
    for r0 in range(0, n, _BLOCK):
        r1 = min(n, r0 + _BLOCK)
        w, k0 = _cache_weights(hidden, theta, r0, r1, size)
        out[r0:r1] = (w * (piece.targets[k0:r1][None, :] == piece.targets[r0:r1, None])).sum(axis=1)
    return out


def _mixed(p_model: np.ndarray, p_cache: np.ndarray, lam: float) -> np.ndarray:
    """The mixture per row, the LSTM alone on row 0 (its cache is empty)."""
    mix = (1.0 - lam) * p_model + lam * p_cache
    mix[:1] = p_model[:1]
    return mix


def score_with_cache(pieces: Iterable[PieceStates], cache: Cache,
                     size: int = CACHE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``(nll, correct)`` of every target of ``pieces``, in order, under the cache mixture:
    the NLL in nats and whether the mixture's most likely token is the target. One pass: an
    iterator of pieces (:func:`iter_piece_states`) keeps one piece in memory."""
    nll, correct = [], []
    for piece in pieces:
        n, vocab = piece.logp.shape
        p_model = np.exp(piece.logp)
        p_cache = np.zeros_like(p_model)
        hidden = unit_rows(piece.hidden)
        for r0 in range(0, n, _BLOCK):
            r1 = min(n, r0 + _BLOCK)
            w, k0 = _cache_weights(hidden, cache.theta, r0, r1, size)
            onehot = np.zeros((r1 - k0, vocab))
            onehot[np.arange(r1 - k0), piece.targets[k0:r1]] = 1.0
            p_cache[r0:r1] = w @ onehot
        mix = _mixed(p_model, p_cache, cache.lam)
        rows = np.arange(n)
        nll.append(-np.log(mix[rows, piece.targets]))
        correct.append(mix.argmax(axis=1) == piece.targets)
    if not nll:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate(nll), np.concatenate(correct)


def fit_cache(pieces: Iterable[PieceStates], *, lambdas: Iterable[float] = LAMBDAS,
              thetas: Iterable[float] = THETAS, size: int = CACHE_SIZE) -> tuple[Cache, dict[str, float]]:
    """The ``(lambda, theta)`` with the lowest mean NLL on ``pieces`` (the validation split).

    One pass over ``pieces`` (an iterator will do: :func:`iter_piece_states`), every pair's
    NLL summed piece by piece, so memory holds one piece. Returns the cache and the mean NLL
    of every pair tried, keyed ``"lambda=..,theta=.."`` (``lambda=0`` once: the LSTM alone).
    Ties go to the smaller lambda, then theta.
    """
    lambdas, thetas = sorted(set(lambdas)), sorted(set(thetas))
    pairs = [(lam, theta) for theta in thetas for lam in lambdas if lam > 0]
    sums = dict.fromkeys(pairs, 0.0)
    alone, count = 0.0, 0
    for piece in pieces:
        p_model = np.exp(piece.target_logp)
        alone += float(-piece.target_logp.sum())
        count += piece.targets.size
        for theta in thetas:
            p_cache = cache_target_probs(piece, theta, size)
            for lam in (x for x in lambdas if x > 0):
                sums[(lam, theta)] += float(-np.log(_mixed(p_model, p_cache, lam)).sum())
    if count == 0:
        raise ValueError("fitting a cache needs at least one piece")
    table: dict[str, float] = {"lambda=0": alone / count}
    best = (table["lambda=0"], 0.0, thetas[0])
    for lam, theta in pairs:  # theta by theta, lambda by lambda: ties go to the first
        nll = sums[(lam, theta)] / count
        table[f"lambda={lam:g},theta={theta:g}"] = nll
        if nll < best[0]:
            best = (nll, lam, theta)
    return Cache(best[1], best[2]), table


class CachedStepper:
    """A recurrent stepper whose logits are the log of the cache mixture (see the module docstring).

    Wraps a :class:`tunesmith.generation.steppers.RecurrentStepper` (it exposes ``last_hidden``); every
    fed token becomes the value of the previous step's hidden state in each row's cache, which
    keeps the last :data:`CACHE_SIZE` states, as scoring does.
    """

    def __init__(self, inner, cache: Cache, size: int = CACHE_SIZE) -> None:
        self._inner = inner
        self._cache = cache
        self._size = size
        self.reset(inner.batch_size)

    @property
    def batch_size(self) -> int:
        return self._inner.batch_size

    def reset(self, batch_size: int) -> None:
        self._inner.reset(batch_size)
        self._keys = np.zeros((batch_size, 0, 0))  # (B, n, H), grown as needed
        self._values = np.zeros((batch_size, 0), dtype=np.int64)
        self._n = 0
        self._query: np.ndarray | None = None

    def _remember(self, key: np.ndarray, value: np.ndarray) -> None:
        if self._n == self._keys.shape[1]:  # full: double (or make room by dropping the oldest)
            if self._n >= self._size:
                self._keys[:, :-1] = self._keys[:, 1:].copy()
                self._values[:, :-1] = self._values[:, 1:].copy()
                self._n -= 1
            else:
                room = min(self._size, max(64, 2 * self._n))
                keys = np.zeros((key.shape[0], room, key.shape[1]))
                values = np.zeros((key.shape[0], room), dtype=np.int64)
                if self._n:
                    keys[:, : self._n], values[:, : self._n] = self._keys[:, : self._n], self._values[:, : self._n]
                self._keys, self._values = keys, values
        self._keys[:, self._n] = key
        self._values[:, self._n] = value
        self._n += 1

    def step(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if self._query is not None:  # the previous state's next token is known now
            self._remember(self._query, ids)
        logits = np.asarray(self._inner.step(ids), dtype=np.float64)
        self._query = unit_rows(self._inner.last_hidden)
        return self._mix(logits).astype(np.float32)

    def prime(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"primer ids must have shape ({self.batch_size}, time >= 1), got {ids.shape}")
        # only the last `size` states can be in the cache: the tokens before them go through the
        # inner stepper as blocks (its state is what they leave behind), the rest one step at a time
        head = max(0, ids.shape[1] - self._size - 1)
        if head and self._query is None and self._n == 0:
            self._inner.prime(ids[:, :head])
            self._query = unit_rows(self._inner.last_hidden)
            ids = ids[:, head:]
        logits = None
        for t in range(ids.shape[1]):
            logits = self.step(ids[:, t])
        return logits

    def _mix(self, logits: np.ndarray) -> np.ndarray:
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        if self._n:
            keys, values = self._keys[:, : self._n], self._values[:, : self._n]
            scores = self._cache.theta * np.einsum("bth,bh->bt", keys, self._query)
            w = np.exp(scores - scores.max(axis=1, keepdims=True))
            w /= w.sum(axis=1, keepdims=True)
            p_cache = np.zeros_like(p)
            np.add.at(p_cache, (np.repeat(np.arange(p.shape[0]), self._n), values.ravel()), w.ravel())
            p = (1.0 - self._cache.lam) * p + self._cache.lam * p_cache
        return np.log(np.maximum(p, 1e-30))  # finite logits for every sampler


