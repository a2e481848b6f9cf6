"""Seed noise: seeds.json's figures, the noise band compare uses, and the seeds stage on a toy corpus."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tunesmith.core.errors import ConfigError
from tunesmith.evaluation.noise import noise_band, params_hash, spread, summarize, verdict


def test_seeds_json_holds_each_value_and_their_mean_sd_and_n():
    per_seed = {2: {"test_nll": 1.4, "val_nll": 1.5}, 0: {"test_nll": 1.0, "val_nll": 1.1},
                1: {"test_nll": 1.2, "val_nll": 1.3}}
    record = summarize(per_seed, params={"learning_rate": 0.003, "epochs": 5}, corpus="essen")
    assert record["seeds"] == [0, 1, 2] and record["n"] == 3
    fig = record["figures"]["test_nll"]
    assert fig["values"] == [1.0, 1.2, 1.4]
    assert fig["mean"] == pytest.approx(1.2) and fig["sd"] == pytest.approx(0.2) and fig["n"] == 3
    assert record["figures"]["val_nll"]["mean"] == pytest.approx(1.3)
    assert "margin_vs_best_ngram" not in record["figures"]  # a figure no seed has is left out
    # the hash names the recipe: key order does not matter, a value does
    assert record["params_hash"] == params_hash({"epochs": 5, "learning_rate": 0.003})
    assert record["params_hash"] != params_hash({"epochs": 6, "learning_rate": 0.003})
    assert spread([0.5])["sd"] is None


def test_the_noise_band_is_two_standard_errors_of_the_difference():
    assert noise_band(None, None) is None
    assert noise_band(0.01, None) == pytest.approx(2 * math.sqrt(2) * 0.01)  # two single runs
    assert noise_band(0.03, 0.04) == pytest.approx(2 * math.sqrt(2) * math.sqrt((0.03**2 + 0.04**2) / 2))
    assert noise_band(0.01, 0.01, 3, 3) == pytest.approx(2 * 0.01 * math.sqrt(2 / 3))  # two 3-seed means
    assert verdict(0.02, 0.0283, -1) == "within noise"
    assert verdict(0.04, 0.0283, -1) == "worse" and verdict(-0.04, 0.0283, -1) == "better"
    assert verdict(0.04, 0.0283, +1) == "better"
    assert verdict(0.5, None, -1) == "no noise figure"


@pytest.mark.parametrize("seeds", [[0], [0, 0], "0,1", [0, -1], [True, 1]])
def test_a_bad_seed_list_names_the_key(seeds):
    from tunesmith.pipeline.seeds import check_seeds

    with pytest.raises(ConfigError, match=r"noise\.seeds"):
        check_seeds(seeds)


def test_the_seeds_stage_trains_each_seed_and_summarises_them(tmp_path, monkeypatch):
    from tunesmith.core.errors import ArtifactError
    from tunesmith.pipeline.seeds import seed_stage, seeds_stage, summary_stage

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    vocab_dir = tmp_path / "vocab"
    vocab_dir.mkdir()
    symbols = ["<end>", *"abcdef"]
    (vocab_dir / "vocab.json").write_text(json.dumps(
        {"corpus": "essen", "symbols": symbols, "special": {"end": "<end>", "unk": "<unk>"}}))

    def split(pieces):
        ids = [0]
        for _ in range(pieces):
            ids += [1, 2, 3, *rng.integers(1, 7, size=12).tolist(), 4, 5, 6, 0]
        return np.asarray(ids, dtype=np.uint16)

    for name, pieces in (("train", 40), ("validation", 8), ("test", 8)):
        np.save(vocab_dir / f"{name}.npy", split(pieces))
    params = {"model": {"family": "lstm", "units": 8, "layers": 1, "dropout": 0.0, "embedding_dim": 4},
              "window": 8, "batch_size": 8, "epochs": 2, "learning_rate": 0.02, "patience": 0,
              "average_epochs": 0, "seed": 7, "cache": True}
    metrics = tmp_path / "metrics" / "seeds.json"
    record = seeds_stage("essen", params, [0, 1], 3, vocab_dir, tmp_path / "seeds", metrics)
    assert json.loads(metrics.read_text()) == json.loads(json.dumps(record))
    assert record["seeds"] == [0, 1] and record["params_hash"] == params_hash(
        {k: v for k, v in params.items() if k != "seed"})
    for seed in (0, 1):
        assert json.loads((tmp_path / "seeds" / f"seed-{seed}" / "config.json").read_text())["train"]["seed"] == seed
    figures = record["figures"]  # each figure's per-seed values, in seeds order
    alone = figures["test_nll_no_cache"]["values"]
    assert figures["test_nll"]["values"][0] != figures["test_nll"]["values"][1]  # two seeds, two draws
    fig = figures["test_nll_no_cache"]
    assert fig["mean"] == pytest.approx(np.mean(alone)) and fig["n"] == 2
    assert fig["sd"] == pytest.approx(np.std(alone, ddof=1))
    base = record["baselines"]["nll"]
    assert figures["margin_vs_best_ngram_no_cache"]["values"][0] == pytest.approx((base - alone[0]) / base)
    assert "per_seed" not in record and not any(isinstance(v, str) for v in fig.values())


    # make noise's matrix: a seed trained on its own (checkpoints outside its folder) has the serial
    # run's figures, and seeds.json is assembled from whichever seeds exist with the current recipe
    alone = seed_stage("essen", params, 1, vocab_dir, tmp_path / "runs" / "seed-1",
                       checkpoints=tmp_path / "ckpt" / "seed-1")
    assert (tmp_path / "ckpt" / "seed-1" / "state.json").is_file()
    assert not (tmp_path / "runs" / "seed-1" / "checkpoints").exists()
    assert alone["figures"]["test_nll"] == figures["test_nll"]["values"][1]
    partial = summary_stage("essen", params, [0, 1], 3, vocab_dir, tmp_path / "runs", tmp_path / "partial.json")
    assert partial["seeds"] == [1] and partial["n"] == 1
    assert {k: v["values"] for k, v in partial["figures"].items()} == {k: v["values"][1:] for k, v in figures.items()}
    with pytest.raises(ArtifactError, match=r"no seed of \[0, 1\] trained with train\.essen"):
        summary_stage("essen", {**params, "learning_rate": 0.01}, [0, 1], 3, vocab_dir, tmp_path / "runs",
                      tmp_path / "other.json")
