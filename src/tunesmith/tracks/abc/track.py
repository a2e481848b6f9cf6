"""The nottingham track: folk tunes as characters of ABC text (Vinze et al.; Reitman & Cho).

Raw files are ABC; a prepared piece is ``{"id", "title", "rhythm", "abc"}`` (normalised
ABC text that music21 parses; with ``prepare.<c>.transpose`` moved to the tonic C, and ``"transposed"``
the semitones it moved, unless it cannot be moved: then it stays as written, with a warning); its
symbols are the text's characters (:mod:`tunesmith.tracks.abc.abc_chars`). A sample is written as ``.abc``, and as
``.mid`` and ``.musicxml`` when music21 parses it; it is "playable" when music21 parses
it and its bars fit its meter (Reitman & Cho).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from tunesmith.core import io
from tunesmith.core.errors import MusicInputError
from tunesmith.core.io import decode_text
from tunesmith.tracks import music21_io as m21
from tunesmith.tracks.abc import abc_chars
from tunesmith.tracks.abc.form import abc_form_hints
from tunesmith.tracks.base import FormHints, Track, notes_array

if TYPE_CHECKING:
    from tunesmith.config.stages import EncodeConfig, PrepareConfig

REITMAN_CHO_PUBLISHED: dict[str, Any] = {
    "source": 'Reitman & Cho, "Generating Music with LSTM Networks" (char-LSTM, 100 hidden units, ABC folk '
              "tunes), section 3 Results",
    "metric": "NLL (nats/character)",
    "values": {"train": 1.40, "validation": 1.72, "test": 1.65},  # the char-LSTM
    # 1.64 is the train loss at the epoch training stopped (27); 1.94 the
    # validation loss of the best weights, 2 epochs earlier (the paper gives
    # no train loss for those weights, and no test loss for the RNN).
    "vanilla_rnn": {"train": 1.64, "validation": 1.94},
}
"""Reitman & Cho's published negative log-likelihoods: the one place they are written; evaluate.json
carries them and the report sets ours beside ``values``."""


class Nottingham(Track):
    name = "nottingham"
    kind = "abc"
    end = abc_chars.END
    char_symbols = True
    scores = True
    published = REITMAN_CHO_PUBLISHED

    def opening(self, symbols: Sequence[str], length: int) -> list[str]:
        """The tune's header: every line up to and including its ``K:`` line (its meter, unit
        length and key), or its first ``length`` characters when it has no ``K:`` line."""
        text = "".join(symbols)
        match = re.search(r"^K:[^\n]*\n", text, flags=re.M)
        return list(text[: match.end()]) if match else list(symbols[:length])

    def meter(self, symbols: Sequence[str]) -> str | None:
        match = re.search(r"^M:\s*([^\n%]*)", "".join(symbols), flags=re.M)
        return match.group(1).strip() or None if match else None

    def after_header(self, symbols: Sequence[str]) -> list[str]:
        """The tune's body: what follows its ``K:`` line (all of it when there is none)."""
        text = "".join(symbols)
        match = re.search(r"^K:[^\n]*(\n|$)", text, flags=re.M)
        return list(symbols)[match.end():] if match else list(symbols)

    def form_hints(self, symbols: Sequence[str], meta: Mapping[str, Any] | None = None) -> FormHints:
        """The tune's meter (``M:``), tonic (``K:``) and the sections its bar lines mark."""
        return abc_form_hints("".join(s for s in symbols if s != self.end))

    def bar_reader(self, header: Sequence[str], meta: Mapping[str, Any], section_bars: int | None = None):
        """ABC bars read character by character, with the rules of the tune's meter, key and
        ``section_bars``-bar sections (:class:`tunesmith.tracks.abc.bars.AbcForm`)."""
        from tunesmith.tracks.abc.bars import AbcForm

        return AbcForm("".join(s for s in header if s != self.end), section_bars or 8)

    def prepare_file(self, path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig,
                     rhythm: str = "") -> list[dict]:
        return prepare_nottingham(path, fmt, piece_id, title, cfg, rhythm)

    def representation(self, cfg: EncodeConfig) -> str:
        return abc_chars.NAME

    def encode(self, piece: dict, cfg: EncodeConfig) -> list[str]:
        return abc_chars.encode(piece["abc"])

    def decode(self, symbols: Sequence[str], meta: Mapping[str, Any], *, title: str = ""):
        """A music21 score of the ABC text (``title`` is unused: the text carries its own)."""
        return abc_chars.decode(symbols)

    def bar_unit(self, meta: Mapping[str, Any]) -> tuple[str | None, int]:
        """ABC bar lines: each ``|`` character closes a bar (``||`` and ``:|:`` count as one each side)."""
        return "|", 1

    def write_music(self, symbols: Sequence[str], meta: Mapping[str, Any], stem: Path, files: list[str],
                    *, title: str, primer_length: int = 0) -> int:
        """``stem.abc`` always, then ``stem.mid`` and ``stem.musicxml`` when music21 parses the ABC."""
        text = abc_chars.decode_text(symbols)
        if not re.search(r"^X:", text, flags=re.M):
            text = f"X:1\nT:{title or stem.name}\n" + text
        io.write_text(stem.with_suffix(".abc"), text)
        files.append(stem.with_suffix(".abc").name)
        return m21.write_music21(abc_chars.to_stream(text), stem, files)

    def notes(self, symbols: Sequence[str], meta: Mapping[str, Any]) -> np.ndarray:
        return nottingham_notes(symbols)

    def playability(self, pieces: Sequence[Sequence[str]]) -> dict[str, Any]:
        return abc_playability(["".join(s) for s in pieces])


