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

import keras

from tunesmith.config.checks import check_int
from tunesmith.config.model import ModelConfig

logger = logging.getLogger(__name__)

# Families whose output at position t depends only on tokens <= t.
_CAUSAL_FAMILIES = frozenset({"lstm", "stacked_lstm", "simple_rnn", "cnn_lstm"})


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
    check_int("vocab_size", vocab_size, 2)
    if window is not None:
        check_int("window", window, 1)
    if stateful:
        if cfg.family not in _CAUSAL_FAMILIES:
            raise ValueError(f"family {cfg.family!r} cannot carry state: it is not causal")
        check_int("batch_size", batch_size, 1)

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


