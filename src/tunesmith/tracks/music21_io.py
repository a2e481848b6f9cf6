"""Reading and writing music with music21, shared by the tracks whose files music21 reads.

Reading (the prepare stage): parse a raw file (ABC, Humdrum kern, MusicXML) into
scores, check its length, take its monophonic line as events and find the
semitones to C major / A minor (Vasudeva). Writing (the generate stage): a
score as MIDI and MusicXML, the MusicXML made deterministic.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesmith.core import io
from tunesmith.core.errors import MusicInputError
from tunesmith.core.io import decode_text

if TYPE_CHECKING:
    from tunesmith.config.stages import PrepareConfig


def _frac(ql: float | Fraction) -> Fraction:
    return Fraction(ql).limit_denominator(960)


def bar_lines(score) -> tuple[str, list[Fraction]]:
    """The meter ``score`` declares first (``3/4``; "" when none) and the offsets, in quarter
    lengths, of the bar lines between its measures (none when it has no measures)."""
    meters = score.recurse().getElementsByClass("TimeSignature")
    first = meters.first()
    part = score.parts[0] if getattr(score, "parts", None) else score
    measures = list(part.getElementsByClass("Measure"))
    return (first.ratioString if first is not None else ""), [_frac(m.offset) for m in measures[1:]]


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


def analyse_key(stream):
    """``stream.analyze("key")``: the same analysis class of music21 and the same key, without the Key
    objects it builds for each of the 23 other interpretations it keeps (each builds its scale's
    interval network: most of a melody's preparation time)."""
    from music21 import key
    from music21.analysis import discrete

    analysis = discrete.analysisClassFromMethodName("key")()
    (tonic, mode, coefficient), _ = analysis.process(stream.flatten(), storeAlternatives=False)
    found = key.Key(tonic=tonic, mode=mode)
    found.correlationCoefficient = coefficient
    return found


def key_shift(score) -> tuple[str, int]:
    """The key of ``score`` and the semitones that move it to C major or A minor (Vasudeva).

    The key comes from the first key annotation or signature; key analysis
    (music21's ``analyze('key')``, `analyse_key`) decides the mode when
    it agrees on the tonic, because Essen's ABC often writes only the tonic
    (``K: A`` for a tune in A minor); a piece with no key at all is analysed.
    Major goes to C, minor to A, other modes to the degree of C major's scale
    that keeps their signature empty (D dorian stays on D).

    Returns ``(key_name, semitones)`` with semitones in [-5, 6]: the smaller
    move keeps melodies near their written range.
    """
    from music21 import key

    found = next(iter(score.recurse().getElementsByClass(key.KeySignature)), None)
    analysed = analyse_key(score)
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
    lines = [line.strip() for line in decode_text(path.read_bytes()).splitlines()]
    body = [line for line in lines if line and not line.startswith("!")]
    if not body or any(token != "*-" for token in body[-1].split("\t")):
        last = body[-1][:40] if body else "<no music>"
        raise MusicInputError(f"{path.name}: truncated kern file: it ends with {last!r}, not the spine "
                              "terminator '*-'", reason="truncated")
    start = next((line for line in body if line.startswith("**")), body[0])
    opened, closed = len(start.split("\t")), len(body[-1].split("\t"))
    if closed > opened:  # a *^ split never merged back with *v: music21 reads it as extra voices
        split = next((n for n, line in enumerate(lines, 1) if "*^" in line.split("\t")), 0)
        raise MusicInputError(f"{path.name}: a spine split at line {split} is never merged back ({opened} spines "
                              f"open, {closed} end)", reason="spine_split")


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


_VARIANT_ENDING = re.compile(r"\[(\d+(?:[,-]\d+)*)[ \t]*")
_FIELD = re.compile(r"^[A-Za-z+]:")


def music21_abc(text: str) -> str:
    """ABC text as music21 can read it: ABC 2.1 variant endings renumbered.

    music21 9 reads the variant endings ``[1`` and ``[2`` only: ``[1,2``, ``[1-3`` or
    ``[3`` stop it ("Bad chord indicator"). In each group of endings (a group starts at
    an ending whose label starts with 1) the first becomes ``[1``, the second ``[2`` and
    any later one a plain bar line, so a tune such as the Keel Row (``[1,2 ... :|[3 ...``)
    parses with the music of every ending once. In an ABC body ``[`` then a digit is
    always a variant ending (chords open with a note, inline fields with a letter and
    ``:``); header lines are left alone. Only the text music21 reads changes: the
    track's symbols keep what the musician wrote.
    """
    if "[" not in text:
        return text
    count = 0

    def renumber(m: re.Match) -> str:
        nonlocal count
        label = m.group(1)
        count = 1 if label.split(",")[0].split("-")[0] == "1" else count + 1
        if label in ("1", "2") and count == int(label):
            return m.group(0)
        return f"[{count} " if count <= 2 else ""

    lines = text.split("\n")
    return "\n".join(line if _FIELD.match(line) else _VARIANT_ENDING.sub(renumber, line) for line in lines)


_beams = threading.local()
_beams_lock = threading.Lock()


@contextlib.contextmanager
def without_beams() -> Iterator[None]:
    """Parse without music21 beaming the notes, in this thread.

    music21's ABC reader beams every parsed part (``Stream.makeBeams``, and the stem directions of each
    beam group): notation for the eye, 61% of a Nottingham tune's parse and 46% of an Essen song's
    (cProfile, the prepare stage). Reading pitches, lengths, bars and keys needs none of it, so
    the stages that only read skip it; scores that are written (MusicXML) are beamed as before.
    Only in-place beaming is skipped (a copy asked for is still made) and only in this thread: the
    generate stage renders scores in other threads meanwhile.
    """
    _switch_beams()
    before = getattr(_beams, "off", False)
    _beams.off = True
    try:
        yield
    finally:
        _beams.off = before


def _switch_beams() -> None:
    from music21 import stream

    with _beams_lock:
        original = stream.Stream.makeBeams
        if getattr(original, "tunesmith_switch", False):
            return

        def makeBeams(self, *, inPlace=False, **kwargs):  # music21's name
            if inPlace and getattr(_beams, "off", False):
                return None
            return original(self, inPlace=inPlace, **kwargs)

        makeBeams.tunesmith_switch = True
        makeBeams.__doc__ = original.__doc__
        stream.Stream.makeBeams = makeBeams


def parse_file(path: Path, fmt: str):
    """One raw file parsed by music21, unbeamed (`without_beams`: the prepare stage reads notes only).

    Raises:
        MusicInputError: music21 cannot parse it (reason ``parse_error``), or a kern file is truncated.
    """
    from music21 import converter

    if fmt == "kern":
        check_kern_complete(path)
    try:
        with without_beams():
            return _parse_file(converter, path, fmt)
    except MusicInputError:
        raise
    except Exception as exc:  # music21 raises many types on bad files; one piece must not stop the stage
        raise MusicInputError(f"{path.name}: music21 cannot parse it: {type(exc).__name__}: {exc}",
                              reason="parse_error") from exc


def _parse_file(converter, path: Path, fmt: str):
    if fmt == "abc":
        return converter.parse(music21_abc(decode_text(path.read_bytes())), format="abc")
    return converter.parse(str(path), format={"kern": "humdrum", "musicxml": "musicxml"}.get(fmt))


def split_opus(parsed) -> list:
    """One score per tune: an ABC or kern file may hold an opus of several."""
    if type(parsed).__name__ == "Opus":
        return list(parsed.scores)
    return [parsed]


def score_title(score, fallback: str) -> str:
    md = getattr(score, "metadata", None)
    return (md.title if md is not None and md.title else fallback) or fallback


# --------------------------------------------------------------------------- writing

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


REPEAT_GROWTH = 4
"""Expanding a sample's repeats for MIDI may make it at most this many times longer than written."""


def midi_beats(path: Path) -> float:
    """How many beats a MIDI file lasts (its longest track, in quarter notes)."""
    import mido

    midi = mido.MidiFile(str(path))
    return max((sum(m.time for m in track) for track in midi.tracks), default=0) / midi.ticks_per_beat


def without_repeats(score):
    """A copy of ``score`` with its repeat signs and endings made plain bar lines: played once."""
    from music21 import bar, repeat, spanner

    plain = score.coreCopyAsDerivation("without_repeats") if hasattr(score, "coreCopyAsDerivation") else score
    for mark in list(plain.recurse().getElementsByClass((repeat.RepeatMark, spanner.RepeatBracket))):
        mark.activeSite.remove(mark)
    for measure in plain.recurse().getElementsByClass("Measure"):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(measure, side), bar.Repeat):
                setattr(measure, side, bar.Barline("regular"))
    return plain