def prepare_nottingham(path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig,
                       rhythm: str = "") -> list[dict]:
    if fmt != "abc":
        raise MusicInputError(f"{path.name}: nottingham reads ABC text, got {fmt}", reason="unsupported_format")
    from tunesmith.tracks.abc.abc_chars import split_abc_tunes

    tunes = split_abc_tunes(decode_text(path.read_bytes()))
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
        # Vinze et al. and Reitman & Cho keep only tunes that are real, playable ABC: music21 must parse them
        whole = abc_chars.normalise_tune(tune, "all")
        score = abc_chars.to_stream(whole, beams=False)  # read, not written
        m21.check_length(path, score, cfg)
        if cfg.bars == "reject":
            bars = check_abc_bars(whole)
            if bars["reason"].startswith("bar "):  # a bar that misfits (a tune music21 gives no bars is kept)
                raise MusicInputError(f"{path.name}: tune {n + 1}: {bars['reason']} (prepare.<track>.bars: keep "
                                      "keeps such tunes)", reason="bar_mismatch")
        if cfg.acceptable_durations:
            m21.melody_events(score, cfg.acceptable_durations)
        piece = {
            "id": piece_id if len(tunes) == 1 else f"{piece_id}-{n + 1}",
            "title": m21.score_title(score, title),
            "rhythm": rhythm,
            "abc": text,
        }
        if cfg.transpose:
            try:
                piece["abc"], piece["transposed"] = _moved_to_c(text, score)
            except MusicInputError as exc:  # kept as written: a tune is not lost for its notation
                piece["warning"] = f"tune {n + 1} stays in its own key: {exc}"  # prepare_corpus logs it
        out.append(piece)
    return out


def _moved_to_c(text: str, score) -> tuple[str, int]:
    """``text`` moved to the tonic C (`tunesmith.tracks.abc.transpose`) and the semitones it moved,
    checked by music21: the moved tune must parse to the notes of ``score`` (the tune as written,
    which this consumes), every pitch moved by those semitones and no onset or length changed.

    Raises:
        MusicInputError: (reason ``untransposable``) the tune cannot be moved, or music21 reads the
            moved tune otherwise.
    """
    from tunesmith.tracks.abc.transpose import transpose_to_c

    moved, semitones = transpose_to_c(text)
    before = _score_notes(score)
    try:
        after = _score_notes(abc_chars.to_stream(moved, beams=False))
    except MusicInputError as exc:
        raise MusicInputError(f"moved to C, it does not parse: {exc}", reason="untransposable") from None
    expected = before.copy()
    expected[:, 0] += semitones
    order = np.lexsort((expected[:, 0], expected[:, 1]))
    got = after[np.lexsort((after[:, 0], after[:, 1]))]
    if got.shape != expected.shape or not np.allclose(got, expected[order]):
        raise MusicInputError(f"moved to C by {semitones:+d} semitones, music21 reads other notes than the "
                              "tune's own moved", reason="untransposable")
    return moved, semitones


