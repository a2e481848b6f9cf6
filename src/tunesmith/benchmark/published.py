"""The published test NLL per frame (nats) on the four splits, and the table that sets
tunesmith's figures beside them. The one place these figures live: ``bl_table``
(``benchmark/data/table.md``) and the HTML report's benchmark table both read them from here.

tunesmith's figures are the median and range over seeds where several seeds ran, and say
``n=1`` where one did: a single run is not a distribution, and a published row that is lower
than tunesmith's median stays in the table (:func:`lower_published` lists them).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from tunesmith.core.cells import markdown_cell

ORDER = ("bl_nottingham", "bl_jsb", "bl_piano", "bl_musedata")
TITLES = {"bl_nottingham": "Nottingham", "bl_jsb": "JSB Chorales", "bl_piano": "Piano-midi.de",
          "bl_musedata": "MuseData"}

BOULANGER = ('Boulanger-Lewandowski, Bengio & Vincent, "Modeling Temporal Dependencies in High-Dimensional '
             'Sequences: Application to Polyphonic Music Generation and Transcription" (ICML 2012)')
WALDER = 'Walder, "Modelling Symbolic Music: Beyond the Piano Roll" (ACML 2016)'
JOHNSON = 'Johnson, "Generating Polyphonic Music Using Tied Parallel Networks" (EvoMUSART 2017)'
BAI = ('Bai, Kolter & Koltun, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for '
       'Sequence Modeling" (2018)')
CITES = {BOULANGER: "Boulanger-Lewandowski et al. 2012", WALDER: "Walder 2016", JOHNSON: "Johnson 2017",
         BAI: "Bai et al. 2018"}
"""Each source's short citation, for the table's source column."""


def _row(source: str, nott: float | None, jsb: float | None, piano: float | None, muse: float | None
         ) -> dict[str, Any]:
    return {"source": source, "nll": dict(zip(ORDER, (nott, jsb, piano, muse), strict=True))}


PUBLISHED: dict[str, dict[str, Any]] = {
    "RNN": _row(BOULANGER, 4.46, 8.71, 8.37, None),
    "RNN-RBM": _row(BOULANGER, 2.39, 6.27, 7.09, 6.01),
    "RNN-NADE": _row(BOULANGER, 2.31, 5.19, 7.05, 5.60),
    "LSTM, notes per frame": _row(WALDER, 2.06, 5.01, 6.67, 5.16),
    "LSTM, notes per frame, every training piece in all keys": _row(WALDER, 1.66, 4.34, 5.43, 4.46),
    "LSTM, notes per frame, the four training sets pooled": _row(WALDER, 1.57, 4.45, 4.94, 4.41),
    "BALSTM (tied parallel networks), best of 5 runs": _row(JOHNSON, 1.55, 5.05, 4.90, 3.90),
    "BALSTM (tied parallel networks), median of 5 runs": _row(JOHNSON, 1.62, 5.86, 5.00, 4.41),
    "LSTM (frame-wise)": _row(BAI, 3.29, 8.45, None, None),
    "TCN": _row(BAI, 3.07, 8.10, None, None),
}
"""Model -> its source and test NLL per frame (nats) per benchmark; None where not reported.
In order of publication; the figures as the issue that asked for them quotes the papers."""

OURS = (
    ("lstm", "tunesmith LSTM, notes per frame"),
    ("kneser_ney", "tunesmith Kneser-Ney n-gram, notes per frame"),
    ("frame_lstm", "tunesmith frame-wise LSTM (88 sigmoids)"),
    ("lstm_pooled", "tunesmith LSTM, notes per frame, the four training sets pooled"),
)
"""Keys of ``evaluate.json``'s ``test`` section shown in the table, with their row labels;
``lstm_pooled`` is read from ``results["pooled"]``, ``bl_pooled``'s record (:func:`figures`)."""

SEEDS_NOTE = ("tunesmith's cells: the median over seeds, [lowest–highest] when several seeds ran, and n, "
              "the number of seeds")


def seed_runs(result: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """A benchmark's runs, one per seed: a list of ``evaluate.json`` records as given, the
    record's own ``seeds`` list (records of its seeds) when it carries one, else the record alone."""
    if not result:
        return []
    if isinstance(result, Mapping):
        seeds = result.get("seeds")
        return list(seeds) if isinstance(seeds, list) and seeds else [result]
    return list(result)


def seed_figures(result, key: str) -> list[float]:
    """Test NLL per frame of model ``key`` (``lstm``, ``kneser_ney``, ``frame_lstm``) in each seed's run."""
    out = []
    for run in seed_runs(result):
        entry = run.get("test", {}).get(key) if isinstance(run, Mapping) else None
        value = entry.get("nll_per_frame") if isinstance(entry, Mapping) else None
        # a figure is a finite number; anything else an evaluate.json holds is no figure
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out.append(float(value))
    return out


def seed_cell(values: Sequence[float]) -> str:
    """``"4.77 (n=1)"``; the median, [lowest, an en dash, highest] and n for several seeds; or a dash."""
    if not values:
        return "—"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.2f} (n=1)"
    return f"{median:.2f} [{min(values):.2f}–{max(values):.2f}] (n={len(values)})"


