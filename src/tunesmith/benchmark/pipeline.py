"""What each benchmark stage does; the stage scripts in ``stages/bl_*.py`` only parse paths and params.

Layout of one benchmark's encoded folder (``bl_encode``)::

    {train,validation,test}.npy         token ids, ``[END] p1 [END] p2 ... [END]`` (uint8)
    {split}_frames.npy                  the rolls, uint8 (frames, 88), pieces one after another
    {split}_bounds.npy                  int64 (pieces + 1,): piece k is frames[bounds[k]:bounds[k+1]]
    vocab.json, meta.json
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from tunesmith.benchmark import data, scoring
from tunesmith.benchmark.settings import BenchmarkConfig
from tunesmith.core import io
from tunesmith.core.safe_json import NUMBERS, read_json_bounded
from tunesmith.core.vocab import read_vocab_json
from tunesmith.tracks.piano import notes_per_frame as npf

log = logging.getLogger(__name__)


def encode(benchmark: str, mat_path: Path, out_dir: Path) -> dict:
    """``bl_encode``: the ``.mat`` file -> ids and rolls per split, in the published split and order."""
    splits = data.load_mat(mat_path)
    expected = dict(zip(data.SPLITS, data.MANIFEST[benchmark].pieces, strict=True))
    got = {s: len(v) for s, v in splits.items()}
    if got != expected:
        log.warning("%s: %s has %s pieces per split; the published split has %s", benchmark, mat_path, got, expected)
    stats = {"pieces": got, "frames": {}, "tokens": {}, "notes_per_frame": {}}
    with io.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for split, rolls in splits.items():
            ids = data.corpus_ids(rolls)
            frames, bounds = data.split_arrays(rolls)
            io.write_npy(tmp / f"{split}.npy", ids)
            io.write_npy(tmp / f"{split}_frames.npy", frames)
            io.write_npy(tmp / f"{split}_bounds.npy", bounds)
            stats["frames"][split] = len(frames)
            stats["tokens"][split] = int(ids.size)
            stats["notes_per_frame"][split] = round(float(frames.sum()) / max(len(frames), 1), 4)
        io.write_json(tmp / "vocab.json", npf.vocabulary(corpus=benchmark).to_json())
        io.write_json(tmp / "meta.json", {"benchmark": benchmark, "source": data.MANIFEST[benchmark].path,
                                          "sha256": data.sha256_of(mat_path), **stats})
    return stats


def load_split(encoded: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, frames, bounds)`` of one split of an encoded folder."""
    return tuple(np.load(encoded / f"{split}{suffix}.npy", allow_pickle=False)
                 for suffix in ("", "_frames", "_bounds"))


def training_rolls(encoded: Path, cfg: BenchmarkConfig) -> list[np.ndarray]:
    """The training pieces, with their transpositions when ``cfg.transpose`` asks for them."""
    _, frames, bounds = load_split(encoded, "train")
    rolls = [r.astype(bool) for r in data.pieces_of(frames, bounds)]
    low, high = cfg.transpose
    return data.transpositions(rolls, low, high) if (low, high) != (0, 0) else rolls


def train_lstm(encoded: Path, cfg: BenchmarkConfig, out_dir: Path, live_dir: Path | None) -> dict:
    """``bl_train``: the token LSTM over notes per frame, with :func:`tunesmith.training.train`."""
    from tunesmith.training.loop import train

    rolls = training_rolls(encoded, cfg)
    train_ids = data.corpus_ids(rolls)
    val_ids = np.load(encoded / "validation.npy", allow_pickle=False)
    log.info("training on %d pieces (%d tokens) after transposition %s, random shift %s", len(rolls),
             train_ids.size, list(cfg.transpose), list(cfg.random_shift))
    start = time.perf_counter()
    summary = train(cfg.model, cfg.train, read_vocab_json(encoded / "vocab.json"), train_ids, val_ids, out_dir,
                    live_dir=live_dir, epoch_ids=epoch_ids(train_ids, cfg.random_shift, cfg.train.seed))
    summary["train_seconds"] = round(time.perf_counter() - start, 1)
    summary["train_tokens"] = int(train_ids.size)
    io.write_json(out_dir / "metrics.json", {k: v for k, v in summary.items() if k != "history"})
    return summary


