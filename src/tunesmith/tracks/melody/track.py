"""The essen track: monophonic folk melodies as Vasudeva's time series.

Raw files are Humdrum kern, ABC or MusicXML songs; a prepared piece is ``{"id", "title",
"key", "transposed", "events"}``: events ``[midi | None, "duration as a fraction of
quarter lengths"]``, filtered by ``acceptable_durations`` and transposed to C major /
A minor (Vasudeva). Its symbols are one per ``time_step``: the MIDI number, ``r`` or the
hold ``_`` (:mod:`tunesmith.tracks.melody.time_series`). A sample is written as
``.mid`` and ``.musicxml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunesmith.core.errors import MusicInputError
from tunesmith.tracks import music21_io as m21
from tunesmith.tracks.base import FormHints, Track, notes_array
from tunesmith.tracks.melody import metered_series, time_series

if TYPE_CHECKING:
    from tunesmith.config.stages import EncodeConfig, PrepareConfig


class Essen(Track):
    name = "essen"
    kind = "melody"
    end = time_series.END
    scores = True

    def prepare_file(self, path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig,
                     rhythm: str = "") -> list[dict]:
        return prepare_essen(path, fmt, piece_id, title, cfg)

    def representation(self, cfg: EncodeConfig) -> str:
        return metered_series.NAME if cfg.representation == "metered" else time_series.NAME

    def encode(self, piece: dict, cfg: EncodeConfig) -> list[str]:
        events = [(p, Fraction(d)) for p, d in piece["events"]]
        steps = time_series.encode(events, cfg.time_step)  # raises for events that are no melody
        if cfg.representation != "metered":
            return steps
        if not isinstance(piece.get("bars"), list):
            raise MusicInputError("the prepared song has no bar lines (prepare it again for the metered series)",
                                  reason="no_bars")
        key = metered_series.key_symbol(str(piece.get("key") or ""), int(piece.get("transposed") or 0))
        return metered_series.encode(events, piece["bars"], str(piece.get("meter") or ""), cfg.time_step, key)

    def decode(self, symbols: Sequence[str], meta: Mapping[str, Any], *, title: str = ""):
        """A music21 stream of notes and rests at the vocabulary's ``time_step``, with the key signature
        of C major / A minor when prepare transposed the songs there, else the one key analysis finds;
        in the song's bars and meter when the symbols carry them (the metered series)."""
        transposed = (meta.get("prepare") or {}).get("transpose", True)
        step = meta.get("encode", {}).get("time_step", 0.25)
        if _metered(meta):
            return metered_series.to_stream(symbols, step, title=title, sharps=0 if transposed else None)
        return time_series.decode(symbols, step, title=title, sharps=0 if transposed else None)

    def bar_unit(self, meta: Mapping[str, Any]) -> tuple[str | None, int]:
        """Every symbol is one ``time_step`` (a 16th note by default): 16 make a 4/4 bar; in the
        metered series each bar line closes one bar of the song's own meter."""
        if _metered(meta):
            return metered_series.BAR, 1
        step = float(meta.get("encode", {}).get("time_step", 0.25))
        return None, max(1, round(4 / step))

    def bar_reader(self, header: Sequence[str], meta: Mapping[str, Any], section_bars: int | None = None):
        """The metered series: bars of the header's meter (:class:`metered_series.MeteredBars`);
        the time series: 4/4 bars of 16ths counted from the start."""
        if not _metered(meta):
            return super().bar_reader(header, meta, section_bars)
        step = meta.get("encode", {}).get("time_step", 0.25)
        headers = [s for s in meta.get("symbols", ()) if metered_series.is_header(s)]
        return metered_series.MeteredBars(metered_series.bar_steps(metered_series.meter_of(header), step), headers,
                                          metered_series.tonic_of(header), final_steps=max(1, round(1 / float(step))))

    def opening(self, symbols: Sequence[str], length: int) -> list[str]:
        """The metered series: the song's header (its meter and key); the time series: its first ``length`` steps."""
        return self._header(symbols) or list(symbols[:length])

    @staticmethod
    def _header(symbols: Sequence[str]) -> list[str]:
        head = []
        for s in symbols:
            if not metered_series.is_header(s):
                break
            head.append(s)
        return head

    def meter(self, symbols: Sequence[str]) -> str | None:
        return metered_series.meter_of(symbols)

    def after_header(self, symbols: Sequence[str]) -> list[str]:
        return list(symbols[len(self._header(symbols)):])

    def form_hints(self, symbols: Sequence[str], meta: Mapping[str, Any] | None = None) -> FormHints:
        """The song's notated length (its rests too); the metered series: the header's bar and key
        and the pickup before the first bar line; the time series: 4/4 bars, the tonic estimated."""
        step = float(((meta or {}).get("encode") or {}).get("time_step", 0.25))
        symbols = list(symbols)
        steps = metered_series.steps_only(symbols[:symbols.index(self.end)] if self.end in symbols else symbols)
        meter = metered_series.meter_of(symbols)
        if meter is None:
            return FormHints(length=len(steps) * step)
        per_bar = metered_series.bar_steps(meter, step)
        pickup = metered_series.pickup_steps(symbols, per_bar)
        return FormHints(bar_beats=per_bar * step, tonic=metered_series.tonic_of(symbols), pickup=pickup * step,
                         length=len(steps) * step)

    def write_music(self, symbols: Sequence[str], meta: Mapping[str, Any], stem: Path, files: list[str],
                    *, title: str, primer_length: int = 0) -> int:
        """``stem.mid`` and ``stem.musicxml``, at the vocabulary's ``time_step``."""
        stream = self.decode(symbols, meta, title=title or stem.name)
        if not stream.flatten().notes:
            raise MusicInputError("the sample holds no notes", reason="empty")
        if 0 < primer_length < len(symbols):  # where the model's own music begins, above the staff
            from music21 import expressions

            mark = expressions.TextExpression("model begins")
            mark.placement = "above"
            step = float(meta.get("encode", {}).get("time_step", 0.25))
            steps = len(metered_series.steps_only(symbols[:primer_length]))
            if steps:
                stream.insert(steps * step, mark)
        m21.write_music21(stream, stem, files)
        return len(self.notes(symbols, meta))  # one per note begun: notes tied over a bar line are one

    def notes(self, symbols: Sequence[str], meta: Mapping[str, Any]) -> np.ndarray:
        enc = meta.get("encode", {}) or {}
        return essen_notes(metered_series.steps_only(symbols) if _metered(meta) else symbols,
                           enc.get("time_step", 0.25))

    def hold_ids(self, symbols: Sequence[str], unk: str = "<unk>") -> frozenset[int]:
        """``_``, and ``<unk>``, which `time_series.decode_events` reads as a hold."""
        return frozenset(i for i, s in enumerate(symbols) if s in (time_series.HOLD, unk))


