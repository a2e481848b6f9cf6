"""Primers: symbols to ids for every track, unknown symbols named, real openings allowed <unk>."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.config.stages import GenerateConfig, PrimerConfig
from tunesmith.core.errors import ConfigError
from tunesmith.generation.primers import primer_symbols
from tunesmith.generation.primers import symbol_ids as _ids

ABC_VOCAB = ["<end>", "<unk>", "\n", " ", ":", "K", "M", "D", "/", "6", "8"]
ESSEN_VOCAB = ["/", "<unk>", "60", "62", "_", "r"]

LSTM_CFG = type("M", (), {"family": "lstm"})()
"""What the stubbed bundles' model config needs to say: a stepped family."""


def test_abc_primer_keeps_spaces_and_newlines():
    ids = _ids(list("M:6/8\nK:D D"), ABC_VOCAB, "<end>", allow_unk=False)
    assert [ABC_VOCAB[i] for i in ids] == ["<end>", *"M:6/8\nK:D D"]


def test_abc_test_opening_with_unknown_character_becomes_unk_not_split():
    ids = _ids(list("K:D Q"), ABC_VOCAB, "<end>", allow_unk=True)
    assert [ABC_VOCAB[i] for i in ids] == ["<end>", "K", ":", "D", " ", "<unk>"]


def test_unknown_primer_symbol_is_named_with_its_neighbours():
    with pytest.raises(ValueError, match=r"primer symbol '61' \(position 1\) is not in the vocabulary; "
                                         r"nearest valid symbols: '6[02]', '6[02]'"):
        _ids(["60", "61"], ESSEN_VOCAB, "/", allow_unk=False)


def test_melody_primer_maps_to_ids():
    assert _ids(["60", "_", "_", "r"], ESSEN_VOCAB, "/", allow_unk=False) == [0, 2, 4, 4, 5]


def test_test_primer_takes_a_different_opening_per_sample(tmp_path):
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"id": str(i), "symbols": [str(60 + i), "_", "_"]}) + "\n" for i in range(2)))
    cfg = GenerateConfig(num_samples=3, primer=PrimerConfig(mode="test", length=2))
    assert primer_symbols(cfg, {}, test_pieces=test) == [["60", "_"], ["61", "_"], ["60", "_"]]
    with pytest.raises(ConfigError, match="needs the encoded test split"):
        primer_symbols(cfg, {}, test_pieces=tmp_path / "missing.jsonl")


def test_chars_primer_reads_escaped_newlines_from_the_command_line():
    cfg = GenerateConfig(num_samples=1, primer=PrimerConfig(mode="chars", text="M:6/8\\nK:"))
    assert primer_symbols(cfg, {}) == [list("M:6/8\nK:")]


def test_a_sample_that_is_not_music_is_generated_again_with_the_next_seed(tmp_path, monkeypatch):
    """Seed 0 (the batch) gives sample 1 a tune that does not decode, so does seed 1; seed 2's
    does. The kept sample is seed 2's and samples.csv lists both rejected seeds."""
    import pandas as pd

    from tunesmith.generation import samples

    symbols = ["<end>", "<unk>", "a", "b", "Q"]
    vocab = {"symbols": symbols, "special": {"end": "<end>", "unk": "<unk>"}}
    monkeypatch.setattr("tunesmith.training.bundle.load_model_bundle",
                        lambda _: (None, LSTM_CFG, type("T", (), {"window": 8})(), vocab))
    calls = []

    def fake_generate(model, cfg, syms, *, primer_ids, num_samples, seed, **_):
        calls.append((seed, num_samples))
        if num_samples > 1:  # the batch: sample 1 is not music
            return [[4 if j == 1 else 2, 0] for j in range(num_samples)]
        return [[4, 0]] if seed == 1 else [[3, 0]]

    def fake_write(track, sample_symbols, meta, stem, *, title="", primer_length=0):
        ok = "Q" not in sample_symbols
        stem.with_suffix(".abc").write_text("".join(sample_symbols))
        return {"decoded": ok, "error": "" if ok else "music21 cannot parse Q", "notes": int(ok), "files": []}

    monkeypatch.setattr("tunesmith.generation.decode.generate", fake_generate)
    monkeypatch.setattr(samples, "write_sample", fake_write)
    cfg = GenerateConfig(num_samples=3, retries=4, render=False, primer=PrimerConfig(mode="start"))
    table = samples.generate_samples("nottingham", tmp_path / "m", cfg, tmp_path / "out")
    assert calls == [(0, 3), (1, 1), (2, 1)]
    assert table["decoded"].tolist() == [True, True, True]
    assert table["seed"].tolist() == [0, 2, 0] and table["attempts"].tolist() == [1, 3, 1]
    assert table["rejected"][1] == "seed 0: music21 cannot parse Q; seed 1: music21 cannot parse Q"
    assert (tmp_path / "out" / "sample_001.txt").read_text() == "b"
    assert pd.read_csv(tmp_path / "out" / "samples.csv")["attempts"].tolist() == [1, 3, 1]

    calls.clear()  # without retries the failure is kept, and says so
    table = samples.generate_samples("nottingham", tmp_path / "m", GenerateConfig(
        num_samples=3, render=False, primer=PrimerConfig(mode="start")), tmp_path / "out0")
    assert calls == [(0, 3)] and table["decoded"].tolist() == [True, False, True]
    assert table["error"][1] == "music21 cannot parse Q"


