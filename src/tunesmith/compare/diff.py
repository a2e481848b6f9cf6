"""Compare the workspace with another git revision: params, headline metrics, loss curves, samples.

``make compare REV=main`` (and the CI workflow) write into ``compare/``:

- ``report.md``: the params that differ, each corpus's headline metrics with both
  values, the change and which side is better, the loss curves of both revisions
  in one figure per corpus (``loss_<corpus>.png``) and every changed metric;
- ``index.html``: the same, plus each corpus's samples of both revisions side by
  side with their audio and engraved scores.

Metrics and DVCLive plots are ``cache: false`` outputs committed with dvc.lock,
so the other revision's figures come from git alone. Its samples are cached DVC
outputs: they are found through that revision's dvc.lock in the local DVC cache
(``--fetch`` first pulls them from a DVC remote), else the page says how to get
them. DVC runs in this interpreter (its Python API), never from PATH.
"""

from __future__ import annotations

import io as stdio
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from tunesmith.evaluation.noise import noise_band, params_hash, verdict
from tunesmith.tracks import TRACKS

log = logging.getLogger(__name__)

WORKSPACE = "workspace"
METRICS_DIR = "data/metrics"
# the train stage's DVCLive plots (dvc.yaml: data/live/${item}/plots/metrics)
LOSS_TSV = "data/live/{corpus}/plots/metrics/{split}/loss.tsv"
LOWER, HIGHER = -1, 1
MARKER = "compare.json"
"""Written last into every comparison folder: a folder holding it may be replaced by the next one."""


@dataclass(frozen=True)
class Headline:
    stage: str  # data/metrics/<corpus>/<stage>.json
    key: str  # dotted key inside it
    direction: int  # LOWER or HIGHER is better
    label: str


HEADLINE = (
    Headline("evaluate", "model.nll", LOWER, "test NLL (nats/token)"),
    Headline("evaluate", "model_no_cache.nll", LOWER, "test NLL, LSTM alone (nats/token)"),
    Headline("evaluate", "margin_vs_best_ngram", HIGHER, "margin below the best n-gram"),
    Headline("evaluate", "model.event_nll", LOWER, "test NLL per event (nats)"),
    Headline("evaluate", "model.accuracy", HIGHER, "test next-token accuracy"),
    Headline("evaluate", "margin_over_ngram_nats", HIGHER, "margin over the n-gram (nats)"),
    Headline("train", "val.loss", LOWER, "validation loss, best epoch"),
    Headline("evaluate", "music.pitch_class_hist_kl", LOWER, "pitch-class KL, real vs generated"),
    Headline("evaluate", "music.note_length_hist_kl", LOWER, "note-length KL, real vs generated"),
    Headline("evaluate", "playability.parse_rate", HIGHER, "samples music21 parses"),
    Headline("evaluate", "samples.decoded", HIGHER, "samples that decode"),
    Headline("evaluate", "novelty.mean_longest_match", LOWER, "longest copy from training (tokens)"),
)
"""The figures a reviewer reads first, per corpus; a corpus shows those it has."""

NOISE_FIGURE = {
    "evaluate: model.nll": "test_nll",
    "evaluate: model_no_cache.nll": "test_nll_no_cache",
    "evaluate: margin_vs_best_ngram": "margin_vs_best_ngram",
    "train: val.loss": "val_nll",
}
"""Headline rows with a seed-noise figure in seeds.json (`tunesmith.evaluation.noise.FIGURES`); the other
rows have none, so compare never calls one of their sides better."""
SEEDS_FILE = "seeds"  # data/metrics/<corpus>/seeds.json (noise/dvc.yaml)


@dataclass
class Side:
    """One revision's figures: ``metrics`` maps a metrics file to its flattened values."""

    label: str
    rev: str | None  # None for the workspace
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # metrics file (or "*") -> why it is missing
    loss: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)  # corpus -> split -> table


@dataclass
class MetricRow:
    label: str
    key: str
    old: Any
    new: Any
    direction: int = 0
    band: float | None = None  # the smallest difference that is not seed noise; None: no noise figure
    basis: str = ""  # what is compared: "one run each", or "means of n seeds"
    old_sd: float | None = None
    new_sd: float | None = None

    @property
    def delta(self) -> float | None:
        a, b = _number(self.old), _number(self.new)
        return None if a is None or b is None else b - a

    @property
    def verdict(self) -> str:
        """"same", "within noise", "no noise figure", "better" or "worse" (the new side), or ""."""
        delta = self.delta
        if delta is None or not self.direction:
            return ""
        if delta == 0 and self.band is None:
            return "same"
        return verdict(delta, self.band, self.direction)

    def better(self, old_label: str, new_label: str) -> str:
        """The side that is better beyond the noise band, or the verdict when neither is."""
        v = self.verdict
        return {"better": new_label, "worse": old_label}.get(v, v)


