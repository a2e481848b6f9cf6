"""The train stage: ``train.<corpus>`` params and the vocab stage's folder -> a model folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.core import io
from tunesmith.core.errors import ArtifactError, ConfigError
from tunesmith.core.vocab import read_vocab_json


def train_stage(corpus: str, params: Mapping[str, Any], vocab_dir: Path, out_dir: Path, *, live_dir: Path,
                metrics: Path, checkpoints: Path | None = None) -> None:
    """Build the model and training configs from ``params`` (the ``train.<corpus>`` section, its
    ``model`` key for the model), check that ``vocab_dir`` holds ``corpus``'s vocabulary, train on
    its train split with validation on its validation split, fit the continuous cache on the
    validation split (``cache``: true; `evaluation.cache`) and write the summary to ``metrics``.
    The model folder is locked (`io.output_lock`) the whole time: a second trainer of the same
    folder stops at once with one line naming the first one's pid.
    ``checkpoints``: the resumable checkpoints' folder (default ``out_dir/checkpoints``).

    Raises:
        ConfigError: a bad param, named by its full key.
        ArtifactError: another corpus's vocabulary, a vocab folder that cannot be read, or a
            model folder another process is training.
    """
    from tunesmith.config.load import build
    from tunesmith.config.model import ModelConfig
    from tunesmith.config.train import TrainConfig

    key = f"train.{corpus}"
    if not isinstance(params, Mapping):
        raise ConfigError(f"{key} must be a mapping of train settings, got {type(params).__name__} {params!r:.60}")
    data = dict(params)
    model_cfg = build(ModelConfig, data.pop("model", {}), f"{key}.model")
    train_cfg = build(TrainConfig, data, key)
    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
    with io.output_lock(out_dir):  # one trainer per model folder, the whole training long
        _train_locked(corpus, model_cfg, train_cfg, Path(vocab_dir), Path(out_dir), live_dir, metrics, checkpoints)


def _train_locked(corpus: str, model_cfg, train_cfg, vocab_dir: Path, out_dir: Path, live_dir: Path,
                  metrics: Path, checkpoints: Path | None) -> None:
    from tunesmith.data.windows import load_split
    from tunesmith.training.budget import check_training_memory
    from tunesmith.training.bundle import vocab_symbols
    from tunesmith.training.cache_file import fit_model_cache
    from tunesmith.training.loop import train

    key = f"train.{corpus}"
    vocab = read_vocab_json(vocab_dir / "vocab.json")
    if not isinstance(vocab, Mapping):
        raise ArtifactError(f"{vocab_dir / 'vocab.json'} is not a vocabulary (a {type(vocab).__name__})")
    try:
        vocab_size = len(vocab_symbols(vocab))
    except ArtifactError as exc:
        raise ArtifactError(f"{vocab_dir / 'vocab.json'}: {exc}") from exc
    check_training_memory(model_cfg, train_cfg, vocab_size, key)  # before any data is read
    if vocab.get("corpus") not in (None, corpus):
        raise ArtifactError(f"{vocab_dir / 'vocab.json'} is the {vocab.get('corpus')} vocabulary, "
                            f"not {corpus}'s: check --vocab")
    try:
        val_ids = load_split(vocab_dir, "validation")
        summary = train(model_cfg, train_cfg, vocab, load_split(vocab_dir, "train"), val_ids, out_dir,
                        live_dir=live_dir, checkpoint_dir=checkpoints)
    except ArtifactError as exc:
        raise ArtifactError(f"train@{corpus}: {exc} ({vocab_dir})") from exc
    summary["cache"] = fit_model_cache(out_dir, val_ids, enabled=train_cfg.cache)
    io.write_json(Path(out_dir) / "metrics.json", {k: v for k, v in summary.items() if k not in NOT_KEPT})
    io.write_json(metrics, headline(summary))


HEADLINE_KEYS = ("saved", "epochs_run", "stopped_early", "device")
"""Training speed (tokens/s) is left out: a committed metric changes only when results do."""

NOT_KEPT = ("history", "tokens_per_s")
"""What `tunesmith.training.loop.train` returns but the model folder's ``metrics.json`` does not keep:
the epochs (DVCLive's folder has them) and the training speed, a timing (logged), which would make
the folders of identical weights trained twice differ."""


def headline(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The train stage's DVC metrics: what was saved and how it validates; the whole record (the
    schedule, the average, the cache's grid, each epoch) is the model folder's ``metrics.json``."""
    cache = summary.get("cache") or {}
    return {**{k: summary.get(k) for k in HEADLINE_KEYS},
            "train": {"loss": (summary.get("train") or {}).get("loss")},
            "val": {k: (summary.get("val") or {}).get(k) for k in ("loss", "accuracy", "perplexity")},
            "cache": {k: cache.get(k) for k in ("lambda", "theta", "validation_nll")}}
