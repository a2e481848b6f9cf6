"""What every stage script shares: logging that does not break tqdm bars, and
one clear line (not a traceback) for a bad config or input."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from tunesmith.config.load import load_params
from tunesmith.config.tracks_check import check_name
from tunesmith.core.errors import TunesmithError
from tunesmith.core.io import is_write_error
from tunesmith.core.workers import skip_final_collection
from tunesmith.tracks import get_track, register_tracks

log = logging.getLogger("tunesmith")

CHECKPOINT_ROOT_ENV = "TUNESMITH_CHECKPOINT_ROOT"
"""Set by tools/fanout.py for the stages it queues: the workspace's ``.cache/checkpoints``."""


def shared_checkpoints(path: Path | None) -> Path | None:
    """``path`` (a stage's ``--checkpoints``), moved under ``$TUNESMITH_CHECKPOINT_ROOT`` when that is set
    and ``path`` is relative and under ``.cache/checkpoints``.

    ``make repro`` and ``make noise`` run stages in queued experiments' temporary copies of the
    workspace (tools/fanout.py), which vanish with whatever a killed run left there: the checkpoints
    stay in the workspace instead, so the next run continues where the last one stopped.
    """
    root = os.environ.get(CHECKPOINT_ROOT_ENV)
    if path is None or not root or path.is_absolute() or path.parts[:2] != (".cache", "checkpoints"):
        return path
    return Path(root, *path.parts[2:])


def fix_threads(threads: int | None) -> None:
    """TensorFlow's intra- and inter-op pools (and OpenMP's, for oneDNN) at ``threads`` each, before
    TensorFlow runs anything; None leaves TensorFlow's own (one per core).

    The pools decide the order of floating-point sums: fixed by a param, a model's figures do not
    depend on how many stages run beside it (``make repro``, ``make noise``).
    """
    if threads is None:
        return
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(threads)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every stage takes: --corpus and --params."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", required=True, help="which track to run (a name of params.yaml's tracks)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="the params file")
    return p


def run(main: Callable[[argparse.Namespace, dict], None], args: argparse.Namespace) -> None:
    """Set up logging, load params.yaml once, register its tracks, check ``--corpus`` is one of
    them, call ``main(args, params)``.

    A TunesmithError (bad config, unfetchable corpus, unknown track ...) ends the stage with
    its message and exit status 2, and so does a full disk, a read-only folder or a missing
    permission (one line naming the folder); other exceptions keep their traceback.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    skip_final_collection()
    try:
        with logging_redirect_tqdm():
            corpus = getattr(args, "corpus", None)
            if corpus is not None:  # before anything: a name that is a path (.., a/b) never reaches a folder
                check_name(corpus, "--corpus")
            params = load_params(args.params)
            names = register_tracks(params.get("tracks"))
            if corpus is not None and corpus not in names:
                get_track(corpus)  # an unknown name: one line naming the known ones
                raise TunesmithError(f"--corpus {corpus}: not in {args.params}'s tracks ({', '.join(names)})")
            main(args, params)
    except TunesmithError as exc:
        log.error("%s", exc)
        sys.exit(2)
    except OSError as exc:  # a write outside atomic_path (a log, DVCLive): still one line
        if not is_write_error(exc):
            raise
        where = Path(exc.filename).parent if exc.filename else Path.cwd()
        log.error("cannot write in %s: %s", where, exc.strerror or " ".join(str(exc).split())[:160])
        sys.exit(2)
