"""The `Track` interface: everything that differs from one corpus to another.

Shared code (prepare, encode, generate, evaluate) holds a track, got from
:func:`tunesmith.tracks.get_track`, and asks it; it never tests a track's name.
A track knows how to read its raw files, which representation encodes a prepared
piece, its end token, which tokens are holds, how symbols become music files and
notes for statistics, how its samples are stored as text, and its own checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunesmith.core.errors import ConfigError

if TYPE_CHECKING:
    from tunesmith.config.stages import EncodeConfig, PrepareConfig


@dataclass(frozen=True)
class FormHints:
    """What a piece's notation states about its form (:meth:`tunesmith.tracks.Track.form_hints`).

    ``bar_beats``: quarter-note beats in a bar (4.0 where the representation has no meter);
    ``tonic``: the declared key's tonic as a pitch class 0-11, or None (estimated from the notes);
    ``sections``: bar lines per section the notation marks (ABC's repeats and double bars), or
    None; ``endings``: whether it has first and second endings; ``pickup``: beats before the first
    bar line when the piece opens with a pickup (bars are counted from that bar line); ``length``:
    the piece's length in beats as notated (its last rests too), or None (from its notes).
    """

    bar_beats: float = 4.0
    tonic: int | None = None
    sections: tuple[int, ...] | None = None
    endings: bool = False
    pickup: float = 0.0
    length: float | None = None


class Track(ABC):
    """One corpus and its representation. Subclasses set the class attributes and the
    abstract methods; the rest has defaults that suit most tracks."""

    name: str = ""
    """The track's name in params.yaml, dvc.yaml and data/ paths."""
    end: str = "<end>"
    """The token between pieces."""
    char_symbols: bool = False
    """Symbols are single characters (ABC text): joined with "" rather than spaces."""
    scores: bool = True
    """Whether rendering engraves a score for its samples (no score for piano rolls)."""
    published: Mapping[str, Any] | None = None
    """Published figures for the report to set beside ours, or None."""
    bundled_as: str = "abc"
    """How the bundled (music21) stand-in is fetched: ``abc`` tunes, or ``midi`` (scores written out)."""
    kind: str = ""
    """The kind of music (``abc``, ``melody``, ``piano``): the package of :mod:`tunesmith.tracks` it is."""
    title: str = ""
    """The report's heading for the track ("" = its name)."""
    description: str = ""
    """The report's paragraph under the heading ("" = the bundled track's own, if any)."""

    def opening(self, symbols: Sequence[str], length: int) -> list[str]:
        """The opening of a piece that primes a sample (primer mode ``openings``): its first
        ``length`` symbols; a track whose pieces open with a header gives the header."""
        return list(symbols[:length])

    def meter(self, symbols: Sequence[str]) -> str | None:
        """The meter a piece declares (``6/8``), or None when the representation has none."""
        return None

    def after_header(self, symbols: Sequence[str]) -> list[str]:
        """The symbols after the piece's header (a track whose pieces have none: all of them)."""
        return list(symbols)

    def form_hints(self, symbols: Sequence[str], meta: Mapping[str, Any] | None = None) -> FormHints:
        """What the piece's notation states about its form (the bar's length, the key, sections), with
        the vocabulary's ``meta``: by default 4/4 bars, the tonic estimated from the notes, no marked
        sections and the length of the notes."""
        return FormHints()

    def renamed(self, name: str, *, title: str = "", description: str = "") -> Track:
        """This kind of track under another name: a corpus of your own (params.yaml ``tracks``);
        no published figures, its own title and description."""
        other = type(self)()
        other.name, other.title, other.description, other.published = name, title, description, None
        return other

    # ---- prepare

    @abstractmethod
    def prepare_file(self, path: Path, fmt: str, piece_id: str, title: str, cfg: PrepareConfig,
                     rhythm: str = "") -> list[dict]:
        """The prepared pieces of one raw file (JSON-friendly dicts, see :mod:`tunesmith.data.prepare`).

        Raises MusicInputError naming the file when it cannot be read or is filtered out.
        """

    # ---- encode / decode

    @abstractmethod
    def representation(self, cfg: EncodeConfig) -> str:
        """The representation's name (a module of :mod:`tunesmith.representations`)."""

    @abstractmethod
    def encode(self, piece: dict, cfg: EncodeConfig) -> list[str]:
        """Symbols of one prepared piece. Raises MusicInputError when the representation cannot hold it."""

    @abstractmethod
    def decode(self, symbols: Sequence[str], meta: Mapping[str, Any], *, title: str = ""):
        """Symbols back to music, up to the end token: a music21 stream or a ``pretty_midi.PrettyMIDI``
        (the representation's ``decode``), with the options in ``meta`` (``vocab.json``).

        Raises MusicInputError when the symbols are no music.
        """

    @abstractmethod
    def write_music(self, symbols: Sequence[str], meta: Mapping[str, Any], stem: Path, files: list[str],
                    *, title: str, primer_length: int = 0) -> int:
        """Decode one sample and write its music files next to ``stem``, appending their names
        (``primer_length``: how many of ``symbols`` the model was given, marked in a score where the
        track engraves one)
        to ``files`` as each is written; return its number of notes.

        ``meta`` is the vocabulary (``vocab.json``: ``encode`` and ``prepare`` options).
        Raises MusicInputError when the symbols are no music.
        """

    @abstractmethod
    def notes(self, symbols: Sequence[str], meta: Mapping[str, Any]) -> np.ndarray:
        """Notes of one piece for music statistics: float64 ``(n, 3)`` ``[pitch, start_beat,
        end_beat]`` (beats are quarter notes), sorted by start then pitch.

        Raises MusicInputError when the piece does not decode.
        """

    # ---- symbols as text (samples/*.txt and the primer column of samples.csv)

    def join(self, symbols: Sequence[str]) -> str:
        """Symbols as one line of text: characters joined as they are, tokens by spaces."""
        return "".join(symbols) if self.char_symbols else " ".join(symbols)

    def sample_text(self, symbols: Sequence[str]) -> str:
        """The text of a sample's ``.txt`` file (ABC text without end tokens, else tokens and a newline)."""
        if self.char_symbols:
            return "".join(s for s in symbols if s != self.end)
        return " ".join(symbols) + "\n"

    def split_text(self, text: str) -> list[str]:
        """The symbols of a sample's ``.txt`` file (the inverse of :meth:`sample_text`)."""
        return list(text) if self.char_symbols else text.split()

    # ---- length in bars

    def bar_unit(self, meta: Mapping[str, Any]) -> tuple[str | tuple[str, ...] | None, int] | None:
        """How to count bars of generated symbols (``generate.<c>.max_bars``): ``(symbol, per_bar)``,
        the symbol that closes one time unit (a tuple: each of them does; None: every symbol is
        one) and how many units make a 4/4 bar; None when the track cannot tell."""
        return None

    def cycle(self, meta: Mapping[str, Any]) -> tuple[str, ...]:
        """Symbols that come in this order, round and round (metered frame ends: ``|0`` ... ``|15``),
        which generation keeps (`tunesmith.generation.constraints.Cycle`); () when there are none."""
        return ()

    def frame_rules(self, meta: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, tuple[int, bool]]] | None:
        """The grammar of a frame representation, which generation keeps
        (`tunesmith.generation.constraints.FrameRules`): ``(frame_ends, pitches)``, the symbols that close a
        frame and each pitch symbol's ``(pitch, held)``. A frame lists its pitches in ascending order and
        a held pitch (``"60~"``) goes on from the frame before, so it must have sounded there. None for a
        representation without frames."""
        return None

    def bar_reader(self, header: Sequence[str], meta: Mapping[str, Any], section_bars: int | None = None):
        """A fresh bar reader for generation with a form plan (`tunesmith.generation.form_plan`), for
        a piece opening with ``header`` (its symbols before :meth:`after_header`'s): by default
        :meth:`bar_unit`'s bars, which the plan repeats; the piece ends where the model ends it
        (a representation without meter or key cannot say where a cadence falls); None when the
        track cannot count bars."""
        unit = self.bar_unit(meta)
        if unit is None:
            return None
        from tunesmith.tracks.bars import FixedBars

        return FixedBars(unit[0], unit[1])

    # ---- primers

    def midi_primer(self, path: Path, meta: Mapping[str, Any], length: int) -> list[str]:
        """The first ``length`` symbols of a MIDI file (primer mode ``midi``)."""
        raise ConfigError(f"primer mode 'midi' needs a track that reads MIDI; the {self.name} track does not")

    def closed_symbols(self, encode: Mapping[str, Any]) -> tuple[str, ...]:
        """Symbols the vocabulary holds even when training never saw them (``encode``: the encode
        options in meta.json). None by default: unseen symbols become ``<unk>``."""
        return ()

    # ---- holds (event accuracy)

    def hold_ids(self, symbols: Sequence[str], unk: str = "<unk>") -> frozenset[int]:
        """Ids of the vocabulary's symbols that are holds whatever precedes them (none by default)."""
        return frozenset()

    def hold_mask(self, ids: np.ndarray, symbols: Sequence[str], unk: str = "<unk>") -> np.ndarray:
        """bool ``(n,)``: which positions of ``ids`` (1-D) hold a hold token, given the token before."""
        held = np.zeros(len(symbols), dtype=bool)
        held[list(self.hold_ids(symbols, unk))] = True
        return held[np.asarray(ids)]

    # ---- checks of generated music

    def playability(self, pieces: Sequence[Sequence[str]]) -> dict[str, Any] | None:
        """Shares of pieces that are playable music, or None when the track has no such check."""
        return None

    def __repr__(self) -> str:
        return f"<track {self.name}>"


def notes_array(rows) -> np.ndarray:
    """float64 ``(n, 3)`` of ``(pitch, start, end)`` rows, sorted by start then pitch."""
    arr = np.array(list(rows), dtype=np.float64).reshape(-1, 3)
    return arr[np.lexsort((arr[:, 0], arr[:, 1]))] if len(arr) else arr
