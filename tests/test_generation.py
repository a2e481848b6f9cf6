"""Steppers and batched generation: equal to the full model, deterministic, stopping at the end."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tunesmith.config.model import ModelConfig
from tunesmith.config.sampling import SamplerConfig
from tunesmith.generation.decode import generate, parse_primer
from tunesmith.generation.samplers import make_sampler
from tunesmith.generation.steppers import RecurrentStepper, WindowStepper, make_stepper
from tunesmith.modeling.models import build_model, predicts_every_position

SYMBOLS = ["<end>", "a", "b", "c", "d", "e", "f"]
VOCAB = len(SYMBOLS)
END = 0


def tiny(family: str, **overrides) -> ModelConfig:
    kwargs = dict(
        family=family,
        units=10,
        layers=1 if family == "lstm" else 2,
        embedding_dim=5,
        conv_filters=4,
    )
    kwargs.update(overrides)
    return ModelConfig(**kwargs)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(99)


def random_ids(batch: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, length)).astype(np.int32)


@pytest.mark.parametrize("embedding_dim", [5, 0], ids=["embedding", "one_hot"])
@pytest.mark.parametrize("family", ["lstm", "stacked_lstm", "simple_rnn"])
def test_recurrent_stepper_equals_full_model(family, embedding_dim):
    cfg = tiny(family, embedding_dim=embedding_dim)
    model = build_model(cfg, VOCAB)
    ids = random_ids(3, 12)
    stepper = make_stepper(model, cfg, 3)
    assert isinstance(stepper, RecurrentStepper)
    stepped = np.stack([stepper.step(ids[:, t]) for t in range(ids.shape[1])], axis=1)
    np.testing.assert_allclose(stepped, model(ids).numpy(), rtol=1e-5, atol=1e-5)
    # reset forgets the past; prime feeds a block and returns the last logits
    stepper.reset(2)
    np.testing.assert_allclose(
        stepper.prime(ids[:2, :5]), model(ids[:2, :5]).numpy()[:, -1], rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    ("family", "model_window"), [("cnn_lstm", None), ("cnn_lstm", 6), ("bilstm", 6)]
)
def test_window_stepper_equals_full_model_on_the_last_window(family, model_window):
    cfg = tiny(family)
    model = build_model(cfg, VOCAB, window=model_window)
    ids = random_ids(2, 11, seed=1)
    stepper = make_stepper(model, cfg, 2, window=6, pad_id=END)
    assert isinstance(stepper, WindowStepper)
    for t in range(ids.shape[1]):
        got = stepper.step(ids[:, t])
        context = ids[:, max(0, t - 5) : t + 1]
        if model_window is not None and context.shape[1] < model_window:
            context = np.concatenate(
                [np.full((2, model_window - context.shape[1]), END, np.int32), context], axis=1
            )
        want = model(context).numpy()
        want = want[:, -1] if predicts_every_position(cfg) else want
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"step {t}")


def test_stepper_under_mixed_precision_is_close():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        cfg = tiny("stacked_lstm")
        model = build_model(cfg, VOCAB)
        ids = random_ids(2, 6)
        stepper = make_stepper(model, cfg, 2)
        stepped = np.stack([stepper.step(ids[:, t]) for t in range(6)], axis=1)
        assert stepped.dtype == np.float32
        np.testing.assert_allclose(stepped, model(ids).numpy(), atol=2e-2)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _run(model, cfg, seed, sampler=None, num_samples=5, max_length=15, primer=(END, 1, 2), reuse=None):
    sampler = sampler or make_sampler(SamplerConfig(method="temperature", temperature=1.5), SYMBOLS)
    return generate(
        model,
        cfg,
        SYMBOLS,
        primer_ids=list(primer),
        num_samples=num_samples,
        max_length=max_length,
        sampler=sampler,
        seed=seed,
        end_id=END,
        window=6,
        reuse=reuse,
    )


@pytest.mark.parametrize("family", ["lstm", "bilstm"])
def test_a_reused_stepper_generates_what_a_new_one_would(family, monkeypatch):
    """The generate stage keeps one stepper for all its calls (a batch per primer, the judging pool):
    made once, reset to each call's rows, it gives each call what a new stepper would."""
    import tunesmith.generation.decode as decode

    cfg = tiny(family)
    model = build_model(cfg, VOCAB, window=6 if family == "bilstm" else None)
    made, real = [], decode.make_stepper
    monkeypatch.setattr(decode, "make_stepper", lambda *a, **k: made.append(a[2]) or real(*a, **k))
    reuse: dict = {}
    reused = [_run(model, cfg, seed, num_samples=n, reuse=reuse) for seed, n in ((3, 4), (4, 2), (5, 3))]
    assert made == [4]
    assert reused == [_run(model, cfg, seed, num_samples=n) for seed, n in ((3, 4), (4, 2), (5, 3))]
    assert made == [4, 4, 2, 3]


