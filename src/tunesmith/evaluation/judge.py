"""Samples judged against real pieces as a musician would: form statistics side by side and the
two-sample classifier test (:mod:`tunesmith.evaluation.form`, :mod:`tunesmith.evaluation.two_sample`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tunesmith.core.errors import MusicInputError
from tunesmith.evaluation.form import estimate_tonic, piece_form, summarise
from tunesmith.evaluation.two_sample import classifier_accuracy, piece_features, top_features
from tunesmith.tracks.base import Track

log = logging.getLogger(__name__)

HEADLINE_FORM = ("bar_repeat", "motif_repeat", "tonic_end", "whole_bars", "two_parts_of_8", "chord_at_most_8")
"""The form statistics the headline metrics carry (means over pieces), for samples and real pieces."""


def read_pieces(track: Track, pieces: Sequence[Sequence[str]], meta: Mapping[str, Any]):
    """Each piece that decodes to notes as ``(notes, form, features)``, and how many did not."""
    out, failed = [], 0
    for symbols in pieces:
        try:
            notes = track.notes(list(symbols), meta)
        except (MusicInputError, ValueError):
            failed += 1
            continue
        if len(notes) < 2:
            failed += 1
            continue
        hints = track.form_hints(symbols, meta)
        tonic = hints.tonic if hints.tonic is not None else estimate_tonic(notes)
        form = piece_form(notes, hints)
        out.append((notes, form, piece_features(notes, form, tonic)))
    return out, failed


def judge(track: Track, samples: Sequence[Sequence[str]], real: Sequence[Sequence[str]],
          meta: Mapping[str, Any]) -> dict[str, Any]:
    """``form`` (each statistic's mean and bootstrap sd, for ``samples`` and for ``real``),
    ``form_samples`` / ``form_real`` (the headline means), ``two_sample`` (the classifier's
    cross-validated accuracy, its sd over repeats and the pieces per side, plus the samples that
    did not decode, which the classifier never sees) and ``gives_away`` (the features that differ
    most). Empty when either side has fewer than 5 decodable pieces."""
    gen, gen_failed = read_pieces(track, samples, meta)
    ref, _ = read_pieces(track, real, meta)
    if len(gen) < 5 or len(ref) < 5:
        log.warning("%s: %d decodable samples and %d real pieces: too few for a two-sample test",
                    track.name, len(gen), len(ref))
        return {}
    form = {"samples": summarise([f for _, f, _ in gen]), "real": summarise([f for _, f, _ in ref])}
    test = classifier_accuracy([x for *_, x in gen], [x for *_, x in ref])
    test.update({"undecoded_samples": gen_failed, "samples": len(samples)})
    return {
        "form": form,
        "form_samples": {k: form["samples"][k]["mean"] for k in HEADLINE_FORM if k in form["samples"]},
        "form_real": {k: form["real"][k]["mean"] for k in HEADLINE_FORM if k in form["real"]},
        "two_sample": test,
        "gives_away": top_features([x for *_, x in gen], [x for *_, x in ref]),
    }
