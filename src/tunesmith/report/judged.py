"""The samples judged against real pieces, for the report: the two-sample test in one sentence and
the form table (each statistic for the samples and the real pieces, mean ± bootstrap sd)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tunesmith.report.values import is_number

FORM_ROWS: dict[str, tuple[str, str]] = {
    "bar_repeat": ("bars repeating an earlier bar", "share"),
    "motif_repeat": ("4-note motifs heard before", "share"),
    "tonic_end": ("pieces ending on the tonic", "share"),
    "whole_bars": ("pieces lasting whole bars", "share"),
    "two_parts_of_8": ("pieces of two or more 8-bar parts", "share"),
    "endings": ("pieces with first and second endings", "share"),
    "bars": ("length in bars", "number"),
    "longest_chord": ("longest unchanged chord (beats)", "number"),
    "chord_at_most_8": ("pieces whose longest chord is 8 beats or less", "share"),
}
"""The form statistics the report shows (`tunesmith.evaluation.form`), in order, named for a musician."""


def _cell(stat: Mapping[str, Any] | None, kind: str) -> str:
    if not isinstance(stat, Mapping) or not is_number(stat.get("mean")):
        return "-"
    mean, sd = stat["mean"], stat.get("sd")
    if kind == "share":
        return f"{mean:.0%} ± {sd:.0%}" if is_number(sd) else f"{mean:.0%}"
    return f"{mean:.1f} ± {sd:.1f}" if is_number(sd) else f"{mean:.1f}"


def judged_section(metrics: Mapping[str, Any], plan: Mapping[str, Any] | None = None,
                   order: Sequence[str] | None = None, frame_rules: str | None = None) -> dict[str, Any] | None:
    """``sentence`` (the two-sample accuracy), ``rows`` (statistic, samples, real) and ``gives_away``
    (the features that differ most); None when evaluate ran no two-sample test. ``plan``: the
    generate stage's form plan (``generation.json``'s ``form``), said in the sentence when there is one;
    ``order``: symbols decoding kept in their order (``generation.json``'s ``order``), said likewise;
    ``frame_rules``: the frame grammar decoding kept (``generation.json``'s ``frame_rules``), too."""
    test, form = metrics.get("two_sample"), metrics.get("form")
    if not isinstance(test, Mapping) or not isinstance(form, Mapping):
        return None
    samples, real = form.get("samples") or {}, form.get("real") or {}
    rows = [[name, _cell(samples.get(key), kind), _cell(real.get(key), kind)]
            for key, (name, kind) in FORM_ROWS.items() if key in samples or key in real]
    accuracy = test.get("accuracy", 0.0)
    groups, n = test.get("groups"), test.get("n_per_side")
    told = f"{n} samples from as many real test pieces"
    if is_number(groups) and groups > 1:  # the larger side judged in consecutive groups of n, averaged
        told = (f"{groups} groups of {n} samples in turn from the {n} real test pieces"
                if test.get("grouped") == "generated"
                else f"{n} samples from {groups} groups of {n} real test pieces in turn")
    sentence = (f"A logistic regression on per-piece features (pitch classes relative to the tonic, intervals, "
                f"note lengths, length, repetition, the final note) tells {told} with a cross-validated "
                f"accuracy of {accuracy:.2f} ± {test.get('sd', 0.0):.2f} (0.5: it cannot tell them apart; "
                f"1.0: it always can).")
    undecoded = test.get("undecoded_samples")
    if is_number(undecoded) and undecoded:
        sentence += f" {undecoded} of {test.get('samples')} samples did not decode and are not in the test."
    if isinstance(plan, Mapping) and is_number(plan.get("repeat_share")):
        sentence += (f" The samples were generated with a form plan: bars repeat earlier bars as often as the "
                     f"training pieces' do ({plan['repeat_share']:.0%}), so that row matches by construction"
                     + (f"; sections of {plan['section_bars']} bars end on the tonic"
                        if is_number(plan.get("section_bars")) else "") + ".")
        if isinstance(plan.get("rules"), str) and plan["rules"]:
            sentence += f" Decoding also enforced the notation's rules: {plan['rules']}."
    if isinstance(order, Sequence) and not isinstance(order, str) and len(order) > 1:
        sentence += (f" Decoding kept the frame ends in their order ({order[0]} to {order[-1]}, each naming its "
                     f"frame's place in the bar), as the notation requires.")
    if isinstance(frame_rules, str) and frame_rules:
        sentence += f" It kept each frame's grammar: {frame_rules}."
    gives = [f"{g['feature']} ({g['generated']:.2f} in the samples, {g['real']:.2f} in the real pieces)"
             for g in metrics.get("gives_away") or [] if isinstance(g, Mapping)][:3]
    return {"sentence": sentence, "rows": rows, "gives_away": gives, "accuracy": accuracy,
            "planned": isinstance(plan, Mapping) and is_number(plan.get("repeat_share"))}