@pytest.mark.parametrize("family", ["lstm", "bilstm"])
def test_generate_is_deterministic_for_a_seed(family):
    cfg = tiny(family)
    model = build_model(cfg, VOCAB, window=6 if family == "bilstm" else None)
    first, again, other = _run(model, cfg, 3), _run(model, cfg, 3), _run(model, cfg, 4)
    assert first == again
    assert first != other
    assert len(first) == 5
    for sample in first:
        assert 1 <= len(sample) <= 15
        assert all(0 <= i < VOCAB for i in sample)
        assert END not in sample[:-1]
        assert sample[-1] == END or len(sample) == 15


def test_generate_stops_each_sample_at_its_end_token():
    calls = []

    def scripted(logits, rng):
        # sample i emits tokens 1, 2, ... and the end token at step i; sample 3 never ends
        step = len(calls)
        calls.append(logits.shape)
        ids = np.full(logits.shape[0], 1 + step % (VOCAB - 1), dtype=np.int64)
        ids[:3][np.arange(3) == step] = END
        return ids

    cfg = tiny("lstm")
    out = _run(build_model(cfg, VOCAB), cfg, 0, sampler=scripted, num_samples=4, max_length=8)
    assert [len(s) for s in out] == [1, 2, 3, 8]
    assert out[0] == [END] and out[1] == [1, END] and out[2] == [1, 2, END]
    assert END not in out[3]
    assert all(shape == (4, VOCAB) for shape in calls)


def test_generate_stops_early_when_every_sample_has_ended():
    cfg = tiny("lstm")
    model = build_model(cfg, VOCAB)
    # make the end token overwhelmingly likely: every sample is just [END]
    dense = model.get_layer("logits")
    kernel, bias = dense.get_weights()
    bias[END] = 50.0
    dense.set_weights([kernel * 0, bias])
    calls = []

    def counting(logits, rng):
        calls.append(1)
        return make_sampler(SamplerConfig(), SYMBOLS)(logits, rng)

    assert _run(model, cfg, 0, sampler=counting, num_samples=6, max_length=50) == [[END]] * 6
    assert len(calls) == 1


def test_greedy_generation_matches_rerunning_the_full_model():
    cfg = tiny("stacked_lstm")
    model = build_model(cfg, VOCAB)
    primer = [END, 3, 4, 5]
    (sample,) = _run(
        model,
        cfg,
        0,
        sampler=make_sampler(SamplerConfig(method="greedy"), SYMBOLS),
        num_samples=1,
        max_length=10,
        primer=primer,
    )
    context = list(primer)
    for token in sample:
        assert token == int(model(np.array([context], np.int32)).numpy()[0, -1].argmax())
        context.append(token)


