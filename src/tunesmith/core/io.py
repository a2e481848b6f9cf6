"""Atomic, deterministic writes.

Every artifact is written to a temporary file beside its target and renamed
into place, so an interrupted stage leaves the previous artifact or none,
never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.cells import read_frame, write_frame
from tunesmith.core.errors import ArtifactError, MissingArtifactError
from tunesmith.core.locks import dead_leftover
from tunesmith.core.locks import lock_name as lock_name  # callers lock outputs through this module
from tunesmith.core.locks import output_lock as output_lock

log = logging.getLogger(__name__)


# Names of files that only tunesmith writes at the top of its output folders. A folder
# holding one of them may be replaced; any other non-empty folder is someone else's.
TUNESMITH_MARKERS: tuple[str, ...] = ("manifest.csv", "pieces.jsonl", "split.csv", "vocab.json",
                                      "samples.csv", "model.keras", "histograms.json", "index.html",
                                      "SHA256SUMS")


def check_replaceable(target: Path | str, owned_if: Sequence[str] | None = None) -> None:
    """Refuse to replace ``target`` unless it is new, an empty folder, or one tunesmith wrote.

    A folder counts as written by tunesmith when it holds one of the files named
    in ``owned_if`` (default: any of `TUNESMITH_MARKERS`), e.g. ``samples.csv``.
    Only folders are checked; a file target is replaced as an atomic write does.

    Raises:
        ArtifactError: naming the folder; nothing has been touched.
    """
    target = Path(target)
    if target.is_symlink() or not target.exists():
        return  # a link is replaced, never what it points to
    markers = tuple(owned_if) if owned_if is not None else TUNESMITH_MARKERS
    if not target.is_dir():
        if owned_if is not None:  # the caller writes a folder here
            raise ArtifactError(f"refusing to replace {target}: it is a file, not a folder tunesmith wrote")
        return
    if not any(target.iterdir()) or any((target / m).is_file() for m in markers):
        return
    raise ArtifactError(
        f"refusing to replace {target}: the folder is not empty and has no {' or '.join(markers)}, "
        "so tunesmith did not write it; choose a new or empty folder"
    )


def remove_stale_temporaries(target: Path | str) -> list[Path]:
    """Delete what an interrupted `atomic_path` on ``target`` left beside it.

    Only the exact names `atomic_path` uses, and only a dead writer's (`locks.dead_leftover`):
    ``.<name>.<pid>.XXXXXXXX.tmp`` and ``.<name>.<pid>.XXXXXXXX.old`` whose pid no longer runs,
    and the pid-less ``.<name>.XXXXXXXX.tmp`` of older versions. A ``.<name>.old`` or any other
    name is someone else's and stays. Returns the paths removed.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    removed = []
    for path in target.parent.iterdir():
        if dead_leftover(target.name, path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.info("removed %d leftover temporar%s of an interrupted write of %s",
                 len(removed), "y" if len(removed) == 1 else "ies", target)
    return removed


@contextlib.contextmanager
def final_names_in_logs(tmp: Path, final: Path) -> Iterator[None]:
    """While a stage writes into ``tmp``, log lines name ``final`` instead: a temporary folder is
    gone by the time anyone reads the log."""
    previous = logging.getLogRecordFactory()
    old, new = str(tmp), str(final)

    def rename(value: Any) -> Any:
        if isinstance(value, (str, os.PathLike)) and old in str(value):
            return str(value).replace(old, new)
        return value

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if isinstance(record.args, tuple):
            record.args = tuple(rename(a) for a in record.args)
        record.msg = rename(record.msg)
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)


@contextlib.contextmanager
def atomic_path(target: Path | str, *, owned_if: Sequence[str] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Works for files and directories: whatever the caller creates at the
    yielded path replaces ``target`` when the block exits without error. An
    existing folder is replaced only when `check_replaceable` allows it
    (checked before anything is written); leftovers of an earlier interrupted
    write of the same target are removed first.

    Only one process writes a target at a time (`output_lock`); the temporary is named
    ``.<name>.<pid>.XXXXXXXX.tmp``.

    Raises:
        ArtifactError: ``target`` is a folder tunesmith did not write, another process is
            writing it, or its parent folder cannot be written (read-only file system, no
            permission).
    """
    target = Path(target)
    check_replaceable(target, owned_if)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtifactError(f"cannot write {target}: {exc.strerror or exc}") from exc
    with output_lock(target):
        yield from _write_locked(target, owned_if)


WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                          errno.EIO})
"""What the file system says when an artifact cannot be written: disk full, over quota, read-only,
no permission, file too large, a failing disk. `atomic_path` turns them into one line."""


def is_write_error(exc: OSError) -> bool:
    """Whether ``exc`` says the file system refused a write (`WRITE_ERRORS`); h5py's errors carry
    the system's message but no errno."""
    return exc.errno in WRITE_ERRORS or any(text in str(exc) for text in _WRITE_MESSAGES)


_WRITE_MESSAGES = ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded",
                   "errno = 28", "errno = 30", "errno = 13")


