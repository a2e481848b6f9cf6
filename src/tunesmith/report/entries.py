"""The report of a pipeline run: each corpus's entry read from the stages' folders."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.core.safe_json import NUMBERS, read_json_bounded
from tunesmith.core.sample_record import read_records
from tunesmith.report.content import EVAL_FIGURES, SUMMARY
from tunesmith.tracks import get_track

TITLE = "tunesmith: what the models learned and made"
_SHOWN_ELSEWHERE = ("published", "training")
"""Keys of evaluate.json with their own tables (published figures beside ours; the training run)."""


def corpus_entry(corpus: str, *, metrics_dir: Path, eval_dir: Path, models_dir: Path, live_dir: Path,
                 samples_dir: Path, train_params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `build_report` entry of one corpus: ``<metrics_dir>/<corpus>/evaluate.json``, the
    training ``metrics.json``, the DVCLive folder, the evaluate stage's figures and the samples."""
    track = get_track(corpus)  # its title and description: params.yaml's tracks (register_tracks)
    # the whole record; metrics_dir has the headline
    metrics = read_json_bounded(eval_dir / corpus / "evaluate.json", allow=NUMBERS)
    shown_elsewhere = {key: metrics.pop(key, None) for key in _SHOWN_ELSEWHERE}
    plots = eval_dir / corpus  # the histograms and the heatmap, drawn by evaluate
    seeds = metrics_dir / corpus / "seeds.json"  # `make noise`: the recipe's seed spread, if measured
    generation = samples_dir / corpus / "generation.json"  # the form plan the samples followed, if any
    return {
        "plan": (read_json_bounded(generation, allow=NUMBERS).get("form") if generation.is_file() else None),
        "order": (read_json_bounded(generation, allow=NUMBERS).get("order") if generation.is_file() else None),
        "frame_rules": (read_json_bounded(generation, allow=NUMBERS).get("frame_rules")
                        if generation.is_file() else None),
        "seeds": read_json_bounded(seeds, allow=NUMBERS) if seeds.is_file() else None,
        "train_params": dict(train_params or {}),
        "title": track.title or corpus,
        "published": shown_elsewhere["published"],  # the track's (tunesmith.tracks), carried by evaluate.json
        "summary": track.description or SUMMARY.get(corpus, ""),
        "metrics": metrics,
        "training": read_json_bounded(models_dir / corpus / "metrics.json", allow=NUMBERS),
        "live_dir": str(live_dir / corpus),
        "plots": [{"path": str(plots / name), "caption": text.name, "explanation": text.explanation}
                  for name, text in EVAL_FIGURES.items() if (plots / name).exists()],
        "samples": read_records(samples_dir / corpus),
        # real test pieces rendered like the samples (generate.<c>.real_pieces), when the stage wrote them
        "real": read_records(samples_dir / corpus / "real") if (samples_dir / corpus / "real").is_dir() else [],
    }


def benchmark_table(metrics_dir: Path | None) -> dict[str, Any]:
    """The polyphonic benchmark table: the published rows, and tunesmith's where `make benchmark`
    has written ``<metrics_dir>/<set>/evaluate.json`` (and ``pooled/evaluate.json``)."""
    from tunesmith.benchmark.published import ORDER, table_rows

    results = {}
    for name in (*ORDER, "pooled"):  # pooled: bl_pooled's record, a row once it has trained
        path = metrics_dir / name / "evaluate.json" if metrics_dir is not None else None
        if path is not None and path.is_file():
            results[name] = read_json_bounded(path, allow=NUMBERS)
    return table_rows(results)


