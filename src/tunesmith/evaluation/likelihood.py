"""Next-token metrics of a trained model: NLL (nats), perplexity, accuracy, event accuracy.

"Event accuracy" leaves out the positions whose *target* is a hold (nothing new
happens: essen's ``_``, a classical frame that strikes no new pitch). Which tokens
are holds is the track's knowledge (:meth:`tunesmith.tracks.Track.hold_mask`);
:func:`hold_ids` and :func:`hold_mask` ask it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from tunesmith.tracks import get_track
from tunesmith.tracks.base import Track

# --------------------------------------------------------------------------- holds


def hold_ids(symbols: Sequence[str], track: str | Track, *, unk: str = "<unk>") -> frozenset[int]:
    """Ids of the symbols that are holds whatever precedes them.

    Args:
        symbols: the vocabulary's symbol list (id ``i`` is ``symbols[i]``).
        track: a track or its name; nottingham has no holds (every character is an event),
            essen has ``_`` and ``<unk>``, classical its all-held chord tokens and ``<unk>``
            (see the tracks' ``hold_ids``).

    A classical rest after a rest is also a hold, but that depends on the previous
    token: use :func:`hold_mask` for the full per-position answer.

    Raises:
        UnknownTrackError: for an unknown track, naming the known ones.
    """
    return get_track(track).hold_ids(symbols, unk)


def hold_mask(
    ids: np.ndarray, symbols: Sequence[str], track: str | Track, *, unk: str = "<unk>"
) -> np.ndarray:
    """Which positions of ``ids`` hold a hold token, given the token before.

    Args:
        ids: 1-D integer array of token ids, shape ``(n,)``.
        symbols: the vocabulary's symbol list.
        track: a track or its name (see :func:`hold_ids`).

    Returns:
        bool array ``(n,)``: True where ``ids[t]`` is a hold; for classical this
        includes a rest ``"r"`` directly after a rest (`pianoroll.is_hold_token`
        with the previous token). Position 0 has no previous token.
    """
    return get_track(track).hold_mask(np.asarray(ids), symbols, unk)


def _event_mask(ids: np.ndarray, hold_ids: Collection[int], mask: np.ndarray | None) -> np.ndarray:
    """True where ``ids[t]`` is an event (not a hold); shape ``(n,)``."""
    holds = np.isin(ids, np.fromiter(hold_ids, dtype=np.int64, count=len(hold_ids)))
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != ids.shape:
            raise ValueError(f"hold_mask must have shape {ids.shape} like ids, got {mask.shape}")
        holds |= mask
    return ~holds


# --------------------------------------------------------------------------- metric sums


@dataclass
class _Totals:
    """Running sums of per-position scores; :meth:`result` turns them into metrics."""

    nll: float = 0.0
    correct: int = 0
    n: int = 0
    event_nll: float = 0.0
    event_correct: int = 0
    events: int = 0

    def add(self, nll: np.ndarray, correct: np.ndarray, event: np.ndarray) -> None:
        """Add positions: ``nll`` float ``(k,)`` nats, ``correct`` and ``event`` bool ``(k,)``."""
        nll = np.asarray(nll, dtype=np.float64)
        self.nll += float(nll.sum())
        self.correct += int(np.count_nonzero(correct))
        self.n += int(nll.size)
        self.event_nll += float(nll[event].sum())
        self.event_correct += int(np.count_nonzero(correct & event))
        self.events += int(np.count_nonzero(event))

    def result(self) -> dict[str, float | int]:
        nll = self.nll / self.n if self.n else math.nan
        event_nll = self.event_nll / self.events if self.events else math.nan
        return {
            "nll": nll,
            "bits_per_token": nll / math.log(2),
            "perplexity": _exp(nll),
            "accuracy": self.correct / self.n if self.n else math.nan,
            "event_nll": event_nll,
            "event_accuracy": self.event_correct / self.events if self.events else math.nan,
            "tokens": self.n,
            "events": self.events,
        }


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _score_logits(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-position NLL (nats) and argmax hit from logits ``(k, V)`` and targets ``(k,)``."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    nll = log_z - logits[np.arange(len(targets)), targets]
    return nll, logits.argmax(axis=1) == targets


# --------------------------------------------------------------------------- models


def _check_ids(ids: np.ndarray, vocab_size: int | None = None, name: str = "ids") -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"{name} must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}"
        )
    if vocab_size is not None and ids.size and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(
            f"{name} has ids outside [0, {vocab_size}): min {ids.min()}, max {ids.max()}"
        )
    return ids.astype(np.int64)


def evaluate_model(
    model,
    model_cfg,
    ids: np.ndarray,
    *,
    window: int,
    batch_size: int,
    hold_ids: Collection[int] = frozenset(),
    hold_mask: np.ndarray | None = None,
    max_positions: int = 20_000,
) -> dict[str, float | int]:
    """Next-token metrics of a trained model on one split.

    Every-position models (`models.predicts_every_position`): the ids are cut
    into non-overlapping windows ``x = ids[s : s + window]`` scored against
    ``ids[s + 1 : s + window + 1]``, as in training with target ``"all"``; no
    state is carried between windows, so each token is scored exactly once
    with the context its window gives it (0 to ``window - 1`` tokens). The
    tail that fills no whole window is scored by one more window ending at the
    last token, counting only the targets not scored yet; so every target
    ``ids[1:]`` is scored once and all batches have the same shape.

    ``bilstm`` (output ``(B, V)``: the token after the window): the targets are
    ``ids[s + window]`` of stride-1 windows; when there are more than
    ``max_positions`` of them, ``max_positions`` starts evenly spaced over the
    split are scored (deterministic, covering the whole split).

    Args:
        model: Keras model, int32 ids ``(B, T)`` -> float32 logits ``(B, T, V)``
            (or ``(B, V)`` for bilstm).
        model_cfg: its `models.ModelConfig`.
        ids: 1-D integer token ids of the split, shape ``(n,)``, ``n > window``.
        window: input length ``T`` in tokens (the training window).
        batch_size: windows per forward pass.
        hold_ids: ids that are holds wherever they stand (:func:`hold_ids`).
        hold_mask: optional bool ``(n,)``, True where ``ids[t]`` is a hold
            (:func:`hold_mask`); combined with ``hold_ids`` by "or".
        max_positions: cap on scored positions for bilstm, >= 1.

    Returns:
        ``nll`` (mean nats per token), ``bits_per_token``, ``perplexity``
        (``exp(nll)``), ``accuracy`` (argmax equals the target), ``event_nll``
        and ``event_accuracy`` (over targets that are not holds), ``tokens``
        and ``events`` (how many positions each mean is over).
    """
    from tunesmith.modeling.models import predicts_every_position

    ids = _check_ids(ids)
    _check_scoring_args(ids, window, batch_size, max_positions)
    event = _event_mask(ids, hold_ids, hold_mask)
    every = predicts_every_position(model_cfg)
    starts, first_new = _window_starts(ids.shape[0], window, every, max_positions)
    totals = _Totals()
    offsets = np.arange(window, dtype=np.int64)
    batches = range(0, len(starts), batch_size)
    for b in tqdm(batches, desc="evaluate", unit="batch", leave=False, disable=len(batches) < 20):
        batch = starts[b : b + batch_size]
        x = ids[batch[:, None] + offsets[None, :]].astype(np.int32)
        logits = np.asarray(model.predict_on_batch(x))
        if every:
            tgt_pos = batch[:, None] + offsets[None, :] + 1  # (B, T)
            keep = tgt_pos >= first_new[b : b + batch_size, None]
            flat_logits = logits.reshape(-1, logits.shape[-1])[keep.ravel()]
            pos = tgt_pos[keep]
        else:
            flat_logits = logits
            pos = batch + window
        nll, hit = _score_logits(flat_logits, ids[pos])
        totals.add(nll, hit, event[pos])
    return totals.result()


def _check_scoring_args(ids: np.ndarray, window, batch_size: int, max_positions: int) -> None:
    """ValueError naming the first bad argument of :func:`evaluate_model`."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if max_positions < 1:
        raise ValueError(f"max_positions must be >= 1, got {max_positions!r}")
    if ids.shape[0] <= window:
        raise ValueError(f"{ids.shape[0]} tokens are too few for one window of {window} (+1 target)")


def _window_starts(n: int, window: int, every: bool, max_positions: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Start of each scored window, and (every-position models) the first target each may count."""
    if every:
        starts = np.arange(0, n - window, window, dtype=np.int64)
        if starts[-1] + window < n - 1:  # a tail of targets no whole window reached
            starts = np.append(starts, n - 1 - window)
        # first target index each window may count: later windows never rescore
        return starts, np.maximum(starts + 1, np.append(0, starts[:-1] + window + 1))
    count = n - window
    starts = np.arange(count, dtype=np.int64)
    if count > max_positions:
        starts = np.unique(np.linspace(0, count - 1, max_positions).round().astype(np.int64))
    return starts, None
