"""A user's own music through the pipeline's prepare and encode, and scored as the evaluate stage scores.

The settings come from the model's ``vocab.json``, which records the prepare and encode options
its corpus was built with: a file of one's own is read exactly as the corpus was.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.errors import ConfigError, MusicInputError
from tunesmith.tracks.base import Track

UNKNOWN = ("error", "unk")
"""What :meth:`tunesmith.api.Model.score` does with symbols the vocabulary lacks: stop naming them,
or score them as ``<unk>`` (as the evaluate stage scores the test split)."""


@dataclass(frozen=True)
class Score:
    """How well a model predicts a piece: negative log-likelihoods in nats, every symbol (and the end
    token after each piece) predicted from the whole piece before it, as ``evaluate`` scores the test split.

    Attributes:
        nll: nats per symbol, the LSTM alone (``evaluate``'s ``model_no_cache.nll``).
        nll_per_note: the piece's whole NLL divided by its notes.
        nll_cache, nll_per_note_cache: the same with the continuous cache the train stage fitted
            (``evaluate``'s ``model.nll``); None when the model folder has none (or it chose lambda 0).
        event_nll: nats per symbol that is not a hold, the LSTM alone.
        symbols: symbols scored (each piece's end token included); notes, pieces: as read.
        unknown: symbols the vocabulary lacks and how often each was scored as ``<unk>``.
        details: the full metric rows, ``"lstm"`` and (with a cache) ``"cache"``.
    """

    nll: float
    nll_per_note: float
    nll_cache: float | None
    nll_per_note_cache: float | None
    event_nll: float
    symbols: int
    notes: int
    pieces: int
    unknown: Mapping[str, int] = field(default_factory=dict)
    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        """One line: the figures without and with the cache."""
        cache = (f"; with the cache {self.nll_cache:.4f} nats/symbol, {self.nll_per_note_cache:.3f} nats/note"
                 if self.nll_cache is not None else "; no cache")
        unk = f"; {sum(self.unknown.values())} symbols scored as <unk>" if self.unknown else ""
        return (f"{self.nll:.4f} nats/symbol, {self.nll_per_note:.3f} nats/note ({self.symbols} symbols, "
                f"{self.notes} notes, {self.pieces} piece{'s' if self.pieces != 1 else ''}){cache}{unk}")


def _stage_config(cls, meta: Mapping[str, Any], key: str, where: str):
    from tunesmith.config.load import build

    return build(cls, meta.get(key) or {}, f"{where}: {key}")


def _prepared(track: Track, path: Path, meta: Mapping[str, Any], where: str) -> list[dict]:
    """The prepared pieces of one file (the prepare stage's `Track.prepare_file`, with its options)."""
    from tunesmith.config.stages import PrepareConfig
    from tunesmith.sources.pieces import FORMATS

    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MusicInputError(f"{path}: not a music file tunesmith reads (suffixes: {', '.join(FORMATS)})",
                              reason="unsupported_format")
    if not path.is_file():
        raise MusicInputError(f"{path}: no such file", reason="missing")
    return track.prepare_file(path, fmt, path.stem, path.stem, _stage_config(PrepareConfig, meta, "prepare", where))


def _from_object(track: Track, music: Any, tmp: Path, meta: Mapping[str, Any], where: str) -> list[dict]:
    """A music21 stream or a PrettyMIDI, written to a file the track reads, then prepared."""
    import pretty_midi

    if isinstance(music, pretty_midi.PrettyMIDI):
        music.write(str(tmp / "piece.mid"))
        return _prepared(track, tmp / "piece.mid", meta, where)
    if not hasattr(music, "write") or not hasattr(music, "flatten"):
        raise ConfigError(f"score/encode take a file path, ABC text, a music21 stream or a PrettyMIDI, "
                          f"got {type(music).__name__}")
    for fmt, suffix in (("musicxml", ".musicxml"), ("midi", ".mid")):
        music.write(fmt, fp=str(tmp / f"piece{suffix}"))
        try:
            return _prepared(track, tmp / f"piece{suffix}", meta, where)
        except MusicInputError as exc:
            if exc.reason != "unsupported_format":
                raise
    raise ConfigError(f"the {track.name} track reads neither MusicXML nor MIDI: give it a file of its own format")


def encode_music(track: Track, music: Any, meta: Mapping[str, Any], *, where: str = "vocab.json") -> list[list[str]]:
    """The symbols of each piece in ``music``, read as the pipeline read the model's corpus: the prepare
    stage's reader and the encode stage's encoder with the options ``meta`` (``vocab.json``) records.

    ``music``: a path (``.abc``, ``.krn``, ``.musicxml``/``.xml``/``.mxl``, ``.mid``), ABC text (a string
    holding a newline), a music21 stream or a ``pretty_midi.PrettyMIDI``. A file may hold several pieces.

    Raises:
        MusicInputError: the file cannot be read, or prepare would reject it (the message says why).
    """
    from tunesmith.config.stages import EncodeConfig
    from tunesmith.data.encode import encode_piece

    encode_cfg = _stage_config(EncodeConfig, meta, "encode", where)
    with tempfile.TemporaryDirectory(prefix="tunesmith-") as tmp:
        if isinstance(music, str) and "\n" in music:
            (Path(tmp) / "piece.abc").write_text(music, encoding="utf-8")
            pieces = _prepared(track, Path(tmp) / "piece.abc", meta, where)
        elif isinstance(music, str | Path):
            pieces = _prepared(track, Path(music).expanduser(), meta, where)
        else:
            pieces = _from_object(track, music, Path(tmp), meta, where)
    return [encode_piece(track, piece, encode_cfg) for piece in pieces]


def check_known(pieces: Sequence[Sequence[str]], meta: Mapping[str, Any], unknown: str, name: str) -> dict[str, int]:
    """The symbols of ``pieces`` that the vocabulary lacks, with their counts; with ``unknown="error"``
    (or a vocabulary without ``<unk>``) a MusicInputError naming them."""
    if unknown not in UNKNOWN:
        raise ConfigError(f"unknown must be one of {', '.join(UNKNOWN)}, got {unknown!r}")
    known = set(meta["symbols"])
    missing = Counter(s for piece in pieces for s in piece if s not in known)
    if missing and (unknown == "error" or "unk" not in (meta.get("special") or {})):
        listed = ", ".join(f"{s!r} ({n}x)" for s, n in missing.most_common(8))
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        how = ("; unknown='unk' scores them as <unk>, as evaluate scores the test split"
               if "unk" in (meta.get("special") or {}) else "; the vocabulary has no <unk>")
        count = sum(missing.values())
        raise MusicInputError(f"{name}: {count} symbol{'s' if count != 1 else ''} not in the vocabulary of "
                              f"{meta.get('corpus')!s}: {listed}{more}{how}", reason="unknown_symbol")
    return dict(missing)


def score_symbols(model, model_cfg, track: Track, meta: Mapping[str, Any], pieces: Sequence[Sequence[str]],
                 cache, unknown: Mapping[str, int]) -> Score:
    """Score ``pieces`` (symbols) as the evaluate stage scores a split: their ids ``[END] p1 [END] p2 ... [END]``
    through `tunesmith.evaluation.full_context.full_context_metrics`, the LSTM alone and mixed with ``cache``."""
    from tunesmith.core.vocab import Vocab
    from tunesmith.evaluation.full_context import full_context_metrics
    from tunesmith.modeling.models import predicts_every_position

    if not predicts_every_position(model_cfg):
        raise ConfigError(f"a {model_cfg.family} model does not predict every position: score needs a causal "
                          "family (lstm, stacked_lstm, simple_rnn, cnn_lstm)")
    vocab = Vocab.from_json(meta)
    ids = np.asarray(vocab.corpus_ids(pieces))
    symbols = list(vocab.symbols)
    mask = track.hold_mask(ids, symbols)
    lstm = full_context_metrics(model, model_cfg, ids, vocab.end_id, len(symbols), hold_mask=mask)
    mixed = (full_context_metrics(model, model_cfg, ids, vocab.end_id, len(symbols), hold_mask=mask, cache=cache)
             if cache is not None and cache.on else None)
    notes = 0
    for piece in pieces:
        with contextlib.suppress(MusicInputError, ValueError):  # a piece read back as no notes adds none
            notes += len(track.notes(list(piece), meta))

    def per_note(row: Mapping[str, Any]) -> float:
        return row["nll"] * row["tokens"] / notes if notes else math.nan

    details = {"lstm": lstm, **({"cache": {**mixed, "lambda": cache.lam, "theta": cache.theta}} if mixed else {})}
    return Score(nll=lstm["nll"], nll_per_note=per_note(lstm), nll_cache=mixed["nll"] if mixed else None,
                 nll_per_note_cache=per_note(mixed) if mixed else None, event_nll=lstm["event_nll"],
                 symbols=int(lstm["tokens"]), notes=notes, pieces=len(pieces), unknown=dict(unknown),
                 details=details)
