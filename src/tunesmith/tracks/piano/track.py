"""The classical track: piano MIDI as a piano roll (Lorinczi & Brailovsky).

Raw files are MIDI; a prepared piece is ``{"id", "title", "key", "transposed",
"n_frames", "notes"}``: notes ``[pitch, start, end]`` in piano-roll frames. Its symbols
are chord tokens, one per frame (:mod:`tunesmith.tracks.piano.pianoroll`, rare chords
become ``<unk>``), or notes per frame (``encode.classical.representation: notes``,
:mod:`tunesmith.tracks.piano.notes_per_frame`, no ``<unk>``). A sample is written as
``.mid``; a MIDI file's opening can prime generation. The decoding options come from the
vocabulary's metadata (``vocab.json``: ``prepare`` for the grid, ``encode`` for the
representation and holds), so a model folder alone turns ids back into music.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunesmith.core import io
from tunesmith.core.errors import MusicInputError
from tunesmith.tracks import music21_io as m21
from tunesmith.tracks.base import Track
from tunesmith.tracks.piano import metered_frames, metered_onsets, notes_per_frame, onsets_per_frame

if TYPE_CHECKING:
    from tunesmith.config.stages import EncodeConfig, PrepareConfig


FRAMES = {"notes": (notes_per_frame, notes_per_frame.NAME), "onsets": (onsets_per_frame, onsets_per_frame.NAME),
          "metered": (metered_frames, metered_frames.NAME),
          "metered_onsets": (metered_onsets, metered_onsets.NAME)}
"""The frame-serialised representations (``encode.<c>.representation``): their module and name."""
METERED = frozenset({metered_frames.NAME, metered_onsets.NAME})
"""The representations whose frame ends name the frame's place in the bar (``|0`` ... ``|15``)."""


