"""Model builders: shapes, dtypes, names, config checks, and that every family learns."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tunesmith.config.model import FAMILIES, ModelConfig
from tunesmith.modeling.models import build_model, predicts_every_position

VOCAB = 7
WINDOW = 10


def tiny(family: str, **overrides) -> ModelConfig:
    layers = 1 if family == "lstm" else 2
    kwargs = dict(
        family=family, units=12, layers=layers, dropout=0.1, embedding_dim=6, conv_filters=5
    )
    kwargs.update(overrides)
    return ModelConfig(**kwargs)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.mark.parametrize("embedding_dim", [6, 0], ids=["embedding", "one_hot"])
@pytest.mark.parametrize("family", FAMILIES)
def test_output_shape_and_dtype(family, embedding_dim):
    cfg = tiny(family, embedding_dim=embedding_dim)
    model = build_model(cfg, VOCAB, window=WINDOW)
    ids = np.random.default_rng(0).integers(0, VOCAB, (3, WINDOW)).astype("int32")
    out = model(ids)
    expected = (3, WINDOW, VOCAB) if predicts_every_position(cfg) else (3, VOCAB)
    assert tuple(out.shape) == expected
    assert out.dtype == "float32"
    names = [layer.name for layer in model.layers]
    assert names[1] == ("embedding" if embedding_dim else "one_hot")
    assert names[-1] == "logits"
    assert [n for n in names if n.startswith("dropout_")] == [
        f"dropout_{i}" for i in range(cfg.layers)
    ]


def test_predicts_every_position_only_false_for_bilstm():
    assert {f: predicts_every_position(tiny(f)) for f in FAMILIES} == {
        "lstm": True,
        "stacked_lstm": True,
        "bilstm": False,
        "cnn_lstm": True,
        "simple_rnn": True,
    }


def test_layer_names_are_predictable():
    names = [layer.name for layer in build_model(tiny("stacked_lstm", layers=3), VOCAB).layers]
    assert names == [
        "ids",
        "embedding",
        "lstm_0",
        "dropout_0",
        "lstm_1",
        "dropout_1",
        "lstm_2",
        "dropout_2",
        "logits",
    ]
    names = [layer.name for layer in build_model(tiny("cnn_lstm", layers=1), VOCAB).layers]
    assert names == ["ids", "embedding", "conv_0", "lstm_0", "dropout_0", "logits"]


def test_lstm_layers_are_cudnn_eligible():
    model = build_model(tiny("stacked_lstm"), VOCAB)
    for name in ("lstm_0", "lstm_1"):
        layer = model.get_layer(name)
        assert layer.cell.activation is keras.activations.tanh
        assert layer.cell.recurrent_activation is keras.activations.sigmoid
        assert layer.cell.recurrent_dropout == 0 and layer.cell.dropout == 0
        assert layer.unroll is False and layer.cell.use_bias is True


def test_cnn_lstm_is_causal():
    model = build_model(tiny("cnn_lstm", conv_kernel=4), VOCAB, window=WINDOW)
    ids = np.random.default_rng(1).integers(0, VOCAB, (1, WINDOW)).astype("int32")
    changed = ids.copy()
    changed[0, 6] = (changed[0, 6] + 1) % VOCAB
    a, b = model(ids).numpy(), model(changed).numpy()
    np.testing.assert_array_equal(a[:, :6], b[:, :6])  # the past never sees the future
    assert not np.allclose(a[:, 6:], b[:, 6:])


def test_any_window_length_when_window_is_none():
    model = build_model(tiny("lstm"), VOCAB, window=None)
    assert tuple(model(np.zeros((2, 3), "int32")).shape) == (2, 3, VOCAB)
    assert tuple(model(np.zeros((2, 17), "int32")).shape) == (2, 17, VOCAB)


def test_logits_stay_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(tiny("stacked_lstm", embedding_dim=0), VOCAB, window=WINDOW)
        assert model.get_layer("lstm_0").compute_dtype == "float16"
        assert model(np.zeros((2, WINDOW), "int32")).dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_keras_file_round_trip(tmp_path):
    model = build_model(tiny("cnn_lstm", embedding_dim=0), VOCAB, window=WINDOW)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    ids = np.random.default_rng(2).integers(0, VOCAB, (2, WINDOW)).astype("int32")
    np.testing.assert_allclose(loaded(ids).numpy(), model(ids).numpy(), rtol=1e-6, atol=1e-6)


def _repetitive_windows(family: str):
    """Windows of the sequence 0 1 2 ... 6 0 1 2 ... and their next-token targets."""
    stream = np.arange(40 + WINDOW + 1) % VOCAB
    starts = np.arange(40)
    x = np.stack([stream[s : s + WINDOW] for s in starts]).astype("int32")
    if predicts_every_position(tiny(family)):
        y = np.stack([stream[s + 1 : s + WINDOW + 1] for s in starts]).astype("int32")
    else:
        y = stream[starts + WINDOW].astype("int32")
    return x, y


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_falls_on_a_repetitive_sequence(family):
    model = build_model(tiny(family, dropout=0.0), VOCAB, window=WINDOW)
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = _repetitive_windows(family)
    history = model.fit(x, y, batch_size=10, epochs=6, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0], losses


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("family", "gru", "family must be one of"),
        ("units", 0, "units must be >= 1, got 0"),
        ("units", 2.5, "units must be an integer, got 2.5"),
        ("layers", 5, "layers must be in [1, 4], got 5"),
        ("layers", True, "layers must be an integer, got True"),
        ("dropout", 1.5, "dropout must be in [0, 1), got 1.5"),
        ("dropout", -0.1, "dropout must be in [0, 1), got -0.1"),
        ("embedding_dim", -1, "embedding_dim must be >= 0, got -1"),
        ("conv_filters", 0, "conv_filters must be >= 1, got 0"),
        ("conv_kernel", 0, "conv_kernel must be >= 1, got 0"),
    ],
)
def test_config_rejects_bad_values(field, value, message):
    kwargs = {"family": "stacked_lstm", "layers": 2, field: value}
    with pytest.raises(ValueError) as err:
        ModelConfig(**kwargs)
    assert message in str(err.value)


def test_plain_lstm_has_one_layer():
    with pytest.raises(ValueError, match=r"layers must be 1 for family 'lstm'.*got 3"):
        ModelConfig(family="lstm", layers=3)


def test_build_model_rejects_bad_vocab_and_window():
    with pytest.raises(ValueError, match="vocab_size must be >= 2, got 1"):
        build_model(tiny("lstm"), 1)
    with pytest.raises(ValueError, match="window must be >= 1, got 0"):
        build_model(tiny("lstm"), VOCAB, window=0)
