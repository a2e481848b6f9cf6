"""Vocabulary and split: deterministic ids, UNK for rare symbols, splits by piece."""

from __future__ import annotations

import numpy as np

from tunesmith.config.stages import SplitConfig
from tunesmith.core.vocab import UNK, Vocab
from tunesmith.data.encode import assign_splits
from tunesmith.data.vocab import build_vocab, coverage


def test_vocab_is_sorted_with_specials_first_and_numbers_numeric():
    vocab = build_vocab([["60", "_", "9", "r"], ["_", "72", "/"]], end="/")
    assert vocab.symbols == ("/", UNK, "9", "60", "72", "_", "r")


def test_rare_symbols_become_unk_and_coverage_counts_them():
    train = [["a", "a", "b"], ["a", "c", "c"]]
    vocab = build_vocab(train, end="<end>", min_count=2)
    assert vocab.symbols == ("<end>", UNK, "a", "c")
    assert vocab.ids(["a", "b", "c", "zzz"]).tolist() == [2, 1, 3, 1]
    assert coverage(vocab, train) == 5 / 6


def test_corpus_ids_put_end_before_and_after_each_piece():
    vocab = build_vocab([["x", "y"]], end="/")
    ids = vocab.corpus_ids([["x"], ["y", "x"]])
    assert ids.dtype == np.uint16
    assert [vocab.symbols[i] for i in ids] == ["/", "x", "/", "y", "x", "/"]


def test_json_round_trip_keeps_ids_and_fingerprint():
    vocab = build_vocab([["b", "a"]], end="/", meta={"representation": "time_series"})
    again = Vocab.from_json(vocab.to_json())
    assert again.symbols == vocab.symbols and again.fingerprint() == vocab.fingerprint()
    assert again.meta["representation"] == "time_series"


def test_one_fingerprint_for_vocab_json_and_model_config():
    import hashlib

    from tunesmith.core.vocab import fingerprint
    from tunesmith.training.bundle import vocab_fingerprint

    vocab = build_vocab([["é", "a"]], end="/")
    # pinned: compact JSON of the symbol list, as every model's config.json records it
    expected = hashlib.sha256('["/","<unk>","a","é"]'.encode()).hexdigest()
    assert fingerprint(vocab.symbols) == vocab.fingerprint() == expected
    assert vocab.to_json()["fingerprint"] == vocab_fingerprint(vocab.to_json()) == expected
    assert fingerprint(("/", "<unk>", "é", "a")) != expected  # the order of the ids counts


def test_split_is_by_piece_seeded_and_complete():
    ids = [f"p{i:02d}" for i in range(20)]
    a = assign_splits(ids, {}, SplitConfig(0.8, 0.1, 0.1), seed=1)
    assert a == assign_splits(list(reversed(ids)), {}, SplitConfig(0.8, 0.1, 0.1), seed=1)
    assert sorted(a) == ids
    counts = {s: sum(v == s for v in a.values()) for s in ("train", "validation", "test")}
    assert counts == {"train": 16, "validation": 2, "test": 2}
    assert a != assign_splits(ids, {}, SplitConfig(0.8, 0.1, 0.1), seed=2)


def test_tiny_corpus_still_gets_validation_and_test():
    a = assign_splits(["a", "b", "c"], {}, SplitConfig(0.8, 0.1, 0.1), seed=0)
    assert sorted(a.values()) == ["test", "train", "validation"]


def test_published_split_is_kept():
    preset = {"a": "train", "b": "test", "c": "validation", "d": ""}
    assert assign_splits(list(preset), preset, SplitConfig(), seed=0) == {
        "a": "train", "b": "test", "c": "validation", "d": "train"}
