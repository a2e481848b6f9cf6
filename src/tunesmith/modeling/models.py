"""Model builders: the LSTM family of the four seed systems.

Every model takes integer token ids of shape ``(batch, time)`` (int32) and
returns *logits* (no softmax; train with sparse cross-entropy
``from_logits=True``). The final layer is always float32, so the logits stay
float32 under a ``mixed_float16`` policy.

Families (``ModelConfig.family``):

=================  ======================================  ========================
family             layers                                  output
=================  ======================================  ========================
``lstm``           1 LSTM (Vasudeva: LSTM 256 + dropout)   ``(batch, time, vocab)``
``stacked_lstm``   ``layers`` LSTMs (Vinze et al.: 3-4)        ``(batch, time, vocab)``
``simple_rnn``     ``layers`` SimpleRNNs (Reitman & Cho)        ``(batch, time, vocab)``
``cnn_lstm``       causal Conv1D + ``layers`` LSTMs +      ``(batch, time, vocab)``
                   per-position Dense (Lorinczi & Brailovsky hybrid)
``bilstm``         ``layers`` bidirectional LSTMs          ``(batch, vocab)``
                   (Lorinczi & Brailovsky)
=================  ======================================  ========================

:func:`predicts_every_position` tells the two shapes apart: a causal model
predicts token ``t + 1`` at every position ``t`` (many training targets per
window), while a bidirectional LSTM sees the whole window, so it may only
predict the token after the window.

Layers get predictable names so generation (which steps the recurrent cells
directly) and a hidden-activation heatmap can find them: ``embedding`` (or
``one_hot`` when ``embedding_dim == 0``), ``conv_0``, ``lstm_0`` ...
(``simple_rnn_0`` ..., ``bilstm_0`` ...), ``dropout_0`` ... after each
recurrent layer, and ``logits``.

LSTM settings stay cuDNN-eligible (tanh, sigmoid recurrent activation,
``recurrent_dropout=0``, ``unroll=False``, ``use_bias=True``); dropout is a
separate ``Dropout`` layer between recurrent layers for that reason.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import keras

logger = logging.getLogger(__name__)

FAMILIES = ("lstm", "stacked_lstm", "bilstm", "cnn_lstm", "simple_rnn")
"""Allowed values of ``ModelConfig.family``."""

MAX_LAYERS = 4

# Families whose output at position t depends only on tokens <= t.
_CAUSAL_FAMILIES = frozenset({"lstm", "stacked_lstm", "simple_rnn", "cnn_lstm"})


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    # bool is an int subclass; True as a layer count is a typo, not a value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one model; stored as JSON beside the ``.keras`` file.

    Attributes:
        family: one of :data:`FAMILIES`.
        units: recurrent units per layer (per direction for ``bilstm``), >= 1.
        layers: recurrent layers, 1-4. ``lstm`` is exactly 1 (use
            ``stacked_lstm`` for more); the other families honour it.
        dropout: rate of the ``Dropout`` layer after each recurrent layer, in [0, 1).
        embedding_dim: size of the learned token embedding, >= 0; 0 feeds an
            in-graph one-hot of the ids instead (seeds 000-003 all used one-hot).
        conv_filters: Conv1D filters, >= 1 (``cnn_lstm`` only).
        conv_kernel: Conv1D kernel width, >= 1 (``cnn_lstm`` only).
    """

    family: str = "lstm"
    units: int = 256
    layers: int = 1
    dropout: float = 0.2
    embedding_dim: int = 64
    conv_filters: int = 64
    conv_kernel: int = 3

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        _check_int("units", self.units, 1)
        _check_int("layers", self.layers, 1, MAX_LAYERS)
        if self.family == "lstm" and self.layers != 1:
            raise ValueError(
                "layers must be 1 for family 'lstm' (use 'stacked_lstm' for more), "
                f"got {self.layers!r}"
            )
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, (int, float))
            or not math.isfinite(self.dropout)
            or not 0 <= self.dropout < 1
        ):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        _check_int("embedding_dim", self.embedding_dim, 0)
        _check_int("conv_filters", self.conv_filters, 1)
        _check_int("conv_kernel", self.conv_kernel, 1)


def predicts_every_position(cfg: ModelConfig) -> bool:
    """True if the model outputs ``(batch, time, vocab)``, one prediction per position.

    False only for ``bilstm``, whose output is ``(batch, vocab)``: the logits
    of the token after the window.
    """
    return cfg.family in _CAUSAL_FAMILIES


def recurrent_layer_names(cfg: ModelConfig) -> list[str]:
    """Names of the recurrent layers of a model built from ``cfg``, input side first."""
    prefix = {"simple_rnn": "simple_rnn", "bilstm": "bilstm"}.get(cfg.family, "lstm")
    return [f"{prefix}_{i}" for i in range(cfg.layers)]