# --------------------------------------------------------------------------- git


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, Mapping):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _one_line(exc: Any) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _side_results(shown: Mapping[str, Any], name: str) -> tuple[dict, str | None]:
    """``({file: data or exception}, error)`` of one revision in a ``repo.*.show`` result."""
    result = shown.get(name)
    if result is None:
        return {}, f"DVC returned nothing for {name}"
    if result.get("error") is not None:
        return {}, _one_line(result["error"])
    files = {}
    for path, entry in (result.get("data") or {}).items():
        files[path] = entry["error"] if "error" in entry else entry.get("data", {})
    return files, None


def read_figures(dvc_repo, rev: str, old: Side, new: Side) -> None:
    """Fill ``params`` and ``metrics`` of both sides with DVC's own readers (git for ``rev``)."""
    params = dvc_repo.params.show(revs=[rev], hide_workspace=False)
    metrics = dvc_repo.metrics.show(revs=[rev], hide_workspace=False)
    for side, name in ((old, rev), (new, WORKSPACE)):
        files, error = _side_results(params, name)
        if error:
            side.errors["params"] = error
        for path, data in files.items():
            if isinstance(data, Exception):
                side.errors[path] = _one_line(data)
                continue
            prefix = "" if Path(path).name == "params.yaml" else f"{path}:"
            side.params.update({f"{prefix}{k}": v for k, v in _flatten(data).items()})
        files, error = _side_results(metrics, name)
        if error:
            side.errors["*"] = error
        for path, data in files.items():
            if isinstance(data, Exception):
                side.errors[path] = _one_line(data)
            else:
                side.metrics[path] = _flatten(data)
    # a metrics file that neither revision has is a stage never run on either (the benchmark pipeline,
    # which `make repro` leaves out): nothing to compare, and not worth a line per file
    for path in [p for p in old.errors if _never_written(old.errors[p]) and _never_written(new.errors.get(p))]:
        del old.errors[path], new.errors[path]


def _never_written(error: str | None) -> bool:
    return bool(error) and "FileNotFoundError" in error