def test_each_sample_may_have_its_own_primer_of_one_length():
    """Greedy: a batch of two primers gives each row what that primer alone gives (the judging pool
    batches different real openings this way)."""
    cfg = tiny("stacked_lstm")
    model = build_model(cfg, VOCAB)
    greedy = make_sampler(SamplerConfig(method="greedy"), SYMBOLS)
    first, second = [END, 3, 4, 5], [END, 5, 2, 1]
    alone = [_run(model, cfg, 0, sampler=greedy, num_samples=1, primer=p)[0] for p in (first, second)]
    assert alone[0] != alone[1]
    assert _run(model, cfg, 0, sampler=greedy, num_samples=2, primer=[first, second]) == alone
    with pytest.raises(ValueError, match="the same length"):
        _run(model, cfg, 0, num_samples=2, primer=[first, [END, 1]])
    with pytest.raises(ValueError, match="2 primers for 3 samples"):
        _run(model, cfg, 0, num_samples=3, primer=[first, second])


def test_generate_checks_its_arguments():
    cfg = tiny("lstm")
    model = build_model(cfg, VOCAB)
    with pytest.raises(ValueError, match="primer id 9 is outside the vocabulary"):
        _run(model, cfg, 0, primer=(END, 9))
    with pytest.raises(ValueError, match="primer_ids must hold at least one id"):
        _run(model, cfg, 0, primer=())
    with pytest.raises(ValueError, match="the model predicts 7 symbols, the vocabulary has 3"):
        generate(
            model,
            cfg,
            SYMBOLS[:3],
            primer_ids=[0],
            num_samples=1,
            max_length=2,
            sampler=make_sampler(SamplerConfig(), SYMBOLS[:3]),
            seed=0,
            end_id=0,
            window=6,
        )


ESSEN = ["/", "r", "_", "60", "62", "64", "67"]
ABC = ["<end>", "\n", " ", "/", "1", "6", "8", ":", "D", "K", "M", "X", "d", "|"]


def test_parse_primer_modes():
    assert parse_primer("ignored", ESSEN, mode="start") == [0]
    assert parse_primer("60 _ _ _ 62 _ r _", ESSEN, mode="symbols") == [0, 3, 2, 2, 2, 4, 2, 1, 2]
    header = parse_primer("X:1\nM:6/8\nK:D\n", ABC, mode="chars")
    assert header[0] == ABC.index("<end>")  # not "/", which is an ABC character here
    assert "".join(ABC[i] for i in header[1:]) == "X:1\nM:6/8\nK:D\n"
    assert parse_primer("60", ["<end>", "/", "60"], mode="symbols", end_symbol="/") == [1, 2]


def test_parse_primer_names_the_nearest_symbols():
    with pytest.raises(
        ValueError,
        match=r"primer symbol '600' \(position 1\) is not in the vocabulary; "
        r"nearest valid symbols: '60'",
    ):
        parse_primer("62 600 r", ESSEN, mode="symbols")
    with pytest.raises(
        ValueError, match=r"primer symbol 'k' \(position 0\).*nearest valid symbols: 'K'"
    ):
        parse_primer("k:D", ABC, mode="chars")
    with pytest.raises(ValueError, match=r"'Q'.*no close valid symbol"):
        parse_primer("Q", ABC, mode="chars")
    with pytest.raises(
        ValueError, match="primer mode must be one of start, symbols, chars, got 'notes'"
    ):
        parse_primer("60", ESSEN, mode="notes")


@pytest.mark.parametrize(("track", "meta", "unit"), [
    ("essen", {"encode": {"time_step": 0.25}}, (None, 16)),
    ("nottingham", {}, ("|", 1)),
    ("classical", {"representation": "notes_per_frame", "prepare": {"frames_per_beat": 4}}, ("|", 16)),
    ("classical", {"representation": "pianoroll", "prepare": {"frames_per_beat": 2}}, (None, 8)),
    ("classical", {"representation": "metered_frames", "prepare": {"frames_per_beat": 4}},
     (tuple(f"|{k}" for k in range(16)), 16)),
])
def test_each_track_says_how_to_count_bars(track, meta, unit):
    from tunesmith.tracks import get_track

    assert get_track(track).bar_unit(meta) == unit