def figures(results: Mapping[str, Any], benchmark: str, key: str) -> list[float]:
    """Test NLL per frame of model ``key`` on ``benchmark``, one per seed; ``lstm_pooled`` from the
    pooled record(s) in ``results["pooled"]`` (``{"enabled", "sets": {set: {"test": {"lstm": ...}}}}``)."""
    if key != "lstm_pooled":
        return seed_figures(results.get(benchmark), key)
    pooled = results.get("pooled")
    runs = [r for r in ([pooled] if isinstance(pooled, Mapping) else pooled or []) if r.get("enabled")]
    return seed_figures([r["sets"][benchmark] for r in runs if benchmark in r.get("sets", {})], "lstm")


def lower_published(results: Mapping[str, Any], key: str = "lstm") -> dict[str, list[tuple[str, float]]]:
    """Per benchmark tunesmith ran: the published rows whose figure is lower than tunesmith's median
    for ``key``, lowest first, as ``(model, nll)``."""
    out: dict[str, list[tuple[str, float]]] = {}
    for b in ORDER:
        values = seed_figures(results.get(b), key)
        if not values:
            continue
        ours = statistics.median(values)
        out[b] = sorted(((name, row["nll"][b]) for name, row in PUBLISHED.items()
                         if row["nll"][b] is not None and row["nll"][b] < ours), key=lambda r: r[1])
    return out


def lower_sentences(results: Mapping[str, Any], key: str = "lstm") -> list[str]:
    """One sentence per benchmark tunesmith ran: which published rows are lower than its median."""
    lines = []
    for b, rows in lower_published(results, key).items():
        if rows:
            listed = "; ".join(f"{name} ({CITES[PUBLISHED[name]['source']]}) {nll:.2f}" for name, nll in rows)
            lines.append(f"{TITLES[b]}: {len(rows)} published rows are lower than tunesmith's LSTM: {listed}.")
        else:
            lines.append(f"{TITLES[b]}: no published row is lower than tunesmith's LSTM.")
    return lines


def table_rows(results: Mapping[str, Any]) -> dict[str, Any]:
    """The benchmark table as plain data for the HTML report: ``head`` (the set names), ``rows``
    (published first, each ``{"model", "cells", "source", "ours"}``), ``ran``, ``sources``
    (the papers by authors and title), ``seeds_note`` and ``lower`` (:func:`lower_sentences`)."""
    rows = [{"model": f"{name} ({CITES[row['source']]})", "cells": [_cell(row["nll"][b]) for b in ORDER],
             "source": row["source"], "ours": False} for name, row in PUBLISHED.items()]
    for key, label in OURS:
        cells = [seed_cell(figures(results, b, key)) for b in ORDER]
        if any(c != "—" for c in cells):
            rows.append({"model": label, "cells": cells, "source": "", "ours": True})
    return {"head": [TITLES[b] for b in ORDER], "rows": rows,
            "ran": [TITLES[b] for b in ORDER if seed_runs(results.get(b))],
            "sources": list(CITES), "seeds_note": SEEDS_NOTE, "lower": lower_sentences(results)}


def _cell(value: float | None) -> str:
    # a number as a figure; anything else an evaluate.json may hold as escaped text (`markdown_cell`)
    if value is None:
        return "—"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.2f}"
    return markdown_cell(value)


def table_markdown(results: Mapping[str, Any]) -> str:
    """A markdown table: published rows, then tunesmith's rows from each benchmark's ``evaluate.json``.

    Args:
        results: benchmark -> the evaluate stage's metrics, or a list of them (one per seed);
            missing benchmarks show "—".
    """
    head = ("| model (test NLL per frame, nats; lower is better) | source | "
            + " | ".join(TITLES[b] for b in ORDER) + " |")
    lines = [head, "|---" * (len(ORDER) + 2) + "|"]
    for name, row in PUBLISHED.items():
        lines.append(f"| {name} | {CITES[row['source']]} | " + " | ".join(_cell(row["nll"][b]) for b in ORDER) + " |")
    for key, label in OURS:
        cells = [seed_cell(figures(results, b, key)) for b in ORDER]
        if key != "lstm_pooled" or any(c != "—" for c in cells):
            lines.append(f"| **{label}** | this run | " + " | ".join(cells) + " |")
    times = []
    for b in ORDER:
        runs = seed_runs(results.get(b))
        seconds = [r["train_seconds"]["lstm"] for r in runs
                   if isinstance((r.get("train_seconds") or {}).get("lstm"), (int, float))]
        times.append(f"{statistics.median(seconds) / 60:.1f} min" if seconds else "—")
    lines.append("| tunesmith LSTM training time (median over seeds) | this run | " + " | ".join(times) + " |")
    notes = ["", "Published figures: " + "; ".join(CITES) + ". Notes-per-frame serialisation: " + WALDER + ".",
             "", SEEDS_NOTE + "."]
    lower = lower_sentences(results)
    if lower:
        notes += ["", *lower]
    kn = [f"{TITLES[b]} order {markdown_cell(runs[0]['kneser_ney_order'])}" for b in ORDER
          if (runs := seed_runs(results.get(b))) and "kneser_ney_order" in runs[0]]
    if kn:
        notes += ["", "Kneser-Ney order chosen on validation (first seed): " + ", ".join(kn) + "."]
    return "\n".join(lines + notes) + "\n"
