"""Parse, filter and transpose the raw pieces of a corpus (the prepare stage).

Per track, one raw file gives one or more prepared pieces (JSON-friendly dicts):

- nottingham: ``{"id", "title", "rhythm", "abc"}``: normalised ABC text that music21 parses.
- essen: ``{"id", "title", "key", "transposed", "events"}``: a monophonic melody,
  events ``[midi | None, "duration as a fraction of quarter lengths"]``, filtered by
  ``acceptable_durations`` and transposed to C major / A minor (Vasudeva).
- classical: ``{"id", "title", "n_frames", "notes"}``: notes ``[pitch, start, end]`` in
  piano-roll frames (Lorinczi & Brailovsky).

A piece that cannot be parsed or is filtered out raises MusicInputError inside the
worker; :func:`prepare_corpus` records it in the rejected table and goes on.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from tunesmith.config import PrepareConfig
from tunesmith.errors import MusicInputError
from tunesmith.representations import abc_chars
from tunesmith.workers import TimeLimitExceeded, process_pool, time_limit

log = logging.getLogger(__name__)

REJECTED_COLUMNS = ["id", "source_file", "reason", "message"]


# --------------------------------------------------------------------------- melodies (essen)


def _frac(ql: float | Fraction) -> Fraction:
    return Fraction(ql).limit_denominator(960)


def melody_events(score, acceptable_durations: Sequence[float] = ()) -> list[tuple[int | None, Fraction]]:
    """The monophonic line of ``score`` as ``(midi | None, quarter_length)`` events.

    Every note and rest must have one of ``acceptable_durations`` (Vasudeva's
    filter, checked on the written values before tied notes are merged); tied
    notes are then merged into one event and gaps become rests. Grace notes
    (zero duration) are dropped.

    Raises MusicInputError with reason ``unacceptable_duration`` (naming the
    duration and where it is), ``polyphonic`` (chords or overlapping notes) or
    ``empty``.
    """
    from music21 import chord, note

    allowed = {_frac(d) for d in acceptable_durations}
    events: list[list[Any]] = []
    end = Fraction(0)
    tied_open = False
    for el in score.flatten().notesAndRests:
        ql = _frac(el.duration.quarterLength)
        if ql == 0:
            continue  # grace notes carry no time
        if isinstance(el, chord.Chord):
            raise MusicInputError(f"chord {el.pitchedCommonName!r} at offset {el.offset}: "
                                  "a melody must be monophonic", reason="polyphonic")
        if allowed and ql not in allowed:
            where = f"measure {el.measureNumber}" if el.measureNumber is not None else f"offset {el.offset}"
            raise MusicInputError(
                f"duration {ql} quarter lengths ({el.duration.type}) in {where} is not one of "
                f"acceptable_durations {sorted(float(d) for d in allowed)}",
                reason="unacceptable_duration",
            )
        offset = _frac(el.offset)
        if offset < end:
            raise MusicInputError(f"overlapping notes at offset {float(offset)}: a melody must be monophonic",
                                  reason="polyphonic")
        if offset > end:
            events.append([None, offset - end])
        pitch = el.pitch.midi if isinstance(el, note.Note) else None
        tie = el.tie.type if isinstance(el, note.Note) and el.tie is not None else None
        if tied_open and tie in ("stop", "continue") and events and events[-1][0] == pitch:
            events[-1][1] += ql
        else:
            events.append([pitch, ql])
        tied_open = tie in ("start", "continue")
        end = offset + ql
    if not any(p is not None for p, _ in events):
        raise MusicInputError("no notes in the melody", reason="empty")
    return [(p, d) for p, d in events]


def key_shift(score) -> tuple[str, int]:
    """The key of ``score`` and the semitones that move it to C major or A minor (Vasudeva).

    The key comes from the first key annotation or signature; key analysis
    (Krumhansl-Schmuckler, music21's ``analyze('key')``) decides the mode when
    it agrees on the tonic, because Essen's ABC often writes only the tonic
    (``K: A`` for a tune in A minor); a piece with no key at all is analysed.
    Major goes to C, minor to A, other modes to the degree of C major's scale
    that keeps their signature empty (D dorian stays on D).

    Returns ``(key_name, semitones)`` with semitones in [-5, 6]: the smaller
    move keeps melodies near their written range.
    """
    from music21 import key

    found = next(iter(score.recurse().getElementsByClass(key.KeySignature)), None)
    analysed = score.analyze("key")
    if isinstance(found, key.Key):
        k = analysed if analysed.tonic.name == found.tonic.name else found
    elif found is not None:
        # a bare signature has no mode: take its major or minor, as analysis prefers
        k = found.asKey("minor" if analysed.mode == "minor" else "major")
    else:
        k = analysed
    if k.mode in ("major", "minor"):
        semitones = ((0 if k.mode == "major" else 9) - k.tonic.pitchClass) % 12
    else:
        semitones = -k.sharps * 7 % 12  # each sharp in the signature is a fifth up from C
    if semitones > 6:
        semitones -= 12
    return f"{k.tonic.name} {k.mode}", semitones


# --------------------------------------------------------------------------- per file


def check_kern_complete(path: Path) -> None:
    """Reject a Humdrum file whose spines are not closed by a final ``*-`` line: it was cut off.

    Reference records and comments (``!`` lines) may follow the terminator.
    """
    lines = [line.strip() for line in abc_chars.decode_bytes(path.read_bytes()).splitlines()]
    body = [line for line in lines if line and not line.startswith("!")]
    if not body or any(token != "*-" for token in body[-1].split("\t")):
        last = body[-1][:40] if body else "<no music>"
        raise MusicInputError(f"{path.name}: truncated kern file: it ends with {last!r}, not the spine "
                              "terminator '*-'", reason="truncated")


def check_length(path: Path, score, cfg: PrepareConfig, *, tokens_per_quarter: float | None = None) -> None:
    """Reject a parsed score longer than ``cfg.max_seconds`` (at its first tempo, else 120 quarter notes
    a minute) or, with ``tokens_per_quarter``, than ``cfg.max_tokens`` tokens."""
    from music21 import tempo

    quarters = float(score.highestTime)
    mark = next(iter(score.recurse().getElementsByClass(tempo.MetronomeMark)), None)
    bpm = (mark.getQuarterBPM() if mark is not None else None) or 120.0
    seconds = quarters * 60.0 / bpm
    if seconds > cfg.max_seconds:
        raise MusicInputError(f"{path.name}: {seconds:.0f} s of music, longer than max_seconds "
                              f"{cfg.max_seconds:g}", reason="too_long")
    if tokens_per_quarter is not None and quarters * tokens_per_quarter > cfg.max_tokens:
        raise MusicInputError(f"{path.name}: {quarters * tokens_per_quarter:.0f} 16th notes, longer than "
                              f"max_tokens {cfg.max_tokens}", reason="too_long")


def _parse_music21(path: Path, fmt: str):
    from music21 import converter

    if fmt == "kern":
        check_kern_complete(path)
    try:
        if fmt == "abc":
            text = abc_chars.decode_bytes(path.read_bytes())
            return converter.parse(text, format="abc")
        return converter.parse(str(path), format={"kern": "humdrum", "musicxml": "musicxml"}.get(fmt))
    except MusicInputError:
        raise
    except Exception as exc:  # music21 raises many types on bad files; one piece must not stop the stage
        raise MusicInputError(f"{path.name}: music21 cannot parse it: {type(exc).__name__}: {exc}",
                              reason="parse_error") from exc


def _scores(parsed) -> list:
    """One score per tune: an ABC or kern file may hold an opus of several."""
    if type(parsed).__name__ == "Opus":
        return list(parsed.scores)
    return [parsed]


def _title(score, fallback: str) -> str:
    md = getattr(score, "metadata", None)
    return (md.title if md is not None and md.title else fallback) or fallback


def prepare_essen(path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig) -> list[dict]:
    if fmt == "midi":
        raise MusicInputError(f"{path.name}: essen reads ABC, kern or MusicXML, not MIDI",
                              reason="unsupported_format")
    scores = _scores(_parse_music21(path, fmt))
    out = []
    for n, score in enumerate(scores):
        check_length(path, score, cfg, tokens_per_quarter=4)
        events = melody_events(score, cfg.acceptable_durations)
        key_name, semitones = "", 0
        if cfg.transpose:
            # moving MIDI numbers is exact and much faster than music21's score.transpose
            key_name, semitones = key_shift(score)
            events = [(None if p is None else p + semitones, d) for p, d in events]
            if any(p is not None and not 0 <= p <= 127 for p, _ in events):
                raise MusicInputError(f"{path.name}: transposing by {semitones} leaves MIDI 0..127",
                                      reason="bad_pitch")
        out.append({
            "id": piece_id if len(scores) == 1 else f"{piece_id}-{n + 1}",
            "title": _title(score, title),
            "key": key_name,
            "transposed": semitones,
            "events": [[p, str(d)] for p, d in events],
        })
    return out


def prepare_nottingham(path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig,
                       rhythm: str = "") -> list[dict]:
    if fmt != "abc":
        raise MusicInputError(f"{path.name}: nottingham reads ABC text, got {fmt}", reason="unsupported_format")
    from tunesmith.corpora import split_abc_tunes

    tunes = split_abc_tunes(abc_chars.decode_bytes(path.read_bytes()))
    if not tunes:
        raise MusicInputError(f"{path.name}: no ABC tune (X: ... K:) found", reason="parse_error")
    out = []
    for n, tune in enumerate(tunes):
        text = abc_chars.normalise_tune(tune, cfg.headers)
        if cfg.chords == "drop":
            text = abc_chars.drop_chord_symbols(text)
        if len(text) > cfg.max_tokens:  # checked before music21 spends time on it
            raise MusicInputError(f"{path.name}: tune {n + 1} has {len(text)} characters, longer than "
                                  f"max_tokens {cfg.max_tokens}", reason="too_long")
        # seeds 000/003 keep only tunes that are real, playable ABC: music21 must parse them
        score = abc_chars.to_stream(abc_chars.normalise_tune(tune, "all"))
        check_length(path, score, cfg)
        if cfg.acceptable_durations:
            melody_events(score, cfg.acceptable_durations)
        out.append({
            "id": piece_id if len(tunes) == 1 else f"{piece_id}-{n + 1}",
            "title": _title(score, title),
            "rhythm": rhythm,
            "abc": text,
        })
    return out


def notes_key_shift(notes) -> tuple[str, int]:
    """Key of a piano roll and the semitones that move it to C major / A minor.

    Krumhansl-Schmuckler on the duration-weighted pitch-class profile, with
    music21's Krumhansl-Kessler key weights (MIDI has no reliable key
    signature). Returns ``(key_name, semitones)`` with semitones in [-5, 6].
    """
    import numpy as np
    from music21 import analysis, pitch

    notes = np.asarray(notes).reshape(-1, 3)
    profile = np.bincount(notes[:, 0] % 12, weights=notes[:, 2] - notes[:, 1], minlength=12)
    weights = analysis.discrete.KrumhanslKessler()
    best = (-2.0, 0, "major")
    for mode in ("major", "minor"):
        w = np.asarray(weights.getWeights(mode), dtype=float)
        for tonic in range(12):
            r = np.corrcoef(profile, np.roll(w, tonic))[0, 1] if profile.std() > 0 else 0.0
            if r > best[0]:
                best = (r, tonic, mode)
    _, tonic, mode = best
    semitones = ((0 if mode == "major" else 9) - tonic) % 12
    if semitones > 6:
        semitones -= 12
    return f"{pitch.Pitch(tonic).name} {mode}", semitones


def prepare_classical(path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig) -> list[dict]:
    from tunesmith.representations import pianoroll

    if fmt != "midi":
        raise MusicInputError(f"{path.name}: classical reads MIDI, got {fmt}", reason="unsupported_format")
    result = pianoroll.prepare_file(
        path,
        frames_per_beat=cfg.frames_per_beat or None,
        fs=cfg.fs or None,
        pitch_low=cfg.pitch_low,
        pitch_high=cfg.pitch_high,
        max_seconds=cfg.max_seconds,
        max_frames=cfg.max_tokens,
    )
    notes = result["notes"]
    key_name, semitones = "", 0
    if cfg.transpose:
        # one key for all pieces: a chord and its 11 transpositions become one token
        key_name, semitones = notes_key_shift(notes)
        notes = [[p + semitones, s, e] for p, s, e in notes if cfg.pitch_low <= p + semitones <= cfg.pitch_high]
    if cfg.max_frames:
        notes = [[p, s, min(e, cfg.max_frames)] for p, s, e in notes if s < cfg.max_frames]
        if not notes:
            raise MusicInputError(f"{path.name}: no notes in the first {cfg.max_frames} frames", reason="empty")
    return [{
        "id": piece_id,
        "title": title,
        "key": key_name,
        "transposed": semitones,
        "n_frames": max(e for _, _, e in notes),
        "notes": [list(map(int, n)) for n in notes],
    }]


PREPARERS = {"essen": prepare_essen, "nottingham": prepare_nottingham, "classical": prepare_classical}


def _work(args: tuple) -> tuple[str, Any]:
    """Prepare one raw file; runs in a worker process. Never raises for bad music."""
    track, path, fmt, piece_id, title, rhythm, cfg = args
    import music21  # noqa: F401 -- imported before the clock starts: it takes seconds the first time

    try:
        with time_limit(cfg.parse_timeout):
            if track == "nottingham":
                return "ok", prepare_nottingham(path, fmt, piece_id, title, cfg, rhythm)
            return "ok", PREPARERS[track](path, fmt, piece_id, title, cfg)
    except TimeLimitExceeded:
        return "rejected", ("timeout", f"{path.name}: preparing it took longer than parse_timeout "
                                       f"{cfg.parse_timeout:g} s")
    except MusicInputError as exc:
        return "rejected", (exc.reason, str(exc))
    except Exception as exc:  # a library bug on one odd file must not cost the other pieces
        return "rejected", ("error", f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- whole corpus


def prepare_corpus(track: str, raw_dir: Path, manifest: pd.DataFrame, cfg: PrepareConfig,
                   *, progress: bool = True) -> tuple[list[dict], pd.DataFrame, dict]:
    """Prepare every piece in ``manifest`` (the fetch stage's table) in parallel.

    Returns ``(pieces, rejected, stats)``: pieces in manifest order, each with its
    ``split`` from the manifest; the rejected table (id, source_file, reason,
    message); counts read / kept / rejected by reason and files per second.
    """
    if track not in PREPARERS:
        raise ValueError(f"unknown track {track!r}")
    rows = manifest.fillna("").to_dict("records")
    jobs = [
        (track, raw_dir / r["source_file"], r["format"], r["id"], r.get("title", "") or r["id"],
         r.get("rhythm", ""), cfg)
        for r in rows
    ]
    workers = cfg.workers or os.cpu_count() or 1
    start = time.perf_counter()
    results: Iterable[tuple[str, Any]]
    if workers == 1 or len(jobs) < 8:
        results = map(_work, jobs)
        pool = None
    else:
        pool = process_pool(workers)  # workers die with this process, even by kill -9
        results = pool.map(_work, jobs, chunksize=max(1, len(jobs) // (workers * 16)))
    pieces: list[dict] = []
    rejected: list[dict] = []
    try:
        for row, (status, value) in tqdm(zip(rows, results), total=len(rows), desc=f"prepare {track}",
                                         unit="file", disable=not progress):
            if status == "ok":
                for piece in value:
                    piece["split"] = row.get("split", "") or ""
                    piece["source_file"] = row["source_file"]
                    pieces.append(piece)
            else:
                reason, message = value
                rejected.append({"id": row["id"], "source_file": row["source_file"],
                                 "reason": reason, "message": message})
    finally:
        if pool is not None:
            pool.shutdown()
    seconds = time.perf_counter() - start
    reasons = Counter(r["reason"] for r in rejected)
    stats = {
        "files_read": len(rows),
        "pieces_kept": len(pieces),
        "files_rejected": len(rejected),
        "rejected_by_reason": dict(sorted(reasons.items())),
        "seconds": round(seconds, 3),
        "files_per_second": round(len(rows) / seconds, 2) if seconds > 0 else 0.0,
        "config": asdict(cfg),
    }
    log.info("prepare %s: %d files -> %d pieces kept, %d rejected %s (%.1f files/s)", track, len(rows),
             len(pieces), len(rejected), dict(reasons), stats["files_per_second"])
    return pieces, pd.DataFrame(rejected, columns=REJECTED_COLUMNS), stats