class Classical(Track):
    name = "classical"
    kind = "piano"
    end = "<end>"
    scores = True  # a grand-staff score engraved from the notes, beside the piano roll
    bundled_as = "midi"  # music21's scores written out as MIDI

    def prepare_file(self, path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig,
                     rhythm: str = "") -> list[dict]:
        return prepare_classical(path, fmt, piece_id, title, cfg)

    def representation(self, cfg: EncodeConfig) -> str:
        return FRAMES.get(cfg.representation, (None, "pianoroll"))[1]

    def encode(self, piece: dict, cfg: EncodeConfig) -> list[str]:
        from tunesmith.tracks.piano import pianoroll

        notes = np.asarray(piece["notes"], dtype=np.int32).reshape(-1, 3)
        if cfg.representation in FRAMES:
            return FRAMES[cfg.representation][0].encode_notes(notes)
        return pianoroll.encode(notes, distinguish_holds=cfg.distinguish_holds)

    def decode(self, symbols: Sequence[str], meta: Mapping[str, Any], *, title: str = ""):
        """A one-piano ``pretty_midi.PrettyMIDI`` on the grid the vocabulary was prepared with."""
        from tunesmith.tracks.piano import pianoroll

        return pianoroll.to_midi(frame_notes(symbols, meta), **_resolution(meta))

    def bar_reader(self, header: Sequence[str], meta: Mapping[str, Any], section_bars: int | None = None):
        """Bars of :meth:`bar_unit`'s frames; a piece ends only where a bar closes (whole bars), with
        its bass on the tonic (:class:`tunesmith.tracks.bars.HomeBars`) where frames hold pitches."""
        from tunesmith.tracks.bars import FixedBars, HomeBars

        unit, per_bar = self.bar_unit(meta)
        return HomeBars(unit, per_bar) if unit is not None else FixedBars(unit, per_bar, end_at_line=True)

    def bar_unit(self, meta: Mapping[str, Any]) -> tuple[str | None, int]:
        """A frame end (notes per frame: ``|``; metered frames: any of ``|0`` ... ``|15``; every chord
        token is one frame) closes one frame: a 4/4 bar is ``4 x frames_per_beat`` frames, or two
        seconds' worth at ``fs`` frames per second."""
        res = _resolution(meta)
        per_bar = 4 * int(res["frames_per_beat"]) if res["frames_per_beat"] else round(2 * float(res["fs"] or 8))
        if meta.get("representation") in METERED:
            return metered_frames.FRAME_ENDS, max(1, per_bar)
        notes = meta.get("representation") in {name for _, name in FRAMES.values()}
        return (notes_per_frame.FRAME_END if notes else None), max(1, per_bar)

    def cycle(self, meta: Mapping[str, Any]) -> tuple[str, ...]:
        """Metered frames' frame ends, ``|0`` ... ``|15``: each frame closes with the one after the last."""
        return metered_frames.FRAME_ENDS if meta.get("representation") in METERED else ()

    def frame_rules(self, meta: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, tuple[int, bool]]] | None:
        """Frame representations list each frame's pitches in ascending order, and with onsets a held
        pitch (``"60~"``) must have sounded in the frame before; None for chord tokens."""
        name = meta.get("representation")
        module = next((m for m, n in FRAMES.values() if n == name), None)
        if module is None:
            return None
        ends = getattr(module, "FRAME_ENDS", (notes_per_frame.FRAME_END,))
        pitches = {}
        for s in module.SYMBOLS:
            core = s[:-len(onsets_per_frame.HOLD)] if s.endswith(onsets_per_frame.HOLD) else s
            if core.isdigit():
                pitches[s] = (int(core), s != core)
        return ends, pitches

    def write_music(self, symbols: Sequence[str], meta: Mapping[str, Any], stem: Path, files: list[str],
                    *, title: str, primer_length: int = 0) -> int:
        """``stem.mid``, on the grid the vocabulary was prepared with."""
        from tunesmith.tracks.piano import pianoroll

        notes = frame_notes(symbols, meta)
        if len(notes) == 0:
            raise MusicInputError("the sample holds no notes", reason="empty")
        pm = pianoroll.to_midi(notes, **_resolution(meta))
        with io.atomic_path(stem.with_suffix(".mid")) as tmp:
            pm.write(str(tmp))
        files.append(stem.with_suffix(".mid").name)
        # a grand-staff score to read (Verovio engraves it): the notes in beats, treble and bass
        m21.write_musicxml(m21.piano_score(self.notes(symbols, meta), title), stem.with_suffix(".musicxml"))
        files.append(stem.with_suffix(".musicxml").name)
        return len(notes)

    def notes(self, symbols: Sequence[str], meta: Mapping[str, Any]) -> np.ndarray:
        enc = meta.get("encode", {}) or {}
        prep = meta.get("prepare", {}) or {}
        fpb = prep.get("frames_per_beat") or 0
        if not fpb:
            fs = prep.get("fs") or 0
            fpb = fs / 2 if fs else 4  # a grid in seconds has no beats: read it at 120 bpm
        if enc.get("representation") in FRAMES:
            notes = FRAMES[enc["representation"]][0].decode_notes(symbols).astype(np.float64)
            notes[:, 1:] /= fpb
            return notes
        return classical_notes(symbols, fpb, distinguish_holds=enc.get("distinguish_holds", True))

    def midi_primer(self, path: Path, meta: Mapping[str, Any], length: int) -> list[str]:
        return midi_primer(path, meta, length)

    def closed_symbols(self, encode: Mapping[str, Any]) -> tuple[str, ...]:
        """Notes per frame has a closed alphabet (88 pitches and the frame end): all of it, never ``<unk>``."""
        frames = FRAMES.get(encode.get("representation", ""))
        return tuple(frames[0].SYMBOLS) if frames else ()

    def hold_ids(self, symbols: Sequence[str], unk: str = "<unk>") -> frozenset[int]:
        """Chord tokens whose pitches are all held (``"60~.64~"``) and ``<unk>``, per
        `pianoroll.is_hold_token`; none in notes per frame (every token a note or a frame end)."""
        from tunesmith.tracks.piano import pianoroll

        if notes_per_frame.FRAME_END in symbols or metered_frames.BAR_END in symbols:
            # held pitches of onsets per frame; none in notes per frame or metered frames
            return frozenset(i for i, s in enumerate(symbols) if onsets_per_frame.is_hold(s))
        return frozenset(i for i, s in enumerate(symbols) if pianoroll.is_hold_token(s, None, unk_token=unk))

    def hold_mask(self, ids: np.ndarray, symbols: Sequence[str], unk: str = "<unk>") -> np.ndarray:
        """As :meth:`Track.hold_mask`, and a rest ``"r"`` directly after a rest is a hold too."""
        ids = np.asarray(ids)
        mask = super().hold_mask(ids, symbols, unk)
        if "r" in symbols and ids.size > 1:
            rest = list(symbols).index("r")
            mask[1:] |= (ids[1:] == rest) & (ids[:-1] == rest)
        return mask


