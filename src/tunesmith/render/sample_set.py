"""All renderings of a folder written by the generate stage, as records for the report."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.render.audio import render_audio
from tunesmith.render.plots import plot_piano_roll
from tunesmith.render.scores import render_score_svg

log = logging.getLogger(__name__)



def render_samples(
    samples_dir: Path | str,
    out_dir: Path | str,
    *,
    soundfont: Path | str | None = None,
    max_seconds: float = 180.0,
    scores: bool = True,
    keep_wav: bool = True,
) -> list[dict[str, Any]]:
    """Render every sample of a generate-stage folder; return records for the report.

    For each ``sample_NNN.mid`` in ``samples_dir`` (rows of ``samples.csv``
    when present, else the MIDI files in name order) writes into ``out_dir``:
    ``sample_NNN.wav`` (+ ``.mp3``), ``sample_NNN.png`` (piano roll) and, when
    ``scores`` and a ``.musicxml`` or ``.abc`` exists, ``sample_NNN.svg``.
    With ``keep_wav`` false the WAV (10 MB a minute) is removed once its MP3 is
    written; without an MP3 encoder it stays, as the only recording.
    A sample whose MIDI is missing or unreadable keeps its record with an
    ``error`` and no rendered files.

    Returns:
        One dict per sample, the ``samples`` entries of
        :func:`tunesmith.report.build_report`: ``name``, paths (str or None)
        ``midi``, ``wav``, ``mp3``, ``svg``, ``png``, ``abc``, ``musicxml``,
        ``txt``, ``audio`` (the :func:`render_audio` dict or None), ``error``
        and ``info`` (the samples.csv row: seed, sampler, temperature ...).
    """
    import pandas as pd

    samples_dir, out_dir = Path(samples_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = samples_dir / "samples.csv"
    rows: list[Mapping[str, Any]]
    if table.is_file():
        frame = pd.read_csv(table, keep_default_na=False)
        rows = frame.to_dict("records")
    else:
        rows = [{"sample": p.stem} for p in sorted(samples_dir.glob("*.mid"))]
    from tqdm import tqdm

    records = []
    for row in tqdm(rows, desc="render samples", unit="sample", leave=False):
        name = str(row.get("sample") or row.get("name"))
        stem = Path(name).stem
        found = {ext: samples_dir / f"{stem}.{ext}" for ext in ("mid", "abc", "musicxml", "txt")}
        found = {k: (str(p) if p.is_file() else None) for k, p in found.items()}
        record: dict[str, Any] = {
            "name": stem,
            "midi": found["mid"],
            "abc": found["abc"],
            "musicxml": found["musicxml"],
            "txt": found["txt"],
            "wav": None,
            "mp3": None,
            "svg": None,
            "png": None,
            "audio": None,
            "error": str(row.get("error") or "") or None,
            "info": {k: v for k, v in row.items() if k not in ("sample", "files", "error")},
        }
        if found["mid"] is not None:
            try:
                audio = render_audio(
                    found["mid"],
                    out_dir / f"{stem}.wav",
                    soundfont=soundfont,
                    max_seconds=max_seconds,
                )
                if not keep_wav and audio["mp3"]:
                    Path(audio["wav"]).unlink()  # written just above, by render_audio
                    audio = {**audio, "wav": None}
                record.update(audio=audio, wav=audio["wav"], mp3=audio["mp3"])
                primer = row.get("primer_beats")
                record["png"] = str(plot_piano_roll(found["mid"], out_dir / f"{stem}.png",
                                                    primer_beats=float(primer) if primer not in (None, "") else 0.0))
            except ValueError as exc:
                log.warning("sample %s not rendered: %s", stem, exc)
                record["error"] = record["error"] or str(exc)
        score = found["musicxml"] or found["abc"]
        if scores and score is not None and render_score_svg(score, out_dir / f"{stem}.svg"):
            record["svg"] = str(out_dir / f"{stem}.svg")
        records.append(record)
    return records
