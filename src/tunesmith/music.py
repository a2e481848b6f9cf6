"""Symbols <-> music files for each track: what generation writes and how a MIDI
file's opening becomes a primer.

The decoding options come from the vocabulary's metadata (``vocab.json``):
``prepare`` (piano-roll resolution) and ``encode`` (time step, holds), so a
model directory alone is enough to turn ids back into music.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith import io
from tunesmith.errors import MusicInputError
from tunesmith.representations import abc_chars, time_series

log = logging.getLogger(__name__)


def _resolution(meta: Mapping[str, Any]) -> dict[str, Any]:
    prep = meta.get("prepare", {})
    fpb = prep.get("frames_per_beat") or None
    return {"frames_per_beat": fpb, "fs": None if fpb else prep.get("fs") or None}


def write_sample(track: str, symbols: Sequence[str], meta: Mapping[str, Any], stem: Path,
                 *, title: str = "") -> dict[str, Any]:
    """Decode one generated sample and write its files next to ``stem``.

    nottingham: ``stem.abc`` always, ``stem.mid`` and ``stem.musicxml`` when music21
    parses the ABC; essen: ``stem.mid`` and ``stem.musicxml``; classical: ``stem.mid``.

    Returns ``{"decoded": bool, "error": str, "notes": int, "files": [names]}``; a
    sample that does not decode is reported, never raised.
    """
    stem.parent.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    try:
        if track == "nottingham":
            text = abc_chars.decode_text(symbols)
            if not re.search(r"^X:", text, flags=re.M):
                text = f"X:1\nT:{title or stem.name}\n" + text
            io.write_text(stem.with_suffix(".abc"), text)
            files.append(stem.with_suffix(".abc").name)
            score = abc_chars.to_stream(text)
            n = _write_music21(score, stem, files)
        elif track == "essen":
            step = meta.get("encode", {}).get("time_step", 0.25)
            stream = time_series.to_stream(symbols, step, title=title or stem.name)
            if not stream.flatten().notes:
                raise MusicInputError("the sample holds no notes", reason="empty")
            n = _write_music21(stream, stem, files)
        elif track == "classical":
            from tunesmith.representations import pianoroll

            notes = classical_notes(symbols, meta)
            if len(notes) == 0:
                raise MusicInputError("the sample holds no notes", reason="empty")
            pm = pianoroll.to_midi(notes, **_resolution(meta))
            with io.atomic_path(stem.with_suffix(".mid")) as tmp:
                pm.write(str(tmp))
            files.append(stem.with_suffix(".mid").name)
            n = len(notes)
        else:
            raise ValueError(f"unknown track {track!r}")
    except MusicInputError as exc:
        log.warning("%s does not decode: %s", stem.name, exc)
        return {"decoded": False, "error": str(exc), "notes": 0, "files": files}
    return {"decoded": True, "error": "", "notes": n, "files": files}


_RANDOM_ID = re.compile(r'"([PI])([0-9a-f]{32})"')  # music21's part and instrument ids
_ENCODING_DATE = re.compile(r"[ \t]*<encoding-date>[^<]*</encoding-date>\n?")


def deterministic_musicxml(text: str) -> str:
    """MusicXML as music21 writes it, minus what changes from run to run: random part and
    instrument ids become ``P1``, ``P2``, ... and ``I1``, ... in order of appearance, and
    the writing date (``<encoding-date>``) is dropped."""
    ids: dict[str, str] = {}
    counts: dict[str, int] = {}

    def stable(m: re.Match) -> str:
        if m.group(0) not in ids:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
            ids[m.group(0)] = f'"{m.group(1)}{counts[m.group(1)]}"'
        return ids[m.group(0)]

    return _ENCODING_DATE.sub("", _RANDOM_ID.sub(stable, text))


def _write_music21(score, stem: Path, files: list[str]) -> int:
    for fmt, suffix in (("midi", ".mid"), ("musicxml", ".musicxml")):
        with io.atomic_path(stem.with_suffix(suffix)) as tmp:
            try:
                score.write(fmt, fp=str(tmp))
            except Exception as exc:  # music21's exporters raise many types on odd generated music
                raise MusicInputError(f"music21 cannot write {fmt}: {type(exc).__name__}: {exc}",
                                      reason="write_error") from exc
            if fmt == "musicxml":
                tmp.write_text(deterministic_musicxml(tmp.read_text(encoding="utf-8")), encoding="utf-8")
        files.append(stem.with_suffix(suffix).name)
    return len(score.flatten().notes)


def classical_notes(symbols: Sequence[str], meta: Mapping[str, Any]) -> np.ndarray:
    """Notes ``[pitch, start, end]`` (frames) of classical symbols in the vocabulary's representation."""
    enc = meta.get("encode", {}) or {}
    if enc.get("representation") == "notes":
        from tunesmith.representations import notes_per_frame

        return notes_per_frame.decode_notes(symbols)
    from tunesmith.representations import pianoroll

    return pianoroll.decode_notes(symbols, distinguish_holds=enc.get("distinguish_holds", True))


def midi_primer(path: Path, meta: Mapping[str, Any], length: int) -> list[str]:
    """The first ``length`` piano-roll tokens of a MIDI file (Lorinczi & Brailovsky's seed sample),
    at the resolution and hold convention the vocabulary was built with."""
    from tunesmith.representations import pianoroll

    prep = meta.get("prepare", {})
    notes = pianoroll.read_midi_notes(path, pitch_low=prep.get("pitch_low", 21),
                                      pitch_high=prep.get("pitch_high", 108),
                                      max_seconds=prep.get("max_seconds", 1800.0),
                                      max_frames=prep.get("max_tokens", 100_000), **_resolution(meta))
    enc = meta.get("encode", {}) or {}
    if enc.get("representation") == "notes":
        from tunesmith.representations import notes_per_frame

        return notes_per_frame.encode_notes(notes)[:length]
    return pianoroll.encode(notes, distinguish_holds=enc.get("distinguish_holds", True))[:length]