def _resolution(meta: Mapping[str, Any]) -> dict[str, Any]:
    prep = meta.get("prepare", {})
    fpb = prep.get("frames_per_beat") or None
    return {"frames_per_beat": fpb, "fs": None if fpb else prep.get("fs") or None}


def frame_notes(symbols: Sequence[str], meta: Mapping[str, Any]) -> np.ndarray:
    """Notes ``[pitch, start, end]`` (frames) of classical symbols in the vocabulary's representation."""
    enc = meta.get("encode", {}) or {}
    if enc.get("representation") in FRAMES:
        return FRAMES[enc["representation"]][0].decode_notes(symbols)
    from tunesmith.tracks.piano import pianoroll

    return pianoroll.decode_notes(symbols, distinguish_holds=enc.get("distinguish_holds", True))


def classical_notes(
    symbols: Sequence[str], frames_per_beat: float = 4, *, distinguish_holds: bool = True
) -> np.ndarray:
    """Notes of piano-roll tokens (`pianoroll.decode_notes`), frames divided into beats.

    ``frames_per_beat``: frames per quarter note; for a grid of ``fs`` frames
    per second pass ``fs * 60 / tempo`` (e.g. ``fs / 2`` at 120 bpm).
    Returns float64 ``(n, 3)`` as :func:`tunesmith.tracks.melody.track.essen_notes`.
    """
    from tunesmith.tracks.piano import pianoroll

    notes = pianoroll.decode_notes(symbols, distinguish_holds=distinguish_holds).astype(np.float64)
    notes[:, 1:] /= frames_per_beat
    return notes


def midi_primer(path: Path, meta: Mapping[str, Any], length: int) -> list[str]:
    """The first ``length`` piano-roll tokens of a MIDI file (Lorinczi & Brailovsky's seed sample),
    at the resolution and hold convention the vocabulary was built with."""
    from tunesmith.tracks.piano import midi_read, pianoroll

    prep = meta.get("prepare", {})
    notes = midi_read.read_midi_notes(path, pitch_low=prep.get("pitch_low", 21),
                                      pitch_high=prep.get("pitch_high", 108),
                                      max_seconds=prep.get("max_seconds", 1800.0),
                                      max_frames=prep.get("max_tokens", 100_000), **_resolution(meta))
    enc = meta.get("encode", {}) or {}
    if enc.get("representation") in FRAMES:
        return FRAMES[enc["representation"]][0].encode_notes(notes)[:length]
    return pianoroll.encode(notes, distinguish_holds=enc.get("distinguish_holds", True))[:length]


# --------------------------------------------------------------------------- prepare


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


def midi_key_shift(path: Path) -> tuple[str, int] | None:
    """The key signature a MIDI file declares first and the semitones that move it to C major /
    A minor (in [-5, 6]), or None when it declares none."""
    import mido
    from music21 import key as m21key

    try:
        midi = mido.MidiFile(str(path))
    except (OSError, ValueError, EOFError, KeyError, IndexError):
        return None
    for track in midi.tracks:
        for message in track:
            if message.type == "key_signature":
                name = message.key  # "C", "F#m", "Bb", ...
                minor = name.endswith("m")
                tonic = m21key.Key(name[:-1] if minor else name).tonic.pitchClass
                semitones = ((9 if minor else 0) - tonic) % 12
                semitones = semitones - 12 if semitones > 6 else semitones
                return f"{name[:-1] if minor else name} {'minor' if minor else 'major'}", semitones
    return None


def prepare_classical(path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig) -> list[dict]:
    from tunesmith.tracks.piano import midi_read

    if fmt != "midi":
        raise MusicInputError(f"{path.name}: classical reads MIDI, got {fmt}", reason="unsupported_format")
    result = midi_read.prepare_file(
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
        # one key for all pieces: a chord and its 11 transpositions become one token; the file's
        # own key signature when it has one (versions of one tune then move alike), else analysis
        key_name, semitones = midi_key_shift(path) or notes_key_shift(notes)
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
