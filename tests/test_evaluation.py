"""Evaluation: model metrics against a direct softmax, n-gram baselines by hand,
music statistics and their comparison, ABC playability, novelty."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from tunesmith.config.model import ModelConfig
from tunesmith.evaluation.likelihood import evaluate_model, hold_ids, hold_mask
from tunesmith.evaluation.music_stats import (
    HISTOGRAMS,
    KL_EPSILON,
    SCALARS,
    compare_distributions,
    music_stats,
    piece_stats,
    pieces_to_notes,
)
from tunesmith.evaluation.ngram import KneserNey, ngram_table
from tunesmith.evaluation.novelty import NoveltyIndex
from tunesmith.modeling.models import build_model
from tunesmith.tracks.abc.track import abc_playability, check_abc_bars, nottingham_notes
from tunesmith.tracks.melody.track import essen_notes
from tunesmith.tracks.piano.track import classical_notes

V = 6


# --------------------------------------------------------------------------- holds


def test_hold_mask_essen_marks_hold_and_unk():
    symbols = ["/", "<unk>", "60", "62", "_", "r"]
    ids = np.array([0, 2, 4, 4, 5, 4, 1, 3])
    assert hold_ids(symbols, "essen") == {1, 4}
    assert hold_mask(ids, symbols, "essen").tolist() == [
        False,
        False,
        True,
        True,
        False,
        True,
        True,
        False,
    ]


def test_hold_mask_classical_rest_after_rest_is_a_hold():
    symbols = ["<end>", "<unk>", "60", "60~", "60.64~", "r"]
    ids = np.array([0, 5, 5, 2, 3, 4, 5, 0, 5])
    mask = hold_mask(ids, symbols, "classical")
    # r after <end> is an event, r after r a hold, 60~ a hold, 60.64~ strikes 60
    assert mask.tolist() == [False, False, True, False, True, False, False, False, False]
    assert hold_ids(symbols, "nottingham") == frozenset()


# --------------------------------------------------------------------------- model metrics


def _tiny_trained(family: str, window: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_model(
        ModelConfig(family=family, units=8, layers=1, dropout=0.0, embedding_dim=4),
        V,
        window=None if family != "bilstm" else window,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, (16, window)).astype("int32")
    y = np.roll(x, -1, axis=1) if family != "bilstm" else x[:, 0]
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    return model


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    return np.asarray(keras.ops.log_softmax(keras.ops.convert_to_tensor(logits), axis=-1))


def test_evaluate_model_matches_direct_softmax_every_position():
    window, n = 8, 45  # 44 targets: 5 whole windows (40) + a tail of 4
    model = _tiny_trained("lstm", window)
    ids = np.random.default_rng(1).integers(0, V, n).astype(np.uint16)
    holds = {2, 3}
    got = evaluate_model(
        model,
        ModelConfig(family="lstm", units=8, embedding_dim=4),
        ids,
        window=window,
        batch_size=3,
        hold_ids=holds,
    )

    # direct: each whole window alone, then the last window, of which only the tail counts
    nll, hit, target = [], [], []
    for s in range(0, 40, window):
        lp = _log_softmax(model(ids[None, s : s + window].astype("int32"), training=False))[0]
        y = ids[s + 1 : s + window + 1]
        nll += list(-lp[np.arange(window), y])
        hit += list(lp.argmax(-1) == y)
        target += list(y)
    s = n - 1 - window
    lp = _log_softmax(model(ids[None, s : s + window].astype("int32"), training=False))[0]
    y = ids[s + 1 :]
    tail = slice(window - 4, window)
    nll += list(-lp[np.arange(window), y][tail])
    hit += list((lp.argmax(-1) == y)[tail])
    target += list(y[tail])

    nll, hit, target = np.array(nll), np.array(hit), np.array(target)
    event = ~np.isin(target, list(holds))
    assert got["tokens"] == n - 1 == len(nll)
    assert got["nll"] == pytest.approx(nll.mean(), rel=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(nll.mean()), rel=1e-5)
    assert got["accuracy"] == pytest.approx(hit.mean())
    assert got["events"] == int(event.sum())
    assert got["event_accuracy"] == pytest.approx(hit[event].mean())
    assert got["event_nll"] == pytest.approx(nll[event].mean(), rel=1e-5)


def test_evaluate_model_bilstm_scores_the_token_after_each_window_up_to_the_cap():
    window, n = 5, 30
    cfg = ModelConfig(family="bilstm", units=8, layers=1, dropout=0.0, embedding_dim=4)
    model = _tiny_trained("bilstm", window)
    ids = np.random.default_rng(2).integers(0, V, n)
    got = evaluate_model(model, cfg, ids, window=window, batch_size=4, hold_ids=set())
    x = np.stack([ids[s : s + window] for s in range(n - window)]).astype("int32")
    lp = _log_softmax(model(x, training=False))
    y = ids[window:]
    assert got["tokens"] == n - window
    assert got["nll"] == pytest.approx(float(-lp[np.arange(len(y)), y].mean()), rel=1e-5)
    assert got["accuracy"] == pytest.approx(float((lp.argmax(-1) == y).mean()))

    capped = evaluate_model(model, cfg, ids, window=window, batch_size=4, max_positions=7)
    assert capped["tokens"] == 7


def test_evaluate_model_rejects_a_split_shorter_than_a_window():
    model = build_model(ModelConfig(family="lstm", units=4, embedding_dim=2), V)
    with pytest.raises(ValueError, match="too few"):
        evaluate_model(
            model, ModelConfig(family="lstm"), np.arange(4) % V, window=4, batch_size=2
        )


# --------------------------------------------------------------------------- n-gram baselines


def test_kneser_ney_order_1_by_hand():
    kn = KneserNey.fit(np.array([0, 0, 1]), 3, order=1)
    # D = 0.75 (too few counts to estimate): p(w) = max(c - D, 0) / 3 + gamma / 3, gamma = 0.5
    assert kn.distribution([]) == pytest.approx([1.25 / 3 + 1 / 6, 0.25 / 3 + 1 / 6, 1 / 6])


def test_kneser_ney_bigram_by_hand():
    kn = KneserNey.fit(np.array([0, 1, 0, 1, 0, 2]), 3, order=2)
    # continuation unigram: each id follows one distinct id -> uniform 1/3;
    # after 0: counts {1: 2, 2: 1}, D = 0.75, gamma = 1 - 1.5 / 3 = 0.5
    assert kn.distribution([0]) == pytest.approx([0.5 / 3, 1.75 / 3, 0.75 / 3])
    assert kn.distribution([2]) == pytest.approx([1 / 3] * 3)  # unseen history: backs off
    assert kn.distribution([1, 1, 0]) == pytest.approx(kn.distribution([0]))


def test_kneser_ney_distributions_sum_to_one_for_any_history():
    rng = np.random.default_rng(0)
    vocab = 12
    train = np.concatenate([np.tile([0, 3, 5, 7, 9, 11], 40), rng.integers(0, vocab, 400)])
    kn = KneserNey.fit(train, vocab, order=4)
    histories = [[], [3], [11, 0], [0, 3, 5], [1, 1, 1], [2, 4, 6, 8, 10]]
    histories += [list(rng.integers(0, vocab, rng.integers(0, 6))) for _ in range(50)]
    for h in histories:
        p = kn.distribution(h)
        assert p.shape == (vocab,)
        assert (p > 0).all()
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
    # after 0 3 5 the training pattern continues with 7
    assert kn.distribution([0, 3, 5]).argmax() == 7


@pytest.mark.parametrize("order", [1, 2, 3, 5, 8])
def test_kneser_ney_arrays_give_the_dict_models_distributions(order):
    """The array form (np.unique per order, scored in blocks) computes what the plain dict form
    computes, for every target of a split, seen and unseen histories, and the first positions."""
    from kn_reference import ReferenceKneserNey

    rng = np.random.default_rng(order)
    vocab = 9
    motif = [0, 3, 5, 7, 3, 8]
    train = np.concatenate([np.tile(motif, 30), rng.integers(0, vocab - 1, 600), [2, 4, 2]])  # id 8 rare
    test = np.concatenate([rng.integers(0, vocab, 300), np.tile(motif, 5), [1, 1, 1, 6, 6]])
    kn, ref = KneserNey.fit(train, vocab, order), ReferenceKneserNey(train, vocab, order)
    np.testing.assert_allclose(kn.discounts, ref.discounts, rtol=1e-12)
    want = np.array([ref.distribution(test[max(0, t - order + 1):t].tolist()) for t in range(1, test.size)])
    got = np.concatenate([p for _, p in kn.blocks(test)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    nll, hit = kn.scores(test)
    np.testing.assert_allclose(nll, -np.log(want[np.arange(test.size - 1), test[1:]]), rtol=1e-12)
    assert (hit == (want.argmax(axis=1) == test[1:])).all()
    for h in ([], [8], [8, 8, 8], [0, 3, 5], motif):
        np.testing.assert_allclose(kn.distribution(h), ref.distribution(h), rtol=1e-12, atol=1e-15)
    short = KneserNey.fit(np.array([1, 2]), vocab, order)  # fewer tokens than the order
    assert short.distribution([1]).sum() == pytest.approx(1.0)


def test_ngram_table_rows():
    train = np.tile(np.array([0, 1, 2, 3, 4], dtype=np.uint16), 60)
    test = np.tile(np.array([0, 1, 2, 3, 4], dtype=np.uint16), 8)
    vocab = 7
    rows = {r["model"]: r for r in ngram_table(train, test, vocab, order=3, hold_ids={3})}
    assert list(rows) == ["uniform", "unigram", "kn-3"]
    assert rows["uniform"]["nll"] == math.log(vocab)
    assert rows["uniform"]["accuracy"] == 1 / vocab
    assert rows["uniform"]["tokens"] == len(test) - 1
    assert rows["uniform"]["events"] == len(test) - 1 - 8  # the eight 3s are holds
    # add-one: each of ids 0-4 has 60 counts, p = 61 / (300 + 7)
    assert rows["unigram"]["nll"] == pytest.approx(-math.log(61 / 307))
    assert rows["kn-3"]["accuracy"] == 1.0  # a deterministic cycle
    assert rows["kn-3"]["nll"] < 0.1 < rows["unigram"]["nll"]


def test_ngram_table_is_fast_enough_for_a_corpus():
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 60, 60_000), rng.integers(0, 60, 5_000)
    rows = ngram_table(train, test, 60, order=5)
    # no structure to learn: KN stays close to uniform and never far above it
    assert rows[2]["nll"] == pytest.approx(math.log(60), abs=0.15)


# --------------------------------------------------------------------------- symbols -> notes


def test_essen_notes():
    notes = essen_notes(["60", "_", "r", "62", "_", "_", "_", "/", "64"], 0.25)
    assert notes.tolist() == [[60, 0, 0.5], [62, 0.75, 1.75]]


def test_classical_notes():
    notes = classical_notes(["60.64", "60~.64", "r", "67"], 4)
    assert notes.tolist() == [[60, 0, 0.5], [64, 0, 0.25], [64, 0.25, 0.5], [67, 0.75, 1.0]]


def test_nottingham_notes_merge_ties_and_skip_chord_symbols():
    notes = nottingham_notes('M:4/4\nL:1/4\nK:C\n"C"C D E2-|E [CE] z2|\n')
    assert notes.tolist() == [[60, 0, 1], [62, 1, 2], [64, 2, 5], [60, 5, 6], [64, 5, 6]]


def test_pieces_to_notes_skips_pieces_that_do_not_decode():
    good = list("M:4/4\nL:1/4\nK:C\nCDEF|\n")
    notes, skipped = pieces_to_notes("nottingham", [good, list("M:4/4\nK:C\n")])
    assert skipped == 1 and len(notes) == 1 and notes[0][:, 0].tolist() == [60, 62, 64, 65]
    meta = {"encode": {"time_step": 0.5}}
    notes, skipped = pieces_to_notes("essen", [["60", "_"], ["r"]], meta)
    assert skipped == 1 and notes[0].tolist() == [[60, 0, 1]]


# --------------------------------------------------------------------------- music statistics


def test_piece_stats_by_hand():
    s = piece_stats(np.array([[60, 0, 1], [64, 0, 2], [67, 1, 2], [62, 3, 3.5]]))
    assert s["pitch_class_hist"] == [1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    assert s["pitch_range"] == 7
    assert s["pitch_class_entropy"] == pytest.approx(2.0)
    assert s["scale_consistency"] == 1.0
    # lengths 1, 2, 1, 0.5; onsets 0, 1, 3 -> IOIs 1, 2
    assert s["note_length_hist"] == [0, 0, 1, 0, 2, 0, 1, 0, 0]
    assert s["ioi_hist"] == [0, 0, 0, 0, 1, 0, 1, 0, 0]
    assert s["empty_beat_rate"] == 0.25  # beat [2, 3) is silent
    assert s["polyphony"] == pytest.approx(4.5 / 2.5)  # note time / sounding time
    chromatic = piece_stats(np.array([[p, p - 60, p - 59] for p in range(60, 72)]))
    assert chromatic["scale_consistency"] == 7 / 12
    assert chromatic["pitch_class_entropy"] == pytest.approx(math.log2(12))


def _melody(pitches, lengths):
    onsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.column_stack([pitches, onsets, onsets + np.array(lengths)]).astype(float)


def test_identical_sets_have_zero_kl_and_full_overlap():
    pieces = [
        _melody([60, 62, 64, 67, 65], [1, 0.5, 0.5, 2, 1]),
        _melody([57, 61, 64], [1.5, 0.5, 1]),
    ]
    stats = music_stats(pieces)
    assert stats["n_pieces"] == 2 and stats["n_notes"] == 8
    cmp = compare_distributions(stats, music_stats([p.copy() for p in pieces]))
    for name in HISTOGRAMS:
        assert cmp[f"{name}_kl"] == 0.0
        assert cmp[f"{name}_overlap"] == 1.0
    for name in SCALARS:
        assert cmp[f"{name}_abs_diff"] == 0.0


def test_shifted_set_gives_the_hand_computed_kl():
    real = music_stats([_melody([60, 62], [1, 1])])  # C, D
    gen = music_stats([_melody([62, 64], [1, 1])])  # shifted up a tone: D, E
    cmp = compare_distributions(gen, real)
    e = KL_EPSILON
    z = 1 + 12 * e
    # p = real (C 0.5, D 0.5), q = generated (D 0.5, E 0.5), both smoothed:
    # C: P = (0.5 + e)/z, Q = e/z; D: equal; E: P = e/z, Q = (0.5 + e)/z
    expected = ((0.5 + e) * math.log((0.5 + e) / e) + e * math.log(e / (0.5 + e))) / z
    assert cmp["pitch_class_hist_kl"] == pytest.approx(expected, rel=1e-12)
    assert cmp["pitch_class_hist_overlap"] == 0.5
    assert cmp["note_length_hist_kl"] == 0.0
    assert cmp["pitch_range_abs_diff"] == 0.0
    # one more note of another length: lengths real {1: 2}, generated {1: 2, 2: 1}
    longer = music_stats([_melody([62, 64, 64], [1, 1, 2])])
    cmp = compare_distributions(longer, real)
    assert cmp["note_length_hist_overlap"] == pytest.approx(2 / 3)
    q_quarter = (2 / 3 + e) / (1 + 9 * e)
    assert cmp["note_length_hist_kl"] == pytest.approx(
        (1 + e) / (1 + 9 * e) * math.log((1 + e) / (1 + 9 * e) / q_quarter)
        + (e / (1 + 9 * e)) * math.log((e / (1 + 9 * e)) / ((1 / 3 + e) / (1 + 9 * e))),
        rel=1e-9,
    )


# --------------------------------------------------------------------------- playability

GOOD_TUNE = "M:6/8\nL:1/8\nK:G\nD|GAB c2d|e3 d2:|\n|:B|GAB c2d|[1e3 d2:|[2e3 z2|\n"
LONG_BAR = "M:4/4\nL:1/4\nK:C\nCDEF|CDEFG|c4|]\n"
SHORT_MIDDLE = "M:4/4\nL:1/4\nK:C\nCDEF|CD|EFGA|c4|]\n"


def test_check_abc_bars_rule():
    assert check_abc_bars(GOOD_TUNE) == {
        "parses": True,
        "bars_ok": True,
        "reason": "",
        "bars": 7,
    }
    long = check_abc_bars(LONG_BAR)
    assert (
        long["parses"] and not long["bars_ok"] and long["reason"] == "bar 1 is longer than M: 4/4"
    )
    short = check_abc_bars(SHORT_MIDDLE)
    assert not short["bars_ok"] and short["reason"] == "bar 1 lasts 2 of 4 beats"


def test_abc_playability_shares():
    empty = list("M:4/4\nK:C\n")  # a header and no music
    out = abc_playability([[*GOOD_TUNE, "<end>", "x"], LONG_BAR, empty])
    assert out["n"] == 3
    assert out["parse_rate"] == pytest.approx(2 / 3)
    assert out["bar_rate"] == pytest.approx(1 / 3)
    assert out["reasons"] == {"bar_length": 1, "empty": 1}


# --------------------------------------------------------------------------- novelty


def test_novelty_copy_and_fresh():
    train = [list("abcdefghijkl"), list("mnopqrstuvwxyz"), ["60", "_", "62"]]
    index = NoveltyIndex(train, ngram=8)
    assert index.longest_match(train[1]) == 14
    assert index.ngram_share(train[1]) == 1.0
    fresh = list("0123456789")
    assert index.longest_match(fresh) == 0
    assert index.ngram_share(fresh) == 0.0
    assert index.longest_match(list("xxdefgh..")) == 5
    # a match never spans two training pieces
    assert index.longest_match(list("jklmnop")) == 4
    assert index.ngram_share(list("abcdefgh1")) == 0.5  # abcdefgh found, bcdefgh1 not
    assert math.isnan(index.ngram_share(list("abc")))
    summary = index.novelty([train[0], fresh])
    assert summary["max_longest_match"] == 12
    assert summary["mean_8gram_share"] == 0.5
    assert [p["match_share"] for p in summary["per_sample"]] == [1.0, 0.0]


def test_novelty_matches_brute_force_on_random_sequences():
    rng = np.random.default_rng(3)
    train = [list(rng.integers(0, 3, rng.integers(5, 40))) for _ in range(6)]
    index = NoveltyIndex(train, ngram=3)
    for _ in range(20):
        sample = list(rng.integers(0, 3, 25))
        brute = max(
            (
                j - i
                for piece in train
                for i in range(len(sample))
                for j in range(i + 1, len(sample) + 1)
                if any(piece[k : k + j - i] == sample[i:j] for k in range(len(piece)))
            ),
            default=0,
        )
        assert index.longest_match(sample) == brute


@pytest.mark.parametrize("ngram", [3, 8, 12])
def test_novelty_arrays_agree_with_the_suffix_automaton(ngram):
    """Long copied runs (beyond the per-length sets), unknown symbols, many pieces: the array
    index answers what the suffix automaton of Python dicts answered."""
    from novelty_reference import ReferenceNoveltyIndex

    rng = np.random.default_rng(ngram)
    train = [[str(x) for x in rng.integers(0, 4, rng.integers(1, 120))] for _ in range(60)]
    index, ref = NoveltyIndex(train, ngram=ngram), ReferenceNoveltyIndex(train, ngram=ngram)
    samples = [[str(x) for x in rng.integers(0, 4, 80)] for _ in range(10)]
    samples += [[*train[5][3:70], "9", *train[7][:40]], train[9] + train[9], ["9"] * 20, [], train[11][:2]]
    for sample in samples:
        assert index.longest_match(sample) == ref.longest_match(sample)
        got, want = index.ngram_share(sample), ref.ngram_share(sample)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


def test_a_tunes_notes_and_bars_come_from_one_parse_and_the_memo_is_bounded(monkeypatch):
    """The evaluate stage asks for a tune's notes (statistics, the two-sample test) and its bars
    (playability): music21 parses each text once, each caller gets the answer of its own parse."""
    from tunesmith.core.errors import MusicInputError
    from tunesmith.tracks.abc import abc_chars
    from tunesmith.tracks.abc import track as abc_track

    parses = []
    real = abc_chars.to_stream
    monkeypatch.setattr(abc_chars, "to_stream", lambda text, **kw: parses.append(text) or real(text, **kw))
    tune = 'T:memo test\nM:4/4\nL:1/4\nK:C\n"C"C D E2-|E [CE] z2|\n'
    first = nottingham_notes(tune)
    first[:] = -1  # the caller's own copy
    again = nottingham_notes(tune)
    assert check_abc_bars(tune) == {"parses": True, "bars_ok": True, "reason": "", "bars": 2}
    assert len(parses) == 1
    np.testing.assert_array_equal(again, abc_track._score_notes(real(tune)))
    with pytest.raises(MusicInputError) as first_error:
        nottingham_notes("T:memo test\nM:4/4\nK:C\n")
    with pytest.raises(MusicInputError) as second_error:
        nottingham_notes("T:memo test\nM:4/4\nK:C\n")
    assert first_error.value.reason == second_error.value.reason and len(parses) == 2
    # bounded by the note rows it keeps: the oldest entries go
    monkeypatch.setattr(abc_track, "PARSE_MEMO_ROWS", 12)
    for k in range(4):
        nottingham_notes(f"T:memo {k}\nM:4/4\nL:1/4\nK:C\nC D E F|G A B c|\n")
    assert abc_track._memo_rows <= 12
    nottingham_notes("T:memo 0\nM:4/4\nL:1/4\nK:C\nC D E F|G A B c|\n")
    assert len(parses) == 7  # tune 0 was dropped and parsed again