def write_failure(target: Path, exc: OSError) -> ArtifactError:
    """One line for an OSError of `WRITE_ERRORS` while writing ``target``: what, and in which folder."""
    reason = exc.strerror or " ".join(str(exc).split())[:160]
    return ArtifactError(f"cannot write {target} (in {target.parent}): {reason}; "
                         f"the previous {target.name} (if any) is as it was")


def _set_aside_name(target: Path) -> Path:
    # unique and marked as ours (the pid, the 8 characters of tempfile): never a user's .<name>.old
    probe = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".old", dir=target.parent))
    probe.rmdir()
    return probe


def _write_locked(target: Path, owned_if: Sequence[str] | None) -> Iterator[Path]:
    """`atomic_path`'s body, run while this process holds ``target``'s lock: every temporary
    left beside it is then a dead writer's, never a live one's."""
    try:
        remove_stale_temporaries(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise write_failure(target, exc) from exc
    shutil.rmtree(tmp)  # the caller creates it, as a file or a folder
    try:
        with final_names_in_logs(tmp, target):
            yield tmp
        if target.is_dir() and not target.is_symlink():
            check_replaceable(target, owned_if)  # it may have changed while we wrote
            old = _set_aside_name(target)
            target.rename(old)
            try:
                tmp.rename(target)
            except OSError:
                old.rename(target)  # the previous one back in place
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except OSError as exc:
        if not is_write_error(exc):
            raise
        raise write_failure(target, exc) from exc
    except ArtifactError as exc:  # a nested write inside tmp: name the artifact, not the temporary
        if str(tmp) not in str(exc):
            raise
        raise type(exc)(str(exc).replace(str(tmp), str(target))) from exc
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xef\xbb\xbf", "utf-8"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def decode_text(data: bytes) -> str:
    """Text of a music file whose encoding is not declared.

    A byte-order mark decides (UTF-8, UTF-16 or UTF-32, little or big endian); text
    without one whose every other byte is NUL is UTF-16; otherwise UTF-8, else Latin-1
    (older tune collections use it; it decodes every byte). The BOM is not part of the text.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    if len(data) >= 4 and b"\x00" in data[:4096]:
        head = data[:4096]
        if head[1::2].count(0) > len(head) // 4 and head[0::2].count(0) == 0:
            return data.decode("utf-16-le", errors="replace")
        if head[0::2].count(0) > len(head) // 4 and head[1::2].count(0) == 0:
            return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def write_text(path: Path | str, text: str) -> None:
    """Write UTF-8 text atomically, with ``\\n`` line endings on every platform."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def write_json(path: Path | str, obj: Any) -> None:
    """Write JSON atomically with sorted keys, so equal objects give equal bytes."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_npy(path: Path | str, array: np.ndarray) -> None:
    """Write one array as ``.npy`` atomically (never pickled)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)


def write_jsonl(path: Path | str, rows: Iterable[Any], *, sort_keys: bool = False) -> None:
    """Write one JSON object per line atomically (UTF-8, ``\n`` line endings); :func:`read_jsonl` reads it."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=sort_keys) + "\n")


def write_csv(path: Path | str, frame: Any) -> None:
    """Write a pandas DataFrame as CSV atomically, without the index; text cells that a spreadsheet
    would run as a formula start with ``'`` (`tunesmith.core.cells.csv_cell`; :func:`read_csv`
    takes it off)."""
    with atomic_path(path) as tmp:
        write_frame(frame, tmp)


def read_csv(path: Path | str, **kwargs: Any) -> Any:
    """A CSV tunesmith wrote (:func:`write_csv`) as a pandas DataFrame, each text cell as it was
    before it was written; ``kwargs`` go to ``pandas.read_csv``."""
    import pandas as pd

    return read_frame(pd.read_csv(path, **kwargs))


def read_json(path: Path | str) -> Any:
    """Read a JSON artifact.

    Raises:
        MissingArtifactError: the file is not there (a FileNotFoundError too).
        ArtifactError: empty, not UTF-8 or not JSON; the message names the file
            and what is wrong (a ValueError too).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MissingArtifactError(f"{path} not found") from exc
    except IsADirectoryError as exc:
        raise ArtifactError(f"{path} is a folder, not a JSON file") from exc
    if not data.strip():
        raise ArtifactError(f"{path} is empty ({len(data)} bytes): an interrupted write? Rerun the stage "
                            "that writes it")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path} is not UTF-8 text (byte {exc.start}): not a JSON file") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
                            "truncated or edited? Rerun the stage that writes it") from exc


def read_jsonl(path: Path | str) -> list[Any]:
    """Read a JSON-lines artifact (one object per line).

    Raises:
        MissingArtifactError / ArtifactError: as :func:`read_json`, naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingArtifactError(f"{path} not found")
    rows = []
    with open(path, encoding="utf-8") as fh:
        n = 0
        try:
            for n, line in enumerate(fh, start=1):  # noqa: B007 -- n names the bad line below
                if line.strip():
                    rows.append(json.loads(line))
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"{path} is not UTF-8 text: not a JSON-lines file") from exc
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{path} line {n} is not valid JSON ({exc.msg}): truncated or edited? "
                                "Rerun the stage that writes it") from exc
    return rows
