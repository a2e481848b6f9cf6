"""The tracks, one module per corpus behind the :class:`~tunesmith.tracks.base.Track` interface.

A new track is one new module here (a ``Track`` subclass) plus its line in
``_REGISTRY``; params.yaml sections and dvc.yaml's ``tracks`` list name it.
"""

from __future__ import annotations

from tunesmith.errors import ConfigError
from tunesmith.tracks.base import Track
from tunesmith.tracks.classical import Classical
from tunesmith.tracks.essen import Essen
from tunesmith.tracks.nottingham import Nottingham

_REGISTRY: dict[str, Track] = {track.name: track for track in (Nottingham(), Essen(), Classical())}

TRACKS: tuple[str, ...] = tuple(_REGISTRY)
"""Every track's name, in the order stages and reports list them."""


class UnknownTrackError(ConfigError, ValueError):
    """A track name that is not in the registry."""


def get_track(name: str | Track) -> Track:
    """The track called ``name`` (a track is returned as it is).

    Raises:
        UnknownTrackError: naming ``name`` and the known tracks.
    """
    if isinstance(name, Track):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownTrackError(f"unknown track {name!r}; known tracks: {', '.join(TRACKS)}") from None


__all__ = ["TRACKS", "Track", "UnknownTrackError", "get_track"]
