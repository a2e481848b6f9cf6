"""The project's exception types.

`MusicInputError` is raised for one bad piece of music (unparseable file, a
duration the representation cannot hold, ...). Stages catch it per piece, skip
the piece and record the message in ``rejected.csv``; it never stops a stage.

`ConfigError` is raised for a bad params.yaml value and always stops the stage,
with a message naming the key and the value received.

`ArtifactError` is raised for an artifact (model, vocabulary, config, token ids,
an output folder) that is missing, corrupt, from another corpus, or that must not
be overwritten; it stops the stage or command with one line naming the file.
"""

from __future__ import annotations


class TunesmithError(Exception):
    """Base class of every error tunesmith raises on purpose."""


class MusicInputError(TunesmithError):
    """A piece of music that cannot be read or represented.

    ``reason`` is a short machine-friendly tag (``parse_error``,
    ``unacceptable_duration``, ...) used to count rejections; the message
    says what was wrong, naming the file, symbol or value.
    """

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class ConfigError(TunesmithError):
    """A params.yaml value that is missing, mistyped or out of range."""


class FetchError(TunesmithError):
    """A corpus that cannot be fetched: no network, bad checksum, unsafe archive."""


class ArtifactError(TunesmithError, ValueError):
    """An artifact that cannot be used: missing, truncated, not JSON, from another corpus,
    too small for the next stage, or a folder tunesmith must not replace.

    A ValueError too, so callers that guarded the old ValueErrors keep working.
    """


class MissingArtifactError(ArtifactError, FileNotFoundError):
    """An artifact file that is not there (the message names it)."""


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space), cut to
    ``limit`` characters: what a rejected.csv row or a log line holds of a parser's message."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

