"""Benchmark scores: NLL per frame with full context, per token, frame accuracy; the
Kneser-Ney baseline with its order chosen on validation; generated samples as rolls and MIDI.

Every model is scored on the token serialisation of
:mod:`tunesmith.tracks.piano.notes_per_frame` (the frame-wise Bernoulli model on
the rolls themselves), so the per-frame figures of all of them are the same
quantity: ``-log p(frame | everything before it in its piece)`` in nats, the
figure the published tables give.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from tunesmith.evaluation.full_context import frame_nll, score_pieces
from tunesmith.modeling.models import any_length_model
from tunesmith.tracks.piano import notes_per_frame as npf

log = logging.getLogger(__name__)

V = len(npf.SYMBOLS)


def frame_correct(correct: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per frame: every token of the frame (its frame end included) was the argmax prediction.

    ``correct`` and ``targets`` are aligned with ``ids[1:]`` as in
    :class:`tunesmith.evaluation.full_context.PieceScores`; the result is aligned with :func:`frame_nll`.
    """
    wrong = frame_nll((~np.asarray(correct, dtype=bool)).astype(np.float64), targets,
                      npf.FRAME_END_ID, npf.PIECE_END_ID)
    return wrong == 0


def summarise(nll: np.ndarray, correct: np.ndarray, ids: np.ndarray) -> dict[str, float | int]:
    """Metrics of per-token scores of a split array ``ids`` (aligned with ``ids[1:]``)."""
    targets = np.asarray(ids)[1:]
    per_frame = frame_nll(nll, targets, npf.FRAME_END_ID, npf.PIECE_END_ID)
    return {
        "nll_per_frame": float(per_frame.mean()),
        "nll_per_token": float(np.mean(nll)),
        "frame_accuracy": float(frame_correct(correct, targets).mean()),
        "token_accuracy": float(np.mean(correct)),
        "frames": int(per_frame.size),
        "tokens": int(targets.size),
    }


def score_token_model(model, model_cfg, ids: np.ndarray) -> dict[str, float | int]:
    """A token model over a split array, every token with the full context of its piece."""
    full = any_length_model(model, model_cfg, V)
    scores = score_pieces(lambda x: full.predict_on_batch(x), np.asarray(ids), npf.PIECE_END_ID, V)
    return summarise(scores.nll, scores.correct, ids)


def kn_token_scores(kn, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-token NLL and argmax-correct of a :class:`tunesmith.evaluation.KneserNey` over ``ids[1:]``.

    Each target's history is the ``order - 1`` ids before it (across piece ends, which
    are tokens like any other to the n-gram).
    """
    return kn.scores(np.asarray(ids))


def select_kn(train_ids: np.ndarray, valid_ids: np.ndarray, max_order: int, *, patience: int = 2):
    """Fit Kneser-Ney of orders 1, 2, ... up to ``max_order`` and keep the one with the lowest
    validation NLL per frame; stop after ``patience`` orders without improvement.

    Returns:
        ``(model, {order: validation NLL per frame})``.
    """
    from tunesmith.evaluation.ngram import KneserNey

    best, best_order, tried = None, 0, {}
    for order in range(1, max_order + 1):
        start = time.perf_counter()
        kn = KneserNey.fit(np.asarray(train_ids), V, order)
        nll, hit = kn_token_scores(kn, valid_ids)
        tried[order] = summarise(nll, hit, valid_ids)["nll_per_frame"]
        log.info("kneser-ney order %d: validation %.4f nats/frame (%.1f s)", order, tried[order],
                 time.perf_counter() - start)
        if best is None or tried[order] < tried[best_order]:
            best, best_order = kn, order
        elif order - best_order >= patience:
            break
    return best, tried


def sample_rolls(model, model_cfg, *, num_samples: int, frames: int, seed: int, temperature: float = 1.0
                 ) -> list[np.ndarray]:
    """``num_samples`` pieces sampled from the start token, each ``frames`` frames long.

    The piece end is never sampled (probability weight 0), so every sample runs to ``frames``
    frames unless the token budget (8 a frame) runs out first.
    """
    from tunesmith.config.sampling import SamplerConfig
    from tunesmith.generation.decode import generate
    from tunesmith.generation.samplers import make_sampler

    cfg = SamplerConfig(method="temperature", temperature=temperature, bias={npf.PIECE_END: 0.0})
    sampler = make_sampler(cfg, list(npf.SYMBOLS))
    # ~4 notes a frame in these sets; a longer budget lets dense pieces reach ``frames``
    seqs = generate(model, model_cfg, list(npf.SYMBOLS), primer_ids=[npf.PIECE_END_ID], num_samples=num_samples,
                    max_length=frames * 8, sampler=sampler, seed=seed, end_id=npf.PIECE_END_ID, window=64)
    return [npf.decode_ids(s)[:frames] for s in seqs]


def write_samples(rolls: list[np.ndarray], out_dir: Path, *, frames_per_beat: int, prefix: str = "sample") -> list[str]:
    """Each roll as ``<prefix>_NNN.mid`` (piano, 120 bpm), ``.npy`` (the roll) and ``.png`` (piano roll)."""
    from tunesmith.render.plots import plot_piano_roll
    from tunesmith.tracks.piano.pianoroll import to_midi

    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for i, roll in enumerate(rolls):
        stem = out_dir / f"{prefix}_{i:03d}"
        np.save(stem.with_suffix(".npy"), roll.astype(np.uint8), allow_pickle=False)
        notes = npf.roll_to_notes(roll)
        to_midi(notes, frames_per_beat=frames_per_beat).write(str(stem.with_suffix(".mid")))
        if len(notes):
            plot_piano_roll(stem.with_suffix(".mid"), stem.with_suffix(".png"), title=stem.name)
        names.append(stem.name)
    return names