def test_generation_stops_after_max_bars_of_new_music():
    from tunesmith.config.model import ModelConfig
    from tunesmith.generation.decode import generate
    from tunesmith.modeling.models import build_model

    keras.utils.set_random_seed(0)
    symbols = ["<end>", "|", "60", "62", "64"]
    cfg = ModelConfig(units=8, embedding_dim=4, dropout=0.0)
    model = build_model(cfg, len(symbols), window=None)

    def never_end(logits, rng):  # every token but the end token, at random: no sample ends by itself
        return rng.integers(1, len(symbols), size=logits.shape[0])

    out = generate(model, cfg, symbols, primer_ids=[0, 1, 2], num_samples=3, max_length=500, sampler=never_end,
                   seed=1, end_id=0, window=8, max_units=6, unit_id=1)
    for sample in out:
        assert sample.count(1) == 6 and sample[-1] == 1 and len(sample) < 500  # six bar lines, then stop
    several = generate(model, cfg, symbols, primer_ids=[0, 1, 2], num_samples=3, max_length=500,
                       sampler=never_end, seed=1, end_id=0, window=8, max_units=6, unit_id=[1, 3])
    for sample in several:  # units closed by either of two ids (metered frame ends are 16)
        assert sample.count(1) + sample.count(3) == 6 and sample[-1] in (1, 3)
    every = generate(model, cfg, symbols, primer_ids=[0], num_samples=2, max_length=500, sampler=never_end,
                     seed=1, end_id=0, window=8, max_units=16)
    assert [len(s) for s in every] == [16, 16]  # every token one unit: 16 tokens
    own = generate(model, cfg, symbols, primer_ids=[0, 1, 2], num_samples=3, max_length=500, sampler=never_end,
                   seed=1, end_id=0, window=8, max_units=[2, 5, 0], unit_id=1)
    assert [s.count(1) for s in own[:2]] == [2, 5] and len(own[2]) == 500  # a limit a sample; 0: none


def test_lengths_from_the_corpus_are_drawn_a_sample_each_from_the_training_pieces(tmp_path):
    import numpy as np

    from tunesmith.generation.samples import LENGTH_SLACK_BARS, corpus_lengths, drawn_limits
    from tunesmith.tracks import get_track

    train = tmp_path / "train.jsonl"  # pieces of 1 to 20 bars of 4 units
    train.write_text("".join(json.dumps({"id": str(k), "symbols": ["a", "|"] * 4 * k}) + "\n" for k in range(1, 21)))
    lengths = corpus_lengths(get_track("essen"), train, "|", 4)
    assert lengths.min() >= 2.9 and lengths.max() <= 18.1 and len(lengths) == 16  # 10th to 90th percentile
    most, least = drawn_limits(lengths, 64, seed=3, per_bar=4)
    again, _ = drawn_limits(lengths, 64, seed=3, per_bar=4)
    np.testing.assert_array_equal(most, again)  # the batch's seed reproduces its lengths
    assert len(set(most.tolist())) > 5 and set((most / 4).tolist()) <= set(lengths.tolist())
    np.testing.assert_array_equal(least, np.maximum(most - 4 * LENGTH_SLACK_BARS, 4))
    assert not np.array_equal(drawn_limits(lengths, 64, seed=4, per_bar=4)[0], most)


def test_a_sample_does_not_end_before_min_bars():
    from tunesmith.config.model import ModelConfig
    from tunesmith.generation.decode import generate
    from tunesmith.modeling.models import build_model

    keras.utils.set_random_seed(0)
    symbols = ["<end>", "|", "60", "62"]
    cfg = ModelConfig(units=8, embedding_dim=4, dropout=0.0)
    model = build_model(cfg, len(symbols), window=None)

    def eager_to_end(logits, rng):  # the end token whenever it is allowed, else a bar line
        return np.where(np.isfinite(logits[:, 0]), 0, 1)

    out = generate(model, cfg, symbols, primer_ids=[0], num_samples=2, max_length=100, sampler=eager_to_end,
                   seed=0, end_id=0, window=8, max_units=10, unit_id=1, min_units=4)
    assert out == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 0]]  # four bar lines, then the end it wanted all along