def nottingham_notes(symbols: Sequence[str] | str) -> np.ndarray:
    """Notes of an ABC tune (symbols or text), parsed by music21 (`abc_chars.to_stream`).

    Tied notes are merged; chord symbols (guitar chords such as ``"Am"``) and
    grace notes (no duration) are not notes. Returns float64 ``(n, 3)`` as
    :func:`tunesmith.tracks.melody.track.essen_notes` (a copy: the caller's own).

    Raises:
        MusicInputError: music21 cannot parse the tune or it holds no notes.
    """
    text = symbols if isinstance(symbols, str) else abc_chars.decode_text(symbols)
    facts = _parsed(text)
    if facts.error is not None:
        raise MusicInputError(facts.error[0], reason=facts.error[1])
    return facts.notes.copy()


def _score_notes(score) -> np.ndarray:
    """:func:`nottingham_notes` of a parsed score, which it changes (ties merged in place)."""
    from music21 import harmony

    rows = []
    flat = score.flatten()
    flat.stripTies(inPlace=True)  # the score is this function's own: no deep copy (a third of the time)
    for el in flat.notes:
        length = float(el.quarterLength)
        if isinstance(el, harmony.Harmony) or length <= 0:
            continue
        start = float(el.offset)
        for p in el.pitches:
            rows.append((p.midi, start, start + length))
    if not rows:
        raise MusicInputError("the ABC holds no sounding notes", reason="empty")
    return notes_array(rows)


class _Parsed(NamedTuple):
    """What one music21 parse of an ABC text gives: its bar check, its notes, or why there are none."""

    bars: dict[str, Any]
    notes: np.ndarray | None
    error: tuple[str, str] | None  # (message, reason) of the MusicInputError the notes raise


PARSE_MEMO_ROWS = 1_000_000
"""What :func:`_parsed` keeps at most, in note rows (24 bytes each; a text counts as a row per 24 of its
characters, so tunes without notes are bounded too): the least recently asked for dropped first."""
_memo: OrderedDict[str, _Parsed] = OrderedDict()
_memo_rows = 0
_memo_lock = threading.Lock()


def _parsed(text: str) -> _Parsed:
    """One music21 parse of ``text`` for both its bars and its notes, memoised: the evaluate stage asks
    for a tune's notes for its statistics and its two-sample test and for its bars for playability,
    and a parse is most of a tenth of a second."""
    global _memo_rows
    with _memo_lock:
        if text in _memo:
            _memo.move_to_end(text)
            return _memo[text]
    try:
        score = abc_chars.to_stream(text, beams=False)  # its notes and bars are read, not written
    except MusicInputError as exc:
        facts = _Parsed({"parses": False, "bars_ok": False, "reason": exc.reason, "bars": 0}, None,
                        (str(exc), exc.reason))
    else:
        bars = _score_bars(score, text)  # before the notes, which merge ties in the score
        try:
            facts = _Parsed(bars, _score_notes(score), None)
        except MusicInputError as exc:
            facts = _Parsed(bars, None, (str(exc), exc.reason))
    rows = _cost(text, facts)
    if facts.notes is not None:
        facts.notes.setflags(write=False)
    with _memo_lock:
        if rows <= PARSE_MEMO_ROWS and text not in _memo:
            _memo[text] = facts
            _memo_rows += rows
            while _memo_rows > PARSE_MEMO_ROWS:
                old_text, dropped = _memo.popitem(last=False)
                _memo_rows -= _cost(old_text, dropped)
    return facts


def _cost(text: str, facts: _Parsed) -> int:
    return 1 + len(text) // 24 + (0 if facts.notes is None else len(facts.notes))


# --------------------------------------------------------------------------- playability

_SECTION_END = ("final", "light-heavy", "light-light", "heavy-heavy", "double")


def _declared_meters(text: str) -> set[str]:
    """Meters an ABC text declares (M: lines, inline ``[M:...]``) as music21 ratio strings."""
    out = set()
    for value in re.findall(r"(?:^|\[)M:\s*([^\]\n%]*)", text, flags=re.M):
        value = value.strip().replace(" ", "")
        out.add({"C": "4/4", "C|": "2/2"}.get(value, value))
    return out


