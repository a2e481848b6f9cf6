"""One writer per output: the lock file beside a target, and which leftovers beside it are a dead
tunesmith's.

A lock is ``.<name>.lock`` beside the target, a regular file whose first line is
``tunesmith-lock <pid>``; tunesmith opens it without following links (``O_NOFOLLOW``), and a
file of that name it did not make (a link, a folder, a pipe, someone's notes) is refused, never
truncated, written or deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from tunesmith.core.errors import ArtifactError

LOCK_HEADER = "tunesmith-lock"
"""The first word of every lock file tunesmith writes; the second is the writer's pid."""
_OURS = re.compile(rf"(?:{LOCK_HEADER} )?([0-9]+)\n?")  # rounds one and two wrote the bare pid


def lock_name(target: Path | str) -> Path:
    """The lock file of ``target``: ``.<name>.lock`` beside it, held while tunesmith writes it."""
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def _holder(fd: int) -> str:
    match = _OURS.match(os.pread(fd, 64, 0).decode(errors="replace").strip() + "\n")
    return match.group(1) if match else "?"


def _refuse(target: Path, path: Path, what: str) -> ArtifactError:
    return ArtifactError(f"refusing to write {target}: {path} is {what}, not a lock file tunesmith made; "
                         "move it away (if no tunesmith process is running) and run again")


def _open_existing(target: Path, path: Path) -> int | None:
    """The fd of the lock file at ``path`` when it is tunesmith's and free (locked by us), None
    when it vanished; refuses anything else."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(target, path, "a symbolic link") from None
        if exc.errno == errno.EISDIR:
            raise _refuse(target, path, "a folder") from None
        raise ArtifactError(f"cannot write {target}: {path}: {exc.strerror or exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refuse(target, path, "not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArtifactError(f"{target} is being written by another tunesmith process (pid {_holder(fd)}); "
                                "wait for it to finish, or stop it") from None
        text = os.pread(fd, 64, 0).decode(errors="replace")
        if not _OURS.fullmatch(text):
            raise _refuse(target, path, "an empty file" if not text else "a file of someone else's")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _acquire(target: Path, path: Path) -> int:
    import fcntl

    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            fd = _open_existing(target, path)
            if fd is None:
                continue  # removed by the writer we found: try again
        except OSError as exc:
            raise ArtifactError(f"cannot write {target}: {exc.strerror or exc} ({target.parent})") from exc
        else:
            fcntl.flock(fd, fcntl.LOCK_EX)  # new and ours: nobody else can hold it for long
        try:  # the file may have been removed by the holder we waited for: lock the one that is there
            same = os.fstat(fd).st_ino == os.lstat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def output_lock(target: Path | str) -> Iterator[None]:
    """Hold the lock of ``target`` (`lock_name`) while the block runs; a second writer of the
    same target stops at once with one line naming it and the process holding it.

    The lock is an ``flock`` on a file holding ``tunesmith-lock <pid>``, removed on release; the
    kernel drops it when the process dies, so a killed run never blocks the next one.

    Raises:
        ArtifactError: another process holds the lock; the lock's name is taken by something
            tunesmith did not make (a link, a folder, another file); or it cannot be created.
    """
    target = Path(target)
    path = lock_name(target)
    fd = _acquire(target, path)
    try:
        try:
            os.ftruncate(fd, 0)  # ours: checked by _acquire
            os.pwrite(fd, f"{LOCK_HEADER} {os.getpid()}\n".encode(), 0)
        except OSError as exc:
            raise ArtifactError(f"cannot write {target}: {exc.strerror or exc} ({target.parent})") from exc
        yield
    finally:
        with contextlib.suppress(OSError):
            if os.fstat(fd).st_ino == os.lstat(path).st_ino:  # never a file that replaced ours
                os.unlink(path)
        os.close(fd)


def leftover_pattern(name: str) -> re.Pattern[str]:
    """What `tunesmith.core.io.atomic_path` leaves beside ``name`` when killed:
    ``.<name>.<pid>.XXXXXXXX.tmp`` (the new version) and ``.<name>.<pid>.XXXXXXXX.old`` (the
    previous one, set aside for the rename); rounds one and two wrote ``.<name>.XXXXXXXX.tmp``."""
    return re.compile(rf"\.{re.escape(name)}\.(?:(?P<pid>[0-9]{{1,10}})\.[a-z0-9_]{{8}}\.(?:tmp|old)"
                      rf"|[a-z0-9_]{{8}}\.tmp)")


def dead_leftover(name: str, entry: str) -> bool:
    """Whether ``entry`` (a name beside ``name``) is a leftover of a tunesmith writer that is dead."""
    match = leftover_pattern(name).fullmatch(entry)
    if match is None:
        return False
    pid = match.group("pid")
    return pid is None or not pid_alive(int(pid))
