"""Samplers: exact properties of each method on hand-made logits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesmith.config.sampling import SamplerConfig
from tunesmith.generation.samplers import (
    adaptive_temperature,
    entropy,
    make_sampler,
    sample_entropy_adaptive,
    sample_greedy,
    sample_temperature,
    sample_top_k,
    sample_top_p,
    top_p_mask,
)

SYMBOLS = ["/", "r", "_", "60", "62", "64"]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def random_logits(batch: int = 50, vocab: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 3, (batch, vocab)).astype(np.float32)


def draws(sampler, logits_row, n: int = 4000, seed: int = 0) -> np.ndarray:
    return sampler(np.repeat(np.asarray(logits_row, dtype=np.float64)[None], n, axis=0), rng(seed))


def test_tiny_temperature_equals_argmax():
    logits = random_logits()
    ids = sample_temperature(logits, rng(), temperature=1e-9)
    np.testing.assert_array_equal(ids, logits.argmax(axis=1))
    assert ids.shape == (50,) and ids.dtype == np.int64


def test_greedy_is_argmax():
    logits = random_logits(seed=3)
    np.testing.assert_array_equal(sample_greedy(logits, rng()), logits.argmax(axis=1))


def test_huge_temperature_is_near_uniform_over_possible_symbols():
    row = [5.0, -5.0, 0.0, -np.inf, 10.0, 1.0]
    counts = np.bincount(
        draws(lambda z, g: sample_temperature(z, g, temperature=1e6), row, n=10000), minlength=6
    )
    assert counts[3] == 0
    freqs = counts[[0, 1, 2, 4, 5]] / 10000
    np.testing.assert_allclose(freqs, 0.2, atol=0.03)


@pytest.mark.parametrize("temperature", [1e-9, 0.5, 1.0, 2.0, 1e6])
def test_no_nan_and_never_an_impossible_symbol(temperature):
    row = [-np.inf, 1e30, -1e30, -np.inf, 3.0, -np.inf]
    ids = draws(lambda z, g: sample_temperature(z, g, temperature=temperature), row, n=2000)
    assert set(np.unique(ids)) <= {1, 2, 4}
    # logits with nearly equal finite values and -inf: huge and tiny T must not produce NaN
    row = [0.0, -np.inf, 1e-12, -np.inf, 0.5, -np.inf]
    ids = draws(lambda z, g: sample_temperature(z, g, temperature=temperature), row, n=2000)
    assert set(np.unique(ids)) <= {0, 2, 4}


def test_zero_probability_never_sampled_in_many_draws():
    # the impossible symbols sit between and after likely ones, where an
    # off-by-one in the inverse CDF would land
    row = [0.0, -np.inf, 0.0, -np.inf, -np.inf, 0.0, -np.inf]
    ids = draws(lambda z, g: sample_temperature(z, g, temperature=1.0), row, n=20000)
    assert set(np.unique(ids)) == {0, 2, 5}


def test_temperature_follows_the_distribution():
    p = np.array([0.5, 0.3, 0.2])
    ids = draws(lambda z, g: sample_temperature(z, g, temperature=1.0), np.log(p), n=20000)
    np.testing.assert_allclose(np.bincount(ids, minlength=3) / 20000, p, atol=0.015)
    # T = 0.5 squares the probabilities before renormalising
    ids = draws(lambda z, g: sample_temperature(z, g, temperature=0.5), np.log(p), n=20000)
    np.testing.assert_allclose(
        np.bincount(ids, minlength=3) / 20000, p**2 / (p**2).sum(), atol=0.015
    )


def test_top_k_only_picks_the_k_largest():
    logits = random_logits(batch=200, vocab=8, seed=5)
    ids = sample_top_k(logits, rng(), k=3, temperature=5.0)
    top3 = np.argsort(-logits, axis=1)[:, :3]
    assert all(ids[i] in top3[i] for i in range(200))
    # k = 1 is greedy
    np.testing.assert_array_equal(sample_top_k(logits, rng(), k=1), logits.argmax(axis=1))


def test_top_p_keeps_the_minimal_nucleus():
    logp = np.log(np.array([[0.05, 0.5, 0.3, 0.15]]))
    assert top_p_mask(logp, 0.5).tolist() == [[False, True, False, False]]
    assert top_p_mask(logp, 0.6).tolist() == [[False, True, True, False]]
    assert top_p_mask(logp, 0.8).tolist() == [[False, True, True, False]]
    assert top_p_mask(logp, 0.81).tolist() == [[False, True, True, True]]
    assert top_p_mask(logp, 1.0).tolist() == [[True, True, True, True]]
    ids = draws(lambda z, g: sample_top_p(z, g, p=0.7, temperature=3.0), logp[0], n=3000)
    assert set(np.unique(ids)) == {1, 2}


def test_bias_weight_zero_never_picks_that_symbol():
    sampler = make_sampler(SamplerConfig(method="temperature", bias={"r": 0.0}), SYMBOLS)
    row = np.array([0.0, 5.0, 0.0, 0.0, 0.0, 0.0])  # "r" would be the favourite
    ids = draws(sampler, row, n=3000)
    assert SYMBOLS.index("r") not in ids
    greedy = make_sampler(SamplerConfig(method="greedy", bias={"r": 0.0}), SYMBOLS)
    assert greedy(row[None], rng()).tolist() != [SYMBOLS.index("r")]


def test_bias_weight_scales_probability():
    sampler = make_sampler(SamplerConfig(method="temperature", bias={"r": 0.5}), ["a", "r"])
    ids = draws(sampler, [0.0, 0.0], n=30000)
    # p(r) = 0.5 * 0.5 / (0.5 + 0.25) = 1/3
    assert abs(ids.mean() - 1 / 3) < 0.015


def test_entropy_values():
    assert entropy(np.array([[0.0, -np.inf, -np.inf]]))[0] == 0.0
    np.testing.assert_allclose(entropy(np.log([[0.5, 0.25, 0.25]])), [1.5 * math.log(2)])
    np.testing.assert_allclose(entropy(np.zeros((1, 8))), [math.log(8)])


def test_adaptive_temperature_moves_the_right_way():
    kwargs = dict(
        base=1.0, min_temperature=0.5, max_temperature=2.0, low_entropy=0.5, high_entropy=2.5
    )
    t = adaptive_temperature(np.array([0.0, 0.25, 0.5, 1.5, 2.5, math.log(40)]), 40, **kwargs)
    np.testing.assert_allclose(t, [2.0, 1.5, 1.0, 1.0, 1.0, 0.5])
    peaked = np.array([[12.0] + [0.0] * 39])
    flat = np.zeros((1, 40))
    assert entropy(peaked)[0] < 0.5 < 2.5 < entropy(flat)[0]
    t_peaked = adaptive_temperature(entropy(peaked), 40, **kwargs)[0]
    t_flat = adaptive_temperature(entropy(flat), 40, **kwargs)[0]
    assert t_peaked > 1.0 > t_flat


def test_entropy_sampler_flattens_a_peaked_distribution():
    row = np.array([6.0, 0.0, 0.0, 0.0])  # H about 0.07 nats
    plain = draws(lambda z, g: sample_temperature(z, g, temperature=1.0), row, n=20000)
    adaptive = draws(
        lambda z, g: sample_entropy_adaptive(
            z, g, base=1.0, min_temperature=0.5, max_temperature=3.0
        ),
        row,
        n=20000,
    )
    assert (adaptive != 0).mean() > 2 * (plain != 0).mean()


def test_make_sampler_methods_agree_with_functions():
    logits = random_logits(seed=9)
    for cfg, fn in [
        (SamplerConfig(method="greedy"), lambda z, g: sample_greedy(z, g)),
        (
            SamplerConfig(method="temperature", temperature=0.7),
            lambda z, g: sample_temperature(z, g, temperature=0.7),
        ),
        (SamplerConfig(method="top_k", top_k=2), lambda z, g: sample_top_k(z, g, k=2)),
        (SamplerConfig(method="top_p", top_p=0.5), lambda z, g: sample_top_p(z, g, p=0.5)),
        (SamplerConfig(method="entropy"), lambda z, g: sample_entropy_adaptive(z, g)),
    ]:
        np.testing.assert_array_equal(
            make_sampler(cfg, SYMBOLS)(logits, rng(4)), fn(logits, rng(4)), cfg.method
        )


def test_make_sampler_names_an_unknown_bias_symbol():
    with pytest.raises(
        ValueError, match=r"bias symbol 'rr' is not in the vocabulary; nearest: 'r'"
    ):
        make_sampler(SamplerConfig(bias={"rr": 0.9}), SYMBOLS)


def test_same_generator_state_same_ids():
    sampler = make_sampler(SamplerConfig(method="top_p", top_p=0.9, bias={"r": 0.9}), SYMBOLS)
    logits = random_logits()
    np.testing.assert_array_equal(sampler(logits, rng(7)), sampler(logits, rng(7)))


def test_rows_without_a_possible_symbol_are_rejected():
    with pytest.raises(ValueError, match="row 1 of the logits has no finite entry"):
        sample_temperature(np.array([[0.0, 1.0], [-np.inf, -np.inf]]), rng())
    sampler = make_sampler(SamplerConfig(bias={"a": 0.0}), ["a", "b"])
    with pytest.raises(ValueError, match="every possible symbol weight 0"):
        sampler(np.array([[0.0, -np.inf]]), rng())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "beam"}, "method must be one of"),
        ({"temperature": 0.0}, "temperature must be in (0, inf), got 0.0"),
        ({"temperature": math.inf}, "temperature must be in (0, inf), got inf"),
        ({"top_k": 0}, "top_k must be an integer >= 1, got 0"),
        ({"top_p": 1.5}, "top_p must be in (0, 1], got 1.5"),
        (
            {"low_entropy": 3.0, "high_entropy": 2.5},
            "low_entropy must be <= high_entropy (2.5), got 3.0",
        ),
        (
            {"method": "entropy", "temperature": 2.0, "max_temperature": 1.5},
            "temperature must lie in",
        ),
        ({"bias": {"r": -1.0}}, "bias['r'] must be a finite weight >= 0, got -1.0"),
    ],
)
def test_sampler_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError) as err:
        SamplerConfig(**kwargs)
    assert message in str(err.value)


def test_sampler_config_keeps_its_own_bias():
    bias = {"r": 0.9}
    cfg = SamplerConfig(bias=bias)
    bias["r"] = 0.0
    assert cfg.bias == {"r": 0.9}
