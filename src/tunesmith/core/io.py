"""Atomic, deterministic writes.

Every artifact is written to a temporary file beside its target and renamed
into place, so an interrupted stage leaves the previous artifact or none,
never half of one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.errors import ArtifactError, MissingArtifactError

log = logging.getLogger(__name__)


# Names of files that only tunesmith writes at the top of its output folders. A folder
# holding one of them may be replaced; any other non-empty folder is someone else's.
TUNESMITH_MARKERS: tuple[str, ...] = ("manifest.csv", "pieces.jsonl", "split.csv", "vocab.json",
                                      "samples.csv", "model.keras", "histograms.json", "index.html",
                                      "SHA256SUMS")


def _temporary_name(name: str) -> re.Pattern[str]:
    # tempfile.mkdtemp(prefix=".<name>.<pid>.", suffix=".tmp") adds 8 characters of [a-z0-9_];
    # the older names had no pid
    return re.compile(rf"\.{re.escape(name)}\.(?:[0-9]+\.)?[a-z0-9_]{{8}}\.tmp")


def lock_name(target: Path | str) -> Path:
    """The lock file of ``target``: ``.<name>.lock`` beside it, held while tunesmith writes it."""
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


@contextlib.contextmanager
def output_lock(target: Path | str) -> Iterator[None]:
    """Hold the lock of ``target`` (`lock_name`) while the block runs; a second writer of the
    same target stops at once with one line naming it and the process holding it.

    The lock is an ``flock`` on a file holding the writer's pid, removed on release; the kernel
    drops it when the process dies, so a killed run never blocks the next one.

    Raises:
        ArtifactError: another process holds the lock, or the lock file cannot be created.
    """
    import fcntl

    path = lock_name(target)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ArtifactError(f"cannot write {target}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ArtifactError(f"{target} is being written by another tunesmith process (pid {holder}); "
                                "wait for it to finish, or stop it") from None
        try:  # the file may have been removed by the holder we waited for: lock the one that is there
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


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

    Only the exact names `atomic_path` uses are touched: ``.<name>.XXXXXXXX.tmp``
    (8 characters from tempfile) and ``.<name>.old``. Returns the paths removed.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern = _temporary_name(target.name)
    removed = []
    for path in target.parent.iterdir():
        if pattern.fullmatch(path.name) or path.name == f".{target.name}.old":
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


def _write_locked(target: Path, owned_if: Sequence[str] | None) -> Iterator[Path]:
    """`atomic_path`'s body, run while this process holds ``target``'s lock: every temporary
    left beside it is then a dead writer's, never a live one's."""
    try:
        remove_stale_temporaries(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise ArtifactError(f"cannot write {target}: {exc.strerror or exc}") from exc
    shutil.rmtree(tmp)  # the caller creates it, as a file or a folder
    try:
        with final_names_in_logs(tmp, target):
            yield tmp
        if target.is_dir() and not target.is_symlink():
            check_replaceable(target, owned_if)  # it may have changed while we wrote
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
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
    """Write a pandas DataFrame as CSV atomically, without the index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")


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
