"""The train stage's checkpoints live outside its output (``--checkpoints .cache/checkpoints/<c>``), so the
output can be a plain DVC output that the run-cache restores: DVC deletes the model folder and the loss
curves before the stage runs, and a finished run in the checkpoints rebuilds both without training."""

from __future__ import annotations

import csv
import shutil

from conftest import ESSEN_VOCAB, tiny_ids


def test_a_finished_run_in_the_checkpoints_rebuilds_the_model_and_its_curves(tiny_model_dir, tmp_path):
    from tunesmith.config.train import TrainConfig
    from tunesmith.modeling.models import ModelConfig
    from tunesmith.training.loop import train

    ckpt = tmp_path / "cache" / "checkpoints" / "essen"
    shutil.copytree(tiny_model_dir / "checkpoints", ckpt)  # the session's tiny run, as if kept outside
    out, live = tmp_path / "models" / "essen", tmp_path / "live" / "essen"
    ids = tiny_ids(0)
    cfg = TrainConfig(window=8, batch_size=8, epochs=1, patience=2, context="window", average_epochs=0, cache=False)
    summary = train(ModelConfig(units=8, embedding_dim=4, dropout=0.0), cfg, ESSEN_VOCAB, ids, ids[:100], out,
                    live_dir=live, checkpoint_dir=ckpt)
    assert not (out / "checkpoints").exists() and (ckpt / "state.json").is_file()
    assert (out / "model.keras").read_bytes() == (tiny_model_dir / "model.keras").read_bytes()  # not retrained
    assert summary["resumed_from_epoch"] == 1
    with open(live / "plots" / "metrics" / "train" / "loss.tsv") as fh:  # the curve, rewritten from the history
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [int(r["step"]) for r in rows] == [0] and float(rows[0]["loss"]) == summary["history"][0]["train_loss"]
    assert not (live / "plots" / "metrics" / "train" / "tokens_per_s.tsv").exists()  # a timing: not committed
