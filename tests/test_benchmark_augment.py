"""The benchmark's random-shift augmentation (one copy an epoch), pooled training's ids, the frame
model's checkpoints and the benchmark params that switch them on."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tunesmith.benchmark import augment, data
from tunesmith.tracks.piano import notes_per_frame as npf


def edge_rolls(rng, n=12):
    """Pieces whose notes reach near either end of the keyboard, or sit in the middle, or are empty."""
    rolls = []
    for k in range(n):
        roll = np.zeros((int(rng.integers(3, 9)), npf.N_PITCHES), dtype=bool)
        low = [0, 2, 40, 80, 85][k % 5]
        for f in range(len(roll)):
            roll[f, rng.integers(low, min(low + 3, 88), size=2)] = True
        rolls.append(roll)
    rolls.append(np.zeros((4, npf.N_PITCHES), dtype=bool))  # silence: nothing to move
    return rolls


@pytest.fixture(scope="module")
def pieces():
    rolls = edge_rolls(np.random.default_rng(7))
    return rolls, data.corpus_ids(rolls)


def decoded_pieces(ids):
    ends = np.flatnonzero(ids == npf.PIECE_END_ID)
    return [npf.decode_ids(ids[a + 1: b + 1]) for a, b in itertools.pairwise(ends)]


def test_each_epoch_holds_every_piece_once_moved_within_the_keyboard(pieces):
    rolls, ids = pieces
    epochs = augment.EpochIds(ids, -6, 5, seed=3)
    for epoch in range(4):
        moved, shifts = epochs(epoch), epochs.random.shifts(epoch)
        assert moved.shape == ids.shape and moved.dtype == ids.dtype  # one copy: as long as the data
        assert moved.min() >= 0 and moved.max() < len(npf.SYMBOLS)
        assert ((moved < npf.PITCH_OFFSET) == (ids < npf.PITCH_OFFSET)).all()  # frame and piece ends stay
        assert ((shifts >= -6) & (shifts <= 5)).all()
        for roll, back, s in zip(rolls, decoded_pieces(moved), shifts.tolist(), strict=True):
            used = np.flatnonzero(roll.any(axis=0))
            if used.size:
                assert used[0] + s >= 0 and used[-1] + s <= 87
                assert (back == np.roll(roll, s, axis=1)).all()
            else:
                assert s == 0 and (back == roll).all()
    # the pieces at the keyboard's ends are clipped: the lowest never moves far down, the highest never up
    room = augment.shift_room(ids)
    assert room[0].tolist()[0] == 0 and room[3][1] <= 5


def test_epochs_draw_different_shifts_and_the_seed_fixes_them(pieces):
    _, ids = pieces
    one, again, other = (augment.EpochIds(ids, -6, 5, seed=s) for s in (3, 3, 4))
    draws = [one.random.shifts(e) for e in range(5)]
    assert all(not np.array_equal(draws[i], draws[j]) for i in range(5) for j in range(i + 1, 5))
    assert all(np.array_equal(one(e), again(e)) for e in range(5))
    assert not np.array_equal(one.random.shifts(0), other.random.shifts(0))
    # over epochs a middle piece is seen at many shifts, not one
    assert len({int(d[2]) for d in draws} | {int(one.random.shifts(e)[2]) for e in range(5, 20)}) >= 6


def test_frames_move_as_the_tokens_do(pieces):
    rolls, ids = pieces
    frames, bounds = data.split_arrays(rolls)
    by_ids, by_frames = augment.EpochIds(ids, -6, 5, seed=1), augment.EpochFrames(frames, bounds, -6, 5, seed=1)
    assert np.array_equal(by_ids.random.shifts(2), by_frames.random.shifts(2))
    moved = by_frames(2)
    assert np.array_equal(data.corpus_ids(data.pieces_of(moved, bounds)), by_ids(2))


def test_a_resumed_run_trains_epoch_k_on_epoch_ks_shifts(pieces, tmp_path, monkeypatch):
    """The loop asks for each epoch's ids by the epoch's number: a run stopped after epoch 1 and
    resumed asks for the second epoch's, and gets what an uninterrupted run gets (fit is stubbed)."""
    import tunesmith.training.loop as loop
    from tunesmith.config.train import TrainConfig
    from tunesmith.modeling.models import ModelConfig
    from tunesmith.training.loop import train

    _, ids = pieces
    seen: list[tuple[int, np.ndarray]] = []
    real_batches = loop._epoch_batches

    def batches(epoch_ids, end_id, cfg, target, stride, epoch, *strategy):
        seen.append((epoch, np.array(epoch_ids)))
        return real_batches(epoch_ids, end_id, cfg, target, stride, epoch, *strategy)

    def fit_one(model, ds, validate, epoch, cfg, verbose, *steps):
        return {"epoch": epoch + 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 1.0 - 0.01 * epoch,
                "val_accuracy": 0.5, "tokens_per_s": 1.0, "train_perplexity": 2.7, "val_perplexity": 2.7}

    monkeypatch.setattr(loop, "_epoch_batches", batches)
    monkeypatch.setattr(loop, "_fit_one_epoch", fit_one)
    vocab = npf.vocabulary(corpus="test").to_json()
    model = ModelConfig(units=4, embedding_dim=2, dropout=0.0)

    def run(epochs):
        cfg = TrainConfig(window=8, batch_size=4, epochs=epochs, patience=0, context="window", average_epochs=0,
                          cache=False, seed=5)
        train(model, cfg, vocab, ids, ids, tmp_path / "m", epoch_ids=augment.EpochIds(ids, -6, 5, seed=5))

    run(1)
    run(2)  # resumes after epoch 1
    assert [e for e, _ in seen] == [0, 1]
    assert np.array_equal(seen[1][1], augment.EpochIds(ids, -6, 5, seed=5)(1))
    assert not np.array_equal(seen[0][1], seen[1][1])


def test_an_epoch_of_another_length_is_refused():
    from tunesmith.training.streams import epoch_train_ids

    ids = np.array([0, 5, 1, 0])
    assert epoch_train_ids(ids, None, 3) is ids
    with pytest.raises(ValueError, match="epoch 4's training ids have shape"):
        epoch_train_ids(ids, lambda e: ids[:-1], 3)


def test_params_check_the_shift_range_and_refuse_both_augmentations():
    from tunesmith.benchmark.settings import BenchmarkConfig, PooledConfig
    from tunesmith.config.load import build
    from tunesmith.core.errors import ConfigError

    assert build(BenchmarkConfig, {"random_shift": [-6, 5]}, "benchmark.bl_jsb").random_shift == (-6, 5)
    with pytest.raises(ConfigError, match=r"benchmark.bl_jsb.random_shift must be \[low, high\]"):
        build(BenchmarkConfig, {"random_shift": [1, 5]}, "benchmark.bl_jsb")
    with pytest.raises(ConfigError, match="transpose and random_shift cannot both be on"):
        build(BenchmarkConfig, {"random_shift": [-6, 5], "transpose": [-5, 6]}, "benchmark.bl_jsb")
    assert build(PooledConfig, {}, "benchmark.pooled").enabled is False
