"""One generated sample's record, written once by the generate stage (``samples.jsonl``) and read by
evaluate, the report and ``tunesmith compare``: its name, its samples.csv row, the files it has
(music, audio, pictures), what the audio renderer said (the engine, a fallback note) and its error.

Paths are stored relative to the folder holding ``samples.jsonl``, so the folder reads the same
wherever DVC checks it out; in memory they are full paths.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.core.errors import ArtifactError
from tunesmith.core.safe_json import open_bounded, parse_json_bounded

RECORDS_FILE = "samples.jsonl"
MAX_RECORDS_BYTES = 64 << 20
"""The largest samples.jsonl read (a record is about 300 bytes)."""
MEDIA: dict[str, str] = {"midi": ".mid", "abc": ".abc", "musicxml": ".musicxml", "txt": ".txt",
                         "wav": ".wav", "mp3": ".mp3", "svg": ".svg", "png": ".png"}
"""Each medium a sample may have, and its file suffix."""


@dataclass
class SampleRecord:
    """A sample: ``name`` (``sample_000``), ``info`` (its samples.csv row), a path or None per medium
    of :data:`MEDIA`, ``audio`` (`tunesmith.render.audio.render_audio`'s record: engine, ``note``,
    seconds) and ``error``. Read like a mapping too (``record["mp3"]``, ``record.get("audio")``)."""

    name: str
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    audio: dict[str, Any] | None = None
    midi: str | None = None
    abc: str | None = None
    musicxml: str | None = None
    txt: str | None = None
    wav: str | None = None
    mp3: str | None = None
    svg: str | None = None
    png: str | None = None

    @property
    def title(self) -> str:
        return self.name.replace("_", " ")

    def __getitem__(self, key: str) -> Any:
        if key == "title":
            return self.title
        if key not in _FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        return default if value is None else value

    @classmethod
    def found(cls, folder: Path, name: str, info: dict[str, Any] | None = None,
              error: str | None = None) -> SampleRecord:
        """The record of sample ``name`` with every medium of :data:`MEDIA` found in ``folder``."""
        paths = {k: str(folder / f"{name}{s}") for k, s in MEDIA.items() if (folder / f"{name}{s}").is_file()}
        return cls(name=name, info=dict(info or {}), error=error or None, **paths)


_FIELDS = frozenset(f.name for f in dataclasses.fields(SampleRecord))


def write_records(folder: Path, records: Iterable[SampleRecord]) -> Path:
    """Write ``records`` to ``folder/samples.jsonl`` (paths relative to ``folder``); returns its path."""
    folder = Path(folder)
    lines = []
    for record in records:
        data = dataclasses.asdict(record)
        if data["audio"]:  # its paths are the record's own wav and mp3 (kept relative below)
            data["audio"] = {k: v for k, v in data["audio"].items() if k not in MEDIA}
        for medium in MEDIA:
            if data[medium] is not None:
                data[medium] = Path(os.path.relpath(data[medium], folder)).as_posix()
        lines.append(json.dumps(data, sort_keys=True, default=str))
    path = folder / RECORDS_FILE
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def trusted_roots(folder: Path) -> tuple[Path, ...]:
    """Where the files of samples folder ``folder`` may really be: the folder itself, and the DVC
    cache of a project above it (``dvc checkout`` with ``cache.type: symlink`` links there)."""
    root = Path(folder).resolve()
    caches = [c.resolve() for parent in root.parents if (c := parent / ".dvc" / "cache").is_dir()]
    return (root, *caches)


def inside(folder: Path, value: str, where: str, roots: tuple[Path, ...] | None = None) -> str:
    """``folder / value`` as a full path when it names a file inside ``folder`` and, every link
    followed, lands in one of ``roots`` (default `trusted_roots`); else an error naming ``where``
    (the file and field) and the value.

    Raises:
        ArtifactError: ``value`` is absolute, climbs out with ``..``, or is (or passes) a link
            to a file elsewhere.
    """
    if not isinstance(value, str) or not value or "\0" in value:
        raise ArtifactError(f"{where}: {value!r:.80} is not a file name")
    if Path(value).is_absolute():
        raise ArtifactError(f"{where}: {value!r:.80} is an absolute path; a sample's files are named "
                            "relative to its folder")
    path = Path(folder) / value
    real = path.resolve()
    if ".." in Path(value).parts or not any(real.is_relative_to(r) for r in roots or trusted_roots(folder)):
        raise ArtifactError(f"{where}: {value!r:.80} is outside {folder} (links followed); a sample's "
                            "files must be inside its folder")
    return str(path)


def _sample_name(value: Any, where: str) -> str:
    name = str(value)
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ArtifactError(f"{where}: sample {name!r:.80} is not a plain name (no folders)")
    return name


def read_records(folder: Path) -> list[SampleRecord]:
    """The records of a generate-stage folder (``samples.jsonl``); for a folder written before it
    existed, built from ``samples.csv`` and the files found.

    Every path a record names is checked to be inside ``folder`` (`inside`), links followed.

    Raises:
        ArtifactError: a line that is not a record, or a path outside ``folder``, naming the file,
            the line and the field.
    """
    folder = Path(folder)
    path = folder / RECORDS_FILE
    roots = trusted_roots(folder)
    if not path.is_file():
        from tunesmith.core.io import read_csv

        table = read_csv(folder / "samples.csv", keep_default_na=False)
        records = []
        for n, row in enumerate(table.to_dict("records"), start=2):
            name = _sample_name(row.get("sample", ""), f"{folder / 'samples.csv'} line {n}")
            record = SampleRecord.found(folder, name, row, str(row.get("error") or ""))
            for medium in MEDIA:
                if record[medium] is not None:
                    inside(folder, Path(record[medium]).name, f"{folder / 'samples.csv'} line {n} {medium}", roots)
            records.append(record)
        return records
    records = []
    text = open_bounded(path, MAX_RECORDS_BYTES).decode("utf-8", errors="replace")
    for n, line in enumerate(text.splitlines(), start=1):
        where = f"{path}, line {n}"
        data = parse_json_bounded(line, where)
        if not isinstance(data, dict):
            raise ArtifactError(f"{where} is not a sample record (a {type(data).__name__})")
        data["name"] = _sample_name(data.get("name", ""), where)
        for medium in MEDIA:
            if data.get(medium) is not None:
                data[medium] = inside(folder, data[medium], f"{where} {medium}", roots)
        records.append(SampleRecord(**{k: v for k, v in data.items() if k in _FIELDS}))
    return records
