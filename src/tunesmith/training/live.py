"""DVCLive: per-epoch metrics in ``data/live/<corpus>``, caught up after a resumed run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tunesmith.core.safe_json import NUMBERS, read_json_bounded


def _open_live(live_dir: Path | None, resuming: bool, history: list[dict[str, float]]):
    if live_dir is None:
        return None
    from dvclive import Live  # imported here: only train() with a live_dir needs it

    live_dir = Path(live_dir)
    logged = -1  # last step DVCLive wrote
    summary = live_dir / "metrics.json"
    if resuming and summary.is_file():
        logged = int(read_json_bounded(summary, allow=NUMBERS).get("step", -1))
    live = Live(
        dir=str(live_dir), resume=resuming and logged >= 0, save_dvc_exp=False, dvcyaml=None
    )
    # A kill between the checkpoint and the DVCLive write leaves DVCLive an
    # epoch behind; replay those epochs from the checkpoint's history.
    live.step = logged + 1
    for record in history[logged + 1 :]:
        _log_epoch(live, record)
    return live


def _log_epoch(live, record: Mapping[str, float]) -> None:
    for split in ("train", "val"):
        for name in ("loss", "accuracy", "perplexity"):
            live.log_metric(f"{split}/{name}", float(record[f"{split}_{name}"]))
    live.log_metric("train/tokens_per_s", float(record["tokens_per_s"]))
    live.next_step()
