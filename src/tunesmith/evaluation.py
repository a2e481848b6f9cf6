"""Evaluation: model metrics, n-gram baselines, music statistics, playability, novelty.

Everything here is a pure function of its arguments (numpy, no file I/O), so the
evaluate stage only loads artefacts and writes what these return.

Five parts:

1. :func:`evaluate_model`: next-token negative log-likelihood (nats), perplexity,
   accuracy and *event accuracy* of a trained model on one split's token ids.
2. :func:`ngram_table`: the same metrics for a uniform, a unigram (add-one) and
   an interpolated modified Kneser-Ney n-gram model (:class:`KneserNey`) fitted
   on the train ids, so a model's numbers have a floor to beat.
3. Music statistics in the manner of Yang & Lerch (2020) and MusPy: converters
   from each track's symbols to notes ``(pitch, start_beat, end_beat)``,
   :func:`music_stats` of a set of pieces and :func:`compare_distributions` of a
   generated set against a real one.
4. :func:`abc_playability`: the share of generated nottingham tunes music21 parses
   and the share whose bars fit their meter (Reitman & Cho's "playable").
5. :class:`NoveltyIndex`: the longest run of symbols a sample shares with any
   training piece and the share of its 8-grams found in training (seeds 000/003
   want original music, not recalled tunes).

"Event accuracy" leaves out the positions whose *target* is a hold (nothing new
happens: essen's ``_``, a classical frame that strikes no new pitch). Holds are
most tokens of a time-series or piano-roll corpus and are easy to predict, so
plain accuracy flatters a model that has learnt little more than "hold";
:func:`hold_mask` computes which positions are holds for each track.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from tunesmith.errors import MusicInputError
from tunesmith.representations import abc_chars, time_series

log = logging.getLogger(__name__)

TRACKS = ("nottingham", "essen", "classical")

SEED_003_PUBLISHED: dict[str, Any] = {
    "source": "Reitman & Cho (char-LSTM on ABC, PyTorch), section 3 Results",
    "unit": "nats per character",
    "char_lstm": {"train": 1.40, "validation": 1.72, "test": 1.65},
    # 1.64 is the train loss at the epoch training stopped (27); 1.94 the
    # validation loss of the best weights, 2 epochs earlier (the paper gives
    # no train loss for those weights, and no test loss for the RNN).
    "vanilla_rnn": {"train": 1.64, "validation": 1.94},
}
"""Reitman & Cho's published negative log-likelihoods, for the report to set ours beside."""


# --------------------------------------------------------------------------- holds


def hold_ids(symbols: Sequence[str], track: str, *, unk: str = "<unk>") -> frozenset[int]:
    """Ids of the symbols that are holds whatever precedes them.

    Args:
        symbols: the vocabulary's symbol list (id ``i`` is ``symbols[i]``).
        track: ``nottingham`` (no holds: every character is an event), ``essen``
            (``_``, and ``<unk>``, which `time_series.decode_events` reads as a
            hold) or ``classical`` (tokens whose pitches are all held, ``"60~.64~"``,
            and ``<unk>``, per `pianoroll.is_hold_token`).

    A classical rest after a rest is also a hold, but that depends on the previous
    token: use :func:`hold_mask` for the full per-position answer.
    """
    _check_track(track)
    if track == "nottingham":
        return frozenset()
    if track == "essen":
        return frozenset(i for i, s in enumerate(symbols) if s in (time_series.HOLD, unk))
    from tunesmith.representations import notes_per_frame, pianoroll

    if notes_per_frame.FRAME_END in symbols:  # notes per frame: every token a note or a frame end
        return frozenset()

    return frozenset(
        i for i, s in enumerate(symbols) if pianoroll.is_hold_token(s, None, unk_token=unk)
    )


