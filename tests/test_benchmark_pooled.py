"""Pooled training's ids and vocabulary; the frame-wise model's checkpoints (a killed run resumes)."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.benchmark import data, pooled
from tunesmith.core import io
from tunesmith.core.errors import ArtifactError
from tunesmith.tracks.piano import notes_per_frame as npf


def rolls_of(rng, n, low):
    out = []
    for _ in range(n):
        roll = np.zeros((int(rng.integers(2, 6)), npf.N_PITCHES), dtype=bool)
        roll[:, rng.integers(low, low + 12, size=3)] = True
        out.append(roll)
    return out


@pytest.fixture
def encoded(tmp_path):
    """Four tiny encoded folders as bl_encode writes them (ids and vocab.json)."""
    rng = np.random.default_rng(0)
    folders = {}
    for i, name in enumerate(("bl_nottingham", "bl_jsb", "bl_piano", "bl_musedata")):
        folder = tmp_path / name
        folder.mkdir()
        for split, n in (("train", 3 + i), ("validation", 2), ("test", 2)):
            io.write_npy(folder / f"{split}.npy", data.corpus_ids(rolls_of(rng, n, 10 * i)))
        io.write_json(folder / "vocab.json", npf.vocabulary(corpus=name).to_json())
        folders[name] = folder
    return folders


def test_pooled_ids_hold_every_sets_pieces_once_in_order(encoded):
    ids = pooled.pooled_split(encoded, "train")
    parts = [np.load(f / "train.npy") for f in encoded.values()]
    assert ids[0] == ids[-1] == npf.PIECE_END_ID
    # every set's pieces, one after another, each between piece ends: the pieces decode back exactly
    pieces = lambda a: [a[s + 1: e] .tolist() for s, e in zip(np.flatnonzero(a == 0)[:-1], np.flatnonzero(a == 0)[1:])]  # noqa: E731
    assert pieces(ids) == [p for part in parts for p in pieces(part)]
    assert ids.size == sum(p.size for p in parts) - (len(parts) - 1)


def test_the_sets_share_one_88_key_vocabulary_and_another_is_refused(encoded):
    vocab = pooled.pooled_vocab(encoded)
    assert vocab["symbols"] == list(npf.SYMBOLS) and len(vocab["symbols"]) == 90 and vocab["corpus"] == "pooled"
    bad = io.read_json(encoded["bl_jsb"] / "vocab.json")
    bad["symbols"] = bad["symbols"][:-1]
    io.write_json(encoded["bl_jsb"] / "vocab.json", bad)
    with pytest.raises(ArtifactError, match=r"bl_jsb/vocab.json: bl_jsb's symbols are not the 90"):
        pooled.pooled_vocab(encoded)


def test_pooled_off_writes_a_record_and_trains_nothing(encoded, tmp_path):
    from tunesmith.benchmark.settings import PooledConfig

    record = pooled.run_pooled(encoded, PooledConfig(), tmp_path / "model", None)
    assert record == {"enabled": False} and sorted(p.name for p in (tmp_path / "model").iterdir()) == ["skipped.json"]


def test_the_table_shows_the_pooled_row_only_when_it_trained():
    from tunesmith.benchmark.published import table_markdown

    assert "four training sets pooled** |" not in table_markdown({"pooled": {"enabled": False}})
    record = {"enabled": True, "sets": {"bl_jsb": {"test": {"lstm": {"nll_per_frame": 4.5}}}}}
    assert "| **tunesmith LSTM, notes per frame, the four training sets pooled** | this run | — | 4.50 (n=1) |" in \
        table_markdown({"pooled": record})


class FakeHistory:
    def __init__(self, val):
        self.history = {"loss": [val + 0.1], "val_loss": [val]}


def test_a_killed_frame_model_run_resumes_after_its_last_epoch(tmp_path, monkeypatch):
    """fit is stubbed (no training): the second run fits only the epoch the first did not reach,
    on that epoch's rolls, and keeps the first run's history and best epoch."""
    import keras

    from tunesmith.benchmark import augment
    from tunesmith.benchmark.frame import FrameModelConfig, FrameTrainConfig, train_frame_model

    fits = []

    def fit(self, ds, validation_data=None, epochs=1, verbose=0):
        fits.append(len(fits))
        return FakeHistory([3.0, 2.5, 2.7, 3.1][len(fits) - 1])

    monkeypatch.setattr(keras.Model, "fit", fit)
    rng = np.random.default_rng(1)
    train = data.split_arrays(rolls_of(rng, 6, 30))
    valid = data.split_arrays(rolls_of(rng, 2, 30))
    asked = []

    class Recorder(augment.EpochFrames):
        def __call__(self, epoch):
            asked.append(epoch)
            return super().__call__(epoch)

    def run(epochs):
        return train_frame_model(FrameModelConfig(units=2, dropout=0.0), FrameTrainConfig(window=4, epochs=epochs),
                                 train, valid, tmp_path / "frame", epoch_frames=Recorder(*train, -6, 5, seed=0))

    run(2)
    metrics = run(3)  # as if the first run had been killed after two epochs of three
    assert asked == [0, 1, 2] and len(fits) == 3
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3] and metrics["best_epoch"] == 2
    names = sorted(p.name for p in (tmp_path / "frame" / "checkpoints").iterdir())
    assert names == ["best-0002.weights.h5", "epoch-0003.keras", "state.json"]
    # other params: not resumed, the checkpoint files are replaced
    train_frame_model(FrameModelConfig(units=3, dropout=0.0), FrameTrainConfig(window=4, epochs=1), train, valid,
                      tmp_path / "frame")
    assert len(fits) == 4 and io.read_json(tmp_path / "frame" / "checkpoints" / "state.json")["epoch"] == 1
