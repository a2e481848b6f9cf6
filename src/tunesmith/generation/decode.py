"""Decoding: a stepper and a sampler -> new token ids, and primers parsed into symbols."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence

import keras
import numpy as np
from tqdm.auto import tqdm

from tunesmith.config.model import ModelConfig
from tunesmith.generation.constraints import Both, Cycle, FrameRules
from tunesmith.generation.steppers import PRIMER_MODES, make_stepper

logger = logging.getLogger(__name__)


def generate(
    model: keras.Model,
    cfg: ModelConfig,
    symbols: list[str],
    *,
    primer_ids: Sequence[int],
    num_samples: int,
    max_length: int,
    sampler: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    seed: int,
    end_id: int,
    window: int,
    cache=None,
    max_units: int | Sequence[int] = 0,
    unit_id: int | Sequence[int] | None = None,
    min_units: int | Sequence[int] = 0,
    form=None,
    reuse: dict | None = None,
    cycle: Sequence[int] | None = None,
    rules: tuple[Sequence[int], np.ndarray, np.ndarray] | None = None,
) -> list[list[int]]:
    """Generate ``num_samples`` continuations of ``primer_ids`` as one batch.

    Args:
        model, cfg: a model built by :func:`tunesmith.modeling.models.build_model` from ``cfg``.
        symbols: the vocabulary; ``len(symbols)`` must match the model's logits.
        primer_ids: context fed before sampling, at least one id (:func:`parse_primer`'s output
            starts with the end token); ``num_samples`` lists of one length: one per sample.
        num_samples: sequences generated together, >= 1.
        max_length: new tokens per sample at most, >= 1.
        sampler: ``sampler(logits (B, V), rng) -> ids (B,)``, e.g. from
            :func:`tunesmith.config.sampling.make_sampler`.
        seed: seeds the ``numpy`` generator; same model, primer, sampler, ``num_samples`` and seed
            give the same output.
        end_id: id of the end token; a sample that emits it is finished.
        window: context length of the window-stepped families (the training window).
        cache: a fitted :class:`tunesmith.modeling.cache.Cache` (``cache.json``): sample from the
            LSTM mixed with a cache over the sample so far; None or ``lam == 0``: the LSTM alone.
        max_units, unit_id: a sample also stops after ``max_units`` time units of new
            music (0: no limit), one unit per ``unit_id`` token (an id, or ids that each close a unit),
            or per token when ``unit_id`` is None (`tunesmith.tracks.Track.bar_unit` gives bars);
            one number for every sample, or one per sample.
        min_units: a sample may not end (its end token is masked) before this many units (one
            number, or one per sample).
        form: a :class:`tunesmith.generation.form_plan.FormControl` (one bar reader a sample).
        reuse: a dict the caller keeps between calls with the same model, ``window``, ``end_id``
            and ``cache``: the stepper made by the first is kept there and reset by the next to
            ``num_samples`` empty rows (its graphs traced once, not once a call); None: a new one.
        cycle: ids that must come in this order, round and round (:class:`Cycle`), or None.
        rules: a frame representation's grammar, ``(frame_end_ids, pitch_of, held)`` (:class:`FrameRules`),
            or None.

    Returns:
        ``num_samples`` lists of new token ids (the primer is not repeated): a finished sample ends
        with ``end_id``; an unfinished one has ``max_length`` ids.
    """
    primer = _checked_primer(model, len(symbols), primer_ids, num_samples, max_length, end_id)
    stepper = _stepper(reuse, model, cfg, num_samples, window=window, pad_id=end_id, cache=cache)
    rng = np.random.default_rng(seed)
    rows = (primer if primer.ndim == 2 else np.tile(primer, (num_samples, 1))).astype(np.int32)
    logits = stepper.prime(rows)
    order = Cycle(cycle, len(symbols), rows) if cycle is not None and len(cycle) else None
    if rules is not None:
        order = Both(order, FrameRules(*rules, rows))
    max_units, min_units = (np.broadcast_to(np.asarray(limit, dtype=np.int64), (num_samples,))
                            for limit in (max_units, min_units))  # one a sample
    if form is not None:
        return _generate_with_form(stepper, logits, form, num_samples, max_length, sampler, rng, end_id,
                                   (max_units, unit_id, min_units), order)
    return _generate_plain(stepper, logits, num_samples, max_length, sampler, rng, end_id,
                           (max_units, unit_id, min_units), order)


def _generate_plain(stepper, logits: np.ndarray, num_samples: int, max_length: int, sampler,
                    rng: np.random.Generator, end_id: int, limits: tuple, order) -> list[list[int]]:
    """:func:`generate`'s loop without a form plan: one token a step for every row."""
    max_units, unit_id, min_units = limits
    out = np.full((num_samples, max_length), end_id, dtype=np.int64)
    lengths = np.full(num_samples, max_length, dtype=np.int64)
    finished = np.zeros(num_samples, dtype=bool)
    units = np.zeros(num_samples, dtype=np.int64)
    for t in tqdm(range(max_length), desc="generate", unit="tok", leave=False):
        if min_units.any():
            logits = np.array(logits, copy=True)
            logits[units < min_units, end_id] = -np.inf  # too short to end yet
        if order is not None:
            logits = order.mask(logits)
        ids = np.asarray(sampler(logits, rng), dtype=np.int64)
        # finished rows keep being stepped (the batch stays rectangular); their
        # tokens are discarded by the lengths below
        ids = np.where(finished, end_id, ids)
        if order is not None:
            order.feed(ids)
        out[:, t] = ids
        units += 1 if unit_id is None else np.isin(ids, unit_id)
        newly = ~finished & ((ids == end_id) | ((max_units > 0) & (units >= max_units)))
        lengths[newly] = t + 1
        finished |= newly
        if finished.all():
            break
        logits = stepper.step(ids)
    logger.info("generated %d samples: %d finished, mean length %.1f", num_samples, int(finished.sum()),
                lengths.mean())
    return [out[i, : lengths[i]].tolist() for i in range(num_samples)]