@pytest.mark.parametrize("keep_wav", [False, True])
def test_generate_passes_keep_wav_to_the_renderer(tmp_path, monkeypatch, keep_wav):
    from tunesmith.generation import samples

    vocab = {"symbols": ["<end>", "<unk>", "a"], "special": {"end": "<end>", "unk": "<unk>"}}
    monkeypatch.setattr("tunesmith.training.bundle.load_model_bundle",
                        lambda _: (None, LSTM_CFG, type("T", (), {"window": 8})(), vocab))
    monkeypatch.setattr("tunesmith.generation.decode.generate", lambda *a, num_samples, **k: [[2, 0]] * num_samples)
    monkeypatch.setattr(samples, "write_sample",
                        lambda *a, **k: {"decoded": True, "error": "", "notes": 1, "files": []})
    seen = []
    monkeypatch.setattr("tunesmith.render.sample_set.render_samples", lambda *a, **k: seen.append(k) or [])
    cfg = GenerateConfig(num_samples=1, keep_wav=keep_wav, primer=PrimerConfig(mode="start"))
    samples.generate_samples("nottingham", tmp_path / "m", cfg, tmp_path / "out")
    assert [k["keep_wav"] for k in seen] == [keep_wav]


def test_a_sample_that_is_only_its_primer_is_not_decoded_and_is_generated_again(tmp_path, monkeypatch):
    """The real essen track: seed 0 ends the piece right after its primer (one note), seed 1 adds a
    note. The first draw is no music of the model's own, so it is retried, not called decoded."""
    from tunesmith.generation import samples

    symbols = ["/", "<unk>", "60", "_", "r"]
    vocab = {"symbols": symbols, "special": {"end": "/", "unk": "<unk>"}, "corpus": "essen",
             "encode": {"time_step": 0.25}, "prepare": {}}
    monkeypatch.setattr("tunesmith.training.bundle.load_model_bundle",
                        lambda _: (None, LSTM_CFG, type("T", (), {"window": 8})(), vocab))
    monkeypatch.setattr("tunesmith.generation.decode.generate",
                        lambda *a, seed, num_samples, **k: [[0] if seed == 0 else [2, 3, 3, 3, 0]] * num_samples)
    cfg = GenerateConfig(num_samples=1, retries=2, render=False, primer=PrimerConfig(mode="symbols", text="60 _ _ _"))
    table = samples.generate_samples("essen", tmp_path / "m", cfg, tmp_path / "out")
    assert table["decoded"].tolist() == [True] and table["seed"].tolist() == [1]
    assert table["rejected"][0].startswith("seed 0: only the primer (1 note)")

    cfg = GenerateConfig(num_samples=1, retries=0, render=False, primer=PrimerConfig(mode="symbols", text="60 _ _ _"))
    monkeypatch.setattr("tunesmith.generation.decode.generate", lambda *a, num_samples, **k: [[0]] * num_samples)
    table = samples.generate_samples("essen", tmp_path / "m", cfg, tmp_path / "out2")
    assert table["decoded"].tolist() == [False] and "only the primer" in table["error"][0]


