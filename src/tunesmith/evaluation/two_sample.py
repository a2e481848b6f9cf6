"""A musical two-sample test: can a simple classifier tell samples from real pieces?

Each piece becomes a short vector of per-piece features (:func:`piece_features`): its
pitch-class histogram relative to its tonic (12), its melodic interval histogram (25 bins,
-12..+12 semitones, wider leaps clipped), its note-length histogram (the 9 bins of
:data:`tunesmith.evaluation.music_stats.NOTE_LENGTH_EDGES`), the log of its length in notes and
in bars, its bar and motif repetition and whether it ends on the tonic
(:mod:`tunesmith.evaluation.form`). A standardised L2 logistic regression is cross-validated on
balanced classes (stratified 5 folds, repeated 10 times with other shuffles); its mean held-out
accuracy is the figure: 0.5 means the classifier cannot tell the two sets apart, 1.0 that it
always can. The sd is over the 10 repeats' accuracies (the split's noise, not the samples'); the
number of pieces per side is stated beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tunesmith.evaluation.form import top_line
from tunesmith.evaluation.music_stats import NOTE_LENGTH_EDGES

FEATURES = ([f"pc_rel_{i}" for i in range(12)] + [f"interval_{i:+d}" for i in range(-12, 13)]
            + [f"length_bin_{i}" for i in range(len(NOTE_LENGTH_EDGES) - 1)]
            + ["log_notes", "log_bars", "bar_repeat", "motif_repeat", "tonic_end"])
"""The feature names, in the order of :func:`piece_features`' vector."""


def _normalised(hist: np.ndarray) -> np.ndarray:
    total = hist.sum()
    return hist / total if total else hist


def piece_features(notes: np.ndarray, form: Mapping[str, float | bool | None], tonic: int) -> np.ndarray:
    """float64 ``(len(FEATURES),)``: one piece's features (``form`` from
    :func:`tunesmith.evaluation.form.piece_form`, ``tonic`` its tonic pitch class)."""
    pcs = np.zeros(12)
    np.add.at(pcs, (notes[:, 0].astype(int) - tonic) % 12, 1)
    line = top_line(notes)
    steps = np.clip(np.diff(line[:, 0]).astype(int), -12, 12) + 12
    intervals = np.bincount(steps, minlength=25).astype(float)
    lengths = np.histogram(notes[:, 2] - notes[:, 1], bins=np.asarray(NOTE_LENGTH_EDGES))[0].astype(float)
    scalars = [np.log(len(notes)), np.log(max(float(form["bars"]), 1e-3)), float(form["bar_repeat"]),
               float(form["motif_repeat"]), float(bool(form["tonic_end"]))]
    return np.concatenate([_normalised(pcs), _normalised(intervals), _normalised(lengths), scalars])


def classifier_accuracy(generated: Sequence[np.ndarray], real: Sequence[np.ndarray], *, folds: int = 5,
                        repeats: int = 10, seed: int = 0) -> dict[str, float]:
    """Cross-validated accuracy of telling ``generated`` from ``real`` feature vectors.

    Each test is balanced, so chance is 0.5: ``n`` pieces a side, ``n`` the smaller side's count. A
    larger side is split into its consecutive groups of ``n`` (a remainder of fewer is left out),
    each tested against the whole smaller side, and the accuracies averaged: 64 samples against
    21 real pieces are three tests, not one of the first 21 samples, whose draw alone moved the
    figure by 0.1. Returns ``accuracy`` (the mean over groups and repeats), ``sd`` (over the
    repeats of the group-averaged accuracy: the split's noise, not the samples'), ``n_per_side``,
    ``groups``, ``grouped`` (the side split into groups: ``"generated"`` or ``"real"``) and ``chance``.

    Raises:
        ValueError: fewer than ``folds`` pieces on a side.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = min(len(generated), len(real))
    if n < folds:
        raise ValueError(f"a two-sample test needs at least {folds} pieces a side, got {len(generated)} "
                         f"samples and {len(real)} real pieces")
    gen, ref = np.asarray(generated), np.asarray(real)
    larger_is_gen = len(gen) >= len(ref)
    groups = (len(gen) if larger_is_gen else len(ref)) // n
    y = np.r_[np.zeros(n), np.ones(n)]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    scores = np.zeros((groups, repeats))
    for k in range(groups):
        part = slice(k * n, (k + 1) * n)
        x = np.vstack([gen[part], ref[:n]] if larger_is_gen else [gen[:n], ref[part]])
        scores[k] = cross_val_score(model, x, y, cv=cv).reshape(repeats, folds).mean(axis=1)
    per_repeat = scores.mean(axis=0)
    return {"accuracy": float(per_repeat.mean()), "sd": float(per_repeat.std(ddof=1)), "n_per_side": n,
            "groups": groups, "grouped": "generated" if larger_is_gen else "real", "chance": 0.5}


def top_features(generated: Sequence[np.ndarray], real: Sequence[np.ndarray], k: int = 5) -> list[dict]:
    """The ``k`` features whose means differ most between the sides, in pooled sds: what gives the
    samples away (name, generated mean, real mean, standardised difference)."""
    g, r = np.asarray(generated), np.asarray(real)
    sd = np.concatenate([g, r]).std(axis=0)
    diff = np.where(sd > 0, (g.mean(axis=0) - r.mean(axis=0)) / np.where(sd > 0, sd, 1), 0.0)
    order = np.argsort(-np.abs(diff))[:k]
    return [{"feature": FEATURES[i], "generated": float(g[:, i].mean()), "real": float(r[:, i].mean()),
             "difference_sd": float(diff[i])} for i in order]