def _stepper(reuse: dict | None, model, cfg: ModelConfig, num_samples: int, **kwargs):
    """:func:`make_stepper`, or the one an earlier call kept in ``reuse``, reset to ``num_samples`` rows."""
    stepper = reuse.get("stepper") if reuse is not None else None
    if stepper is None:
        stepper = make_stepper(model, cfg, num_samples, **kwargs)
        if reuse is not None:
            reuse["stepper"] = stepper
    else:
        stepper.reset(num_samples)
    return stepper


class _UnitCounts:
    """The units (bar lines, frame ends) in each row of :func:`_generate_with_form`, each symbol counted
    once: a count sums over the whole row, so counting afresh every step cost O(length^2), most of
    a classical generate stage (84 million symbol tests for 8 samples and their pool).

    A row changes in two ways only: the loop appends one symbol a step, and a bar drawn again cuts the
    row back to where the bar began (``del out[i][n:]`` in `FormControl.after`); the loop counts
    every row at the start of every step, before its next symbol. So a row shorter than what was
    counted was cut, and the counts of its first symbols still hold."""

    def __init__(self, unit_ids: list[int] | None, rows: int) -> None:
        self.ids = None if unit_ids is None else frozenset(unit_ids)
        self.counts: list[list[int]] = [[0] for _ in range(rows)]  # counts[i][k]: units in row i[:k]

    def units(self, i: int, row: list[int]) -> int:
        if self.ids is None:
            return len(row)
        counted = self.counts[i]
        del counted[len(row) + 1:]  # the row was cut back
        for symbol in row[len(counted) - 1:]:
            counted.append(counted[-1] + (symbol in self.ids))
        return counted[-1]


MAX_STEPS_PER_TOKEN = 4
"""With a form plan, redrawn bars cost steps: a batch stops after this many steps per token."""


def _generate_with_form(stepper, logits: np.ndarray, form, num_samples: int, max_length: int, sampler,
                        rng: np.random.Generator, end_id: int, limits: tuple, order=None) -> list[list[int]]:
    """:func:`generate`'s loop with a :class:`~tunesmith.generation.form_plan.FormControl`: bars that
    break the form are drawn again, earlier bars repeat, the end comes where the form allows it. Each
    sample keeps its own list, which a redrawn bar shortens (so the loop counts steps, not tokens)."""
    max_units, unit_id, min_units = limits
    if not hasattr(stepper, "row_states"):
        raise ValueError("a form plan needs a recurrent model stepped without the cache "
                         "(lstm, stacked_lstm or simple_rnn; generate.<c>.cache: false)")
    out: list[list[int]] = [[] for _ in range(num_samples)]
    finished = np.zeros(num_samples, dtype=bool)
    form.start(stepper, logits)

    counts = _UnitCounts(None if unit_id is None else np.atleast_1d(unit_id).tolist(), num_samples)
    units = counts.units

    steps = 0
    limited = bool(max_units.any() or min_units.any())
    with tqdm(total=max_length, desc="generate", unit="tok", leave=False) as bar:
        while not finished.all() and steps < MAX_STEPS_PER_TOKEN * max_length:
            steps += 1
            active = ~finished
            counted = np.array([units(i, row) for i, row in enumerate(out)]) if limited else None
            room = np.where(max_units > 0, max_units - counted, 1 << 30) if max_units.any() else None
            short = counted < min_units if min_units.any() else None
            logits = form.mask(logits, active, room, short)
            if short is not None:
                logits[short, end_id] = -np.inf  # too short to end yet
            if order is not None:
                logits = order.mask(logits)
            ids = form.forced(np.asarray(sampler(logits, rng), dtype=np.int64), active)
            ids = np.where(finished, end_id, ids)
            for i in np.flatnonzero(active):
                out[i].append(int(ids[i]))
            logits = form.after(ids, out, stepper, stepper.step(ids), active)
            if order is not None:
                order.resync(out)  # a bar drawn again took its tokens back
            for i in np.flatnonzero(active):
                row = out[i]
                if row and (row[-1] == end_id or len(row) >= max_length
                            or (max_units[i] and units(i, row) >= max_units[i])):
                    finished[i] = True
            bar.update(max(len(row) for row in out) - bar.n)
    logger.info("generated %d samples with a form plan: %d finished in %d steps, mean length %.1f; %s",
                num_samples, int(finished.sum()), steps, float(np.mean([len(r) for r in out])), form.summary())
    return out


