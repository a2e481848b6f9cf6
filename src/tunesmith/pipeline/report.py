"""The report stage: one HTML page for every corpus from the pipeline's folders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tunesmith.report.entries import TITLE, benchmark_table, corpus_entry
from tunesmith.report.page import build_report


def report_stage(corpora: Sequence[str], out_dir: Path, *, metrics_dir: Path, eval_dir: Path, models_dir: Path,
                 live_dir: Path, samples_dir: Path, train_params: Mapping[str, Any] | None = None,
                 benchmark_metrics: Path | None = None) -> Path:
    """`build_report` over ``corpora`` from the pipeline's folders; returns index.html's path.

    ``train_params``: ``train`` of params.yaml, to tell whether a corpus's seeds.json belongs
    to the recipe the run used."""
    train_params = train_params or {}
    entries = {c: corpus_entry(c, metrics_dir=metrics_dir, eval_dir=eval_dir, models_dir=models_dir,
                               live_dir=live_dir, samples_dir=samples_dir, train_params=train_params.get(c))
               for c in corpora}
    return build_report(entries, out_dir, title=TITLE, benchmark=benchmark_table(benchmark_metrics))