@keras.saving.register_keras_serializable(package="tunesmith")
class OneHot(keras.layers.Layer):
    """Integer ids ``(...)`` -> one-hot ``(..., num_classes)`` in the compute dtype.

    Done inside the graph, per batch, so no one-hot copy of a corpus ever exists.
    """

    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def call(self, ids):
        return keras.ops.one_hot(
            keras.ops.cast(ids, "int32"), self.num_classes, dtype=self.compute_dtype
        )

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.num_classes)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}


def _lstm(cfg: ModelConfig, name: str, *, return_sequences: bool, stateful: bool = False) -> keras.layers.LSTM:
    # Explicit cuDNN-eligible settings: changing any of them silently falls
    # back to the generic kernel, several times slower on a GPU.
    return keras.layers.LSTM(
        cfg.units,
        activation="tanh",
        recurrent_activation="sigmoid",
        recurrent_dropout=0.0,
        unroll=False,
        use_bias=True,
        return_sequences=return_sequences,
        stateful=stateful,
        name=name,
    )


def build_model(
    cfg: ModelConfig,
    vocab_size: int,
    *,
    window: int | None = None,
    batch_size: int | None = None,
    stateful: bool = False,
) -> keras.Model:
    """Build (uncompiled) the model described by ``cfg``.

    Args:
        cfg: the architecture.
        vocab_size: number of symbols, >= 2; the logits have this last dimension.
        window: fixed input length, or None for any length (the causal families
            then also accept single steps and whole pieces).
        batch_size: fixed batch size, or None for any; required with ``stateful``.
        stateful: recurrent layers keep their final state as the next call's
            initial state (carried-state training, `dataset.carried_chunks`),
            until ``reset_state()``; causal families only. The weights are the
            same as the stateless model's, in the same order (``get_weights``).

    Returns:
        A functional ``keras.Model`` named after the family, input int32
        ``(batch, window)``, output float32 logits ``(batch, window, vocab_size)``
        or, for ``bilstm``, ``(batch, vocab_size)``.
    """
    _check_int("vocab_size", vocab_size, 2)
    if window is not None:
        _check_int("window", window, 1)
    if stateful:
        if cfg.family not in _CAUSAL_FAMILIES:
            raise ValueError(f"family {cfg.family!r} cannot carry state: it is not causal")
        _check_int("batch_size", batch_size, 1)

    ids = keras.Input(shape=(window,), batch_size=batch_size, dtype="int32", name="ids")
    if cfg.embedding_dim > 0:
        x = keras.layers.Embedding(vocab_size, cfg.embedding_dim, name="embedding")(ids)
    else:
        x = OneHot(vocab_size, name="one_hot")(ids)

    if cfg.family == "cnn_lstm":
        # causal padding: position t sees only tokens <= t, so every position
        # is a valid next-token prediction and stepping stays well defined
        x = keras.layers.Conv1D(
            cfg.conv_filters, cfg.conv_kernel, padding="causal", activation="relu", name="conv_0"
        )(x)

    names = recurrent_layer_names(cfg)
    for i, name in enumerate(names):
        last = i == len(names) - 1
        if cfg.family == "simple_rnn":
            x = keras.layers.SimpleRNN(cfg.units, return_sequences=True, stateful=stateful, name=name)(x)
        elif cfg.family == "bilstm":
            # only the last layer collapses the window to one vector
            inner = _lstm(cfg, f"{name}_inner", return_sequences=not last)
            x = keras.layers.Bidirectional(inner, name=name)(x)
        else:
            x = _lstm(cfg, name, return_sequences=True, stateful=stateful)(x)
        x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)

    # float32 logits keep the softmax / loss stable under mixed precision
    # Dense on (batch, time, units) acts on the last axis at every position:
    # the TimeDistributed(Dense) of Lorinczi & Brailovsky's hybrid without the wrapper,
    # whose per-timestep loop fails on 1-token inputs in a traced graph.
    logits = keras.layers.Dense(vocab_size, dtype="float32", name="logits")(x)
    model = keras.Model(ids, logits, name=cfg.family)
    logger.debug("built %s: %d parameters", cfg.family, model.count_params())
    return model


def any_length_model(model, model_cfg, vocab_size: int):
    """The same causal model accepting any input length (weights copied).

    A model trained on fixed windows has a fixed input length; the recurrent
    weights do not depend on it, so a copy built for ``window=None`` runs over
    whole pieces.

    Raises:
        ValueError: the family is not causal (``bilstm`` sees the future).
    """
    from tunesmith.modeling.models import build_model, predicts_every_position

    if not predicts_every_position(model_cfg):
        raise ValueError(f"family {model_cfg.family!r} is not causal: it cannot be scored over whole pieces")
    if model.input_shape[1] is None:
        return model
    copy = build_model(model_cfg, vocab_size, window=None)
    copy.set_weights(model.get_weights())
    return copy


