"""Full-context scoring: every token predicted from the whole piece before it.

A split is stored as one flat id array ``[END] p1 [END] p2 [END] ...``
(:meth:`tunesmith.core.vocab.Vocab.corpus_ids`). Piece ``k`` is the span between
two end tokens: its inputs are ``[END] + p_k`` and its targets ``p_k + [END]``,
so every target ``ids[1:]`` belongs to exactly one piece and is scored once,
with the recurrent state carried from the start of its piece (the model run
over the whole piece in one call), as generation sees it.

This is the headline likelihood: scoring fixed windows that each start from a
zero state (``evaluation.evaluate_model``) gives no token more than
``window - 1`` tokens of context, which understates what an LSTM learns.

Pieces are batched by length (right-padded; a causal model's output at ``t``
never sees the padding after ``t``) under a budget of ``batch * time * vocab``
logits, so memory stays bounded whatever the corpus; a single piece larger
than the budget is scored on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tunesmith.core.numeric import log_softmax
from tunesmith.data.pieces import piece_spans
from tunesmith.modeling.models import any_length_model

DEFAULT_LOGIT_BUDGET = 32_000_000
"""Most float32 logits held at once (``batch * time * vocab``): 128 MB."""


@dataclass(frozen=True)
class PieceScores:
    """Per-target scores of a split, aligned with ``ids[1:]``.

    Attributes:
        nll: float64 ``(n - 1,)``, nats: ``-log p(ids[t + 1] | ids[start_of_piece : t + 1])``.
        correct: bool ``(n - 1,)``, the argmax prediction equals the target.
        spans: ``(start, stop)`` per piece: inputs ``ids[start:stop]``, targets
            ``ids[start + 1 : stop + 1]``; ``ids[start]`` and ``ids[stop]`` are end tokens.
    """

    nll: np.ndarray
    correct: np.ndarray
    spans: tuple[tuple[int, int], ...]

    @property
    def mean_nll(self) -> float:
        return float(self.nll.mean()) if self.nll.size else float("nan")


MAX_POSITIONS = 16_384
"""Most positions (``batch * time``) scored at once, whatever ``V``: each position also holds the
model's activations (256 units: 1 KiB a layer), so a logit budget alone let a small vocabulary
batch 400k positions (2.7 GB on a 5M-token corpus's validation split)."""


def _batches(lengths: np.ndarray, vocab_size: int, budget: int) -> list[np.ndarray]:
    """Piece indices grouped by similar length, each group under ``budget`` logits and
    :data:`MAX_POSITIONS` positions (a longer piece goes alone)."""
    order = np.argsort(lengths, kind="stable")[::-1]  # longest first: the padded length is the first's
    groups: list[np.ndarray] = []
    i = 0
    while i < order.size:
        longest = int(lengths[order[i]])
        size = max(1, min(budget // max(1, longest * vocab_size), MAX_POSITIONS // max(1, longest)))
        groups.append(order[i : i + size])
        i += size
    return groups


def score_pieces(
    predict: Callable[[np.ndarray], np.ndarray],
    ids: np.ndarray,
    end_id: int,
    vocab_size: int,
    *,
    budget: int = DEFAULT_LOGIT_BUDGET,
    progress: bool = False,
) -> PieceScores:
    """Score every target of a split with the full context of its piece.

    Args:
        predict: int32 ids ``(B, T)`` -> float logits ``(B, T, V)`` for any ``T``
            (a causal model built for any length, e.g. ``model.predict_on_batch``).
        ids: the split, 1-D, ``[END] p1 [END] p2 ... [END]``.
        end_id: the end token's id.
        vocab_size: ``V``.
        budget: most logits per call (``B * T * V``).
        progress: show a tqdm bar over batches.
    """
    ids = np.asarray(ids)
    spans = piece_spans(ids, end_id)
    lengths = np.array([b - a for a, b in spans], dtype=np.int64)
    nll = np.zeros(ids.size - 1, dtype=np.float64)
    correct = np.zeros(ids.size - 1, dtype=bool)
    groups = _batches(lengths, vocab_size, budget)
    if progress:
        from tqdm import tqdm

        groups = tqdm(groups, desc="score", unit="batch", leave=False)
    for group in groups:
        width = int(lengths[group].max())
        x = np.full((len(group), width), end_id, dtype=np.int32)
        for row, k in enumerate(group):
            a, b = spans[k]
            x[row, : b - a] = ids[a:b]
        logp = log_softmax(np.asarray(predict(x)))
        for row, k in enumerate(group):
            a, b = spans[k]
            targets = ids[a + 1 : b + 1].astype(np.int64)
            lp = logp[row, : b - a]
            nll[a:b] = -lp[np.arange(b - a), targets]
            correct[a:b] = lp.argmax(axis=-1) == targets
    return PieceScores(nll, correct, tuple(spans))


def frame_nll(
    nll: np.ndarray, targets: Sequence[int] | np.ndarray, frame_end_id: int, piece_end_id: int
) -> np.ndarray:
    """Per-frame NLLs for a serialisation in which every frame ends with ``frame_end_id``.

    ``targets`` are the scored tokens (``ids[1:]``), aligned with ``nll``. A frame
    is the run of tokens after the previous frame end (or piece end) up to and
    including its frame end; its NLL is the sum of its tokens' NLLs, i.e.
    ``-log p(frame | everything before it)``. Piece-end tokens belong to no frame
    and are left out.

    Returns:
        float64 ``(frames,)``.
    """
    targets = np.asarray(targets)
    nll = np.asarray(nll, dtype=np.float64)
    if targets.shape != nll.shape:
        raise ValueError(f"nll {nll.shape} and targets {targets.shape} must have the same shape")
    bounds = np.flatnonzero((targets == frame_end_id) | (targets == piece_end_id))
    cum = np.concatenate([[0.0], np.cumsum(nll)])
    starts = np.concatenate([[0], bounds[:-1] + 1])
    is_frame = targets[bounds] == frame_end_id
    return (cum[bounds + 1] - cum[starts])[is_frame]


def predictor(model) -> Callable[[np.ndarray], np.ndarray]:
    """``model`` (ids ``(B, T)`` -> logits) as one traced function for every ``(B, T)``.

    ``predict_on_batch`` traces again for each new input shape, and length
    buckets give a new shape per batch; one signature with unknown sizes is
    traced once.
    """
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)], reduce_retracing=True)
    def run(x):
        return model(x, training=False)

    return lambda x: run(tf.constant(x, dtype=tf.int32)).numpy()