def _metered(meta: Mapping[str, Any]) -> bool:
    return meta.get("representation") == metered_series.NAME


def prepare_essen(path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig) -> list[dict]:
    if fmt == "midi":
        raise MusicInputError(f"{path.name}: essen reads ABC, kern or MusicXML, not MIDI",
                              reason="unsupported_format")
    scores = m21.split_opus(m21.parse_file(path, fmt))
    out = []
    for n, score in enumerate(scores):
        m21.check_length(path, score, cfg, tokens_per_quarter=4)
        events = m21.melody_events(score, cfg.acceptable_durations)
        key_name, semitones = "", 0
        if cfg.transpose:
            # moving MIDI numbers is exact and much faster than music21's score.transpose
            key_name, semitones = m21.key_shift(score)
            events = [(None if p is None else p + semitones, d) for p, d in events]
            if any(p is not None and not 0 <= p <= 127 for p, _ in events):
                raise MusicInputError(f"{path.name}: transposing by {semitones} leaves MIDI 0..127",
                                      reason="bad_pitch")
        meter, bars = m21.bar_lines(score)
        out.append({
            "id": piece_id if len(scores) == 1 else f"{piece_id}-{n + 1}",
            "title": m21.score_title(score, title),
            "key": key_name,
            "transposed": semitones,
            "events": [[p, str(d)] for p, d in events],
            "meter": meter,
            "bars": [str(b) for b in bars],
        })
    return out


def essen_notes(symbols: Sequence[str], time_step: float = 0.25) -> np.ndarray:
    """Notes of an essen time series (`time_series.decode_events`), rests dropped.

    Returns float64 ``(n, 3)``: ``[pitch, start_beat, end_beat]`` (beats are
    quarter notes), sorted by start then pitch.
    """
    rows, t = [], Fraction(0)
    for pitch, duration in time_series.decode_events(symbols, time_step):
        if pitch is not None:
            rows.append((pitch, float(t), float(t + duration)))
        t += duration
    return notes_array(rows)