def write_music21(score, stem: Path, files: list[str]) -> int:
    for fmt, suffix in (("midi", ".mid"), ("musicxml", ".musicxml")):
        with io.atomic_path(stem.with_suffix(suffix)) as tmp:
            try:
                score.write(fmt, fp=str(tmp))
                # music21 plays a sample's repeats out for MIDI; generated repeat signs can nest and
                # multiply: a sample played many times over its written length is written once through
                if fmt == "midi" and midi_beats(tmp) > REPEAT_GROWTH * max(float(score.highestTime), 1.0):
                    without_repeats(score).write(fmt, fp=str(tmp))
            except Exception as exc:  # music21's exporters raise many types on odd generated music
                raise MusicInputError(f"music21 cannot write {fmt}: {type(exc).__name__}: {exc}",
                                      reason="write_error") from exc
            if fmt == "musicxml":
                tmp.write_text(deterministic_musicxml(tmp.read_text(encoding="utf-8")), encoding="utf-8")
        files.append(stem.with_suffix(suffix).name)
    return len(score.flatten().notes)


def piano_score(notes, title: str, *, split: int = 60):
    """A two-staff piano score (music21) of ``notes`` ``(n, 3)`` ``[pitch, start_beat, end_beat]``:
    pitches from ``split`` up on a treble staff, the rest on a bass staff, each staff's simultaneous
    notes chordified, in 4/4 (the classical track's grid has no meter of its own)."""
    from music21 import clef, metadata, meter, note, stream

    score = stream.Score()
    score.metadata = metadata.Metadata(title=title)
    for name, keep, staff_clef in (("Right hand", notes[:, 0] >= split, clef.TrebleClef()),
                                   ("Left hand", notes[:, 0] < split, clef.BassClef())):
        part = stream.Part()
        for pitch, start, end in notes[keep].tolist():
            n = note.Note(int(pitch))
            n.quarterLength = max(float(end - start), 0.25)
            part.insert(float(start), n)
        part = part.chordify() if len(part.notes) else part
        part.partName = name
        part.insert(0, staff_clef)
        part.insert(0, meter.TimeSignature("4/4"))
        score.insert(0, part)
    return score


def write_musicxml(score, path: Path) -> None:
    """``score`` as MusicXML at ``path``, atomically, with music21's run-dependent ids made stable.

    Raises:
        MusicInputError: music21 cannot write it (reason ``write_error``).
    """
    with io.atomic_path(path) as tmp:
        try:
            score.write("musicxml", fp=str(tmp))
        except Exception as exc:  # music21's exporters raise many types on odd generated music
            raise MusicInputError(f"music21 cannot write musicxml: {type(exc).__name__}: {exc}",
                                  reason="write_error") from exc
        tmp.write_text(deterministic_musicxml(tmp.read_text(encoding="utf-8")), encoding="utf-8")
