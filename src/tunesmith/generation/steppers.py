"""Batched, stateful generation with primers.

Vasudeva generated one melody at a time and, for every new token, re-ran
``model.predict`` on the one-hot encoding of the whole last window: O(window)
work and a full Keras predict call per token. Here a *stepper* feeds one token
per call to the recurrent cells of the trained model and carries their states,
so a token costs one cell update, and ``num_samples`` pieces are generated
together as one batch (see ``bench/bench_generation.py`` for the speed-up).

Steppers (:func:`make_stepper`):

* :class:`RecurrentStepper` for ``lstm``, ``stacked_lstm`` and ``simple_rnn``:
  calls the model's own embedding, recurrent cells and logits layers (found by
  name, so no weights are copied) inside one ``tf.function`` with a fixed
  input signature, called through its concrete function; the states live in
  ``tf.Variable`` s updated in place. As in char-RNN sampling, the state runs
  over the whole piece; Vasudeva instead cut the context to the last window.
  The model was trained from a zero state on windows, so pieces much longer
  than the window take the state beyond what training saw.
* :class:`WindowStepper` for ``cnn_lstm`` and ``bilstm``: re-runs the whole
  model on the last ``window`` tokens for every token. ``bilstm`` cannot be
  stepped: its backward direction reads the window from its end, so each new
  token changes every backward state. ``cnn_lstm`` could be stepped (a buffer
  of the last ``conv_kernel`` inputs in front of the cells) but is not yet,
  to keep one stepping path; it pays a window re-run per token instead.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tunesmith.config.model import ModelConfig
from tunesmith.modeling.models import predicts_every_position, recurrent_layer_names

logger = logging.getLogger(__name__)

PRIMER_MODES = ("start", "symbols", "chars")
"""Allowed ``mode`` values of :func:`parse_primer`."""

PRIME_CHUNK = 512
"""Primer tokens per call of :meth:`RecurrentStepper.prime`: bounds its activations at
``batch x PRIME_CHUNK x units`` floats whatever the primer's length."""

STEPPABLE_FAMILIES = frozenset({"lstm", "stacked_lstm", "simple_rnn"})
"""Families that :func:`make_stepper` steps one token at a time through their cells."""


