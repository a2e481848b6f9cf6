"""DVCLive: per-epoch metrics in ``data/live/<corpus>``, rewritten from the history after a resumed run.

Training speed is not logged here: the loss curves are committed, and a timing would change them
on every rerun; it stays in the model folder's ``metrics.json``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def _open_live(live_dir: Path | None, history: list[dict[str, float]]):
    """A fresh DVCLive run in ``live_dir`` holding every epoch of ``history`` so far.

    The files are rewritten from the checkpoint's history, a resumed run's earlier epochs
    included: the train stage's live folder is a plain DVC output (restorable from the
    run-cache), which DVC deletes before the stage runs, while DVCLive's own summary beside it
    may survive, so what is on disk says nothing about which epochs were logged.
    """
    if live_dir is None:
        return None
    from dvclive import Live  # imported here: only train() with a live_dir needs it

    live = Live(dir=str(live_dir), resume=False, save_dvc_exp=False, dvcyaml=None)
    for record in history:
        _log_epoch(live, record)
    return live


def _log_epoch(live, record: Mapping[str, float]) -> None:
    for split in ("train", "val"):
        for name in ("loss", "accuracy", "perplexity"):
            live.log_metric(f"{split}/{name}", float(record[f"{split}_{name}"]))
    live.next_step()
