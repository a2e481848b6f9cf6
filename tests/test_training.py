"""Training: loss goes down, artefacts, early stopping, checkpoints and resume (kill -9 too)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import keras
import numpy as np
import pytest

from tunesmith.config.model import ModelConfig
from tunesmith.config.train import STATE_FORMAT, TrainConfig
from tunesmith.core.io import write_json
from tunesmith.training import checkpoints, loop
from tunesmith.training.bundle import load_model_bundle, vocab_fingerprint
from tunesmith.training.fitting import EarlyStopping
from tunesmith.training.loop import train

SRC = Path(__file__).resolve().parents[1] / "src"
V = 8
VOCAB = {
    "corpus": "toy",
    "symbols": ["<end>", *"abcdefg"],
    "special": {"end": "<end>", "unk": "<unk>"},
}
MODEL = ModelConfig(units=16, embedding_dim=8, dropout=0.1)
CFG = TrainConfig(window=16, batch_size=16, epochs=3, learning_rate=0.01, seed=3, patience=2, context="window",
                  average_epochs=0, cache=False)


def _corpus(pattern: list[int], repeats: int) -> np.ndarray:
    """A split array: pieces that each start after an end token (id 0), ending with one."""
    return np.append(np.tile(np.array(pattern, dtype=np.uint16), repeats), np.uint16(0))


# a learnable sequence: train and validation follow the same rule
TRAIN_IDS = _corpus([0, 1, 2, 3, 4, 5, 6, 7, 1, 3, 5, 7, 2, 4, 6], 160)
VAL_IDS = _corpus([0, 1, 2, 3, 4, 5, 6, 7, 1, 3, 5, 7, 2, 4, 6], 40)


@pytest.fixture(autouse=True)
def _outside_the_repo(tmp_path, monkeypatch):
    # DVCLive looks for a DVC/git repo from the working directory; keep tests
    # away from the project's own.
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    """One uninterrupted 3-epoch run, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("run")
    cwd = os.getcwd()
    os.chdir(out)
    try:
        summary = train(MODEL, CFG, VOCAB, TRAIN_IDS, VAL_IDS, out / "model", live_dir=out / "live")
    finally:
        os.chdir(cwd)
    return out, summary