def test_a_cycle_keeps_its_members_in_order_from_where_the_primer_left_it():
    from tunesmith.config.model import ModelConfig
    from tunesmith.generation.constraints import Cycle
    from tunesmith.generation.decode import generate
    from tunesmith.modeling.models import build_model

    keras.utils.set_random_seed(0)
    symbols = ["<end>", "|0", "|1", "|2", "60", "62"]
    cfg = ModelConfig(units=8, embedding_dim=4, dropout=0.0)
    model = build_model(cfg, len(symbols), window=None)

    def any_allowed(logits, rng):  # uniform over what the mask leaves, never the end
        allowed = np.isfinite(logits)
        allowed[:, 0] = False
        return np.array([rng.choice(np.flatnonzero(row)) for row in allowed])

    def members(sample):
        return [i for i in sample if i in (1, 2, 3)]

    kept = generate(model, cfg, symbols, primer_ids=[0, 4, 2, 5], num_samples=4, max_length=60,
                    sampler=any_allowed, seed=3, end_id=0, window=8, cycle=[1, 2, 3])
    for sample in kept:
        got = members(sample)
        assert len(got) > 5 and got == [(k % 3) + 1 for k in range(2, 2 + len(got))]  # |2 |0 |1 |2 ... after |1
    free = generate(model, cfg, symbols, primer_ids=[0, 4, 2, 5], num_samples=4, max_length=60,
                    sampler=any_allowed, seed=3, end_id=0, window=8)
    assert any(members(s) != [(k % 3) + 1 for k in range(2, 2 + len(members(s)))] for s in free)

    order = Cycle([1, 2, 3], len(symbols), np.array([[0, 4], [0, 3]]))
    assert order.due.tolist() == [0, 0]  # no member in the first primer: the first is due; after |2, |0
    order.feed(np.array([1, 4]))
    assert order.due.tolist() == [1, 0]
    order.resync([[1, 2, 4], []])  # a row that took tokens back reads them again
    assert order.due.tolist() == [2, 0]
    masked = order.mask(np.zeros((2, len(symbols))))
    assert np.isneginf(masked[0, [1, 2]]).all() and masked[0, 3] == 0 and masked[1, 1] == 0 and masked[0, 4] == 0


@pytest.mark.parametrize("unit_ids", [[3], [3, 5, 7], None])
def test_form_loop_unit_counts_follow_appends_and_cut_back_bars(unit_ids):
    """The form loop counts each row's units once per symbol; a bar drawn again cuts its row back.
    Every count equals counting the whole row afresh, in the loop's order: count every row, append
    one symbol to each, cut some rows back."""
    from tunesmith.generation.decode import _UnitCounts

    rng = np.random.default_rng(0)
    rows = [[] for _ in range(4)]
    counts = _UnitCounts(unit_ids, len(rows))
    for _ in range(600):
        for i, row in enumerate(rows):
            fresh = len(row) if unit_ids is None else sum(s in unit_ids for s in row)
            assert counts.units(i, row) == fresh == counts.units(i, row)
            row.append(int(rng.integers(0, 9)))
            if rng.random() < 0.1:  # a bar drawn again: back to where it began, at most 12 symbols ago
                del row[max(0, len(row) - int(rng.integers(1, 13))):]


