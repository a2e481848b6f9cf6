"""Worker processes that die with the stage that started them, and a time limit per file.

A ``kill -9`` of a stage cannot run any clean-up code, so its pool workers must
notice on their own: on Linux the kernel sends them SIGKILL when their parent
dies (``prctl(PR_SET_PDEATHSIG)``), and everywhere a daemon thread in each
worker polls its parent pid once a second and exits when it changes.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1


def skip_final_collection() -> None:
    """Let this process end without Python's last garbage collections over every object it holds.

    At exit the interpreter collects cycles among all its objects; with TensorFlow loaded that walk
    costs 1.2-1.3 s of every stage and CLI process (2 cores here), after the work is done and every file
    is closed. ``gc.freeze`` at exit (the last exit handler to run, registered first) moves the
    objects out of the collector's reach: memory goes back to the system with the process, as it would.
    """
    atexit.register(gc.freeze)


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker as soon as ``parent_pid`` is gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="tunesmith-parent-watch", daemon=True).start()


def process_pool(max_workers: int) -> ProcessPoolExecutor:
    """A ProcessPoolExecutor whose workers end when this process ends, even by ``kill -9``."""
    return ProcessPoolExecutor(max_workers=max_workers, initializer=die_with_parent,
                               initargs=(os.getpid(),))


class TimeLimitExceeded(BaseException):
    """Raised inside the block of :func:`time_limit` when its time is up.

    A BaseException, like KeyboardInterrupt, so that the ``except Exception``
    of a parser that turns every error into "bad file" does not swallow it.
    """


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeLimitExceeded in the block after ``seconds`` of wall time (0 = no limit).

    Uses SIGALRM, so it interrupts pure-Python work (music21's parsers) but only in
    the main thread of a process on a POSIX system; elsewhere the block runs
    without a limit.
    """
    usable = (seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    fired = False

    def expire(signum, frame):
        nonlocal fired
        fired = True
        raise TimeLimitExceeded(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if fired:  # the signal arrived where Python only prints an exception (a __del__, a callback): still late
        raise TimeLimitExceeded(f"took longer than {seconds:g} s")
