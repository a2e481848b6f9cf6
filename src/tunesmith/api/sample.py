"""One generated sample of the Python API: its symbols, its music and its files."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.core import io
from tunesmith.core.errors import ConfigError, MusicInputError
from tunesmith.tracks.base import Track

WRITTEN_AS: dict[str, str] = {".mid": ".mid", ".midi": ".mid", ".musicxml": ".musicxml", ".xml": ".musicxml",
                              ".abc": ".abc"}
"""A suffix :meth:`Sample.write` accepts -> the file of the track's own writer it copies
(`tunesmith.tracks.Track.write_music`); ``.txt`` is the sample's symbols as text."""


@dataclass(frozen=True)
class Sample:
    """A sample: the primer it was given and the symbols the model added after it.

    Attributes:
        primer: the primer's symbols (empty when generation started a piece from nothing).
        generated: the model's symbols, without the end token.
        ended: the model ended the piece itself (else it stopped at ``max_length``).
        seed: the seed it was generated with.
        track, meta: the track and the model's ``vocab.json`` (its prepare and encode options),
            which decode the symbols.
    """

    primer: tuple[str, ...]
    generated: tuple[str, ...]
    ended: bool
    seed: int
    track: Track = field(repr=False)
    meta: Mapping[str, Any] = field(repr=False)

    @property
    def symbols(self) -> list[str]:
        """The whole piece: the primer, then the model's symbols."""
        return [*self.primer, *self.generated]

    @property
    def text(self) -> str:
        """The piece as text: ABC for a track of ABC characters, else its symbols joined by spaces."""
        return self.track.sample_text(self.symbols)

    def _symbols(self, continuation: bool) -> list[str]:
        # the continuation alone keeps what the primer declared for the whole piece (an ABC tune's
        # header: its meter, unit note length and key; a metered series' meter and key); a plain time series or
        # piano roll has no header
        return [*self.track.opening(self.primer, 0), *self.generated] if continuation else self.symbols

    def to_music(self, *, continuation: bool = False, title: str = ""):
        """The sample as music: a music21 stream (ABC and melody tracks) or a ``pretty_midi.PrettyMIDI``
        (piano tracks), as the track decodes it (`tunesmith.tracks.Track.decode`).

        ``continuation``: only the model's own music, decoded with the primer's header.

        Raises:
            MusicInputError: the symbols are no music.
        """
        return self.track.decode(self._symbols(continuation), self.meta, title=title)

    def to_midi(self, *, continuation: bool = False):
        """The sample as a ``pretty_midi.PrettyMIDI`` (the file :meth:`write` gives ``.mid``, read back)."""
        import pretty_midi

        music = self.to_music(continuation=continuation)
        if isinstance(music, pretty_midi.PrettyMIDI):
            return music
        with tempfile.TemporaryDirectory(prefix="tunesmith-") as tmp:
            path = self.write(Path(tmp) / "sample.mid", continuation=continuation)
            return pretty_midi.PrettyMIDI(str(path))

    def write(self, path: Path | str, *, continuation: bool = False) -> Path:
        """Write the sample to ``path`` in the format its suffix names: ``.mid``/``.midi``,
        ``.musicxml``/``.xml`` (ABC and melody tracks), ``.abc`` (ABC tracks) or ``.txt`` (its symbols).

        The file is the one the generate stage writes for the same symbols. Returns ``path``.

        Raises:
            ConfigError: a suffix this track does not write (the message names those it does).
            MusicInputError: the symbols are no music.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        symbols = self._symbols(continuation)
        if suffix == ".txt":
            io.write_text(path, self.track.sample_text(symbols))
            return path
        if suffix not in WRITTEN_AS:
            raise ConfigError(f"{path}: write a sample as .mid, .musicxml, .abc or .txt, not {suffix or 'no suffix'!r}")
        primer_length = 0 if continuation else len(self.primer)
        with tempfile.TemporaryDirectory(prefix="tunesmith-") as tmp:
            stem, files = Path(tmp) / "sample", []
            wanted = stem.name + WRITTEN_AS[suffix]
            try:
                self.track.write_music(symbols, self.meta, stem, files, title=path.stem, primer_length=primer_length)
            except MusicInputError:
                if wanted not in files:  # an ABC tune is written before music21 reads it
                    raise
            if wanted not in files:
                written = ", ".join(Path(f).suffix for f in files) or "nothing"
                raise ConfigError(f"{path}: the {self.track.name} track writes {written} for a sample, "
                                  f"not {suffix}")
            with io.atomic_path(path) as target:
                shutil.copyfile(Path(tmp) / wanted, target)
        return path
