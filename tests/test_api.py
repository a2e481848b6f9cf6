"""The Python API (docs/api.md): the docs' example runs on the tiny model and writes MIDI that pretty_midi
reads back; `Model.score` reads a file of one's own as the pipeline reads its corpus and scores it as the
evaluate stage does; unknown symbols are one line naming them; an ABC continuation decodes on its own."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from tunesmith.core.errors import ConfigError, MusicInputError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "api_example.py"

PIECE = "X:1\nT:Test\nM:4/4\nL:1/4\nK:C\nC D E z | E2 C2 |]\n"
PIECE_TEXT = "60 _ _ _ 62 _ _ _ 64 _ _ _ r _ _ _ 64 _ _ _ _ _ _ _ 60 _ _ _ _ _ _ _"
PIECE_SYMBOLS = PIECE_TEXT.split()
"""The piece in essen's time series at 16th notes, written out by hand: what prepare and encode must give."""
PRIMER = "60 _ _ _ 64 _ _ _"
"""The example's primer: C and E of the tiny vocabulary."""
UNKNOWN_PIECE = "X:1\nT:Other\nM:4/4\nL:1/4\nK:C\nC D F G | E4 |]\n"


def _example():
    spec = importlib.util.spec_from_file_location("api_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.example


@pytest.fixture(scope="module")
def example_run(tiny_model_dir, tmp_path_factory):
    """docs/api.md's example, run once on the tiny essen model: ``(model, samples, score, folder, piece)``."""
    folder = tmp_path_factory.mktemp("api-example")
    piece = folder / "test_piece.abc"
    piece.write_text(PIECE)
    model, samples, score = _example()(tiny_model_dir, piece, folder / "samples")
    return model, samples, score, folder, piece


def _expected(model, pieces, cache=None):
    """The evaluate stage's full-context scoring (`full_context_metrics`) of ``pieces`` laid out as a split."""
    from tunesmith.core.vocab import Vocab
    from tunesmith.evaluation.full_context import full_context_metrics

    vocab = Vocab.from_json(model.vocab)
    ids = np.asarray(vocab.corpus_ids(pieces))
    mask = model.track.hold_mask(ids, list(vocab.symbols))
    return ids, full_context_metrics(model.keras_model, model.model_config, ids, vocab.end_id, len(vocab),
                                     hold_mask=mask, cache=cache)


def test_docs_api_md_shows_the_example_that_runs():
    body = EXAMPLE.read_text().split("# --- the example (docs/api.md shows these lines)\n")[1]
    lines = textwrap.dedent(body.split("# --- end of the example")[0]).strip()
    assert lines.count("\n") >= 8
    assert lines in (ROOT / "docs" / "api.md").read_text()


def test_the_examples_samples_are_midi_files_pretty_midi_reads_back(example_run):
    model, samples, _, folder, _ = example_run
    assert len(samples) == 4 and len({s.generated for s in samples}) > 1
    for i, sample in enumerate(samples):
        midi = pretty_midi.PrettyMIDI(str(folder / "samples" / f"sample_{i}.mid"))
        pitches = [n.pitch for inst in midi.instruments for n in sorted(inst.notes, key=lambda n: n.start)]
        assert pitches[:2] == [60, 64]  # the primer's C and E, then the model's own notes
        assert pitches == [int(p) for p in model.track.notes(sample.symbols, model.vocab)[:, 0]]
        assert sample.primer == tuple(PRIMER.split())
        assert len(sample.generated) <= 256 and (sample.ended or len(sample.generated) == 256)
        assert model.vocab["special"]["end"] not in sample.generated
    again = model.generate(4, primer=PRIMER, temperature=0.9, seed=0, max_length=256)
    assert [s.generated for s in again] == [s.generated for s in samples]  # the seed decides


def test_score_reads_the_piece_as_the_pipeline_and_equals_evaluates_scoring(example_run):
    model, _, score, _, piece = example_run
    assert model.encode(piece) == [PIECE_SYMBOLS]
    ids, row = _expected(model, [PIECE_SYMBOLS])
    assert ids.tolist() == [0, *(model.vocab["symbols"].index(s) for s in PIECE_SYMBOLS), 0]
    assert score.nll == pytest.approx(row["nll"], abs=1e-6)
    assert score.event_nll == pytest.approx(row["event_nll"], abs=1e-6)
    assert (score.symbols, score.notes, score.pieces, score.unknown) == (len(PIECE_SYMBOLS) + 1, 5, 1, {})
    assert score.nll_per_note == pytest.approx(row["nll"] * score.symbols / 5, abs=1e-6)
    # the same NLL computed straight from the model's logits over the whole piece
    from tunesmith.core.numeric import log_softmax
    from tunesmith.modeling.models import any_length_model

    net = any_length_model(model.keras_model, model.model_config, len(model.vocab["symbols"]))
    logp = log_softmax(np.asarray(net(ids[None, :-1].astype(np.int32), training=False)))[0]
    assert score.nll == pytest.approx(-logp[np.arange(ids.size - 1), ids[1:]].mean(), abs=1e-6)
    assert score.nll_cache is None and "no cache" in score.summary()  # the tiny model was trained without one
    from music21 import converter  # a music21 stream (written as MusicXML, then read as the file was)

    assert model.score(converter.parse(PIECE, format="abc")).nll == pytest.approx(score.nll, abs=1e-9)
    assert model.score(PIECE).nll == pytest.approx(score.nll, abs=1e-9)  # ABC text


def test_score_with_the_cache_is_evaluates_cache_scoring(tiny_model_copy, tmp_path):
    import tunesmith
    from tunesmith.modeling.cache import Cache

    (tiny_model_copy / "cache.json").write_text(json.dumps({"lambda": 0.3, "theta": 20.0, "similarity": "cosine"}))
    model = tunesmith.load_model(tiny_model_copy)
    (tmp_path / "piece.abc").write_text(PIECE)
    score = model.score(tmp_path / "piece.abc")
    _, lstm = _expected(model, [PIECE_SYMBOLS])
    _, mixed = _expected(model, [PIECE_SYMBOLS], cache=Cache(0.3, 20.0))
    assert score.nll == pytest.approx(lstm["nll"], abs=1e-6)
    assert score.nll_cache == pytest.approx(mixed["nll"], abs=1e-6)
    assert score.nll_cache != pytest.approx(score.nll, abs=1e-4)
    assert score.nll_per_note_cache == pytest.approx(mixed["nll"] * score.symbols / score.notes, abs=1e-6)


def test_unknown_symbols_are_one_line_naming_them_or_scored_as_unk(example_run, tmp_path):
    model = example_run[0]
    path = tmp_path / "other.abc"
    path.write_text(UNKNOWN_PIECE)
    with pytest.raises(MusicInputError) as info:
        model.score(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "'65' (1x)" in message and "'67' (1x)" in message
    assert "unknown='unk'" in message
    score = model.score(path, unknown="unk")  # as evaluate scores a test split: <unk>
    assert score.unknown == {"65": 1, "67": 1}
    ids, row = _expected(model, model.encode(path))
    assert int((ids == model.vocab["symbols"].index("<unk>")).sum()) == 2
    assert score.nll == pytest.approx(row["nll"], abs=1e-6)
    with pytest.raises(ConfigError, match=r"primer symbol '67' \(position 2\) is not in the vocabulary"):
        model.generate(1, primer="60 _ 67")
    with pytest.raises(MusicInputError, match="no such file"):
        model.score(tmp_path / "missing.krn")


def test_an_abc_continuation_decodes_with_its_primers_header(tmp_path):
    """The issue's `no active default note length`: the model's ABC alone lacks the primer's L: and K:."""
    from tunesmith.api import Sample
    from tunesmith.tracks import get_track

    track = get_track("nottingham")
    sample = Sample(tuple("X:1\nM:6/8\nL:1/8\nK:D\nABc "), tuple("def|edc BAG|]"), True, 0, track, {})
    with pytest.raises(MusicInputError, match="no active default note length"):
        track.decode(list(sample.generated), {})
    notes = sample.to_music(continuation=True).flatten().notes
    assert [n.pitch.nameWithOctave for n in notes] == ["D5", "E5", "F#5", "E5", "D5", "C#5", "B4", "A4", "G4"]
    assert len(sample.to_midi().instruments[0].notes) == 12  # the whole tune: the primer's 3 notes too
    text = sample.write(tmp_path / "tune.abc", continuation=True).read_text()
    assert text == "X:1\nM:6/8\nL:1/8\nK:D\ndef|edc BAG|]"
    with pytest.raises(ConfigError, match=r"tune\.wav: write a sample as \.mid, \.musicxml, \.abc or \.txt"):
        sample.write(tmp_path / "tune.wav")


def test_import_tunesmith_stays_light_and_lists_the_api():
    code = ("import sys, tunesmith; assert 'load_model' in tunesmith.__all__ and 'load_model' in dir(tunesmith); "
            "print(sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras', 'music21', 'tunesmith.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_model_of_a_track_of_ones_own_loads_by_the_kind_its_vocabulary_records(tiny_model_copy, tmp_path):
    import tunesmith
    from tunesmith.core.errors import TunesmithError
    from tunesmith.tracks import BUILTIN, register_tracks

    vocab = json.loads((tiny_model_copy / "vocab.json").read_text())
    (tiny_model_copy / "vocab.json").write_text(json.dumps({**vocab, "corpus": "my_songs", "kind": "melody"}))
    try:
        model = tunesmith.load_model(tiny_model_copy)
        assert (model.corpus, model.track.name, model.track.kind) == ("my_songs", "my_songs", "melody")
        assert model.encode(PIECE) == [PIECE_SYMBOLS]
        (tiny_model_copy / "vocab.json").write_text(json.dumps({**vocab, "corpus": "my_reels"}))
        with pytest.raises(TunesmithError, match=r"'my_reels', which no params\.yaml lists, and whose kind"):
            tunesmith.load_model(tiny_model_copy)
    finally:
        register_tracks({name: {"kind": kind} for name, kind in BUILTIN.items()})


def test_classical_samples_keep_the_frame_ends_order_and_the_frames_grammar(tmp_path):
    """`Model.generate` keeps what `tunesmith generate` keeps for metered onsets: the frame ends in
    their order and each frame's grammar, which an untrained model's samples break all the time."""
    import tunesmith
    from tunesmith.config.train import TrainConfig
    from tunesmith.modeling.models import ModelConfig
    from tunesmith.tracks.piano import metered_onsets as mo
    from tunesmith.training.loop import train

    symbols = [mo.PIECE_END, "<unk>", *mo.SYMBOLS[1:]]
    vocab = {"symbols": symbols, "special": {"end": mo.PIECE_END, "unk": "<unk>"}, "corpus": "classical",
             "kind": "piano", "representation": mo.NAME, "encode": {"representation": mo.NAME},
             "prepare": {"frames_per_beat": 4}}
    ids = np.random.default_rng(0).integers(0, len(symbols), 400).astype(np.uint16)
    ids[[0, 99, -1]] = 0
    train(ModelConfig(units=8, embedding_dim=4, dropout=0.0),
          TrainConfig(window=8, batch_size=8, epochs=1, context="window", average_epochs=0, cache=False),
          vocab, ids, ids[:100], tmp_path / "classical")
    model = tunesmith.load_model(tmp_path / "classical")
    primer = ["48", "60", "|0", "48~", "64", "|1"]
    samples = model.generate(24, primer=primer, seed=0, max_length=120)
    frames = 0
    for sample in samples:
        before, now, due = {"48", "64"}, [], 2
        for s in sample.generated:
            if mo.is_frame_end(s):
                assert s == f"|{due}"  # the frame ends in their order
                before, now, due, frames = {p.rstrip("~") for p in now}, [], (due + 1) % 16, frames + 1
                continue
            if not s.rstrip("~").isdigit():
                continue  # <unk>: random training ids hold it, real ones never do
            assert not now or int(s.rstrip("~")) > int(now[-1].rstrip("~"))  # ascending
            assert not s.endswith("~") or s[:-1] in before  # a hold of what sounded the frame before
            now.append(s)
    assert frames > 10 and sum(s.endswith("~") for x in samples for s in x.generated) > 5
