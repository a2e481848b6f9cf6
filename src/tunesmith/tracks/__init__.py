"""The tracks: a corpus and the kind of music it holds, loaded by name.

A kind is a package here (``abc``, ``melody``, ``piano``) with a
:class:`~tunesmith.tracks.base.Track` subclass in its ``track`` module and its representation
beside it. The registry maps each track to its kind and imports the kind only when the track
is asked for, so code that needs no track loads none, and a stage of one track runs (and its
DVC deps name) that kind's folder only.

The bundled tracks are ``nottingham`` (abc), ``essen`` (melody) and ``classical`` (piano).
params.yaml's ``tracks`` may add tracks of your own, each naming its kind (and, for the report,
a title and a description); :func:`register_tracks` reads them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from tunesmith.config.tracks_check import TRACK_NAME
from tunesmith.core.errors import ConfigError
from tunesmith.tracks.base import Track

KINDS: dict[str, str] = {"abc": "Nottingham", "melody": "Essen", "piano": "Classical"}
"""Each kind's package (``tunesmith.tracks.<kind>.track``) and its Track class."""

BUILTIN: dict[str, str] = {"nottingham": "abc", "essen": "melody", "classical": "piano"}
"""The bundled tracks and their kinds."""

TRACKS: tuple[str, ...] = tuple(BUILTIN)
"""The bundled tracks' names, in the order stages and reports list them."""

NAME = TRACK_NAME
"""A track's name, matched whole: it becomes a folder under data/ and part of DVC stage names
(``train@name``); `tunesmith.config.tracks_check` checks params.yaml's names before DVC reads them."""

_own: dict[str, dict[str, str]] = {}
_loaded: dict[str, Track] = {}


class UnknownTrackError(ConfigError, ValueError):
    """A track name that is not in the registry."""


def known_tracks() -> tuple[str, ...]:
    """The bundled tracks, then those params.yaml added (:func:`register_tracks`)."""
    return (*TRACKS, *(name for name in _own if name not in BUILTIN))


def kind_of(name: str) -> str:
    """The kind of track ``name``.

    Raises:
        UnknownTrackError: naming ``name`` and the known tracks.
    """
    if isinstance(name, str) and name in _own:
        return _own[name]["kind"]
    try:
        return BUILTIN[name]
    except (KeyError, TypeError):
        raise UnknownTrackError(f"unknown track {name!r}; known tracks: {', '.join(known_tracks())} "
                                "(a track of your own is a line of params.yaml's tracks)") from None


def register_tracks(spec: Any, key: str = "tracks") -> tuple[str, ...]:
    """Read params.yaml's ``tracks``: ``{name: {kind, title?, description?}}``. A bundled name keeps
    its kind; a new name is a corpus of your own of one of :data:`KINDS`. Returns the names in order.

    Raises:
        ConfigError: naming the key and the bad value.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"{key} must map each track to its kind, e.g. {{nottingham: {{kind: abc}}}}; "
                          f"got {spec!r:.80}")
    own: dict[str, dict[str, str]] = {}
    for name, entry in spec.items():
        where = f"{key}.{name}"
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigError(f"{key}: track name {name!r} must be lower-case letters, digits and _ "
                              "(a folder under data/ and part of stage names)")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a mapping with a kind, got {entry!r:.60}")
        unknown = set(entry) - {"kind", "title", "description"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: kind, title, description)")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ConfigError(f"{where}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if name in BUILTIN and kind != BUILTIN[name]:
            raise ConfigError(f"{where}.kind: the bundled track {name} is of kind {BUILTIN[name]}, got {kind!r}; "
                              "give your own corpus a name of its own")
        for text in ("title", "description"):
            if not isinstance(entry.get(text, ""), str):
                raise ConfigError(f"{where}.{text} must be text, got {entry[text]!r:.60}")
        own[name] = {"kind": kind, "title": entry.get("title", ""), "description": entry.get("description", "")}
    _own.clear()
    _own.update(own)
    for name in [n for n in _loaded if n not in BUILTIN or n in own]:
        del _loaded[name]
    return tuple(own)


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
        track = getattr(module, KINDS[kind])()
        entry = _own.get(name)
        if name not in BUILTIN:
            track = track.renamed(name, title=entry["title"], description=entry["description"])
        elif entry is not None:
            track.title = entry["title"] or track.title
            track.description = entry["description"] or track.description
        _loaded[name] = track
    return _loaded[name]


__all__ = ["BUILTIN", "KINDS", "TRACKS", "Track", "UnknownTrackError", "get_track", "kind_of",
           "known_tracks", "register_tracks"]
