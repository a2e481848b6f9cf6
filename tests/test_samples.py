"""Primers: symbols to ids for every track, unknown symbols named, real openings allowed <unk>."""

from __future__ import annotations

import json

import pytest

from tunesmith.config import GenerateConfig, PrimerConfig
from tunesmith.errors import ConfigError
from tunesmith.samples import _ids, primer_symbols

ABC_VOCAB = ["<end>", "<unk>", "\n", " ", ":", "K", "M", "D", "/", "6", "8"]
ESSEN_VOCAB = ["/", "<unk>", "60", "62", "_", "r"]


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