def _checked_primer(model, vocab_size: int, primer_ids: Sequence[int], num_samples: int, max_length: int,
                    end_id: int) -> np.ndarray:
    """The primer as an int64 array; ValueError naming the first bad argument of :func:`generate`."""
    if model.output_shape[-1] != vocab_size:
        raise ValueError(
            f"the model predicts {model.output_shape[-1]} symbols, the vocabulary has {vocab_size}"
        )
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if not 0 <= end_id < vocab_size:
        raise ValueError(f"end_id must be in [0, {vocab_size}), got {end_id}")
    try:
        primer = np.asarray([list(row) for row in primer_ids] if primer_ids and not np.isscalar(primer_ids[0])
                            else list(primer_ids), dtype=np.int64)
    except ValueError:
        raise ValueError("primer_ids: one primer per sample must all have the same length") from None
    if primer.ndim == 2 and primer.shape[0] != num_samples:
        raise ValueError(f"primer_ids holds {primer.shape[0]} primers for {num_samples} samples")
    if primer.size == 0:
        raise ValueError("primer_ids must hold at least one id (the end token as start symbol)")
    if primer.min() < 0 or primer.max() >= vocab_size:
        bad = int(primer[(primer < 0) | (primer >= vocab_size)][0])
        raise ValueError(f"primer id {bad} is outside the vocabulary [0, {vocab_size})")
    return primer


def _default_end_symbol(symbols: Sequence[str]) -> str:
    # "<end>" first: nottingham's ABC characters include "/" as a duration
    for candidate in ("<end>", "/"):
        if candidate in symbols:
            return candidate
    raise ValueError("the vocabulary has neither '<end>' nor '/'; pass end_symbol")


def parse_primer(
    text: str, symbols: Sequence[str], *, mode: str, end_symbol: str | None = None
) -> list[int]:
    """Turn a primer into token ids, returning ``[end_id] + primer``.

    The end token comes first because in the training data every piece
    follows an end token: it is the start-of-piece context.

    Args:
        text: the primer; ignored for mode ``start``.
        symbols: the vocabulary (``vocab.json["symbols"]``).
        mode: ``start`` (just the end token), ``symbols`` (whitespace-separated
            symbols, e.g. Vasudeva's ``"60 _ _ _ 62 _ r _"``) or ``chars``
            (every character a symbol, e.g. an ABC header ``"X:1\\nM:6/8\\nK:D\\n"``).
        end_symbol: the end token (``vocab.json["special"]["end"]``); default
            ``"<end>"`` if in the vocabulary, else ``"/"``.

    Raises:
        ValueError: unknown mode, or a primer symbol not in the vocabulary
            (the message names it and the nearest valid symbols).
    """
    if mode not in PRIMER_MODES:
        raise ValueError(f"primer mode must be one of {', '.join(PRIMER_MODES)}, got {mode!r}")
    index = {s: i for i, s in enumerate(symbols)}
    end_symbol = end_symbol if end_symbol is not None else _default_end_symbol(symbols)
    if end_symbol not in index:
        raise ValueError(f"end symbol {end_symbol!r} is not in the vocabulary")
    if mode == "start":
        tokens: list[str] = []
    elif mode == "symbols":
        tokens = text.split()
    else:
        tokens = list(text)
    ids = [index[end_symbol]]
    for position, token in enumerate(tokens):
        if token not in index:
            near = difflib.get_close_matches(token, list(index), n=3, cutoff=0.5)
            # difflib scores single characters 0 unless equal; a case slip is the usual one
            if token.swapcase() in index and token.swapcase() not in near:
                near.insert(0, token.swapcase())
            hint = (
                f"nearest valid symbols: {', '.join(map(repr, near))}"
                if near
                else "no close valid symbol"
            )
            raise ValueError(
                f"primer symbol {token!r} (position {position}) is not in the vocabulary; {hint}"
            )
        ids.append(index[token])
    return ids
