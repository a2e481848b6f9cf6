"""Carried-state training data and models, full-context evaluation, the best n-gram order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesmith.data.pieces import piece_spans
from tunesmith.data.windows import carried_chunks, make_carried_batches

END = 0


def split_array(pieces: list[list[int]]) -> np.ndarray:
    flat = [END]
    for p in pieces:
        flat += [*p, END]
    return np.array(flat, dtype=np.uint16)


# pieces of very different lengths, each token naming its piece (10 * piece + 1..9) so a
# stream shows which piece every token came from
PIECES = [[10 * k + 1 + (i % 9) for i in range(3 + 7 * (k % 5))] for k in range(11)]
IDS = split_array([[t % 200 for t in p] for p in PIECES])


def test_each_row_streams_whole_pieces_contiguously_and_resets_exactly_at_their_starts():
    c = carried_chunks(IDS, END, window=8, batch_size=3, seed=5)
    spans = piece_spans(IDS, END)
    assert c.x.shape == c.y.shape == c.weight.shape == c.resets.shape == (len(c), 3, 8)
    assert sorted(k for row in c.rows for k in row) == list(range(len(spans)))  # every piece once
    for r, row in enumerate(c.rows):
        x, y = c.x[:, r].ravel(), c.y[:, r].ravel()
        w, resets = c.weight[:, r].ravel(), c.resets[:, r].ravel()
        # the row's stream: [END] p_a [END] p_b ... [END], chunk after chunk
        stream = [END]
        starts = []
        for k in row:
            a, b = spans[k]
            starts.append(len(stream) - 1)
            stream += IDS[a + 1 : b + 1].tolist()
        n = len(stream) - 1
        assert x[:n].tolist() == stream[:-1] and y[:n].tolist() == stream[1:]
        assert np.flatnonzero(resets).tolist() == starts  # a reset exactly where each piece starts
        assert (x[resets] == END).all()
        assert w[:n].tolist() == [1.0] * n and not w[n:].any()  # padding carries no loss
        assert (x[n:] == END).all() and (y[n:] == END).all()
    # the rows are balanced: no row longer than the shortest by more than one piece
    real = c.weight.sum(axis=(0, 2))
    assert real.max() - real.min() <= max(b - a for a, b in spans)


def test_the_stream_order_is_a_function_of_the_seed():
    a = carried_chunks(IDS, END, window=8, batch_size=3, seed=1)
    b = carried_chunks(IDS, END, window=8, batch_size=3, seed=1)
    other = carried_chunks(IDS, END, window=8, batch_size=3, seed=2)
    assert a.rows == b.rows and np.array_equal(a.x, b.x)
    assert a.rows != other.rows
    plain = carried_chunks(IDS, END, window=8, batch_size=3, seed=1, shuffle=False)
    assert [row[0] for row in plain.rows] == [0, 1, 2]  # file order: the first three open the rows


def test_fewer_pieces_than_rows_leave_padding_rows_and_non_split_arrays_are_refused():
    c = carried_chunks(IDS, END, window=8, batch_size=13, seed=0)
    assert sorted(len(row) for row in c.rows) == [0, 0] + [1] * 11
    empty = [r for r, row in enumerate(c.rows) if not row]
    assert not c.weight[:, empty].any() and (c.x[:, empty] == END).all()
    assert int(c.weight.sum()) == IDS.size - 1  # every target still once
    with pytest.raises(ValueError, match="starts and ends with the end token"):
        carried_chunks(IDS[1:], END, window=8, batch_size=2, seed=0)


def test_dataset_yields_the_chunks_in_order():
    c = carried_chunks(IDS, END, window=8, batch_size=3, seed=4)
    got = list(make_carried_batches(IDS, END, window=8, batch_size=3, seed=4).as_numpy_iterator())
    assert len(got) == len(c)
    for k, (x, y, w) in enumerate(got):
        assert np.array_equal(x, c.x[k]) and np.array_equal(y, c.y[k]) and np.array_equal(w, c.weight[k])


def test_a_stateful_model_carries_its_state_from_chunk_to_chunk():
    """Two chunks fed in turn give what one call over both gives: the state passed on."""
    from tunesmith.config.model import ModelConfig
    from tunesmith.modeling.models import build_model

    cfg = ModelConfig(family="stacked_lstm", units=6, layers=2, dropout=0.0, embedding_dim=4)
    stateful = build_model(cfg, 9, window=5, batch_size=2, stateful=True)
    whole = build_model(cfg, 9, window=None)
    whole.set_weights(stateful.get_weights())  # same weights, same order: no state among them
    x = np.random.default_rng(0).integers(0, 9, size=(2, 10)).astype(np.int32)
    first, second = np.asarray(stateful(x[:, :5])), np.asarray(stateful(x[:, 5:]))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), np.asarray(whole(x)), atol=1e-5)
    for layer in stateful.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()
    np.testing.assert_allclose(np.asarray(stateful(x[:, 5:])), np.asarray(whole(x[:, 5:])), atol=1e-5)
    with pytest.raises(ValueError, match="'bilstm' cannot carry state"):
        build_model(ModelConfig(family="bilstm", units=4), 9, window=5, batch_size=2, stateful=True)


# --------------------------------------------------------------------------- evaluation


def test_full_context_metrics_score_each_piece_whole_from_a_zero_state():
    """The evaluate-level figure equals each piece run alone from a zero state, by hand;
    windows that restart from a zero state give another, worse-informed number."""
    import keras

    from tunesmith.config.model import ModelConfig
    from tunesmith.evaluation.full_context import full_context_metrics
    from tunesmith.evaluation.likelihood import evaluate_model
    from tunesmith.modeling.models import build_model

    keras.utils.set_random_seed(0)
    cfg = ModelConfig(units=8, embedding_dim=4, dropout=0.0)
    v = 200
    model = build_model(cfg, v, window=None)
    holds = np.zeros(IDS.size, dtype=bool)
    holds[::3] = True
    got = full_context_metrics(model, cfg, IDS, END, v, hold_mask=holds)

    nll, hit = [], []
    for a, b in piece_spans(IDS, END):
        logits = np.asarray(model(IDS[a:b][None].astype(np.int32)))[0].astype(np.float64)
        logp = logits - logits.max(1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
        tgt = IDS[a + 1 : b + 1].astype(np.int64)
        nll += (-logp[np.arange(b - a), tgt]).tolist()
        hit += (logp.argmax(1) == tgt).tolist()
    nll, hit, event = np.array(nll), np.array(hit), ~holds[1:]
    assert got["tokens"] == IDS.size - 1 and got["pieces"] == len(PIECES)
    assert got["nll"] == pytest.approx(nll.mean(), rel=1e-6)
    assert got["perplexity"] == pytest.approx(math.exp(nll.mean()), rel=1e-6)
    assert got["accuracy"] == pytest.approx(hit.mean())
    assert got["event_nll"] == pytest.approx(nll[event].mean(), rel=1e-6)
    assert got["events"] == int(event.sum())
    windows = evaluate_model(model, cfg, IDS, window=4, batch_size=8, hold_mask=holds)
    assert windows["tokens"] == got["tokens"] and abs(windows["nll"] - got["nll"]) > 1e-4


# --------------------------------------------------------------------------- best n-gram


def _long_rule(n: int, rng: np.random.Generator) -> list[int]:
    """Tokens whose next one is decided by the last four: an order-5 model predicts it exactly."""
    seq = rng.integers(1, 5, size=4).tolist()
    while len(seq) < n:
        seq.append(1 + (seq[-4] + 2 * seq[-3] + seq[-1]) % 4)
    return seq


def test_the_best_ngram_order_is_chosen_on_validation_never_on_test():
    from tunesmith.evaluation.best_ngram import best_ngram_table, choose_order
    from tunesmith.evaluation.ngram import KneserNey

    rng = np.random.default_rng(0)
    v = 5
    train = split_array([_long_rule(60, rng) for _ in range(40)])
    follows = split_array([_long_rule(60, rng) for _ in range(5)])  # the long rule: high orders win
    noise = split_array([rng.integers(1, 5, size=60).tolist() for _ in range(5)])  # no rule: low wins
    on_noise, nll_noise = choose_order(train, noise, v, orders=range(2, 7))
    on_rule, _ = choose_order(train, follows, v, orders=range(2, 7))
    assert on_noise < on_rule  # the data set the choice is made on decides it
    assert nll_noise[on_noise] == min(nll_noise.values())
    # validation = noise, test = the rule: the chosen order is validation's, though test would pick another
    rows, best = best_ngram_table(train, noise, follows, v, orders=range(2, 7))
    assert best["order"] == on_noise and best["chosen_on"] == "validation"
    assert [r["model"] for r in rows] == ["uniform", "unigram", f"kn-{on_noise}"]
    test_nll = KneserNey.fit(train, v, on_noise).evaluate(follows)["nll"]
    assert best["nll"] == pytest.approx(test_nll)
    assert best["nll"] > KneserNey.fit(train, v, on_rule).evaluate(follows)["nll"]
    assert set(best["validation_nll"]) == {str(k) for k in range(2, 7)}


def test_without_a_validation_split_the_highest_order_is_used():
    from tunesmith.evaluation.best_ngram import choose_order, margin

    train = split_array([[1, 2, 3, 1, 2, 3]] * 5)
    assert choose_order(train, np.array([], dtype=np.int64), 4, orders=[3, 2, 4]) == (4, {})
    assert margin(0.8, 1.0) == pytest.approx(0.2) and math.isnan(margin(1.0, 0.0))


# --------------------------------------------------------------------------- transpositions


def test_transpose_symbol_moves_pitches_only():
    from tunesmith.data.augment import transpose_symbol

    assert transpose_symbol("67", 2) == "69"
    assert transpose_symbol("60~.64.67", -3) == "57~.61.64"
    assert [transpose_symbol(s, 5) for s in ("r", "_", "/", "<unk>", "<end>")] == ["r", "_", "/", "<unk>", "<end>"]
    assert transpose_symbol("126", 2) is None


def test_augmentation_adds_only_the_pieces_that_stay_in_the_vocabulary():
    from tunesmith.data.augment import augment_transpositions

    vocab = {"symbols": ["/", "<unk>", "60", "62", "64", "_", "r"], "special": {"end": "/", "unk": "<unk>"},
             "representation": "time_series"}
    s = {name: i for i, name in enumerate(vocab["symbols"])}
    low = [s["60"], s["_"], s["62"], s["r"]]
    high = [s["64"], s["62"]]
    ids = split_array([low, high])
    out, kept = augment_transpositions(ids, vocab, [2, 0, -2])
    # +2: 60->62, 62->64 stay in the vocabulary; 64->66 does not.  -2: only the high piece
    assert kept == {2: 1, -2: 1}
    assert out.tolist() == [*ids.tolist(), s["62"], s["_"], s["64"], s["r"], END, s["62"], s["60"], END]
    with pytest.raises(ValueError, match="representation is 'abc_chars'"):
        augment_transpositions(ids, {**vocab, "representation": "abc_chars"}, [1])


def test_rows_are_lowered_until_the_padding_fits_max_padding():
    from tunesmith.data.windows import carried_rows

    for max_padding in (0.1, 0.2, 0.3):  # 10 rows leave 42% padding
        rows, share = carried_rows(IDS, END, window=8, batch_size=10, max_padding=max_padding, seed=3)
        assert rows < 10 and share <= max_padding
        # the share is the padding carried_chunks really lays out, and one row more would exceed it
        assert share == pytest.approx(1 - carried_chunks(IDS, END, window=8, batch_size=rows, seed=3).weight.mean())
        over = carried_chunks(IDS, END, window=8, batch_size=rows + 1, seed=3)
        assert 1 - over.weight.mean() > max_padding
    assert carried_rows(IDS, END, window=8, batch_size=10, max_padding=1.0, seed=3)[0] == 10  # 1 = never lower


def test_a_tiny_corpus_trains_on_fewer_rows_and_its_train_loss_excludes_padding(tmp_path):
    from conftest import ESSEN_VOCAB, train_tiny
    from tunesmith.core.io import read_json

    # 63 short pieces over 8 rows of 8-token chunks leave 22% padding
    got = train_tiny(tmp_path / "fewer", context="carried", max_padding=0.1)
    assert got["rows"]["asked"] == 8 and got["rows"]["used"] < 8
    assert got["rows"]["padding_share_asked"] > 0.2 and got["rows"]["padding_share"] <= 0.1
    assert read_json(tmp_path / "fewer" / "config.json")["train"]["batch_size"] == got["rows"]["used"]
    # all 8 rows kept: an untrained model (a rate too small to move it) scores every real target
    # about ln V; counting the padding as loss 0 would report 22% less
    kept = train_tiny(tmp_path / "kept", context="carried", max_padding=1.0, learning_rate=1e-9)
    assert kept["rows"]["used"] == 8
    assert kept["history"][0]["train_loss"] == pytest.approx(math.log(len(ESSEN_VOCAB["symbols"])), rel=0.05)


def test_the_reported_train_loss_and_accuracy_weigh_out_the_padding():
    """Padding targets (weight 0) after an end token are unlike real ones; the figures fit reports
    must be the weighted means over the real targets alone, as computed here by hand."""
    import keras

    from tunesmith.config.model import ModelConfig
    from tunesmith.config.train import TrainConfig
    from tunesmith.core.numeric import log_softmax
    from tunesmith.modeling.models import build_model
    from tunesmith.training.fitting import _compile

    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(units=8, embedding_dim=4, dropout=0.0), 7, window=6)
    _compile(model, TrainConfig(learning_rate=1e-3))
    head = next(layer for layer in reversed(model.layers) if getattr(layer, "bias", None) is not None)
    kernel, bias = head.get_weights()
    head.set_weights([kernel, bias + np.eye(7)[0] * 4.0])  # id 0, the padding target, very likely
    rng = np.random.default_rng(0)
    x = rng.integers(0, 7, size=(4, 6)).astype(np.int32)
    y = rng.integers(1, 7, size=(4, 6)).astype(np.int32)
    w = (rng.random((4, 6)) < 0.5).astype(np.float32)
    y[w == 0] = 0  # padding: one target everywhere
    logp = log_softmax(np.asarray(model.predict_on_batch(x), dtype=np.float64))
    nll = -np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    hit = logp.argmax(axis=-1) == y
    got = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert got["nll"] == pytest.approx((nll * w).sum() / w.sum(), rel=1e-5)
    assert got["accuracy"] == pytest.approx((hit * w).sum() / w.sum(), rel=1e-5)
    assert got["nll"] != pytest.approx(nll.mean(), rel=1e-3)  # the unweighted mean differs
