"""The tracks: a corpus and the kind of music it holds, loaded by name.

A kind is a package here (``abc``, ``melody``, ``piano``) with a
:class:`~tunesmith.tracks.base.Track` subclass in its ``track`` module and its representation
beside it. The registry maps each track to its kind and imports the kind only when the track
is asked for, so code that needs no track loads none, and a stage of one track runs (and its
DVC deps name) that kind's folder only.
"""

from __future__ import annotations

import importlib

from tunesmith.core.errors import ConfigError
from tunesmith.tracks.base import Track

KINDS: dict[str, str] = {"abc": "Nottingham", "melody": "Essen", "piano": "Classical"}
"""Each kind's package (``tunesmith.tracks.<kind>.track``) and its Track class."""

BUILTIN: dict[str, str] = {"nottingham": "abc", "essen": "melody", "classical": "piano"}
"""The bundled tracks and their kinds (params.yaml ``tracks`` lists the same)."""

TRACKS: tuple[str, ...] = tuple(BUILTIN)
"""Every track's name, in the order stages and reports list them."""

_loaded: dict[str, Track] = {}


class UnknownTrackError(ConfigError, ValueError):
    """A track name that is not in the registry."""


def kind_of(name: str) -> str:
    """The kind of track ``name``.

    Raises:
        UnknownTrackError: naming ``name`` and the known tracks.
    """
    try:
        return BUILTIN[name]
    except (KeyError, TypeError):
        raise UnknownTrackError(f"unknown track {name!r}; known tracks: {', '.join(TRACKS)}") from None


def get_track(name: str | Track) -> Track:
    """The track called ``name`` (a track is returned as it is), its kind imported on first use.

    Raises:
        UnknownTrackError: naming ``name`` and the known tracks.
    """
    if isinstance(name, Track):
        return name
    if name not in _loaded:
        kind = kind_of(name)
        module = importlib.import_module(f"tunesmith.tracks.{kind}.track")
        _loaded[name] = getattr(module, KINDS[kind])()
    return _loaded[name]


__all__ = ["BUILTIN", "KINDS", "TRACKS", "Track", "UnknownTrackError", "get_track", "kind_of"]
