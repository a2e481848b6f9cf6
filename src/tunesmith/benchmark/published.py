"""The published test NLL per frame (nats) on the four splits, and the table that sets
tunesmith's figures beside them. The one place these figures live."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunesmith.core.cells import markdown_cell

ORDER = ("bl_nottingham", "bl_jsb", "bl_piano", "bl_musedata")
TITLES = {"bl_nottingham": "Nottingham", "bl_jsb": "JSB Chorales", "bl_piano": "Piano-midi.de",
          "bl_musedata": "MuseData"}

BOULANGER = ('Boulanger-Lewandowski, Bengio & Vincent, "Modeling Temporal Dependencies in High-Dimensional '
             'Sequences: Application to Polyphonic Music Generation and Transcription" (ICML 2012)')
BAI = ('Bai, Kolter & Koltun, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for '
       'Sequence Modeling" (2018)')
WALDER = 'Walder, "Modelling Symbolic Music: Beyond the Piano Roll" (ACML 2016)'

PUBLISHED: dict[str, dict[str, Any]] = {
    "RNN": {"source": BOULANGER,
            "nll": {"bl_nottingham": 4.46, "bl_jsb": 8.71, "bl_piano": 8.37, "bl_musedata": None}},
    "RNN-RBM": {"source": BOULANGER,
                "nll": {"bl_nottingham": 2.39, "bl_jsb": 6.27, "bl_piano": 7.09, "bl_musedata": 6.01}},
    "RNN-NADE": {"source": BOULANGER,
                 "nll": {"bl_nottingham": 2.31, "bl_jsb": 5.19, "bl_piano": 7.05, "bl_musedata": 5.60}},
    "LSTM (frame-wise)": {"source": BAI, "nll": {"bl_nottingham": 3.29, "bl_jsb": 8.45, "bl_piano": None,
                                                 "bl_musedata": None}},
    "TCN": {"source": BAI, "nll": {"bl_nottingham": 3.07, "bl_jsb": 8.10, "bl_piano": None, "bl_musedata": None}},
}
"""Model -> its source and test NLL per frame (nats) per benchmark; None where not reported."""

OURS = (
    ("lstm", "tunesmith LSTM, notes per frame"),
    ("kneser_ney", "tunesmith Kneser-Ney n-gram, notes per frame"),
    ("frame_lstm", "tunesmith frame-wise LSTM (88 sigmoids)"),
)
"""Keys of ``evaluate.json``'s ``test`` section shown in the table, with their row labels."""


def table_rows(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The benchmark table as plain data for the HTML report: ``head`` (the set names), ``rows``
    (published first, each ``{"model", "cells", "source", "ours"}``) and ``sources``."""
    rows = [{"model": name, "cells": [_cell(row["nll"][b]) for b in ORDER], "source": row["source"], "ours": False}
            for name, row in PUBLISHED.items()]
    for key, label in OURS:
        cells = [_cell(e["nll_per_frame"]) if (e := results.get(b, {}).get("test", {}).get(key)) else "—"
                 for b in ORDER]
        if any(c != "—" for c in cells):
            rows.append({"model": f"{label} (one seed)", "cells": cells, "source": "", "ours": True})
    return {"head": [TITLES[b] for b in ORDER], "rows": rows, "ran": [TITLES[b] for b in ORDER if b in results],
            "sources": [*sorted({row["source"] for row in PUBLISHED.values()}), WALDER]}


def _cell(value: float | None) -> str:
    # a number as a figure; anything else an evaluate.json may hold as escaped text (`markdown_cell`)
    if value is None:
        return "—"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.2f}"
    return markdown_cell(value)


def table_markdown(results: Mapping[str, Mapping[str, Any]]) -> str:
    """A markdown table: published rows, then tunesmith's rows from each benchmark's ``evaluate.json``.

    Args:
        results: benchmark -> the evaluate stage's metrics (missing benchmarks show "—").
    """
    head = "| model (test NLL per frame, nats; lower is better) | " + " | ".join(TITLES[b] for b in ORDER) + " |"
    lines = [head, "|---" * (len(ORDER) + 1) + "|"]
    for name, row in PUBLISHED.items():
        lines.append(f"| {name} | " + " | ".join(_cell(row["nll"][b]) for b in ORDER) + " |")
    for key, label in OURS:
        cells = []
        for b in ORDER:
            entry = results.get(b, {}).get("test", {}).get(key)
            cells.append(_cell(entry["nll_per_frame"]) if entry else "—")
        lines.append(f"| **{label}** | " + " | ".join(cells) + " |")
    times = []
    for b in ORDER:
        r = results.get(b)
        seconds = (r or {}).get("train_seconds", {}).get("lstm") if isinstance(r, Mapping) else None
        times.append(f"{seconds / 60:.1f} min" if isinstance(seconds, (int, float)) else "—")
    lines.append("| tunesmith LSTM training time | " + " | ".join(times) + " |")
    sources = sorted({row["source"] for row in PUBLISHED.values()})
    notes = ["", "Published figures: " + "; ".join(sources) + ". Notes-per-frame serialisation: " + WALDER + "."]
    kn = [f"{TITLES[b]} order {markdown_cell(results[b]['kneser_ney_order'])}" for b in ORDER if b in results]
    if kn:
        notes.append("Kneser-Ney order chosen on validation: " + ", ".join(kn) + ".")
    return "\n".join(lines + notes) + "\n"
