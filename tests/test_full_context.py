"""Full-context scoring: exact values on hand-made models, batching invariance, frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesmith.data.pieces import piece_spans
from tunesmith.evaluation.full_context import frame_nll, score_pieces
from tunesmith.modeling.models import any_length_model

END = 0


def counting_model(vocab_size: int, sure: float = 0.9):
    """Predicts token ``1 + (position in piece) % (V - 1)`` with probability ``sure``.

    Its prediction at position t depends on how far t is from the last end token
    before it, i.e. on the whole context back to the start of the piece.
    """
    other = (1 - sure) / (vocab_size - 1)

    def predict(x: np.ndarray) -> np.ndarray:
        b, t = x.shape
        probs = np.full((b, t, vocab_size), other)
        for row in range(b):
            since = 0
            for pos in range(t):
                since = 0 if x[row, pos] == END else since + 1
                probs[row, pos, 1 + since % (vocab_size - 1)] = sure
        return np.log(probs)

    return predict


def test_piece_spans_cover_every_target_once():
    ids = np.array([END, 3, 4, END, 5, END, END])
    spans = piece_spans(ids, END)
    assert spans == [(0, 3), (3, 5), (5, 6)]
    covered = np.concatenate([np.arange(a, b) for a, b in spans])
    np.testing.assert_array_equal(covered, np.arange(ids.size - 1))


def test_piece_spans_refuse_an_array_without_end_tokens():
    with pytest.raises(ValueError, match="starts and ends with the end token"):
        piece_spans(np.array([3, 4, END]), END)


def test_full_context_gives_the_exact_expected_nll():
    v = 5
    # piece 1 follows the counting pattern for 6 tokens (beyond any 3-token window), then ends
    piece = [1 + (k + 1) % (v - 1) for k in range(6)]  # what the model predicts after k+1 tokens
    ids = np.array([END, 1, *piece[:5], END])
    # hand computation: targets ids[1:] at positions 0..6; prediction at pos p is 1 + (p % 4)
    preds = [1 + (p % (v - 1)) for p in range(ids.size - 1)]
    sure, other = 0.9, 0.1 / (v - 1)
    expected = np.array([-math.log(sure if preds[p] == ids[p + 1] else other) for p in range(ids.size - 1)])
    scores = score_pieces(counting_model(v), ids, END, v)
    np.testing.assert_allclose(scores.nll, expected)
    assert scores.correct.tolist() == [preds[p] == ids[p + 1] for p in range(ids.size - 1)]


def test_full_context_differs_from_windows_that_restart_from_zero_state():
    """A model whose answer needs the distance to the piece start: windows cannot know it."""
    v = 4
    ids = np.array([END] + [1 + (p % (v - 1)) for p in range(9)] + [END])
    full = score_pieces(counting_model(v), ids, END, v)
    predict = counting_model(v)
    window = 3
    nll = []
    for s in range(0, ids.size - 1, window):
        x = ids[s : s + window][None]
        logp = predict(x)[0]
        tgt = ids[s + 1 : s + 1 + x.shape[1]]
        nll.extend(-logp[np.arange(tgt.size), tgt])
    assert full.mean_nll < np.mean(nll) - 0.5  # full context knows every position, windows do not


def test_batching_and_padding_do_not_change_scores():
    rng = np.random.default_rng(0)
    v = 6
    pieces = [rng.integers(1, v, size=n) for n in (1, 7, 3, 12, 5)]
    ids = np.concatenate([[END]] + [np.append(p, END) for p in pieces])
    one_call = score_pieces(counting_model(v), ids, END, v, budget=10**9)
    one_by_one = score_pieces(counting_model(v), ids, END, v, budget=1)
    np.testing.assert_allclose(one_call.nll, one_by_one.nll)


def test_a_real_lstm_scored_over_whole_pieces_equals_stepping_it():
    keras = pytest.importorskip("keras")
    from tunesmith.config.model import ModelConfig
    from tunesmith.generation.steppers import RecurrentStepper
    from tunesmith.modeling.models import build_model

    keras.utils.set_random_seed(1)
    cfg = ModelConfig(family="stacked_lstm", units=8, layers=2, dropout=0.0, embedding_dim=4)
    v = 7
    fixed = build_model(cfg, v, window=5)  # trained on windows: a fixed input length
    model = any_length_model(fixed, cfg, v)
    assert model.input_shape[1] is None
    ids = np.array([END, 3, 4, 5, 6, 1, 2, 3, END, 2, 2, END], dtype=np.int32)
    scores = score_pieces(model.predict_on_batch, ids, END, v, budget=v * 4)

    stepper = RecurrentStepper(model, cfg, batch_size=1)
    expected = []
    for a, b in piece_spans(ids, END):
        stepper.reset(1)
        for t in range(a, b):
            logits = stepper.step(ids[t : t + 1]).astype(np.float64)[0]
            logp = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
            expected.append(-logp[ids[t + 1]])
    np.testing.assert_allclose(scores.nll, expected, rtol=1e-4, atol=1e-5)


def test_frame_nll_sums_tokens_of_each_frame_and_skips_piece_ends():
    frame_end, piece_end = 9, 0
    targets = np.array([3, 5, frame_end, frame_end, 4, frame_end, piece_end, 2, frame_end, piece_end])
    nll = np.arange(1.0, targets.size + 1)
    frames = frame_nll(nll, targets, frame_end, piece_end)
    np.testing.assert_allclose(frames, [1 + 2 + 3, 4, 5 + 6, 8 + 9])


def test_a_batch_holds_at_most_max_positions_whatever_the_vocabulary():
    from tunesmith.evaluation.full_context import MAX_POSITIONS, _batches

    lengths = np.array([300] * 200 + [40_000, 900, 5], dtype=np.int64)
    for vocab in (8, 90, 3000):
        groups = _batches(lengths, vocab, budget=32_000_000)
        assert sorted(int(k) for g in groups for k in g) == list(range(lengths.size))  # every piece once
        for g in groups:
            assert len(g) * int(lengths[g].max()) <= MAX_POSITIONS or len(g) == 1  # a long piece goes alone