def full_context_metrics(
    model,
    model_cfg,
    ids: np.ndarray,
    end_id: int,
    vocab_size: int,
    *,
    hold_mask: np.ndarray | None = None,
    budget: int = DEFAULT_LOGIT_BUDGET,
    cache=None,
) -> dict[str, float | int]:
    """The metrics of ``evaluation.evaluate_model``, every target scored with its piece's full context.

    ``model`` is a trained causal model (any input length or a fixed window:
    :func:`any_length_model` copies it). ``hold_mask`` (bool ``(n,)``, True where
    ``ids[t]`` is a hold) leaves hold targets out of ``event_nll`` and
    ``event_accuracy``, as there. ``cache`` (an `evaluation.cache.Cache` that is on)
    scores the LSTM mixed with its continuous cache over the piece so far instead.

    Returns:
        ``nll``, ``bits_per_token``, ``perplexity``, ``accuracy``, ``event_nll``,
        ``event_accuracy``, ``tokens``, ``events``, ``pieces``.
    """
    from tunesmith.evaluation.likelihood import _event_mask, _Totals

    ids = np.asarray(ids)
    if cache is not None and cache.on:
        from tunesmith.modeling.cache import iter_piece_states, score_with_cache

        nll, correct = score_with_cache(iter_piece_states(model, model_cfg, ids, end_id, vocab_size), cache)
        count = len(piece_spans(ids, end_id))
    else:
        scores = score_pieces(predictor(any_length_model(model, model_cfg, vocab_size)), ids, end_id,
                              vocab_size, budget=budget, progress=True)
        nll, correct, count = scores.nll, scores.correct, len(scores.spans)
    event = _event_mask(ids.astype(np.int64), frozenset(), hold_mask)[1:]
    totals = _Totals()
    totals.add(nll, correct, event)
    return {**totals.result(), "pieces": count}