def _frame_grammar_ok(symbols, sample, primer):
    """Each frame's pitches ascending and each hold of a pitch that sounded in the frame before."""
    before, now = set(), []
    for s in [symbols[i] for i in (*primer, *sample)]:
        if s.startswith("|") or s == "<end>":
            before, now = {p.rstrip("~") for p in now}, []
            continue
        if now and int(s.rstrip("~")) <= int(now[-1].rstrip("~")):
            return False
        if s.endswith("~") and s.rstrip("~") not in before:
            return False
        now.append(s)
    return True


def test_frame_rules_keep_pitches_ascending_and_hold_only_what_sounded():
    from tunesmith.config.model import ModelConfig
    from tunesmith.generation.decode import generate
    from tunesmith.modeling.models import build_model

    keras.utils.set_random_seed(0)
    symbols = ["<end>", "|0", "|1", "60", "62", "64", "60~", "62~", "64~"]
    cfg = ModelConfig(units=8, embedding_dim=4, dropout=0.0)
    model = build_model(cfg, len(symbols), window=None)
    pitch_of = np.array([-1, -1, -1, 60, 62, 64, 60, 62, 64])
    held = np.array([False] * 6 + [True] * 3)

    def any_allowed(logits, rng):  # uniform over what the masks leave, never the end
        allowed = np.isfinite(logits)
        allowed[:, 0] = False
        return np.array([rng.choice(np.flatnonzero(row)) for row in allowed])

    primer = [0, 3, 5, 1]  # a frame of 60 and 64: the first new frame may hold either, not 62
    kept = generate(model, cfg, symbols, primer_ids=primer, num_samples=8, max_length=80, sampler=any_allowed,
                    seed=1, end_id=0, window=8, cycle=[1, 2], rules=([1, 2], pitch_of, held))
    assert all(_frame_grammar_ok(symbols, s, primer) for s in kept)
    assert sum(symbols[i].endswith("~") for s in kept for i in s) > 20  # holds were drawn, where they may be
    free = generate(model, cfg, symbols, primer_ids=primer, num_samples=8, max_length=80, sampler=any_allowed,
                    seed=1, end_id=0, window=8, cycle=[1, 2])
    assert not all(_frame_grammar_ok(symbols, s, primer) for s in free)


def test_frame_rules_read_their_frames_again_after_a_bar_is_taken_back():
    from tunesmith.generation.constraints import FrameRules

    pitch_of = np.array([-1, -1, 60, 62, 60, 62])
    held = np.array([False, False, False, False, True, True])
    rules = FrameRules([1], pitch_of, held, np.array([[0, 2, 1], [0, 3, 1]]))  # primers: a frame of 60; of 62
    masked = rules.mask(np.zeros((2, 6)))
    assert np.isfinite(masked[0]).tolist() == [True, True, True, True, True, False]  # hold 60, not 62
    assert np.isfinite(masked[1]).tolist() == [True, True, True, True, False, True]
    rules.feed(np.array([3, 2]))  # row 0 strikes 62, row 1 strikes 60: nothing at or below may follow
    masked = rules.mask(np.zeros((2, 6)))
    assert np.isneginf(masked[0, [2, 3, 4, 5]]).all() and np.isfinite(masked[0, [0, 1]]).all()
    assert np.isneginf(masked[1, [2, 4]]).all() and np.isfinite(masked[1, [3, 5]]).all()
    rules.feed(np.array([1, 1]))  # the frames close: row 0 held 62 before, row 1 60
    assert np.isfinite(rules.mask(np.zeros((2, 6)))[0]).tolist() == [True, True, True, True, False, True]
    rules.resync([[], [3, 1]])  # row 0 took its frame back (its primer's frame is the one before again)
    masked = rules.mask(np.zeros((2, 6)))
    assert np.isfinite(masked[0]).tolist() == [True, True, True, True, True, False]
    assert np.isfinite(masked[1]).tolist() == [True, True, True, True, False, True]
    only_holds = np.full((2, 6), -np.inf)
    only_holds[:, 5] = 0.0  # a row the rules would leave empty keeps its logits
    assert rules.mask(only_holds)[0, 5] == 0.0
