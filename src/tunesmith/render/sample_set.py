"""All renderings of a folder written by the generate stage, as records for the report."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.core.sample_record import MEDIA, SampleRecord
from tunesmith.render.audio import render_audio
from tunesmith.render.plots import plot_piano_roll
from tunesmith.render.scores import render_score_svg

log = logging.getLogger(__name__)



def _sample_rows(samples_dir: Path) -> list[Mapping[str, Any]]:
    """The rows of ``samples.csv``, else one ``{"sample": stem}`` per MIDI file in name order."""
    from tunesmith.core.io import read_csv

    table = samples_dir / "samples.csv"
    rows: list[Mapping[str, Any]]
    if table.is_file():
        frame = read_csv(table, keep_default_na=False)
        rows = frame.to_dict("records")
    else:
        rows = [{"sample": p.stem} for p in sorted(samples_dir.glob("*.mid"))]
    return rows


def _new_record(row: Mapping[str, Any], stem: str, samples_dir: Path) -> SampleRecord:
    """A sample's record with its music files found in ``samples_dir`` and nothing rendered yet."""
    found = {k: str(samples_dir / f"{stem}{MEDIA[k]}") for k in ("midi", "abc", "musicxml", "txt")
             if (samples_dir / f"{stem}{MEDIA[k]}").is_file()}
    return SampleRecord(name=stem, error=str(row.get("error") or "") or None,
                        info={k: v for k, v in row.items() if k not in ("sample", "files", "error")}, **found)


def _render_midi(
    record: SampleRecord,
    row: Mapping[str, Any],
    out_dir: Path,
    soundfont: Path | str | None,
    max_seconds: float,
    keep_wav: bool,
) -> None:
    """Render the record's MIDI to audio and a piano roll, into ``record``; a ValueError becomes its error."""
    stem, midi = record.name, record.midi
    try:
        audio = render_audio(
            midi,
            out_dir / f"{stem}.wav",
            soundfont=soundfont,
            max_seconds=max_seconds,
        )
        if not keep_wav and audio["mp3"]:
            Path(audio["wav"]).unlink()  # written just above, by render_audio
            audio = {**audio, "wav": None}
        record.audio, record.wav, record.mp3 = audio, audio["wav"], audio["mp3"]
        primer = row.get("primer_beats")
        record.png = str(plot_piano_roll(midi, out_dir / f"{stem}.png",
                                            primer_beats=float(primer) if primer not in (None, "") else 0.0))
    except ValueError as exc:
        log.warning("sample %s not rendered: %s", stem, exc)
        record.error = record.error or str(exc)


def render_samples(
    samples_dir: Path | str,
    out_dir: Path | str,
    *,
    soundfont: Path | str | None = None,
    max_seconds: float = 180.0,
    scores: bool = True,
    keep_wav: bool = True,
) -> list[SampleRecord]:
    """Render every sample of a generate-stage folder; return their records.

    For each ``sample_NNN.mid`` in ``samples_dir`` (rows of ``samples.csv``
    when present, else the MIDI files in name order) writes into ``out_dir``:
    ``sample_NNN.wav`` (+ ``.mp3``), ``sample_NNN.png`` (piano roll) and, when
    ``scores`` and a ``.musicxml`` or ``.abc`` exists, ``sample_NNN.svg``.
    With ``keep_wav`` false the WAV (10 MB a minute) is removed once its MP3 is
    written; without an MP3 encoder it stays, as the only recording.
    A sample whose MIDI is missing or unreadable keeps its record with an
    ``error`` and no rendered files.

    Returns:
        One :class:`~tunesmith.core.sample_record.SampleRecord` per sample: ``name``, a path
        (str or None) per medium, ``audio`` (the :func:`render_audio` dict or None), ``error``
        and ``info`` (the samples.csv row: seed, sampler, temperature ...).
    """
    samples_dir, out_dir = Path(samples_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _sample_rows(samples_dir)
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    def one(row: Mapping[str, Any]) -> SampleRecord:
        name = str(row.get("sample") or row.get("name"))
        stem = Path(name).stem
        record = _new_record(row, stem, samples_dir)
        if record.midi is not None:
            _render_midi(record, row, out_dir, soundfont, max_seconds, keep_wav)
        score = record.musicxml or record.abc
        if scores and score is not None and render_score_svg(score, out_dir / f"{stem}.svg"):
            record.svg = str(out_dir / f"{stem}.svg")
        return record

    # Most of a sample's time is in FluidSynth, the MP3 encoder and Verovio, each a child process:
    # threads overlap them (a sample's files are its own; the figures are separate Agg canvases).
    with ThreadPoolExecutor(max_workers=render_workers(len(rows))) as pool:
        return list(tqdm(pool.map(one, rows), total=len(rows), desc="render samples", unit="sample", leave=False))


def render_workers(n_samples: int) -> int:
    """Threads rendering at once: one per core, at most 4, at most one per sample."""
    return max(1, min(os.cpu_count() or 1, 4, n_samples))
