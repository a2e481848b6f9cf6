"""The model section of params.yaml (``train.<corpus>.model``): :class:`ModelConfig`, the family and its sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunesmith.config.checks import check_int

FAMILIES = ("lstm", "stacked_lstm", "bilstm", "cnn_lstm", "simple_rnn")
"""Allowed values of ``ModelConfig.family``."""

MAX_LAYERS = 4

@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one model; stored as JSON beside the ``.keras`` file.

    Attributes:
        family: one of :data:`FAMILIES`.
        units: recurrent units per layer (per direction for ``bilstm``), >= 1.
        layers: recurrent layers, 1-4. ``lstm`` is exactly 1 (use
            ``stacked_lstm`` for more); the other families honour it.
        dropout: rate of the ``Dropout`` layer after each recurrent layer, in [0, 1).
        embedding_dim: size of the learned token embedding, >= 0; 0 feeds an
            in-graph one-hot of the ids instead (the four source papers all used one-hot).
        conv_filters: Conv1D filters, >= 1 (``cnn_lstm`` only).
        conv_kernel: Conv1D kernel width, >= 1 (``cnn_lstm`` only).
    """

    family: str = "lstm"
    units: int = 256
    layers: int = 1
    dropout: float = 0.2
    embedding_dim: int = 64
    conv_filters: int = 64
    conv_kernel: int = 3

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        check_int("units", self.units, 1)
        check_int("layers", self.layers, 1, MAX_LAYERS)
        if self.family == "lstm" and self.layers != 1:
            raise ValueError(
                "layers must be 1 for family 'lstm' (use 'stacked_lstm' for more), "
                f"got {self.layers!r}"
            )
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, (int, float))
            or not math.isfinite(self.dropout)
            or not 0 <= self.dropout < 1
        ):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        check_int("embedding_dim", self.embedding_dim, 0)
        check_int("conv_filters", self.conv_filters, 1)
        check_int("conv_kernel", self.conv_kernel, 1)


