"""The continuous cache (Grave, Joulin & Usunier 2017): scoring, fitting on validation, generation."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest

from tunesmith.config.model import ModelConfig
from tunesmith.core.errors import ArtifactError
from tunesmith.evaluation.full_context import full_context_metrics
from tunesmith.generation.steppers import make_stepper
from tunesmith.modeling.cache import Cache, CachedStepper, PieceStates, fit_cache, piece_states, score_with_cache
from tunesmith.modeling.models import build_model
from tunesmith.training.cache_file import CACHE_FILE, load_cache

END, VOCAB = 0, 5


def _piece(hidden, probs, targets) -> PieceStates:
    return PieceStates(np.asarray(hidden, float), np.log(np.asarray(probs, float)), np.asarray(targets))


def test_score_with_cache_by_hand():
    # three steps; the LSTM is uniform over 4 tokens; hidden states 2-D, compared by their cosine
    h = [[1.0, 0.0], [0.0, 3.0], [2.0, 0.0]]
    piece = _piece(h, np.full((3, 4), 0.25), [1, 2, 1])
    nll, correct = score_with_cache([piece], Cache(lam=0.5, theta=1.0))
    # row 0: no cache yet -> the LSTM alone
    # row 1: one key (h0, value 1); target 2 -> p_cache 0
    # row 2: keys h0 (value 1, cosine 1), h1 (value 2, cosine 0): weights exp(1), exp(0); target 1
    w0 = math.exp(1.0) / (math.exp(1.0) + 1.0)
    expected = [-math.log(0.25), -math.log(0.5 * 0.25), -math.log(0.5 * 0.25 + 0.5 * w0)]
    np.testing.assert_allclose(nll, expected, rtol=1e-12)
    # argmax: row 0 a uniform tie (token 0, not 1); rows 1 and 2 the cached token 1 (right on row 2 only)
    assert correct.tolist() == [False, False, True]


def test_the_cache_does_not_see_the_length_of_a_hidden_state():
    """Cosine, not dot product: states scaled by any positive factor per row score the same (the
    length of the states differs from one trained model to the next)."""
    rng = np.random.default_rng(5)
    piece = _repeating(7, copies=True)
    scaled = PieceStates(piece.hidden * rng.uniform(0.1, 10.0, size=(piece.hidden.shape[0], 1)), piece.logp,
                         piece.targets)
    for cache in (Cache(0.3, 2.0), Cache(0.6, 40.0)):
        np.testing.assert_allclose(score_with_cache([scaled], cache)[0], score_with_cache([piece], cache)[0],
                                   rtol=1e-10)
    (chosen, grid), (chosen_scaled, grid_scaled) = fit_cache([piece]), fit_cache([scaled])
    assert chosen_scaled == chosen and grid_scaled == pytest.approx(grid, rel=1e-10)


def test_lambda_zero_is_the_lstm_alone():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, VOCAB))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    piece = _piece(rng.normal(size=(6, 3)), probs, rng.integers(0, VOCAB, 6))
    nll, _ = score_with_cache([piece], Cache(lam=0.0))
    np.testing.assert_allclose(nll, -piece.target_logp)


def _repeating(seed: int, copies: bool) -> PieceStates:
    """A piece whose second half repeats its first (same hidden states, same tokens) when ``copies``."""
    rng = np.random.default_rng(seed)
    half = rng.integers(1, VOCAB, 20)
    targets = np.concatenate([half, half if copies else rng.integers(1, VOCAB, 20)])
    hidden = rng.normal(size=(20, 8))
    hidden = np.concatenate([hidden, hidden if copies else rng.normal(size=(20, 8))])
    return _piece(hidden, np.full((40, VOCAB), 1.0 / VOCAB), targets)


def test_fit_cache_is_chosen_on_the_pieces_it_is_given():
    repeats = [_repeating(s, copies=True) for s in range(3)]
    cache, grid = fit_cache(repeats)
    assert cache.on and grid[f"lambda={cache.lam:g},theta={cache.theta:g}"] == min(grid.values())
    assert min(grid.values()) < grid["lambda=0"]
    # no repetition and an LSTM that is already right: the cache only hurts, so it stays off
    sure = [PieceStates(p.hidden, np.log(np.where(np.eye(VOCAB)[p.targets] > 0, 0.999, 0.00025)), p.targets)
            for p in (_repeating(s, copies=False) for s in range(3))]
    off, grid = fit_cache(sure)
    assert not off.on and grid["lambda=0"] == min(grid.values())


def test_cache_checks_its_values():
    with pytest.raises(ValueError, match="lambda must be in"):
        Cache(lam=1.0)
    with pytest.raises(ValueError, match="theta must be > 0"):
        Cache(lam=0.1, theta=0.0)


def test_load_cache(tmp_path):
    assert not load_cache(tmp_path).on  # no cache.json: the LSTM alone
    (tmp_path / CACHE_FILE).write_text(json.dumps({"lambda": 0.2, "theta": 20.0, "similarity": "cosine"}))
    assert load_cache(tmp_path) == Cache(0.2, 20.0)
    # an older tunesmith's cache (dot product, its theta on another scale) is refitted, not misread
    (tmp_path / CACHE_FILE).write_text(json.dumps({"lambda": 0.2, "theta": 0.5}))
    with pytest.raises(ArtifactError, match=f"{CACHE_FILE} was fitted with the dot product.*rerun the train stage"):
        load_cache(tmp_path)
    (tmp_path / CACHE_FILE).write_text(json.dumps({"lambda": 0.0, "theta": 1.0}))  # off: nothing to misread
    assert not load_cache(tmp_path).on
    (tmp_path / CACHE_FILE).write_text(json.dumps({"theta": 0.5}))
    with pytest.raises(ArtifactError, match=f"{CACHE_FILE} is not a cache"):
        load_cache(tmp_path)


@pytest.mark.parametrize("family", ["lstm", "stacked_lstm"])
def test_generation_steps_the_same_mixture_that_scoring_uses(family):
    """Feeding a piece token by token through the cached stepper gives, at every step, the
    log-probabilities of the mixture that full-context scoring gives the same piece."""
    keras.utils.set_random_seed(3)
    cfg = ModelConfig(family=family, units=12, layers=1 if family == "lstm" else 2, embedding_dim=4)
    model = build_model(cfg, VOCAB)
    rng = np.random.default_rng(1)
    body = rng.integers(1, VOCAB, 30)
    ids = np.concatenate([[END], body, [END]])
    cache = Cache(lam=0.3, theta=2.0)
    (piece,) = piece_states(model, cfg, ids, END, VOCAB)
    nll, _ = score_with_cache([piece], cache)

    stepper = make_stepper(model, cfg, 1, cache=cache)
    assert isinstance(stepper, CachedStepper)
    stepped = [stepper.step(np.array([t]))[0] for t in ids[:-1]]
    stepped_nll = [-float(logp[target]) for logp, target in zip(stepped, ids[1:])]
    np.testing.assert_allclose(stepped_nll, nll, rtol=1e-4, atol=1e-5)
    # and the headline metric is the same mixture
    row = full_context_metrics(model, cfg, ids, END, VOCAB, cache=cache)
    assert row["nll"] == pytest.approx(float(np.mean(nll)), rel=1e-9)
    assert row["nll"] != pytest.approx(full_context_metrics(model, cfg, ids, END, VOCAB)["nll"], rel=1e-3)


def test_the_stepper_keeps_only_the_last_cache_size_states():
    keras.utils.set_random_seed(4)
    cfg = ModelConfig(family="lstm", units=6, layers=1, embedding_dim=3)
    model = build_model(cfg, VOCAB)
    ids = np.random.default_rng(2).integers(1, VOCAB, 12)
    small = CachedStepper(make_stepper(model, cfg, 1), Cache(0.5, 1.0), size=4)
    for t in np.concatenate([[END], ids]):
        last = small.step(np.array([t]))
    assert small._n == 4 and small._values[0, :4].tolist() == ids[-4:].tolist()
    # the same as scoring with a 4-state cache
    (piece,) = piece_states(model, cfg, np.concatenate([[END], ids, [END]]), END, VOCAB)
    scored, _ = score_with_cache([piece], Cache(0.5, 1.0), size=4)
    assert -float(last[0, END]) == pytest.approx(scored[-1], rel=1e-4)


# --------------------------------------------------------------------------- the n-gram's own cache


def test_piece_caches_see_only_the_piece_so_far():
    from tunesmith.evaluation.ngram_cache import piece_caches

    # two pieces: [END] 1 2 3 1 2 4 [END] 1 2 [END]
    ids = np.array([END, 1, 2, 3, 1, 2, 4, END, 1, 2, END])
    caches = piece_caches(ids, END, order=2)
    targets = ids[1:].tolist()
    assert len(caches) == len(targets)
    # nothing before the 4th token of the first piece was seen in its context
    assert caches[:3] == [None, None, None]
    # target ids[5] = 2 after context (3, 1)? no: (1,) was followed by 2 once -> the longest match is k=1
    assert caches[4] == {2: 1}
    # target ids[6] = 4 after (1, 2): earlier (1, 2) was followed by 3
    assert caches[5] == {3: 1}
    # the snapshot does not grow with the rest of the piece (no leak of the target or the future)
    assert 4 not in caches[5]
    # the second piece starts afresh: its '1' and '2' have no cache from the first piece
    assert caches[7] is None and caches[8] is None


def test_kn_cache_is_chosen_on_validation_and_scored_once_on_test():
    from tunesmith.evaluation.ngram import KneserNey
    from tunesmith.evaluation.ngram_cache import fit_kn_cache, kn_cache_row

    rng = np.random.default_rng(5)

    def split(pieces):
        out = [END]
        for _ in range(pieces):  # each piece plays a random phrase twice: a cache predicts the repeat
            phrase = rng.integers(1, VOCAB, 12).tolist()
            out += phrase + phrase + [END]
        return np.array(out)

    train, val, test = split(20), split(6), split(6)
    kn = KneserNey.fit(train, VOCAB, 3)
    lam, order, grid = fit_kn_cache(kn, val, END)
    assert lam > 0 and grid[f"lambda={lam:g},order={order}"] == min(grid.values()) < grid["lambda=0"]
    row = kn_cache_row(kn, val, test, END)
    assert (row["lambda"], row["cache_order"], row["chosen_on"]) == (lam, order, "validation")
    assert row["nll"] < kn.evaluate(test)["nll"]
    # the test split plays no part in the choice: another test split, the same lambda and order
    other = kn_cache_row(kn, val, split(6), END)
    assert (other["lambda"], other["cache_order"]) == (lam, order)


def test_inspect_shows_a_model_folders_cache(tmp_path, capsys):
    from tunesmith.cli import main

    (tmp_path / "vocab.json").write_text(json.dumps({"corpus": "essen", "size": 3, "special": {"end": "/"},
                                                     "symbols": ["/", "60", "_"], "counts": {"60": 4}}))
    (tmp_path / CACHE_FILE).write_text(json.dumps({"lambda": 0.3, "theta": 20.0, "similarity": "cosine",
                                                   "chosen_on": "validation", "validation_nll": 1.06,
                                                   "validation_nll_without": 1.2}))
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert ("continuous cache: lambda 0.3 theta 20.0 (cosine similarity, chosen on validation; validation NLL "
            "1.2 without it, 1.06 with it)") in out


def test_fit_model_cache_writes_a_fitted_or_an_off_cache(tmp_path):
    from tunesmith.config.train import TrainConfig
    from tunesmith.training.bundle import save_model_bundle
    from tunesmith.training.cache_file import fit_model_cache

    keras.utils.set_random_seed(6)
    cfg = ModelConfig(family="lstm", units=8, layers=1, embedding_dim=4)
    vocab = {"symbols": ["<end>", "a", "b", "c", "d"], "special": {"end": "<end>"}, "corpus": "toy"}
    save_model_bundle(build_model(cfg, VOCAB), tmp_path, vocab, cfg, TrainConfig())
    rng = np.random.default_rng(7)
    val = [END]
    for _ in range(4):  # phrases played twice
        phrase = rng.integers(1, VOCAB, 10).tolist()
        val += phrase + phrase + [END]
    record = fit_model_cache(tmp_path, np.array(val))
    assert record["chosen_on"] == "validation" and "lambda=0" in record["grid"]
    assert record["validation_nll"] == min(record["grid"].values())
    assert load_cache(tmp_path) == Cache(record["lambda"], record["theta"])
    # switched off: the folder's cache.json says so instead of keeping the fitted one
    off = fit_model_cache(tmp_path, np.array(val), enabled=False)
    assert off["lambda"] == 0.0 and "switched off" in off["why_off"]
    assert not load_cache(tmp_path).on


def test_a_bad_cache_switch_is_named(tmp_path):
    from tunesmith.config.stages import GenerateConfig
    from tunesmith.core.errors import ConfigError
    from tunesmith.pipeline.train import train_stage

    with pytest.raises(ConfigError, match=r"^train\.essen\.cache must be true or false, got 'yes'"):
        train_stage("essen", {"cache": "yes"}, tmp_path / "vocab", tmp_path / "model",
                    live_dir=tmp_path / "live", metrics=tmp_path / "m.json")
    assert not (tmp_path / "model").exists()  # nothing written
    with pytest.raises(ValueError, match=r"^cache must be true or false, got 1"):
        GenerateConfig(cache=1)