def _val_loss(model: keras.Model, ids: np.ndarray, window: int) -> float:
    """Mean next-token cross-entropy of ``model`` over every validation token, each piece
    run whole from a zero state (training validates the same way)."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    ends = np.flatnonzero(ids == 0)
    total, n = 0.0, 0
    for a, b in pairwise(ends):
        x = ids[a:b][None].astype(np.int32)
        y = ids[a + 1 : b + 1][None].astype(np.int32)
        total += float(loss(y, model(x, training=False)))
        n += int(y.size)
    return total / n


# --------------------------------------------------------------------------- a whole run


def test_training_lowers_the_loss_and_writes_the_artefacts(trained):
    out, summary = trained
    history = summary["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    for h in history:
        assert h["val_perplexity"] == pytest.approx(np.exp(h["val_loss"]))
        assert h["tokens_per_s"] > 0

    model_dir = out / "model"
    for name in ("model.keras", "vocab.json", "config.json", "metrics.json"):
        assert (model_dir / name).is_file(), name
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and metrics["stopped_early"] is False
    best = min(history, key=lambda h: h["val_loss"])
    assert metrics["best_epoch"] == best["epoch"]
    assert metrics["val"]["loss"] == pytest.approx(best["val_loss"])
    assert metrics["val"]["perplexity"] == pytest.approx(np.exp(best["val_loss"]))
    # the speed is returned and logged, never kept in the folder: identical weights, identical folder
    assert summary["tokens_per_s"] > 0 and "tokens_per_s" not in metrics
    config = json.loads((model_dir / "config.json").read_text())
    assert config["vocab"] == {"size": V, "sha256": vocab_fingerprint(VOCAB), "corpus": "toy"}
    assert config["model"]["units"] == 16 and config["train"]["window"] == 16
    assert json.loads((model_dir / "vocab.json").read_text()) == VOCAB

    # DVCLive: one row per epoch, so `dvc plots show` draws the curves
    rows = (out / "live" / "plots" / "metrics" / "val" / "loss.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["step", "loss"]
    assert [float(r.split("\t")[1]) for r in rows[1:]] == pytest.approx(
        [h["val_loss"] for h in history]
    )
    for name in (
        "train/loss",
        "train/accuracy",
        "train/perplexity",
        "val/accuracy",
        "val/perplexity",
    ):
        assert (out / "live" / "plots" / "metrics" / f"{name}.tsv").is_file(), name


def test_bundle_round_trip_and_vocab_mismatch(trained):
    out, summary = trained
    model, model_cfg, train_cfg, vocab = load_model_bundle(out / "model", VOCAB)
    assert model_cfg == MODEL and train_cfg == CFG and vocab == VOCAB
    # the exported model is the best epoch's, and takes any input length
    assert _val_loss(model, VAL_IDS, CFG.window) == pytest.approx(summary["val"]["loss"], rel=1e-3)
    assert model(np.zeros((2, 5), dtype=np.int32)).shape == (2, 5, V)

    other = {**VOCAB, "symbols": [*VOCAB["symbols"], "h", "i"]}
    with pytest.raises(ValueError) as err:
        load_model_bundle(out / "model", other)
    message = str(err.value)
    assert str(out / "model") in message
    assert f"8 symbols (sha256 {vocab_fingerprint(VOCAB)[:12]}" in message
    assert f"10 symbols (sha256 {vocab_fingerprint(other)[:12]}" in message
    # same size, different meaning: still refused
    swapped = {**VOCAB, "symbols": ["<end>", *"bacdefg"]}
    with pytest.raises(ValueError, match=vocab_fingerprint(swapped)[:12]):
        load_model_bundle(out / "model", swapped)


def test_target_last_and_bilstm_predict_after_the_window(tmp_path, caplog):
    cfg = replace(CFG, target="last", epochs=1, steps_per_epoch=4, validation_steps=2, window=8)
    summary = train(MODEL, cfg, VOCAB, TRAIN_IDS, VAL_IDS, tmp_path / "last")
    assert summary["target"] == "last" and summary["epochs_run"] == 1
    model, *_ = load_model_bundle(tmp_path / "last")
    assert model(np.zeros((1, 8), dtype=np.int32)).shape == (1, 8, V)  # exported unwrapped

    bi = ModelConfig(family="bilstm", units=8, embedding_dim=8)
    with caplog.at_level(logging.INFO, logger="tunesmith.training"):
        summary = train(bi, replace(cfg, target="all"), VOCAB, TRAIN_IDS, VAL_IDS, tmp_path / "bi")
    assert summary["target"] == "last"
    assert "training with target 'last'" in caplog.text
    model, *_ = load_model_bundle(tmp_path / "bi")
    assert model(np.zeros((1, 8), dtype=np.int32)).shape == (1, V)


# --------------------------------------------------------------------------- weight averaging


def _capture_epoch_weights(monkeypatch) -> list[list[np.ndarray]]:
    """The fitted model's weights at each epoch's checkpoint, in order."""
    seen: list[list[np.ndarray]] = []
    commit = loop._commit_epoch

    def capture(ckpt_dir, fit_model, **kw):
        seen.append([np.array(w) for w in fit_model.get_weights()])
        return commit(ckpt_dir, fit_model, **kw)

    monkeypatch.setattr(loop, "_commit_epoch", capture)
    return seen


@pytest.mark.parametrize(
    ("cfg", "used"),
    [
        # converging steadily: the last epoch beats the mean of the last two
        (replace(CFG, average_epochs=2), False),
        # small noisy batches at a high rate: the mean of epochs 2 and 3 beats both
        (replace(CFG, average_epochs=2, batch_size=4, learning_rate=0.05), True),
    ],
)
def test_weight_average_is_the_mean_of_the_last_epochs_and_kept_only_when_it_validates_lower(
    tmp_path, monkeypatch, cfg, used
):
    seen = _capture_epoch_weights(monkeypatch)
    summary = train(MODEL, cfg, VOCAB, TRAIN_IDS, VAL_IDS, tmp_path / "m")
    assert len(seen) == 3
    mean = [(a.astype(np.float64) + b) / 2 for a, b in zip(seen[1], seen[2], strict=True)]
    state = json.loads((tmp_path / "m" / "checkpoints" / "state.json").read_text())
    assert state["average"] == {"file": "average-0003.npz", "first_epoch": 2, "count": 2}
    with np.load(tmp_path / "m" / "checkpoints" / "average-0003.npz") as z:
        for i, want in enumerate(mean):
            np.testing.assert_allclose(z[f"arr_{i}"], want, rtol=1e-12)

    # the average's validation figure is the full-context NLL of those weights, measured here anew
    model, *_ = load_model_bundle(tmp_path / "m")
    averaged = keras.models.clone_model(model)
    averaged.set_weights([w.astype(np.float32) for w in mean])
    average = summary["average"]
    assert (average["first_epoch"], average["last_epoch"]) == (2, 3)
    assert average["val"]["loss"] == pytest.approx(_val_loss(averaged, VAL_IDS, cfg.window), rel=1e-4)
    best_single = min(h["val_loss"] for h in summary["history"])
    assert average["used"] is used is (average["val"]["loss"] < best_single)
    # the saved model is the average when it validates lower, else the best epoch
    assert _val_loss(model, VAL_IDS, cfg.window) == pytest.approx(summary["val"]["loss"], rel=1e-4)
    if used:
        assert summary["saved"] == "average of epochs 2-3"
        assert summary["val"]["loss"] == average["val"]["loss"] < best_single
        for got, want in zip(model.get_weights(), mean, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    else:
        assert summary["saved"] == f"epoch {summary['best_epoch']}"
        assert summary["val"]["loss"] == pytest.approx(best_single)


def test_weight_average_window_and_resume_bookkeeping(tmp_path, caplog):
    from tunesmith.training import averaging

    assert averaging.first_averaged_epoch(replace(CFG, epochs=10, average_epochs=4)) == 7
    assert averaging.first_averaged_epoch(replace(CFG, epochs=3, average_epochs=8)) == 1
    assert averaging.first_averaged_epoch(replace(CFG, epochs=10)) is None
    cfg = replace(CFG, epochs=10, average_epochs=4)
    w = [np.array([1.0, 2.0], dtype=np.float32), np.array([[3.0]], dtype=np.float32)]
    assert averaging.update(None, cfg, 6, w) is None  # before the window
    mean = averaging.update(None, cfg, 7, w)
    mean = averaging.update(mean, cfg, 8, [x * 3 for x in w])
    assert (mean.first_epoch, mean.last_epoch, mean.count) == (7, 8, 2)
    np.testing.assert_allclose(mean.arrays[0], [2.0, 4.0])
    assert [a.dtype for a in mean.weights_like(w)] == [np.float32, np.float32]
    entry = mean.save(tmp_path)
    assert entry == {"file": "average-0008.npz", "first_epoch": 7, "count": 2}
    back = averaging.resumed_mean(tmp_path, entry, cfg)
    assert back.count == 2 and np.array_equal(back.arrays[1], mean.arrays[1])
    # more epochs on resume move the window past the mean's first epoch: it is dropped, with a log line
    with caplog.at_level(logging.INFO, logger="tunesmith.training"):
        assert averaging.resumed_mean(tmp_path, entry, replace(cfg, epochs=12)) is None
    assert "outside the epochs now averaged" in caplog.text
    with pytest.raises(ValueError, match="the model has 1 weights, the average 2"):
        mean.add(w[:1])


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_bookkeeping():
    stop = EarlyStopping(patience=2, min_delta=0.01)
    assert stop.update(0, 2.0) and stop.best_epoch == 0
    assert not stop.update(1, 1.995)  # within min_delta: no improvement
    assert stop.wait == 1 and not stop.should_stop
    assert stop.update(2, 1.5) and stop.wait == 0
    assert not stop.update(3, 1.6) and not stop.update(4, float("nan"))
    assert stop.should_stop and stop.best == 1.5 and stop.best_epoch == 2
    never = EarlyStopping(patience=0)
    for epoch, loss in enumerate([1.0, 2.0, 3.0, 4.0]):
        never.update(epoch, loss)
    assert not never.should_stop and never.best_epoch == 0


def test_early_stopping_restores_the_best_weights(tmp_path):
    # Validation follows the reverse rule of training, so learning the training
    # rule makes validation loss rise after the first epoch.
    val = _corpus([0, 6, 4, 2, 7, 5, 3, 1, 7, 6, 5, 4, 3, 2, 1], 20)
    cfg = replace(CFG, epochs=6, patience=1, learning_rate=0.05)
    summary = train(MODEL, cfg, VOCAB, TRAIN_IDS, val, tmp_path / "es")
    history = summary["history"]
    assert summary["stopped_early"] is True
    assert summary["epochs_run"] == summary["best_epoch"] + 1 < cfg.epochs
    assert history[-1]["val_loss"] > summary["val"]["loss"]
    model, *_ = load_model_bundle(tmp_path / "es")
    restored = _val_loss(model, val, cfg.window)
    assert restored == pytest.approx(summary["val"]["loss"], rel=1e-3)
    assert restored < history[-1]["val_loss"] - 1e-3


def test_early_stopping_before_the_average_window_still_averages(tmp_path, caplog):
    # The reversed validation rule makes validation loss rise after the first epoch, so
    # patience 1 fires after epoch 2, long before the schedule's window (epochs 7-8).
    val = _corpus([0, 6, 4, 2, 7, 5, 3, 1, 7, 6, 5, 4, 3, 2, 1], 20)
    cfg = replace(CFG, epochs=8, patience=1, learning_rate=0.05, average_epochs=2)
    with caplog.at_level(logging.INFO, logger="tunesmith.training"):
        summary = train(MODEL, cfg, VOCAB, TRAIN_IDS, val, tmp_path / "es")
    schedule = summary["schedule"]
    assert summary["stopped_early"] is True
    stop = schedule["early_stop_epoch"]
    assert stop == summary["best_epoch"] + 1 < cfg.epochs - cfg.average_epochs
    # exactly average_epochs more epochs ran, and their weights were averaged
    assert summary["epochs_run"] == schedule["epochs_run"] == stop + 2
    assert (summary["average"]["first_epoch"], summary["average"]["last_epoch"]) == (stop + 1, stop + 2)
    assert "weight-averaging phase starts now" in caplog.text
    assert f"averaged epochs {stop + 1}-{stop + 2}" in schedule["what"]


def test_the_averaging_phase_follows_early_stopping():
    from tunesmith.training import averaging

    cfg = replace(CFG, epochs=20, average_epochs=5, patience=3)
    assert averaging.first_averaged_epoch(cfg) == 16 and averaging.last_epoch(cfg) == 20
    assert averaging.first_averaged_epoch(cfg, 9) == 10 and averaging.last_epoch(cfg, 9) == 14
    # a stop inside the window changes nothing: the schedule's last epochs are averaged
    assert averaging.first_averaged_epoch(cfg, 17) == 16 and averaging.last_epoch(cfg, 17) == 20
    assert averaging.last_epoch(replace(cfg, average_epochs=0), 9) == 9
    assert averaging.last_epoch(replace(cfg, average_epochs=0)) == 20


# --------------------------------------------------------------------------- resume


def test_resume_continues_and_matches_an_uninterrupted_run(trained, tmp_path, caplog):
    _, uninterrupted = trained
    out = tmp_path / "model"
    first = train(
        MODEL, replace(CFG, epochs=2), VOCAB, TRAIN_IDS, VAL_IDS, out, live_dir=tmp_path / "live"
    )
    assert first["epochs_run"] == 2 and first["resumed_from_epoch"] is None
    with caplog.at_level(logging.INFO, logger="tunesmith.training"):
        second = train(MODEL, CFG, VOCAB, TRAIN_IDS, VAL_IDS, out, live_dir=tmp_path / "live")
    assert "resuming" in caplog.text and "after epoch 2" in caplog.text
    assert second["resumed_from_epoch"] == 2 and second["epochs_run"] == 3
    # the first two epochs were not run again, and epoch 3 is what an
    # uninterrupted run computes (data order, optimizer and dropout state restored)
    assert second["history"][:2] == first["history"]
    for got, want in zip(second["history"], uninterrupted["history"], strict=True):
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-5)
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-5)
    steps = (
        (tmp_path / "live" / "plots" / "metrics" / "train" / "loss.tsv")
        .read_text()
        .splitlines()[1:]
    )
    assert [int(r.split("\t")[0]) for r in steps] == [0, 1, 2]
    # only the latest checkpoint and the best weights are kept
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    best = second["best_epoch"]
    assert names == sorted({"state.json", "epoch-0003.keras", f"best-{best:04d}.weights.h5"})


def test_incompatible_checkpoint_is_discarded(tmp_path, caplog):
    ckpt = tmp_path / "model" / "checkpoints"
    ckpt.mkdir(parents=True)
    compat = checkpoints._compat_key(MODEL, CFG, VOCAB, "all", "float32")
    old = {**compat, "model": {**compat["model"], "units": 32}, "vocab_size": 9}
    write_json(ckpt / "state.json", {"format": STATE_FORMAT, "compat": old, "epoch": 1})
    (ckpt / "epoch-0001.keras").write_bytes(b"stale")
    with caplog.at_level(logging.WARNING, logger="tunesmith.training"):
        assert checkpoints._load_state(ckpt, compat) is None
    assert "config changed" in caplog.text
    assert "model.units: 32 -> 16" in caplog.text and "vocab_size: 9 -> 8" in caplog.text
    assert not ckpt.exists()
    # what may change between a run and its continuation keeps the checkpoint
    relaxed = checkpoints._compat_key(MODEL, replace(CFG, epochs=50, patience=5), VOCAB, "all", "float32")
    assert relaxed == compat
    assert (
        checkpoints._compat_key(MODEL, replace(CFG, learning_rate=0.1), VOCAB, "all", "float32") != compat
    )


def test_training_never_runs_the_files_left_out_of_the_code_digest(tmp_path):
    """The digest leaves out `AFTER_TRAINING` (the cache, fitted once the weights are kept): only
    honest while training, weight averaging included, does not even import them."""
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        from tunesmith.config.model import ModelConfig
        from tunesmith.config.train import TrainConfig
        from tunesmith.training.loop import train
        ids = np.append(np.tile(np.arange(0, 8, dtype=np.uint16), 60), np.uint16(0))
        vocab = {"corpus": "toy", "symbols": ["<end>", *"abcdefg"], "special": {"end": "<end>", "unk": "<unk>"}}
        train(ModelConfig(units=8, embedding_dim=4), TrainConfig(window=8, batch_size=8, epochs=2,
              average_epochs=2, cache=True), vocab, ids, ids, "model", live_dir="live")
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("tunesmith."))))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(SRC)}, check=True).stdout
    imported = set(json.loads(out.strip().splitlines()[-1]))
    assert "tunesmith.training.loop" in imported
    for after in checkpoints.AFTER_TRAINING:
        assert "tunesmith." + after.removesuffix(".py").replace("/", ".") not in imported


def test_a_checkpoint_resumes_only_under_the_code_that_wrote_it(tmp_path, monkeypatch, caplog):
    """A finished run's checkpoints stay in the (persisted) model folder: after a change to the
    training code, retraining must train again, not hand back the old run."""
    import shutil

    import tunesmith

    root = tmp_path / "src"
    shutil.copytree(Path(tunesmith.__file__).parent, root, ignore=shutil.ignore_patterns("__pycache__"))
    before = checkpoints.code_digest(root)
    assert checkpoints._training_code() == before  # the installed code, these packages
    (root / "tracks" / "base.py").write_text("# not training code\n")
    assert checkpoints.code_digest(root) == before
    for after in checkpoints.AFTER_TRAINING:  # the cache is fitted once the weights are kept
        (root / after).write_text((root / after).read_text() + "\n# changed\n")
    assert checkpoints.code_digest(root) == before
    loop_py = root / "training" / "loop.py"
    loop_py.write_text(loop_py.read_text() + "\n# changed\n")
    assert checkpoints.code_digest(root) != before

    ckpt = tmp_path / "model" / "checkpoints"
    ckpt.mkdir(parents=True)
    compat = checkpoints._compat_key(MODEL, CFG, VOCAB, "all", "float32")
    old = {**compat, "code_sha256": "0" * 64}
    write_json(ckpt / "state.json", {"format": STATE_FORMAT, "compat": old, "epoch": 3})
    with caplog.at_level(logging.WARNING, logger="tunesmith.training"):
        assert checkpoints._load_state(ckpt, compat) is None
    assert "code_sha256" in caplog.text


_CHILD = """
import sys, time
import numpy as np
sys.path.insert(0, {src!r})
from tunesmith.config.model import ModelConfig
from tunesmith.config.train import TrainConfig
from tunesmith.training import loop
from tunesmith.training.loop import train

