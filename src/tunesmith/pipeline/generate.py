"""The generate stage: new music from a track's trained model into its samples folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.config.load import build, section
from tunesmith.config.stages import GenerateConfig


def generate_stage(corpus: str, params: Mapping[str, Any], model_dir: Path, out_dir: Path, *,
                   test_pieces: Path | None = None) -> None:
    """``generate.<corpus>`` of ``params`` -> `tunesmith.generation.samples.generate_samples`:
    the samples, their ``samples.csv`` and ``samples.jsonl`` in ``out_dir``."""
    from tunesmith.generation.samples import generate_samples

    key = f"generate.{corpus}"
    generate_samples(corpus, model_dir, build(GenerateConfig, section(params, key), key), out_dir,
                     test_pieces=test_pieces)