class Stepper:
    """Next-token logits for a batch of sequences fed one token at a time.

    ``reset(batch_size)`` starts ``batch_size`` empty sequences; ``step(ids)``
    appends ``ids`` (int ``(batch,)``) and returns the float32 logits
    ``(batch, vocab)`` of the token after them; ``prime(ids)`` appends a
    ``(batch, time)`` block and returns the logits after its last token.
    """

    batch_size: int

    def reset(self, batch_size: int) -> None:
        raise NotImplementedError

    def step(self, ids: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def prime(self, ids: np.ndarray) -> np.ndarray:
        ids = self._check_block(ids)
        logits = None
        for t in range(ids.shape[1]):
            logits = self.step(ids[:, t])
        return logits

    def _check_ids(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.shape != (self.batch_size,):
            raise ValueError(f"step ids must have shape ({self.batch_size},), got {ids.shape}")
        return ids.astype(np.int32, copy=False)

    def _check_block(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[0] != self.batch_size or ids.shape[1] == 0:
            raise ValueError(
                f"primer ids must have shape ({self.batch_size}, time >= 1), got {ids.shape}"
            )
        return ids.astype(np.int32, copy=False)


def _input_layer(model: keras.Model, cfg: ModelConfig) -> keras.layers.Layer:
    return model.get_layer("embedding" if cfg.embedding_dim > 0 else "one_hot")


class RecurrentStepper(Stepper):
    """One cell update per token, states kept in ``tf.Variable`` s (see module docstring)."""

    def __init__(self, model: keras.Model, cfg: ModelConfig, batch_size: int) -> None:
        if cfg.family not in STEPPABLE_FAMILIES:
            raise ValueError(f"family {cfg.family!r} cannot be stepped; use WindowStepper")
        self._input = _input_layer(model, cfg)
        self._cells = [model.get_layer(name).cell for name in recurrent_layer_names(cfg)]
        self._logits = model.get_layer("logits")
        self._states: list[list[tf.Variable]] = []
        for cell in self._cells:
            sizes = (
                cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
            )
            # batch dimension left open so reset() can change it without retracing
            self._states.append(
                [
                    tf.Variable(
                        tf.zeros((batch_size, size), dtype=cell.compute_dtype),
                        shape=tf.TensorShape([None, size]),
                        trainable=False,
                    )
                    for size in sizes
                ]
            )
        self.batch_size = batch_size
        # Calling the concrete function skips tf.function's per-call signature
        # matching, about half of a small model's step time on a CPU.
        self._step_fn = tf.function(
            self._step_graph, input_signature=[tf.TensorSpec([None], tf.int32)]
        ).get_concrete_function()
        # A primer runs through each layer's own cell as one sequence, chunk by chunk, from and
        # into the same state variables: 40,000 primer symbols are a few calls, not 40,000 steps.
        self._rnns = [keras.layers.RNN(cell, return_sequences=True, return_state=True) for cell in self._cells]
        self._block_fn = tf.function(
            self._block_graph, input_signature=[tf.TensorSpec([None, None], tf.int32)]
        ).get_concrete_function()

    def reset(self, batch_size: int) -> None:
        for states in self._states:
            for var in states:
                var.assign(tf.zeros((batch_size, var.shape[1]), dtype=var.dtype))
        self.batch_size = batch_size

    def row_states(self) -> list[np.ndarray]:
        """Every state variable's value, ``(batch, size)`` each, in a fixed order."""
        return [var.numpy() for states in self._states for var in states]

    def set_row_states(self, rows: list[int], values: list[list[np.ndarray]]) -> None:
        """Set rows ``rows`` of every state variable to ``values[k]`` (one array per variable, as
        :meth:`row_states` orders them): a sample goes back to an earlier state, the rest stay."""
        full = self.row_states()
        for k, row in enumerate(rows):
            for var_value, value in zip(full, values[k], strict=True):
                var_value[row] = value
        for var, value in zip((v for states in self._states for v in states), full):
            var.assign(value)

    def _step_graph(self, ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = self._input(ids)
        for cell, state_vars in zip(self._cells, self._states):
            x, new_states = cell(x, [v.read_value() for v in state_vars], training=False)
            if not isinstance(new_states, (list, tuple)):
                new_states = [new_states]
            for var, new in zip(state_vars, new_states):
                var.assign(tf.cast(new, var.dtype))
        return tf.cast(self._logits(x), tf.float32), tf.cast(x, tf.float32)

    def step(self, ids: np.ndarray) -> np.ndarray:
        logits, hidden = self._step_fn(tf.constant(self._check_ids(ids)))
        self.last_hidden = hidden.numpy()  # the last recurrent layer's output, (batch, units)
        return logits.numpy()

    def _block_graph(self, ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = self._input(ids)
        for rnn, state_vars in zip(self._rnns, self._states):
            x, *new_states = rnn(x, initial_state=[v.read_value() for v in state_vars], training=False)
            for var, new in zip(state_vars, new_states):
                var.assign(tf.cast(new, var.dtype))
        last = x[:, -1]
        return tf.cast(self._logits(last), tf.float32), tf.cast(last, tf.float32)

    def prime(self, ids: np.ndarray) -> np.ndarray:
        """Feed a ``(batch, time)`` block in chunks of :data:`PRIME_CHUNK` tokens (a bar shows
        progress on long primers); returns the logits after its last token, as stepping would."""
        ids = self._check_block(ids)
        chunks = range(0, ids.shape[1], PRIME_CHUNK)
        for start in tqdm(chunks, desc="primer", unit="chunk", leave=False, disable=len(chunks) < 8):
            logits, hidden = self._block_fn(tf.constant(ids[:, start:start + PRIME_CHUNK]))
        self.last_hidden = hidden.numpy()
        return logits.numpy()


class WindowStepper(Stepper):
    """Re-runs the whole model on the last ``window`` tokens per step (see module docstring).

    While fewer than ``window`` tokens have been fed, a model built for any
    length sees just those tokens; a model built for a fixed length sees them
    left-padded with ``pad_id`` (use the end token: training windows that
    start a piece are preceded by one).
    """

    def __init__(
        self, model: keras.Model, cfg: ModelConfig, batch_size: int, *, window: int, pad_id: int = 0
    ) -> None:
        fixed = model.input_shape[1]
        if fixed is not None and fixed != window:
            raise ValueError(f"window must equal the model's input length {fixed}, got {window}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._window = window
        self._fixed = fixed
        self._pad_id = pad_id
        self._every_position = predicts_every_position(cfg)
        self._fn = tf.function(
            lambda ids: model(ids, training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
        ).get_concrete_function()
        self.reset(batch_size)

    def reset(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._history = np.zeros((batch_size, 0), dtype=np.int32)

    def _run(self) -> np.ndarray:
        ids = self._history[:, -self._window :]
        if self._fixed is not None and ids.shape[1] < self._fixed:
            pad = np.full(
                (self.batch_size, self._fixed - ids.shape[1]), self._pad_id, dtype=np.int32
            )
            ids = np.concatenate([pad, ids], axis=1)
        out = self._fn(tf.constant(ids)).numpy()
        return out[:, -1] if self._every_position else out

    def step(self, ids: np.ndarray) -> np.ndarray:
        ids = self._check_ids(ids)
        self._history = np.concatenate([self._history, ids[:, None]], axis=1)[:, -self._window :]
        return self._run()

    def prime(self, ids: np.ndarray) -> np.ndarray:
        ids = self._check_block(ids)
        self._history = np.concatenate([self._history, ids], axis=1)[:, -self._window :]
        return self._run()


def make_stepper(
    model: keras.Model,
    cfg: ModelConfig,
    batch_size: int,
    *,
    window: int | None = None,
    pad_id: int = 0,
    cache=None,
) -> Stepper:
    """A :class:`Stepper` for ``model`` (built from ``cfg``) with ``batch_size`` rows.

    ``lstm``, ``stacked_lstm``, ``simple_rnn``: a :class:`RecurrentStepper`
    (``window`` and ``pad_id`` unused), wrapped in a
    :class:`tunesmith.modeling.cache.CachedStepper` when ``cache`` is on.
    ``cnn_lstm``, ``bilstm``: a :class:`WindowStepper` over the last ``window``
    tokens (default: the model's input length, required if that is open); they
    have no cache (it is fitted for full-context models only).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if cfg.family in STEPPABLE_FAMILIES:
        stepper = RecurrentStepper(model, cfg, batch_size)
        if cache is not None and cache.on:
            from tunesmith.modeling.cache import CachedStepper

            return CachedStepper(stepper, cache)
        return stepper
    window = window if window is not None else model.input_shape[1]
    if window is None:
        raise ValueError(
            f"family {cfg.family!r} needs a window: the model accepts any input length"
        )
    return WindowStepper(model, cfg, batch_size, window=window, pad_id=pad_id)