fit = loop._fit_one_epoch

def slow_after_first(model, train_ds, val_ds, epoch, *args):
    record = fit(model, train_ds, val_ds, epoch, *args)
    if epoch >= 1:
        time.sleep(600)  # epoch 2 never reaches its checkpoint: the parent kills us here
    return record

loop._fit_one_epoch = slow_after_first
ids = np.load({ids!r})
val = np.load({val!r})
train(ModelConfig(**{model!r}), TrainConfig(**{cfg!r}), {vocab!r}, ids, val,
               {out!r}, live_dir={live!r})
"""


@pytest.mark.parametrize("context", ["window", "carried", "averaged"])
def test_kill_9_mid_epoch_then_resume(trained, tmp_path, context):
    from dataclasses import asdict

    cfg = replace(CFG, context=context if context != "averaged" else "window")
    if context == "window":
        _, uninterrupted = trained
    elif context == "carried":  # carried state: the streams, their order and the state reset per epoch
        cfg = replace(cfg, lr_decay="cosine")  # must replay too, and the rate's place on its schedule
        uninterrupted = train(MODEL, cfg, VOCAB, TRAIN_IDS, VAL_IDS, tmp_path / "reference")
    else:  # the weight average of epochs 1-3, begun before the kill, continues from its checkpoint
        cfg = replace(cfg, average_epochs=3, batch_size=4, learning_rate=0.05)
        uninterrupted = train(MODEL, cfg, VOCAB, TRAIN_IDS, VAL_IDS, tmp_path / "reference")
    np.save(tmp_path / "train.npy", TRAIN_IDS)
    np.save(tmp_path / "val.npy", VAL_IDS)
    out, live = tmp_path / "model", tmp_path / "live"
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            _CHILD.format(
                src=str(SRC),
                ids=str(tmp_path / "train.npy"),
                val=str(tmp_path / "val.npy"),
                model=asdict(MODEL),
                cfg=asdict(cfg),
                vocab=VOCAB,
                out=str(out),
                live=str(live),
            )
        )
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    child = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    state = out / "checkpoints" / "state.json"
    try:
        deadline = time.monotonic() + 180
        while not state.is_file():
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 180 s"
            time.sleep(0.2)
        time.sleep(0.5)  # into epoch 2
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert json.loads(state.read_text())["epoch"] == 1
    assert not (out / "model.keras").exists()

    summary = train(MODEL, cfg, VOCAB, TRAIN_IDS, VAL_IDS, out, live_dir=live)
    assert summary["resumed_from_epoch"] == 1 and summary["epochs_run"] == 3
    assert [h["val_loss"] for h in summary["history"]] == pytest.approx(
        [h["val_loss"] for h in uninterrupted["history"]], rel=1e-5
    )
    assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()
    if context != "averaged":
        assert summary["average"] is uninterrupted["average"] is None
    else:
        got, want = summary["average"], uninterrupted["average"]
        assert (got["first_epoch"], got["last_epoch"], got["used"]) == (1, 3, want["used"])
        assert got["val"]["loss"] == pytest.approx(want["val"]["loss"], rel=1e-5)
        with np.load(out / "checkpoints" / "average-0003.npz") as got, \
                np.load(tmp_path / "reference" / "checkpoints" / "average-0003.npz") as want:
            for name in want.files:
                np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-7)
    steps = (live / "plots" / "metrics" / "val" / "loss.tsv").read_text().splitlines()[1:]
    assert [int(r.split("\t")[0]) for r in steps] == [0, 1, 2]


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("window", 0, "window must be >= 1, got 0"),
        ("batch_size", 2.5, "batch_size must be an integer, got 2.5"),
        ("epochs", True, "epochs must be an integer, got True"),
        ("target", "first", "target must be one of all, last, got 'first'"),
        ("optimizer", "adamw", "optimizer must be one of adam, rmsprop, sgd, adagrad, got 'adamw'"),
        ("learning_rate", 0.0, "learning_rate must be > 0, got 0.0"),
        ("learning_rate", float("nan"), "learning_rate must be a finite number, got nan"),
        ("clipnorm", -1.0, "clipnorm must be >= 0"),
        ("patience", -1, "patience must be >= 0, got -1"),
        ("min_delta", -0.1, "min_delta must be >= 0, got -0.1"),
        ("steps_per_epoch", -2, "steps_per_epoch must be >= 0, got -2"),
        ("validation_steps", "3", "validation_steps must be an integer, got '3'"),
        ("mixed_precision", "yes", "mixed_precision must be true or false, got 'yes'"),
        ("cpu_bfloat16", "auto", "cpu_bfloat16 must be true or false, got 'auto'"),
        ("seed", -1, "seed must be >= 0, got -1"),
        ("shuffle", 1, "shuffle must be true or false, got 1"),
        ("decay_epochs", -1, "decay_epochs must be >= 0, got -1"),
        ("average_epochs", -2, "average_epochs must be >= 0, got -2"),
    ],
)
def test_train_config_names_the_bad_field(field, value, message):
    with pytest.raises(ValueError, match=f"^{message.replace('(', '[(]')}"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize(("decay_epochs", "hold"), [(0, 0), (2, 80), (10, 0), (12, 0)])
def test_cosine_decay_holds_the_rate_until_its_last_epochs(decay_epochs, hold):
    from tunesmith.config.train import COSINE_FLOOR
    from tunesmith.training.fitting import _optimizer

    cfg = TrainConfig(epochs=10, learning_rate=0.01, lr_decay="cosine", decay_epochs=decay_epochs)
    schedule = _optimizer(cfg, decay_steps=100)._learning_rate  # the schedule itself
    rate = [float(schedule(step)) for step in range(0, 101)]
    assert rate[:hold + 1] == pytest.approx([0.01] * (hold + 1))  # held
    assert all(a > b for a, b in pairwise(rate[hold:]))  # then lowered every step ...
    assert rate[100] == pytest.approx(0.01 * COSINE_FLOOR)  # ... to the floor at the last step
    assert rate[hold + (100 - hold) // 2] == pytest.approx(0.01 * (1 + COSINE_FLOOR) / 2, rel=1e-3)


@pytest.mark.parametrize(
    ("field", "value"),
    [("family", "gru"), ("units", 0), ("layers", 9), ("dropout", 1.5), ("embedding_dim", -1)],
)
def test_model_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=f"^{field} must .*got {value!r}"):
        ModelConfig(**{field: value})


def test_train_rejects_ids_outside_the_vocab_and_short_splits(tmp_path):
    bad = TRAIN_IDS.copy()
    bad[5] = V
    with pytest.raises(
        ValueError, match="train ids hold token id 8, outside the vocab of 8 symbols"
    ):
        train(MODEL, CFG, VOCAB, bad, VAL_IDS, tmp_path)
    with pytest.raises(
        ValueError, match="validation split has 10 tokens, too few for one window of 16"
    ):
        train(MODEL, CFG, VOCAB, TRAIN_IDS, VAL_IDS[:10], tmp_path)


def test_other_training_data_starts_afresh_instead_of_resuming(tmp_path):
    out = tmp_path / "model"
    first = train(MODEL, replace(CFG, epochs=2), VOCAB, TRAIN_IDS, VAL_IDS, out)
    assert first["epochs_run"] == 2
    # same vocabulary and config, one piece fewer: a finished run must not be reused
    second = train(MODEL, replace(CFG, epochs=2), VOCAB, TRAIN_IDS[: len(TRAIN_IDS) // 2], VAL_IDS, out)
    assert second["resumed_from_epoch"] is None and second["epochs_run"] == 2


@pytest.mark.parametrize(("flags", "native"), [
    ("fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu sse avx2 avx512f amx_bf16 amx_tile", True),
    ("fpu sse avx2 avx512f avx512_vnni", False),
])
def test_bfloat16_is_native_only_with_the_cpu_flag(tmp_path, flags, native):
    from tunesmith.training.fitting import cpu_has_bfloat16

    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n")
    assert cpu_has_bfloat16(info) is native
    assert cpu_has_bfloat16(tmp_path / "no-such-file") is False  # macOS, Windows: float32


def test_the_policy_is_bfloat16_only_where_asked_for_and_native(monkeypatch):
    from tunesmith.training import fitting

    monkeypatch.setattr(fitting, "_gpus", lambda: [])
    monkeypatch.setattr(fitting, "cpu_has_bfloat16", lambda: True)
    assert fitting._effective_policy(TrainConfig(cpu_bfloat16=True)) == "mixed_bfloat16"
    assert fitting._effective_policy(TrainConfig()) == "float32"
    assert fitting._effective_policy(TrainConfig(mixed_precision=True)) == "float32"  # float16: GPU only
    monkeypatch.setattr(fitting, "cpu_has_bfloat16", lambda: False)
    assert fitting._effective_policy(TrainConfig(cpu_bfloat16=True)) == "float32"
    monkeypatch.setattr(fitting, "_gpus", lambda: ["GPU:0"])
    assert fitting._effective_policy(TrainConfig(cpu_bfloat16=True)) == "float32"
    assert fitting._effective_policy(TrainConfig(mixed_precision=True, cpu_bfloat16=True)) == "mixed_float16"


def test_bfloat16_training_exports_a_float32_model_and_keys_its_checkpoints(tmp_path, monkeypatch):
    """Trained under mixed_bfloat16 (forced here, so any CPU runs it; slower where not native), the
    model generation loads is float32 throughout, and a float32 run does not resume its checkpoints."""
    from conftest import train_tiny
    from tunesmith.training import fitting

    monkeypatch.setattr(fitting, "cpu_has_bfloat16", lambda: True)
    out = tmp_path / "bf16"
    metrics = train_tiny(out, cpu_bfloat16=True, epochs=2)
    assert np.isfinite(metrics["val"]["loss"]) and metrics["val"]["loss"] < np.log(7)  # below uniform
    assert keras.config.dtype_policy().name == "float32"  # restored for whatever runs next
    model = load_model_bundle(out)[0]
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    assert state["compat"]["train"]["dtype_policy"] == "mixed_bfloat16"