def hold_mask(
    ids: np.ndarray, symbols: Sequence[str], track: str, *, unk: str = "<unk>"
) -> np.ndarray:
    """Which positions of ``ids`` hold a hold token, given the token before.

    Args:
        ids: 1-D integer array of token ids, shape ``(n,)``.
        symbols: the vocabulary's symbol list.
        track: one of :data:`TRACKS` (see :func:`hold_ids`).

    Returns:
        bool array ``(n,)``: True where ``ids[t]`` is a hold; for classical this
        includes a rest ``"r"`` directly after a rest (`pianoroll.is_hold_token`
        with the previous token). Position 0 has no previous token.
    """
    ids = np.asarray(ids)
    held = np.zeros(len(symbols), dtype=bool)
    held[list(hold_ids(symbols, track, unk=unk))] = True
    mask = held[ids]
    if track == "classical" and "r" in symbols and ids.size > 1:
        rest = list(symbols).index("r")
        mask[1:] |= (ids[1:] == rest) & (ids[:-1] == rest)
    return mask


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
    from tunesmith.models import predicts_every_position

    ids = _check_ids(ids)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if max_positions < 1:
        raise ValueError(f"max_positions must be >= 1, got {max_positions!r}")
    n = ids.shape[0]
    if n <= window:
        raise ValueError(f"{n} tokens are too few for one window of {window} (+1 target)")
    event = _event_mask(ids, hold_ids, hold_mask)
    every = predicts_every_position(model_cfg)

    if every:
        starts = np.arange(0, n - window, window, dtype=np.int64)
        if starts[-1] + window < n - 1:  # a tail of targets no whole window reached
            starts = np.append(starts, n - 1 - window)
        # first target index each window may count: later windows never rescore
        first_new = np.maximum(starts + 1, np.append(0, starts[:-1] + window + 1))
    else:
        count = n - window
        starts = np.arange(count, dtype=np.int64)
        if count > max_positions:
            starts = np.unique(np.linspace(0, count - 1, max_positions).round().astype(np.int64))

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


# --------------------------------------------------------------------------- n-gram baselines


