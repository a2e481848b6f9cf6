"""Generation with a form plan: ABC bars read as a model writes them, the plan fitted on real
tunes, and samples from a real (untrained) LSTM that keep meter, sections and tonic endings."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from tunesmith.config.model import ModelConfig
from tunesmith.evaluation.form import piece_form
from tunesmith.generation.decode import generate
from tunesmith.generation.form_plan import FormControl, Plan, _advance, fit_plan
from tunesmith.modeling.models import build_model
from tunesmith.tracks import get_track
from tunesmith.tracks.abc.bars import AbcBars, AbcForm
from tunesmith.tracks.abc.durations import bar_length, last_letter
from tunesmith.tracks.abc.form import abc_form_hints
from tunesmith.tracks.bars import FixedBar, FixedBars, Position

HEADER = "M:6/8\nL:1/8\nK:G\n"
JIG = ("d|BAG BAG|cBA d2d|BAG BAG|A3 A2d|BAG BAG|cBA d2g|fed cBA|G3 G2:|\n"
       "|:B|dBd gdB|dBd g2a|bag agf|e3 e2f|gfe dcB|cBA d2g|fed cBA|G3 G2:|\n")


def bars_of(header: str, body: str) -> list:
    reader = AbcBars(header)
    out = [bar for bar in (reader.feed(c)[1] for c in body) if bar is not None]
    last = reader.finish()
    return out + ([last] if last else [])


@pytest.mark.parametrize("text, units", [
    ("BAG BAG", 6), ("A2B/C/", 3), ("A3/2B/", 2), ("(3ABc d2", 4), ("[GBd]2 c", 3), ("{ag}f2 \"G\"e !trill!d", 4),
    ("A>B c<d", 4), ("z2 x", 3), ("A//B//c/", 1), ("[K:D] d6", 6), ("^F=G_B", 3),
])
def test_bar_length_counts_unit_notes(text, units):
    assert bar_length(text) == units


def test_last_letter_skips_chord_symbols_and_grace_notes():
    assert last_letter('"D7"A2 {g}f') == "F"
    assert last_letter("z3") is None


def test_reader_splits_a_jig_into_bars_with_their_lines():
    bars = bars_of(HEADER, JIG)
    assert [b.text.strip() for b in bars[:3]] == ["d", "BAG BAG", "cBA d2d"]
    assert [b.length for b in bars[:3]] == [1, 6, 6]
    assert bars[8].line.startswith(":|") and bars[8].ends_section and bars[8].last == "G"
    assert not bars[1].ends_section
    assert sum(b.ends_section for b in bars) == 2


def test_form_rules_keep_meter_section_length_and_tonic():
    form = AbcForm(HEADER, 8)
    where = Position()
    for bar in bars_of(HEADER, JIG):  # the real tune keeps every rule
        assert form.check(bar, where) is None, bar
        _advance(form, bar, where)
    assert where.sections == 2
    texts = ("BAG BA|", "BAG BAG:|", "BAG BAG|", "G3 A3:|")
    short, section7, no_end, wrong_home = (bars_of(HEADER, t)[0] for t in texts)
    assert form.check(short, Position(bar=3)).startswith("short bar")
    assert form.check(short, Position(bar=0)) is None  # a pickup opens a section
    assert form.check(section7, Position(bar=6)) == "section of 7 bars"
    assert form.check(no_end, Position(bar=7)) == "no section end after 8 bars"
    assert "not the tonic" in form.check(wrong_home, Position(bar=7))
    assert form.check(bars_of(HEADER, "G3 G2:|")[0], Position(bar=7, pickup=Fraction(1))) is None


def test_restrict_asks_for_the_bar_line_the_form_needs():
    form = AbcForm(HEADER, 8)
    for c in "BAG BAG":
        form.feed(c)
    only, _ = form.restrict(Position(bar=2))
    assert "|" in only and ":" not in only and "A" not in only
    only, _ = form.restrict(Position(bar=7))
    assert ":" in only and "|" not in only
    half = AbcForm(HEADER, 8)
    for c in "BAG":
        half.feed(c)
    assert half.restrict(Position(bar=2)) == (None, "|:")
    assert half.restrict(Position(bar=0)) == (None, ":")  # a pickup, closed by a plain bar line


def test_plan_fitted_on_tunes_repeats_in_runs():
    tunes = [list(HEADER + JIG)] * 3
    music = get_track("nottingham")
    plan = fit_plan(tunes, lambda t: music.bar_reader(t[:len(t) - len(music.after_header(t))], {}),
                    music.after_header, sections=True)
    assert plan.section_bars == 8 and plan.sections == 2
    # bar 3 of the A part (BAG BAG) repeats bar 1, two bars back, after a new bar
    seen, back = plan.repeats[(0, 2, 0)]
    assert seen == 3 and back == {2: 3}
    assert 0.2 < plan.repeat_share() < 0.5


def test_pickup_hint_aligns_bars_for_repeats():
    tune = HEADER + "d|BAG BAG|cBA GAB|BAG BAG|cBA GAB|]\n"
    hints = abc_form_hints(tune)
    assert hints.pickup == pytest.approx(0.5)
    notes = get_track("nottingham").notes(list(tune), {})
    # counted from the bar line, bars 3 and 4 repeat bars 1 and 2; from the pickup's note, one of four
    assert piece_form(notes, hints)["bar_repeat"] == pytest.approx(2 / 3)
    assert piece_form(notes, replace(hints, pickup=0.0))["bar_repeat"] == pytest.approx(1 / 4)


class Scripted:
    """A stepper stand-in for FormControl alone: one state row per sample holding its length."""

    def __init__(self, n):
        self.state = np.zeros((n, 1))

    def row_states(self):
        return [self.state.copy()]

    def set_row_states(self, rows, values):
        for r, v in zip(rows, values):
            self.state[r] = v[0]


def test_fixed_bars_repeat_the_bar_the_plan_draws():
    symbols = ["<end>", "a", "b", "c"]
    plan = Plan(None, None, {(0, b, k): (10, Counter({1: 10})) for b in range(1, 17) for k in range(0, 17)})
    control = FormControl(plan, [FixedBars(None, 2)], symbols, 0, np.random.default_rng(0))
    stepper, out = Scripted(1), [[]]
    logits = np.zeros((1, 4))
    control.start(stepper, logits)
    draws = iter([1, 2, 3, 1, 2, 3, 1, 2])
    for _ in range(8):
        ids = control.forced(np.array([next(draws)]), np.array([True]))
        out[0].append(int(ids[0]))
        logits = control.after(ids, out, stepper, logits, np.array([True]))
    assert out[0][:2] == [1, 2] and out[0][2:8] == [1, 2, 1, 2, 1, 2]  # every later bar repeats the one before
    assert control.repeated == 4  # after each of the four bars, the next is drawn as a repeat
    control.rows[0].queue.clear()
    assert control.mask(np.zeros((1, 4)), np.array([True]))[0, 0] == 0.0  # fixed bars end where the model ends
    assert np.isfinite(control.mask(np.zeros((1, 4)), np.array([True]), np.array([2]))).all()  # room for a bar
    no_room = control.mask(np.zeros((1, 4)), np.array([True]), np.array([1]))
    assert no_room[0, 0] == 0.0 and np.isneginf(no_room[0, 1:]).all()  # no room for another bar: it ends


def test_fixed_bars_may_end_only_at_a_bar_line_when_asked():
    free, whole = FixedBars("|", 2), FixedBars("|", 2, end_at_line=True)
    for reader in (free, whole):
        for s in ["60", "|", "62"]:
            reader.feed(s)
    assert free.can_end(Position()) and not whole.can_end(Position())
    assert whole.feed("|") == (True, FixedBar(("60", "|", "62", "|"))) and whole.can_end(Position())


def test_untrained_lstm_with_the_plan_keeps_meter_sections_and_tonic():
    music = get_track("nottingham")
    symbols = ["<end>", *sorted(set(HEADER + JIG + "|:"))]
    cfg = ModelConfig(family="lstm", units=16, embedding_dim=8, dropout=0.0)
    model = build_model(cfg, len(symbols))
    plan = Plan(section_bars=4, sections=2)
    header = list(HEADER)
    control = FormControl(plan, [music.bar_reader(header, {}, 4) for _ in range(4)], symbols, 0,
                          np.random.default_rng(1))
    primer = [0, *(symbols.index(c) for c in header)]
    rng_logits = np.log(np.where(np.isin(symbols, list("GABcd|:2")), 1.0, 1e-4))

    def sampler(logits, rng):  # the model's logits, leaning towards notes and bar lines
        z = logits + rng_logits
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return np.array([rng.choice(len(symbols), p=row) for row in p])

    out = generate(model, cfg, symbols, primer_ids=primer, num_samples=4, max_length=400, sampler=sampler,
                   seed=0, end_id=0, window=16, form=control)
    ended = [row for row in out if row and row[-1] == 0]
    assert len(ended) == 4, "a sample did not end after its two sections"
    homes = ends = 0
    for row in ended:
        body = "".join(symbols[t] for t in row[:-1])
        form, where = AbcForm(HEADER, 4), Position()
        for bar in bars_of(HEADER, body):
            if form.counts(bar, where):  # every counted bar fills the meter (or completes a pickup)
                assert bar.length in (form.bar_units, form.bar_units - where.pickup), body
            if bar.ends_section:
                assert where.bar + 1 == 4, body  # sections of the plan's 4 bars
                ends += 1
                homes += bar.last == "G"
            _advance(form, bar, where)
        assert where.sections == 2, body
    assert control.redrawn > 0 and homes >= 0.75 * ends  # redrawn bars bring most sections home


def test_the_pipeline_plan_falls_back_to_the_model_alone_with_the_cache_or_no_training_split(tmp_path, caplog):
    import json
    from types import SimpleNamespace

    from tunesmith.generation.samples import _form_plan

    music = get_track("nottingham")
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"id": str(i), "symbols": list(HEADER + JIG)}) + "\n" for i in range(3)))
    plan_cfg, off, on = SimpleNamespace(form="plan"), SimpleNamespace(on=False), SimpleNamespace(on=True)
    plan = _form_plan("nottingham", music, plan_cfg, {}, train, off, "stacked_lstm")
    assert plan.section_bars == 8 and plan.sections == 2
    assert _form_plan("nottingham", music, SimpleNamespace(form="none"), {}, train, off, "lstm") is None
    with caplog.at_level("INFO"):
        assert _form_plan("nottingham", music, plan_cfg, {}, train, on, "lstm") is None
        assert _form_plan("nottingham", music, plan_cfg, {}, tmp_path / "missing.jsonl", off, "lstm") is None
        assert _form_plan("nottingham", music, plan_cfg, {}, train, off, "cnn_lstm") is None  # not stepped
    assert "without the form plan" in caplog.text and "needs the encoded train split" in caplog.text
    assert "a cnn_lstm model is re-run on windows, not stepped: sampling without the form plan" in caplog.text


def test_home_bars_end_a_piece_of_frames_on_the_tonic_within_its_length():
    from tunesmith.tracks.bars import CLOSING_TRIES, HomeBars, kk_tonic

    ends = tuple(f"|{k}" for k in range(4))
    reader = HomeBars(ends, 4)  # bars of 4 frames
    c_major = ["48", "60", "64", "67", "|0", "43", "62", "67", "71", "|1", "48", "64", "67", "|2",
               "53", "65", "69", "|3"]
    for s in c_major:
        reader.feed(s)
    assert kk_tonic(reader._hist) == 0 and not reader.home()  # a whole bar, but the bass is on F
    assert not reader.can_end(Position())
    for s in ["43", "62", "67", "|0", "43", "65", "67", "71", "|1", "48", "60", "64", "|2", "|3"]:  # a silent frame
        reader.feed(s)
    assert reader.home() and reader.can_end(Position())  # the last sounding frame's bass is C
    reader.early = True
    assert not reader.can_end(Position())
    last = HomeBars(ends, 4)
    last.room = 5  # frames left: this bar is the last
    for s in ["48", "|0", "50", "|1", "53", "|2", "55"]:
        last.feed(s)
    assert not last.repeatable(FixedBar(("60", "|0")))  # the last bar is not a repeat
    _, bar = last.feed("|3")
    assert last.room == 1 and last.check(bar, Position()).startswith("piece ends with the bass on pitch class 7")
    assert last.max_tries == CLOSING_TRIES and last.can_end(Position())  # drawn again, then it ends anyway


def test_the_plan_summary_says_the_rules_its_reader_enforced():
    from tunesmith.tracks.bars import HomeBars

    control = FormControl(Plan(None), [HomeBars(("|",), 4)], ["<end>", "|", "60"], 0, np.random.default_rng(0))
    assert "bass of its last sounding frame on the tonic" in control.summary()["rules"]
    plain = FormControl(Plan(None), [FixedBars("|", 4)], ["<end>", "|", "60"], 0, np.random.default_rng(0))
    assert "rules" not in plain.summary()


def test_generation_json_carries_the_readers_rules():
    from tunesmith.generation.samples import _form_summary

    batch = {"section_bars": None, "sections": None, "repeat_share": 0.2, "places": 3, "rules": "whole bars",
             "bars_redrawn": 2, "bars_repeated": 1, "redrawn_for": {"piece": 2}}
    both = _form_summary([batch, {**batch, "redrawn_for": {"bar": 1}}])
    assert both["rules"] == "whole bars" and both["bars_redrawn"] == 4 and both["redrawn_for"] == {"piece": 2, "bar": 1}
    assert "rules" not in _form_summary([{k: v for k, v in batch.items() if k != "rules"}])