def check_abc_bars(text: str) -> dict[str, Any]:
    """Whether one ABC tune parses, and whether its bars fit its meter.

    Bar rule: every bar's content must last exactly the bar length of the
    meter in force (M:, from music21's time signature; changes mid-tune are
    followed), except that a bar may be *shorter* when it is the first bar (a
    pickup), the last bar, ends a section (a repeat sign ``:|`` or a double or
    final bar line) or directly follows a section end (the next section's
    pickup), because folk tunes split a bar between a section's pickup and its
    last bar. A longer bar always fails; a tune with no meter
    fails (``reason`` ``no_meter``). music21 cuts a bar longer than its meter
    into a full bar and a remainder under a meter the tune never declares;
    such a made-up meter marks the bar before it as too long.

    Returns:
        ``{"parses": bool, "bars_ok": bool, "reason": str, "bars": int}``:
        ``reason`` is ``""`` when both hold, else ``parse_error``/``empty``
        (music21), ``no_bars``, ``no_meter``, ``bar <i> lasts <x> of <y> beats`` or
        ``bar <i> is longer than M: <meter>``.
    """
    return dict(_parsed(text).bars)


def _score_bars(score, text: str) -> dict[str, Any]:
    """:func:`check_abc_bars` of ``text`` parsed as ``score``."""
    from music21 import bar as m21bar
    from music21 import stream

    declared = _declared_meters(text)
    parts = list(score.parts) or [score]
    for part in parts:
        measures = list(part.getElementsByClass(stream.Measure))
        if not measures:
            return {"parses": True, "bars_ok": False, "reason": "no_bars", "bars": 0}
        ts = part.recurse().getElementsByClass("TimeSignature").first()
        after_section_end = True  # the first bar may be a pickup
        for i, m in enumerate(measures):
            if m.timeSignature is not None:
                if m.timeSignature.ratioString not in declared:
                    # music21 cuts a bar longer than the meter into a full bar and
                    # a remainder it gives a made-up meter: the bar before was too long
                    return {
                        "parses": True,
                        "bars_ok": False,
                        "bars": len(measures),
                        "reason": f"bar {i - 1} is longer than M: {ts.ratioString if ts else '?'}",
                    }
                ts = m.timeSignature
            if ts is None:
                return {
                    "parses": True,
                    "bars_ok": False,
                    "reason": "no_meter",
                    "bars": len(measures),
                }
            expected = Fraction(ts.barDuration.quarterLength)
            actual = Fraction(m.duration.quarterLength)
            right = m.rightBarline
            section_end = isinstance(right, m21bar.Repeat) or (
                right is not None and right.type in _SECTION_END
            )
            may_be_short = after_section_end or section_end or i == len(measures) - 1
            if actual > expected or (actual < expected and not may_be_short):
                return {
                    "parses": True,
                    "bars_ok": False,
                    "bars": len(measures),
                    "reason": f"bar {i} lasts {float(actual):g} of {float(expected):g} beats",
                }
            after_section_end = section_end
    return {"parses": True, "bars_ok": True, "reason": "", "bars": len(measures)}


def abc_playability(tunes: Iterable[Sequence[str] | str]) -> dict[str, Any]:
    """Reitman & Cho's "playable" over a set of generated nottingham tunes.

    Args:
        tunes: each a symbol list (decoded with `abc_chars.decode_text`) or ABC text.

    Returns:
        ``n``, ``parse_rate`` (share music21 parses as ABC with notes),
        ``bar_rate`` (share that also passes :func:`check_abc_bars`'s bar rule;
        both over all ``n`` tunes, NaN when ``n`` is 0) and ``reasons`` (a
        count per failure reason, bar-length failures pooled as ``bar_length``).
    """
    results = []
    for tune in tqdm(list(tunes), desc="playability", unit="tune", leave=False):
        text = tune if isinstance(tune, str) else abc_chars.decode_text(tune)
        results.append(check_abc_bars(text))
    n = len(results)
    reasons = Counter(
        "bar_length" if r["reason"].startswith("bar ") else r["reason"]
        for r in results
        if r["reason"]
    )
    return {
        "n": n,
        "parse_rate": sum(r["parses"] for r in results) / n if n else math.nan,
        "bar_rate": sum(r["bars_ok"] for r in results) / n if n else math.nan,
        "reasons": dict(sorted(reasons.items())),
    }