def _discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts ``(D1, D2, D3+)`` from count-of-counts (Chen & Goodman 1998).

    Falls back to 0.75 for all three when a count of counts is zero or an
    estimate leaves its valid range ``(0, k]``, which happens on tiny corpora.
    """
    coc = Counter(c for c in counts if c <= 4)
    n1, n2, n3, n4 = (coc.get(k, 0) for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return (0.75, 0.75, 0.75)
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < dk <= k for k, dk in zip((1, 2, 3), d)):
        return (0.75, 0.75, 0.75)
    return d


class KneserNey:
    """Interpolated modified Kneser-Ney n-gram model over token ids.

    The highest order uses raw counts, lower orders continuation counts (the
    number of distinct tokens seen before an n-gram), and order 1 interpolates
    with the uniform distribution, so every token has a probability > 0. Each
    order discounts counts of 1, 2 and 3+ by its own ``D1, D2, D3`` and passes
    the discounted mass to the order below:

        ``p_k(w | h) = max(c(h w) - D(c), 0) / c(h) + gamma(h) * p_{k-1}(w | h')``

    with ``gamma(h) = 1 - sum_w max(c(h w) - D(c), 0) / c(h)``, so ``p_k`` sums to 1
    over the vocabulary for every history; a history never seen at order
    ``k`` passes ``p_{k-1}`` through unchanged. Histories shorter than
    ``order - 1`` (the first tokens of a split) stop at the order they fill.

    Build with :meth:`fit`; ~300k train tokens take a few seconds at order 5.
    """

    def __init__(
        self,
        order: int,
        vocab_size: int,
        tables: list[dict[tuple[int, ...], dict[int, int]]],
        discounts: list[tuple[float, float, float]],
    ) -> None:
        self.order = order
        self.vocab_size = vocab_size
        self._tables = tables  # tables[k - 1]: history of k - 1 ids -> {next id: count}
        self.discounts = discounts
        self._cache: list[dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, float]]] = [
            {} for _ in range(order)
        ]

    @classmethod
    def fit(cls, train_ids: np.ndarray, vocab_size: int, order: int = 5) -> KneserNey:
        """Count n-grams of ``train_ids`` (1-D ints in ``[0, vocab_size)``) up to ``order`` >= 1."""
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}")
        seq = _check_ids(train_ids, vocab_size, "train_ids").tolist()
        top = Counter(zip(*(seq[i:] for i in range(order))))
        levels: list[Mapping[tuple[int, ...], int]] = [top]
        for k in range(order - 1, 0, -1):
            longer = top.keys() if k + 1 == order else set(zip(*(seq[i:] for i in range(k + 1))))
            # continuation count of a k-gram: distinct tokens seen right before it
            levels.append(Counter(gram[1:] for gram in longer))
        levels.reverse()  # levels[k - 1] holds k-grams
        tables: list[dict[tuple[int, ...], dict[int, int]]] = []
        discounts = []
        for counts in levels:
            table: dict[tuple[int, ...], dict[int, int]] = defaultdict(dict)
            for gram, c in counts.items():
                table[gram[:-1]][gram[-1]] = c
            tables.append(dict(table))
            discounts.append(_discounts(counts.values()))
        log.debug("kneser-ney order %d discounts %s", order, discounts)
        return cls(order, vocab_size, tables, discounts)

    def _entry(
        self, k: int, history: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(next ids, their discounted probabilities, gamma) of a history at order k, or None."""
        cache = self._cache[k - 1]
        hit = cache.get(history)
        if hit is not None:
            return hit
        nexts = self._tables[k - 1].get(history)
        if nexts is None:
            return None
        words = np.fromiter(nexts.keys(), dtype=np.int64, count=len(nexts))
        counts = np.fromiter(nexts.values(), dtype=np.float64, count=len(nexts))
        d1, d2, d3 = self.discounts[k - 1]
        d = np.where(counts >= 3, d3, np.where(counts == 2, d2, d1))
        total = counts.sum()
        disc = np.maximum(counts - d, 0.0) / total
        entry = (words, disc, 1.0 - float(disc.sum()))
        cache[history] = entry
        return entry

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """``p(next | history)``: float64 ``(vocab_size,)`` summing to 1.

        Only the last ``order - 1`` ids of ``history`` matter.
        """
        history = (
            tuple(int(i) for i in history[len(history) - (self.order - 1) :])
            if self.order > 1
            else ()
        )
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(1, min(self.order, len(history) + 1) + 1):
            entry = self._entry(k, history[len(history) - (k - 1) :] if k > 1 else ())
            if entry is None:
                continue
            words, disc, gamma = entry
            p *= gamma
            p[words] += disc
        return p

    def evaluate(
        self,
        ids: np.ndarray,
        *,
        hold_ids: Collection[int] = frozenset(),
        hold_mask: np.ndarray | None = None,
    ) -> dict[str, float | int]:
        """Metrics as :func:`evaluate_model` over every target ``ids[1:]``.

        Each target's history is the (up to ``order - 1``) ids before it.
        Accuracy counts the argmax (lowest id on a tie).
        """
        ids = _check_ids(ids, self.vocab_size)
        event = _event_mask(ids, hold_ids, hold_mask)
        seq = ids.tolist()
        n = len(seq)
        nll = np.empty(max(n - 1, 0))
        hit = np.empty(max(n - 1, 0), dtype=bool)
        for t in tqdm(
            range(1, n),
            desc=f"kn-{self.order}",
            unit="tok",
            leave=False,
            disable=n < 50_000,
            mininterval=2,
        ):
            p = self.distribution(seq[max(0, t - self.order + 1) : t])
            nll[t - 1] = -math.log(p[seq[t]])
            hit[t - 1] = int(p.argmax()) == seq[t]
        totals = _Totals()
        totals.add(nll, hit, event[1:])
        return totals.result()


def ngram_table(
    train_ids: np.ndarray,
    test_ids: np.ndarray,
    vocab_size: int,
    order: int = 5,
    hold_ids: Collection[int] = frozenset(),
    hold_mask: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Baseline rows on the same split and vocabulary as the model.

    Rows (``model`` key, then the metrics of :func:`evaluate_model`), all over
    every target ``test_ids[1:]``:

    - ``uniform``: ``p = 1 / V``; NLL is ``ln V`` exactly; accuracy and event
      accuracy are the expected ``1 / V`` (a uniform argmax is arbitrary).
    - ``unigram``: ``p(w) = (c(w) + 1) / (N + V)`` from the ``N`` train ids.
    - ``kn-<order>``: :class:`KneserNey` fitted on ``train_ids``.

    ``hold_ids``/``hold_mask`` describe ``test_ids`` as in :func:`evaluate_model`.
    """
    train = _check_ids(train_ids, vocab_size, "train_ids")
    test = _check_ids(test_ids, vocab_size, "test_ids")
    event = _event_mask(test, hold_ids, hold_mask)[1:]
    targets = test[1:]
    rows: list[dict[str, Any]] = []

    # written out rather than summed, so the NLL is ln V to the last bit
    rows.append(
        {
            "model": "uniform",
            "nll": math.log(vocab_size),
            "bits_per_token": math.log2(vocab_size),
            "perplexity": float(vocab_size),
            "accuracy": 1.0 / vocab_size,
            "event_nll": math.log(vocab_size) if event.any() else math.nan,
            "event_accuracy": 1.0 / vocab_size if event.any() else math.nan,
            "tokens": int(targets.size),
            "events": int(np.count_nonzero(event)),
        }
    )

    counts = np.bincount(train, minlength=vocab_size).astype(np.float64)
    log_p = np.log(counts + 1.0) - math.log(train.size + vocab_size)
    unigram = _Totals()
    unigram.add(-log_p[targets], targets == int(counts.argmax()), event)
    rows.append({"model": "unigram", **unigram.result()})

    kn = KneserNey.fit(train, vocab_size, order)
    rows.append(
        {"model": f"kn-{order}", **kn.evaluate(test, hold_ids=hold_ids, hold_mask=hold_mask)}
    )
    return rows


# --------------------------------------------------------------------------- symbols -> notes


def _notes_array(rows: Iterable[tuple[float, float, float]]) -> np.ndarray:
    arr = np.array(list(rows), dtype=np.float64).reshape(-1, 3)
    return arr[np.lexsort((arr[:, 0], arr[:, 1]))] if len(arr) else arr


def essen_notes(symbols: Sequence[str], time_step: float = 0.25) -> np.ndarray:
    """Notes of an essen time series (`time_series.decode_events`), rests dropped.

    Returns float64 ``(n, 3)``: ``[pitch, start_beat, end_beat]`` (beats are
    quarter notes), sorted by start then pitch.
    """
    rows, t = [], Fraction(0)
    for pitch, duration in time_series.decode_events(symbols, time_step):
        if pitch is not None:
            rows.append((pitch, float(t), float(t + duration)))
        t += duration
    return _notes_array(rows)


def nottingham_notes(symbols: Sequence[str] | str) -> np.ndarray:
    """Notes of an ABC tune (symbols or text), parsed by music21 (`abc_chars.to_stream`).

    Tied notes are merged; chord symbols (guitar chords such as ``"Am"``) and
    grace notes (no duration) are not notes. Returns float64 ``(n, 3)`` as
    :func:`essen_notes`.

    Raises:
        MusicInputError: music21 cannot parse the tune or it holds no notes.
    """
    from music21 import harmony

    text = symbols if isinstance(symbols, str) else abc_chars.decode_text(symbols)
    score = abc_chars.to_stream(text)
    rows = []
    for el in score.flatten().stripTies().notes:
        length = float(el.quarterLength)
        if isinstance(el, harmony.Harmony) or length <= 0:
            continue
        start = float(el.offset)
        for p in el.pitches:
            rows.append((p.midi, start, start + length))
    if not rows:
        raise MusicInputError("the ABC holds no sounding notes", reason="empty")
    return _notes_array(rows)


def classical_notes(
    symbols: Sequence[str], frames_per_beat: float = 4, *, distinguish_holds: bool = True
) -> np.ndarray:
    """Notes of piano-roll tokens (`pianoroll.decode_notes`), frames divided into beats.

    ``frames_per_beat``: frames per quarter note; for a grid of ``fs`` frames
    per second pass ``fs * 60 / tempo`` (e.g. ``fs / 2`` at 120 bpm).
    Returns float64 ``(n, 3)`` as :func:`essen_notes`.
    """
    from tunesmith.representations import pianoroll

    notes = pianoroll.decode_notes(symbols, distinguish_holds=distinguish_holds).astype(np.float64)
    notes[:, 1:] /= frames_per_beat
    return notes


def symbols_to_notes(
    track: str, symbols: Sequence[str], meta: Mapping[str, Any] | None = None
) -> np.ndarray:
    """Notes of one piece of ``track``, decoding options from the vocab's metadata.

    ``meta`` is ``vocab.json`` (keys ``encode.time_step``, ``encode.distinguish_holds``,
    ``prepare.frames_per_beat`` / ``prepare.fs``); defaults as params.yaml's.

    Raises:
        MusicInputError: the piece does not decode (bad ABC, malformed token).
    """
    _check_track(track)
    meta = meta or {}
    enc = meta.get("encode", {}) or {}
    if track == "essen":
        return essen_notes(symbols, enc.get("time_step", 0.25))
    if track == "nottingham":
        return nottingham_notes(symbols)
    prep = meta.get("prepare", {}) or {}
    fpb = prep.get("frames_per_beat") or 0
    if not fpb:
        fs = prep.get("fs") or 0
        fpb = fs / 2 if fs else 4  # a grid in seconds has no beats: read it at 120 bpm
    if enc.get("representation") == "notes":
        from tunesmith.representations import notes_per_frame

        notes = notes_per_frame.decode_notes(symbols).astype(np.float64)
        notes[:, 1:] /= fpb
        return notes
    return classical_notes(symbols, fpb, distinguish_holds=enc.get("distinguish_holds", True))


def pieces_to_notes(
    track: str, pieces: Iterable[Sequence[str]], meta: Mapping[str, Any] | None = None
) -> tuple[list[np.ndarray], int]:
    """:func:`symbols_to_notes` over many pieces, skipping those that fail or hold no notes.

    Returns ``(notes per decoded piece, number skipped)``.
    """
    out, skipped = [], 0
    for i, symbols in enumerate(
        tqdm(list(pieces), desc=f"{track} notes", leave=False, unit="piece")
    ):
        try:
            notes = symbols_to_notes(track, symbols, meta)
        except MusicInputError as exc:
            log.debug("piece %d skipped (%s): %s", i, exc.reason, exc)
            skipped += 1
            continue
        if len(notes) == 0:
            skipped += 1
            continue
        out.append(notes)
    if skipped:
        log.info(
            "%s: %d of %d pieces gave no notes and were skipped", track, skipped, skipped + len(out)
        )
    return out, skipped


# --------------------------------------------------------------------------- music statistics

NOTE_LENGTH_EDGES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, math.inf)
"""Bin edges in beats (quarter notes) of the note-length and inter-onset histograms.

Bins are left-closed, ``[a, b)``: shorter than a 16th, 16th, 8th, dotted 8th,
quarter, dotted quarter, half, dotted half, whole or longer; a triplet falls in
the bin of the next shorter plain value.
"""

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
SCALES = tuple(
    frozenset((root + step) % 12 for step in steps)
    for steps in (_MAJOR, _MINOR)
    for root in range(12)
)
"""The 24 major and natural-minor scales as pitch-class sets (MusPy's; a natural
minor has the pitch classes of its relative major, so 12 distinct sets)."""

HISTOGRAMS = ("pitch_class_hist", "note_length_hist", "ioi_hist")
SCALARS = (
    "pitch_range",
    "pitch_class_entropy",
    "scale_consistency",
    "empty_beat_rate",
    "polyphony",
)


def _hist(values: np.ndarray) -> np.ndarray:
    return np.histogram(values, bins=np.array(NOTE_LENGTH_EDGES))[0]


def piece_stats(notes: np.ndarray) -> dict[str, Any]:
    """Features of one piece: ``notes`` float ``(n, 3)``, ``[pitch, start_beat, end_beat]``, n >= 1.

    Returns:
        ``pitch_class_hist`` (12 ints: notes per pitch class, C first),
        ``note_length_hist`` and ``ioi_hist`` (ints per :data:`NOTE_LENGTH_EDGES`
        bin; inter-onset intervals are the gaps between consecutive distinct
        onset times), and scalars: ``pitch_range`` (highest minus lowest MIDI
        pitch), ``pitch_class_entropy`` (bits, of the pitch-class histogram),
        ``scale_consistency`` (largest share of notes inside one of
        :data:`SCALES`), ``empty_beat_rate`` (share of beats ``[b, b + 1)``,
        ``b = 0 .. ceil(last end) - 1``, in which no note sounds) and
        ``polyphony`` (total note time over the time any note sounds: the mean
        number of notes sounding when one does; 1 for a melody).
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 3)
    if len(notes) == 0:
        raise ValueError("a piece needs at least one note for its statistics")
    pitch, start, end = notes[:, 0].astype(np.int64), notes[:, 1], notes[:, 2]
    pcs = np.bincount(pitch % 12, minlength=12)
    share = pcs / pcs.sum()
    nz = share[share > 0]
    onsets = np.unique(start)

    n_beats = max(1, math.ceil(end.max()))
    beats = np.arange(n_beats)
    # a note sounds in beat b when it starts before b + 1 and ends after b
    busy = (start[None, :] < beats[:, None] + 1) & (end[None, :] > beats[:, None])

    order = np.argsort(start, kind="stable")
    covered, reach = 0.0, -math.inf
    for s, e in zip(start[order], end[order]):  # length of the union of note intervals
        if e > reach:
            covered += e - max(s, reach)
            reach = e
    return {
        "pitch_class_hist": pcs.tolist(),
        "note_length_hist": _hist(end - start).tolist(),
        "ioi_hist": _hist(np.diff(onsets)).tolist(),
        "pitch_range": float(pitch.max() - pitch.min()),
        "pitch_class_entropy": float(-(nz * np.log2(nz)).sum()),
        "scale_consistency": max(float(pcs[list(scale)].sum()) for scale in SCALES) / len(pitch),
        "empty_beat_rate": float(1.0 - busy.any(axis=1).mean()),
        "polyphony": float((end - start).sum() / covered) if covered > 0 else math.nan,
    }


def music_stats(pieces: Sequence[np.ndarray]) -> dict[str, Any]:
    """Statistics of a set of pieces (each as :func:`piece_stats` takes; empty pieces skipped).

    Histograms are summed over the set's pieces (integer counts); scalars are
    the mean over pieces of each piece's value (NaN for an empty set).
    Also ``n_pieces`` and ``n_notes``.
    """
    per = [piece_stats(p) for p in pieces if len(p)]
    out: dict[str, Any] = {
        "n_pieces": len(per),
        "n_notes": int(sum(sum(s["pitch_class_hist"]) for s in per)),
    }
    sizes = {
        "pitch_class_hist": 12,
        "note_length_hist": len(NOTE_LENGTH_EDGES) - 1,
        "ioi_hist": len(NOTE_LENGTH_EDGES) - 1,
    }
    for name in HISTOGRAMS:
        total = [0] * sizes[name]
        for s in per:
            total = [a + b for a, b in zip(total, s[name])]
        out[name] = total
    for name in SCALARS:
        values = [s[name] for s in per if not math.isnan(s[name])]
        out[name] = float(np.mean(values)) if values else math.nan
    return out


KL_EPSILON = 1e-6
"""Added to every bin of both normalised histograms (then renormalised) before KL,
so a bin one set never fills costs about ``ln(1 / KL_EPSILON)`` ~ 14 nats of its
share instead of an infinite divergence."""


def _smoothed(h: Sequence[int], eps: float) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    return (h / h.sum() + eps) / (1.0 + eps * h.size)


def compare_distributions(
    gen_stats: Mapping[str, Any], real_stats: Mapping[str, Any], *, eps: float = KL_EPSILON
) -> dict[str, float]:
    """How far generated music's statistics are from the real music's.

    For each histogram ``name`` in :data:`HISTOGRAMS`:

    - ``<name>_kl``: ``KL(real || generated)`` in nats of the histograms
      normalised to sum 1, each smoothed as ``(p + eps) / (1 + K * eps)`` over
      its ``K`` bins (:data:`KL_EPSILON`): how badly the generated distribution
      covers what real music does. 0 for identical histograms.
    - ``<name>_overlap``: ``sum_i min(p_i, q_i)`` of the unsmoothed normalised
      histograms, in [0, 1]; 1 for identical histograms (computed on the
      integer counts, so exactly 1).

    For each scalar in :data:`SCALARS`: ``<name>_abs_diff`` = ``|generated - real|``.
    A histogram with no counts in either set gives NaN.
    """
    out: dict[str, float] = {}
    for name in HISTOGRAMS:
        g, r = list(gen_stats[name]), list(real_stats[name])
        if len(g) != len(r):
            raise ValueError(f"{name}: generated has {len(g)} bins, real {len(r)}")
        gs, rs = sum(g), sum(r)
        if gs == 0 or rs == 0:
            out[f"{name}_kl"] = out[f"{name}_overlap"] = math.nan
            continue
        p, q = _smoothed(r, eps), _smoothed(g, eps)
        out[f"{name}_kl"] = float(np.sum(p * np.log(p / q)))
        # exact when the counts are integers: min(a/A, b/B) = min(a*B, b*A) / (A*B)
        out[f"{name}_overlap"] = sum(min(a * rs, b * gs) for a, b in zip(g, r)) / (gs * rs)
    for name in SCALARS:
        out[f"{name}_abs_diff"] = abs(float(gen_stats[name]) - float(real_stats[name]))
    return out


# --------------------------------------------------------------------------- nottingham playability

_SECTION_END = ("final", "light-heavy", "light-light", "heavy-heavy", "double")


def _declared_meters(text: str) -> set[str]:
    """Meters an ABC text declares (M: lines, inline ``[M:...]``) as music21 ratio strings."""
    out = set()
    for value in re.findall(r"(?:^|\[)M:\s*([^\]\n%]*)", text, flags=re.M):
        value = value.strip().replace(" ", "")
        out.add({"C": "4/4", "C|": "2/2"}.get(value, value))
    return out


def check_abc_bars(text: str) -> dict[str, Any]:
    """Whether one ABC tune parses, and whether its bars fit its meter.

    Bar rule: every bar's content must last exactly the bar length of the
    meter in force (M:, from music21's time signature; changes mid-tune are
    followed), except that a bar may be *shorter* when it is the first bar (a
    pickup), the last bar, ends a section (a repeat sign ``:|`` or a double or
    final bar line) or directly follows a section end (the next section's
    pickup), because folk tunes split a bar between a section's pickup and its
    last bar. A longer bar always fails; a tune with no meter
    fails (``reason`` ``no_meter``). music21 cuts a bar longer than its meter
    into a full bar and a remainder under a meter the tune never declares;
    such a made-up meter marks the bar before it as too long.

    Returns:
        ``{"parses": bool, "bars_ok": bool, "reason": str, "bars": int}``:
        ``reason`` is ``""`` when both hold, else ``parse_error``/``empty``
        (music21), ``no_bars``, ``no_meter``, ``bar <i> lasts <x> of <y> beats`` or
        ``bar <i> is longer than M: <meter>``.
    """
    from music21 import bar as m21bar
    from music21 import stream

    try:
        score = abc_chars.to_stream(text)
    except MusicInputError as exc:
        return {"parses": False, "bars_ok": False, "reason": exc.reason, "bars": 0}
    declared = _declared_meters(text)
    parts = list(score.parts) or [score]
    for part in parts:
        measures = list(part.getElementsByClass(stream.Measure))
        if not measures:
            return {"parses": True, "bars_ok": False, "reason": "no_bars", "bars": 0}
        ts = part.recurse().getElementsByClass("TimeSignature").first()
        after_section_end = True  # the first bar may be a pickup
        for i, m in enumerate(measures):
            if m.timeSignature is not None:
                if m.timeSignature.ratioString not in declared:
                    # music21 cuts a bar longer than the meter into a full bar and
                    # a remainder it gives a made-up meter: the bar before was too long
                    return {
                        "parses": True,
                        "bars_ok": False,
                        "bars": len(measures),
                        "reason": f"bar {i - 1} is longer than M: {ts.ratioString if ts else '?'}",
                    }
                ts = m.timeSignature
            if ts is None:
                return {
                    "parses": True,
                    "bars_ok": False,
                    "reason": "no_meter",
                    "bars": len(measures),
                }
            expected = Fraction(ts.barDuration.quarterLength)
            actual = Fraction(m.duration.quarterLength)
            right = m.rightBarline
            section_end = isinstance(right, m21bar.Repeat) or (
                right is not None and right.type in _SECTION_END
            )
            may_be_short = after_section_end or section_end or i == len(measures) - 1
            if actual > expected or (actual < expected and not may_be_short):
                return {
                    "parses": True,
                    "bars_ok": False,
                    "bars": len(measures),
                    "reason": f"bar {i} lasts {float(actual):g} of {float(expected):g} beats",
                }
            after_section_end = section_end
    return {"parses": True, "bars_ok": True, "reason": "", "bars": len(measures)}


def abc_playability(tunes: Iterable[Sequence[str] | str]) -> dict[str, Any]:
    """Reitman & Cho's "playable" over a set of generated nottingham tunes.

    Args:
        tunes: each a symbol list (decoded with `abc_chars.decode_text`) or ABC text.

    Returns:
        ``n``, ``parse_rate`` (share music21 parses as ABC with notes),
        ``bar_rate`` (share that also passes :func:`check_abc_bars`'s bar rule;
        both over all ``n`` tunes, NaN when ``n`` is 0) and ``reasons`` (a
        count per failure reason, bar-length failures pooled as ``bar_length``).
    """
    results = []
    for tune in tqdm(list(tunes), desc="playability", unit="tune", leave=False):
        text = tune if isinstance(tune, str) else abc_chars.decode_text(tune)
        results.append(check_abc_bars(text))
    n = len(results)
    reasons = Counter(
        "bar_length" if r["reason"].startswith("bar ") else r["reason"]
        for r in results
        if r["reason"]
    )
    return {
        "n": n,
        "parse_rate": sum(r["parses"] for r in results) / n if n else math.nan,
        "bar_rate": sum(r["bars_ok"] for r in results) / n if n else math.nan,
        "reasons": dict(sorted(reasons.items())),
    }


# --------------------------------------------------------------------------- novelty


class NoveltyIndex:
    """Index of the training pieces for asking how much of a sample is copied.

    Holds a suffix automaton of all training pieces (separated by a marker no
    sample contains, so no match spans two pieces) and the set of their
    ``ngram``-grams. Building it is linear in the training symbols (~300k
    symbols: ~5 s and ~150 MB); each query is linear in the sample.

    Args:
        train_pieces: the training pieces, each a sequence of hashable symbols.
        ngram: the n of :meth:`ngram_share`, >= 1 (default 8).
    """

    def __init__(self, train_pieces: Iterable[Sequence[Hashable]], ngram: int = 8) -> None:
        if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram < 1:
            raise ValueError(f"ngram must be an integer >= 1, got {ngram!r}")
        self.ngram = ngram
        self._codes: dict[Hashable, int] = {}
        self._next: list[dict[int, int]] = [{}]
        self._link: list[int] = [-1]
        self._len: list[int] = [0]
        self._last = 0
        self._grams: set[tuple[int, ...]] = set()
        self.n_symbols = 0
        for piece in train_pieces:
            codes = [self._codes.setdefault(s, len(self._codes)) for s in piece]
            for c in codes:
                self._extend(c)
            self._extend(-1)  # piece separator: never in a sample, so matches stop here
            self._grams.update(zip(*(codes[i:] for i in range(ngram))))
            self.n_symbols += len(codes)

    def _extend(self, c: int) -> None:
        # Blumer et al.'s online construction
        nxt, link, length = self._next, self._link, self._len
        cur = len(length)
        nxt.append({})
        length.append(length[self._last] + 1)
        link.append(0)
        p = self._last
        while p != -1 and c not in nxt[p]:
            nxt[p][c] = cur
            p = link[p]
        if p != -1:
            q = nxt[p][c]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:
                clone = len(length)
                nxt.append(dict(nxt[q]))
                length.append(length[p] + 1)
                link.append(link[q])
                while p != -1 and nxt[p].get(c) == q:
                    nxt[p][c] = clone
                    p = link[p]
                link[q] = link[cur] = clone
        self._last = cur

    def _encode(self, sample: Sequence[Hashable]) -> list[int]:
        return [self._codes.get(s, -2) for s in sample]  # -2: a symbol training never had

    def longest_match(self, sample: Sequence[Hashable]) -> int:
        """Length of the longest run of consecutive symbols of ``sample`` in one training piece."""
        nxt, link, length = self._next, self._link, self._len
        state = run = best = 0
        for c in self._encode(sample):
            while state and c not in nxt[state]:
                state = link[state]
                run = length[state]
            if c in nxt[state]:
                state = nxt[state][c]
                run += 1
                best = max(best, run)
            else:
                state = run = 0
        return best

    def ngram_share(self, sample: Sequence[Hashable]) -> float:
        """Share of the sample's ``ngram``-grams (by position) seen in training; NaN if none."""
        codes = self._encode(sample)
        grams = list(zip(*(codes[i:] for i in range(self.ngram))))
        if not grams:
            return math.nan
        return sum(g in self._grams for g in grams) / len(grams)

    def novelty(self, samples: Iterable[Sequence[Hashable]]) -> dict[str, Any]:
        """Per-sample and summary novelty of a set of samples.

        Returns ``per_sample`` (``length``, ``longest_match``, ``match_share`` =
        longest match / length, ``ngram_share``) and the means
        ``mean_longest_match``, ``max_longest_match``, ``mean_ngram_share`` (over
        samples with at least one n-gram).
        """
        per = []
        for s in samples:
            s = list(s)
            lm = self.longest_match(s)
            per.append(
                {
                    "length": len(s),
                    "longest_match": lm,
                    "match_share": lm / len(s) if s else math.nan,
                    "ngram_share": self.ngram_share(s),
                }
            )
        shares = [p["ngram_share"] for p in per if not math.isnan(p["ngram_share"])]
        return {
            "per_sample": per,
            "mean_longest_match": float(np.mean([p["longest_match"] for p in per]))
            if per
            else math.nan,
            "max_longest_match": max((p["longest_match"] for p in per), default=0),
            f"mean_{self.ngram}gram_share": float(np.mean(shares)) if shares else math.nan,
        }


def _check_track(track: str) -> None:
    if track not in TRACKS:
        raise ValueError(f"track must be one of {', '.join(TRACKS)}, got {track!r}")


__all__ = [
    "HISTOGRAMS",
    "KL_EPSILON",
    "NOTE_LENGTH_EDGES",
    "SCALARS",
    "SCALES",
    "SEED_003_PUBLISHED",
    "KneserNey",
    "NoveltyIndex",
    "abc_playability",
    "check_abc_bars",
    "classical_notes",
    "compare_distributions",
    "essen_notes",
    "evaluate_model",
    "hold_ids",
    "hold_mask",
    "music_stats",
    "ngram_table",
    "nottingham_notes",
    "piece_stats",
    "pieces_to_notes",
    "symbols_to_notes",
]