def params_diff(old: Side, new: Side) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` of every param whose value differs (None where one side lacks it)."""
    keys = sorted(set(old.params) | set(new.params))
    return [(k, old.params.get(k), new.params.get(k)) for k in keys if old.params.get(k) != new.params.get(k)]


def _corpus_of(path: str) -> tuple[str, str]:
    p = Path(path)
    return p.parent.name, p.stem


def corpora(*sides: Side) -> list[str]:
    """Every corpus with a metrics file on either side, the project's tracks first."""
    names = {_corpus_of(path)[0] for side in sides for path in (*side.metrics, *side.errors)
             if path.startswith(f"{METRICS_DIR}/")}
    return sorted(names, key=lambda c: (TRACKS.index(c) if c in TRACKS else len(TRACKS), c))


def _unflatten(flat: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The nested section ``prefix`` of flattened params (``train.essen.model.units`` -> ...)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if not key.startswith(prefix + "."):
            continue
        node = out
        *parents, leaf = key[len(prefix) + 1:].split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


@dataclass(frozen=True)
class SeedFigure:
    mean: float
    sd: float | None
    n: int
    current: bool  # trained with this side's train.<corpus> params (its params_hash matches)


def seed_figure(side: Side, corpus: str, figure: str) -> SeedFigure | None:
    """One figure of a side's seeds.json, or None when the side has none."""
    data = side.metrics.get(f"{METRICS_DIR}/{corpus}/{SEEDS_FILE}.json", {})
    mean, n = _number(data.get(f"figures.{figure}.mean")), _number(data.get(f"figures.{figure}.n"))
    if mean is None or n is None:
        return None
    recipe = {k: v for k, v in _unflatten(side.params, f"train.{corpus}").items() if k != "seed"}
    current = bool(recipe) and data.get("params_hash") == params_hash(recipe)
    return SeedFigure(mean, _number(data.get(f"figures.{figure}.sd")), int(n), current)


def _noise_row(row: MetricRow, corpus: str, old: Side, new: Side) -> MetricRow:
    """``row`` with its noise band (`tunesmith.evaluation.noise.noise_band`): the means of both sides' seeds
    when both carry seeds.json for their own params, else the single runs with the seeds' sd."""
    figure = NOISE_FIGURE.get(row.key)
    if figure is None:
        return row
    a, b = seed_figure(old, corpus, figure), seed_figure(new, corpus, figure)
    if a is None and b is None:
        return row
    if a is not None and b is not None and a.current and b.current:
        band = noise_band(a.sd, b.sd, a.n, b.n)
        return MetricRow(row.label, row.key, a.mean, b.mean, row.direction, band,
                         f"means of {a.n} and {b.n} seeds", a.sd, b.sd)
    band = noise_band(a.sd if a else None, b.sd if b else None)
    return MetricRow(row.label, row.key, row.old, row.new, row.direction, band, "one run each",
                     a.sd if a else None, b.sd if b else None)


PER_SYMBOL = frozenset({"model.nll", "model_no_cache.nll", "model.accuracy", "val.loss", "margin_vs_best_ngram",
                        "margin_over_ngram_nats", "novelty.mean_longest_match"})
"""Headline figures counted per symbol: two encodings of the same music (``encode.<c>``) give other symbols."""


def encoding_differs(corpus: str, old: Side, new: Side) -> list[str]:
    """The ``encode.<corpus>`` params whose values differ between the sides (other symbols, or other splits)."""
    keys = sorted(k for k in set(old.params) | set(new.params) if k.startswith(f"encode.{corpus}."))
    return [k for k in keys if old.params.get(k) != new.params.get(k)]


def headline_rows(corpus: str, old: Side, new: Side) -> list[MetricRow]:
    """The :data:`HEADLINE` metrics that either side has for ``corpus``, each with its noise band; a
    figure per symbol gets no verdict when the sides encode the corpus differently."""
    rows = []
    differs = encoding_differs(corpus, old, new)
    for h in HEADLINE:
        path = f"{METRICS_DIR}/{corpus}/{h.stage}.json"
        a, b = old.metrics.get(path, {}).get(h.key), new.metrics.get(path, {}).get(h.key)
        if a is not None or b is not None:
            row = _noise_row(MetricRow(h.label, f"{h.stage}: {h.key}", a, b, h.direction), corpus, old, new)
            if differs and h.key in PER_SYMBOL:
                row = replace(row, direction=0, basis=f"not comparable: {differs[0]} differs (other symbols)")
            rows.append(row)
    return rows


def changed_metrics(old: Side, new: Side) -> list[tuple[str, MetricRow]]:
    """``(file, row)`` for every metric whose value differs between the sides."""
    out = []
    for path in sorted(set(old.metrics) | set(new.metrics)):
        a, b = old.metrics.get(path, {}), new.metrics.get(path, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append((path, MetricRow(key, key, a.get(key), b.get(key))))
    return out


def missing_notes(side: Side) -> list[str]:
    return [f"{path}: {why}" for path, why in sorted(side.errors.items())]


# --------------------------------------------------------------------------- loss curves


def _tsv(text: str | None) -> pd.DataFrame | None:
    if not text:
        return None
    table = pd.read_csv(stdio.StringIO(text), sep="\t")
    if not {"step", "loss"} <= set(table.columns) or table.empty:
        return None
    return table.sort_values("step")


def loss_summary(side: Side, corpus: str) -> dict[str, Any] | None:
    """Epochs, last train loss and best validation loss (with its epoch) of one side."""
    tables = side.loss.get(corpus)
    if not tables:
        return None
    out: dict[str, Any] = {"epochs": None, "train": None, "val": None, "val_epoch": None}
    if (train := tables.get("train")) is not None:
        out.update(epochs=len(train), train=float(train["loss"].iloc[-1]))
    if (val := tables.get("val")) is not None:
        best = val["loss"].idxmin()
        out.update(val=float(val["loss"][best]), val_epoch=int(val["step"][best]) + 1)
        out["epochs"] = out["epochs"] or len(val)
    return out


# --------------------------------------------------------------------------- the comparison


def _number(value) -> float | None:
    if isinstance(value, bool):
        return float(value)
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if not math.isnan(out) else None  # NaN is "no value"
