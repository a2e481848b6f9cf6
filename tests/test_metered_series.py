"""Essen's metered series: the song's meter and bar lines in the time series, read from real
music21 parses, written back as measures, and kept by generation with a form plan."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tunesmith.config.model import ModelConfig
from tunesmith.config.stages import EncodeConfig, PrepareConfig
from tunesmith.core.errors import MusicInputError
from tunesmith.evaluation.form import piece_form
from tunesmith.generation.decode import generate
from tunesmith.generation.form_plan import FormControl, Plan
from tunesmith.modeling.models import build_model
from tunesmith.tracks import get_track
from tunesmith.tracks.bars import FixedBar, Position
from tunesmith.tracks.melody import metered_series as ms
from tunesmith.tracks.melody import time_series as ts
from tunesmith.tracks.melody.track import prepare_essen

META = {"representation": ms.NAME, "encode": {"time_step": 0.25}, "prepare": {"transpose": True}}
# a 3/4 song with a quarter-note pickup whose last bar is short by it, and a note held over a bar line
SONG = "X:1\nT:Pickup\nM:3/4\nL:1/4\nK:C\nG|c d e|f2 e-|e d c|B2 c|d3-|d c B|c2|]\n"


@pytest.fixture(scope="module")
def piece(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("song") / "pickup.abc"
    path.write_text(SONG)
    (piece,) = prepare_essen(Path(path), "abc", "pickup", "", PrepareConfig(transpose=False))
    return piece


def test_prepare_records_the_meter_and_the_bar_lines(piece):
    assert piece["meter"] == "3/4"
    assert [Fraction(b) for b in piece["bars"]] == [1, 4, 7, 10, 13, 16, 19]


def test_encode_opens_with_the_meter_and_marks_every_bar(piece):
    symbols = ms.encode([(p, Fraction(d)) for p, d in piece["events"]], piece["bars"], piece["meter"])
    assert symbols[:7] == ["M3/4", "67", "_", "_", "_", "|", "72"]  # no key: prepare did not transpose
    bars = " ".join(symbols[1:]).split("|")[:-1]
    assert [len(b.split()) for b in bars] == [4, 12, 12, 12, 12, 12, 12, 8]  # pickup, 6 bars, the last short by it
    assert symbols[-1] == "|" and ms.meter_of(symbols) == "3/4"
    plain = ts.encode([(p, Fraction(d)) for p, d in piece["events"]])
    assert ms.steps_only(symbols) == plain  # the notes are the time series' own
    with pytest.raises(MusicInputError, match="bar line at 1/8"):
        ms.encode([(60, Fraction(1))], ["1/8"], "2/4")
    assert ms.encode([(60, Fraction(1))], [], "2/4", key="K:Am")[:2] == ["M2/4", "K:Am"]


@pytest.mark.parametrize("key, shift, symbol, tonic", [
    ("G major", 5, "K:C", 0), ("E minor", 5, "K:Am", 9), ("D dorian", 0, "K:Ddor", 2), ("F# minor", 3, "K:Am", 9),
    ("", 0, None, None), ("H major", 0, None, None),
])
def test_the_key_is_the_transposed_tonic_and_mode(key, shift, symbol, tonic):
    assert ms.key_symbol(key, shift) == symbol
    assert ms.tonic_of(["M3/4", symbol or "60"]) == tonic


def test_the_track_reads_the_meter_and_pickup_and_counts_bars_by_bar_lines(piece):
    essen = get_track("essen")
    symbols = essen.encode(piece, EncodeConfig(representation="metered"))
    assert essen.encode(piece, EncodeConfig()) == ms.steps_only(symbols)  # the default stays the time series
    hints = essen.form_hints(symbols, META)
    assert hints.bar_beats == 3.0 and hints.pickup == 1.0 and hints.length == 21.0 and hints.tonic is None
    assert essen.opening(symbols, 32) == ["M3/4"] and essen.after_header(symbols) == symbols[1:]
    keyed = ["M3/4", "K:Am", *symbols[1:], "r", "_", "_", "_", "|"]  # a rest fills the last bar
    assert essen.opening(keyed, 32) == ["M3/4", "K:Am"] and essen.after_header(keyed) == keyed[2:]
    assert essen.form_hints(keyed, META).tonic == 9 and essen.form_hints(keyed, META).length == 22.0
    plain = essen.form_hints(essen.encode(piece, EncodeConfig()), {"encode": {"time_step": 0.25}})
    assert plain.bar_beats == 4.0 and plain.length == 21.0 and plain.pickup == 0.0
    assert essen.bar_unit(META) == ("|", 1) and essen.bar_unit({"encode": {"time_step": 0.25}}) == (None, 16)
    notes = essen.notes(symbols, META)
    form = piece_form(notes, hints)
    assert form["whole_bars"] and form["tonic_end"] and form["bars"] == 7.0
    assert ms.bar_steps("6/8") == 12 and ms.bar_steps(None) == 16 and ms.bar_steps("x/y") == 16


def test_scores_are_written_in_the_songs_measures(piece, tmp_path):
    essen = get_track("essen")
    symbols = essen.encode(piece, EncodeConfig(representation="metered"))
    part = essen.decode(symbols, META, title="Pickup")
    measures = list(part.getElementsByClass("Measure"))
    assert len(measures) == 8 and measures[0].paddingLeft == 2.0  # a pickup of one beat in 3/4
    assert measures[0].getElementsByClass("TimeSignature").first().ratioString == "3/4"
    assert measures[0].getElementsByClass("Clef").first().sign == "G"  # a treble clef for these notes
    held = [n for n in part.recurse().notes if n.tie is not None]
    assert [n.tie.type for n in held] == ["start", "stop", "start", "stop"]  # e tied over bars 2-3, d over 5-6
    files: list[str] = []
    essen.write_music(symbols, META, tmp_path / "s", files, title="Pickup", primer_length=1)
    xml = (tmp_path / "s.musicxml").read_text()
    assert xml.count("<measure ") == 8 and "<beats>3</beats>" in xml and "<sign>G</sign>" in xml


def feed(reader, symbols):
    where, bars = Position(), []
    for s in symbols:
        _, bar = reader.feed(s)
        if bar is not None:
            bars.append((bar, reader.check(bar, where)))
            from tunesmith.generation.form_plan import _advance

            _advance(reader, bar, where)
    return where, bars


def test_bars_keep_the_meter_with_a_pickup_and_a_last_bar_short_by_it():
    reader = ms.MeteredBars(4, ["M3/4"])  # a 4-step bar
    assert reader.restrict(Position()) == (None, ("|", "M3/4"))  # nothing yet: no bar line, never a meter
    where, bars = feed(reader, ["60", "|"])  # a pickup of one step
    assert bars[0][1] is None and where.bar == 0 and not reader.can_end(where)
    feed(reader, ["62", "_", "_"])
    assert reader.restrict(where) == (None, ("|", "M3/4"))  # 3 of 4 steps: not short by the pickup, no line
    reader.feed("_")
    assert reader.restrict(where) == (("|",), ())  # a full bar takes its bar line
    reader.feed("|")
    feed(reader, ["64", "_", "_"])
    assert reader.restrict(where) == (None, ("M3/4",))  # short by the pickup: it may close the song
    reader.feed("|")
    assert reader.can_end(where) and reader.must_end
    broken = ms.MeteredBars(4)
    _, bars = feed(broken, ["60", "_", "_", "_", "|", "62", "|"])
    assert bars[1][1] == "bar of 1 steps in a 4-step meter"  # no pickup: a short bar breaks the meter


def test_untrained_lstm_with_the_plan_writes_whole_bars_of_the_meter():
    essen = get_track("essen")
    symbols = ["/", "M3/4", "|", "60", "62", "64", "_", "r"]
    cfg = ModelConfig(family="lstm", units=16, embedding_dim=8, dropout=0.0)
    model = build_model(cfg, len(symbols))
    header = ["M3/4"]
    readers = [essen.bar_reader(header, {**META, "symbols": symbols}) for _ in range(6)]
    control = FormControl(Plan(None), readers, symbols, 0, np.random.default_rng(2))
    lean = np.log(np.where(np.isin(symbols, ["60", "64", "_", "|"]), 1.0, 0.2))

    def sampler(logits, rng):  # the model's logits, leaning towards notes, holds and bar lines
        z = logits + lean
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return np.array([rng.choice(len(symbols), p=row) for row in p])

    out = generate(model, cfg, symbols, primer_ids=[0, 1], num_samples=6, max_length=300, sampler=sampler,
                   seed=0, end_id=0, window=16, form=control, max_units=10, unit_id=[2])  # 10 bar lines at most
    assert all(row.count(2) <= 10 for row in out)  # each song closes within its 10 bar lines ...
    for row in out:
        song = ["M3/4", *(symbols[t] for t in row if t != 0)]
        bars = " ".join(song[1:]).split("|")
        assert bars[-1].strip() == "", song  # the song ends on a bar line
        lengths = [len(b.split()) for b in bars[:-1]]
        pickup = lengths[0] if lengths[0] < 12 else 0
        assert all(n == 12 for n in lengths[1:-1]), lengths
        assert lengths[-1] == (12 - pickup if pickup else 12), " ".join(song)  # the last bar completes the pickup
    readers = [essen.bar_reader(header, {**META, "symbols": symbols}) for _ in range(6)]
    control = FormControl(Plan(None), readers, symbols, 0, np.random.default_rng(2))
    limits = [2, 3, 4, 10, 10, 10]  # a length limit a sample (generate.<c>.lengths: corpus)
    out = generate(model, cfg, symbols, primer_ids=[0, 1], num_samples=6, max_length=300, sampler=sampler,
                   seed=0, end_id=0, window=16, form=control, max_units=limits, unit_id=[2])
    assert all(row.count(2) <= limit for row, limit in zip(out, limits)), [row.count(2) for row in out]
    assert max(row.count(2) for row in out[3:]) > 4  # the longer limits were not the first's


def test_a_song_ends_on_the_tonic_unless_it_has_no_room_left():
    reader = ms.MeteredBars(4, ["M2/4", "K:C"], tonic=0)
    where, _ = feed(reader, ["60", "_", "_", "_", "|", "62", "_", "_", "_", "|"])
    assert not reader.can_end(where)  # a whole bar, but on D: not home
    feed(reader, ["64", "_", "60", "_", "|"])
    assert reader.can_end(where) and not reader.must_end  # home on C after whole bars
    reader.early = True
    assert not reader.can_end(where)  # too short to end yet (the song's length limit)
    picked = ms.MeteredBars(4, tonic=0)
    feed(picked, ["67", "|", "64", "_", "_", "_", "|", "62", "_", "_"])
    assert picked.restrict(Position()) == (None, ("|",))  # short by the pickup, but on D: no closing bar line
    picked.room = 1  # room for this bar only: it closes here, tonic or not
    assert picked.restrict(Position()) == (("|",), ())
    assert not picked.repeatable(FixedBar(("60", "_", "_", "_", "|")))  # the last bar is not a repeat
    _, bars = feed(picked, ["|"])
    assert bars[0][1] == "song ends on pitch class 2, not the tonic 0"  # drawn again by the plan ...
    assert picked.max_tries == ms.CLOSING_TRIES > ms.MAX_TRIES  # ... more often than other bars
    assert picked.must_end and picked.can_end(Position())


def test_a_song_ends_on_a_long_note_and_a_rest_after_it_does_not_lengthen_it():
    reader = ms.MeteredBars(8, tonic=0, final_steps=4)
    where, _ = feed(reader, ["60", *["_"] * 7, "|", "62", "_", "_", "_", "64", "_", "60", "_", "|"])
    assert not reader.can_end(where)  # home, but on an 8th
    feed(reader, ["62", "_", "_", "_", "60", "_", "r", "_", "|"])
    assert not reader.can_end(where)  # the rest after the 8th does not make it long
    feed(reader, ["62", "_", "_", "_", "60", "_", "_", "_", "|"])
    assert reader.can_end(where)  # a quarter on the tonic
    picked = ms.MeteredBars(8, tonic=0, final_steps=4)
    feed(picked, ["67", "_", "|", *["64", "_"] * 4, "|", "62", "_", "60", "_"])
    picked.room = 1
    _, bars = feed(picked, ["_", "_", "|"])
    assert bars[0][1] is None  # the last bar, short by the pickup, ends on a quarter on the tonic
    early = ms.MeteredBars(8, tonic=0, final_steps=4)
    feed(early, ["67", "_", "|", *["64", "_"] * 4, "|", "62", "_", "_", "_", "60", "_"])
    early.room = 1
    _, bars = feed(early, ["|"])
    assert bars[0][1] == "song ends on a note of 2 steps, shorter than 4"


def test_an_api_continuation_is_decoded_under_its_songs_meter_and_key():
    from tunesmith.api.sample import Sample

    essen = get_track("essen")
    sample = Sample(("M3/4", "K:C", "67", "_", "_", "_", "|"), ("72", "_", "_", "_", "_", "_", "_", "_", "|"), True, 0,
                    essen, META)
    assert sample._symbols(continuation=True) == ["M3/4", "K:C", "72", *["_"] * 7, "|"]
    part = sample.to_music(continuation=True)
    assert part.getElementsByClass("Measure").first().getElementsByClass("TimeSignature").first().ratioString == "3/4"
    assert [n.pitch.midi for n in part.recurse().notes] == [72]