def test_generate_writes_a_judging_pool_and_real_pieces_rendered_like_the_samples(tmp_path, monkeypatch):
    """The real essen track with a stand-in model: ``judge_samples`` more samples (primer included)
    go to pool.jsonl with seeds past the rendered samples', and ``real_pieces`` seeded draws of the
    test split are written as music into real/, with their own samples.csv and records."""
    import json

    from tunesmith.core.sample_record import read_records
    from tunesmith.generation import samples
    from tunesmith.generation.pool import POOL, SEED_OFFSET

    symbols = ["/", "<unk>", "60", "62", "_", "r"]
    vocab = {"symbols": symbols, "special": {"end": "/", "unk": "<unk>"}, "corpus": "essen",
             "encode": {"time_step": 0.25}, "prepare": {}}
    monkeypatch.setattr("tunesmith.training.bundle.load_model_bundle",
                        lambda _: (None, LSTM_CFG, type("T", (), {"window": 8})(), vocab))
    seeds = []

    def fake_generate(*a, seed, num_samples, **k):
        seeds.append(seed)
        return [[3, 4, 4, 4, 0]] * num_samples  # "62 _ _ _" then the end

    monkeypatch.setattr("tunesmith.generation.decode.generate", fake_generate)
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"id": f"p{i}", "title": f"song {i}",
                                        "symbols": ["60", "_", "_", "_"] * (i + 1)}) + "\n" for i in range(5)))
    cfg = GenerateConfig(num_samples=2, render=False, judge_samples=6, real_pieces=2,
                         primer=PrimerConfig(mode="symbols", text="60 _ _ _"))
    samples.generate_samples("essen", tmp_path / "m", cfg, tmp_path / "out", test_pieces=test)
    pool = [json.loads(line) for line in (tmp_path / "out" / POOL).read_text().splitlines()]
    assert len(pool) == 6 and seeds == [0, SEED_OFFSET]  # the rendered batch, then the pool as one batch
    assert pool[0] == {"symbols": ["60", "_", "_", "_", "62", "_", "_", "_"], "primer": 4}
    real = read_records(tmp_path / "out" / "real")
    assert [r.name for r in real] == ["real_000", "real_001"]
    assert all(r.midi and Path(r.midi).is_file() for r in real)
    titles = {r.info["title"] for r in real}
    assert len(titles) == 2 and titles <= {f"song {i}" for i in range(5)}


def test_lengths_from_the_corpus_are_a_training_pieces_a_sample(tmp_path, monkeypatch):
    """``lengths: corpus``: each sample's most bars are a training piece's length between their 10th
    and 90th percentiles (essen: 16 sixteenths a 4/4 bar), its least 2 bars fewer, not fixed numbers."""
    import numpy as np

    from tunesmith.generation import samples

    vocab = {"symbols": ["/", "<unk>", "60", "_"], "special": {"end": "/", "unk": "<unk>"}, "corpus": "essen",
             "encode": {"time_step": 0.25}, "prepare": {}}
    monkeypatch.setattr("tunesmith.training.bundle.load_model_bundle",
                        lambda _: (None, LSTM_CFG, type("T", (), {"window": 8})(), vocab))
    seen = []
    monkeypatch.setattr("tunesmith.generation.decode.generate",
                        lambda *a, num_samples, min_units, max_units, **k: seen.append((min_units, max_units))
                        or [[2, 3, 0]] * num_samples)
    bars = [2, 4, 4, 6, 8, 8, 10, 12, 16, 30]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"id": str(i), "symbols": ["60"] + ["_"] * (16 * b - 1)})
                                                  + "\n" for i, b in enumerate(bars)))
    cfg = GenerateConfig(num_samples=8, render=False, lengths="corpus", primer=PrimerConfig(mode="start"))
    samples.generate_samples("essen", tmp_path / "m", cfg, tmp_path / "out", test_pieces=tmp_path / "test.jsonl")
    low, high = np.percentile(bars, [10, 90])
    (least, most), = seen  # one batch: the samples share their primer
    assert len(most) == 8 and set(most.tolist()) <= {16 * b for b in bars if low <= b <= high}
    assert len(set(most.tolist())) > 1  # drawn a sample, not one window for all
    np.testing.assert_array_equal(least, np.maximum(most - 2 * 16, 16))