def train_frame(encoded: Path, cfg: BenchmarkConfig, out_dir: Path) -> dict:
    """``bl_train_frame``: the frame-wise Bernoulli LSTM on the same (transposed) pieces."""
    from tunesmith.benchmark.augment import EpochFrames
    from tunesmith.benchmark.frame import train_frame_model

    rolls = training_rolls(encoded, cfg)
    _, vf, vb = load_split(encoded, "validation")
    frames, bounds = data.split_arrays(rolls)
    low, high = cfg.random_shift
    shifted = EpochFrames(frames, bounds, low, high, cfg.frame_train.seed) if (low, high) != (0, 0) else None
    return train_frame_model(cfg.frame_model, cfg.frame_train, (frames, bounds), (vf, vb), out_dir,
                             epoch_frames=shifted)


def epoch_ids(train_ids: np.ndarray, random_shift, seed: int):
    """`tunesmith.benchmark.augment.EpochIds` over ``train_ids`` when ``random_shift`` is on, else None."""
    from tunesmith.benchmark.augment import EpochIds

    low, high = random_shift
    return EpochIds(train_ids, low, high, seed) if (low, high) != (0, 0) else None


def evaluate(benchmark: str, encoded: Path, lstm_dir: Path, frame_dir: Path, cfg: BenchmarkConfig,
             out_dir: Path) -> dict:
    """``bl_evaluate``: model selection results on validation, then test scored once.

    The Kneser-Ney order is chosen on validation NLL per frame (orders 1..max, stopping after
    two orders without improvement); the LSTMs were selected on validation while training.
    """
    from tunesmith.benchmark.frame import load_frame_model, score_frames
    from tunesmith.training.bundle import load_model_bundle

    valid_ids, vf, vb = load_split(encoded, "validation")
    test_ids, tf_, tb = load_split(encoded, "test")
    train_ids = data.corpus_ids(training_rolls(encoded, cfg))

    start = time.perf_counter()
    kn, tried = scoring.select_kn(train_ids, valid_ids, cfg.evaluate.max_ngram_order)
    kn_seconds = time.perf_counter() - start

    model, model_cfg, _, _ = load_model_bundle(lstm_dir)
    frame_model = load_frame_model(frame_dir)
    results: dict[str, dict] = {"validation": {}, "test": {}}
    for split, ids, frames, bounds in (("validation", valid_ids, vf, vb), ("test", test_ids, tf_, tb)):
        results[split]["lstm"] = scoring.score_token_model(model, model_cfg, ids)
        nll, hit = scoring.kn_token_scores(kn, ids)
        results[split]["kneser_ney"] = scoring.summarise(nll, hit, ids)
        fnll, exact = score_frames(lambda x: frame_model.predict_on_batch(x), frames, bounds)
        results[split]["frame_lstm"] = {"nll_per_frame": float(fnll.mean()), "frame_accuracy": float(exact.mean()),
                                        "frames": int(fnll.size)}
        log.info("%s %s: lstm %.4f, kneser-ney-%d %.4f, frame lstm %.4f nats/frame", benchmark, split,
                 results[split]["lstm"]["nll_per_frame"], kn.order, results[split]["kneser_ney"]["nll_per_frame"],
                 results[split]["frame_lstm"]["nll_per_frame"])

    lstm_metrics = read_json_bounded(lstm_dir / "metrics.json", allow=NUMBERS)
    frame_metrics = read_json_bounded(frame_dir / "metrics.json", allow=NUMBERS)
    metrics = {
        "benchmark": benchmark,
        **results,
        "kneser_ney_order": kn.order,
        "kneser_ney_validation_by_order": {str(k): round(v, 5) for k, v in tried.items()},
        "train_seconds": {"lstm": lstm_metrics.get("train_seconds"), "frame_lstm": frame_metrics.get("train_seconds"),
                          "kneser_ney_selection": round(kn_seconds, 1)},
        "best_epoch": {"lstm": lstm_metrics.get("best_epoch"), "frame_lstm": frame_metrics.get("best_epoch")},
        "transpose": list(cfg.transpose),
        "random_shift": list(cfg.random_shift),
    }
    with io.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        if cfg.evaluate.num_samples:
            rolls = scoring.sample_rolls(model, model_cfg, num_samples=cfg.evaluate.num_samples,
                                         frames=cfg.evaluate.sample_frames, seed=cfg.evaluate.seed,
                                         temperature=cfg.evaluate.temperature)
            metrics["samples"] = scoring.write_samples(rolls, tmp / "samples", frames_per_beat=cfg.frames_per_beat)
        io.write_json(tmp / "evaluate.json", metrics)
    return metrics
