"""What the network's hidden units do over a tune (Reitman & Cho, figure 11)."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tunesmith.render.plots import _figure, _save

log = logging.getLogger(__name__)



def _show_symbol(symbol: str) -> str:
    return {"\n": "⏎", " ": "␣", "\t": "⇥"}.get(symbol, symbol)


def _checked_units(
    acts: np.ndarray, symbols: Sequence[str], layout: str, units: Sequence[int] | None, max_units: int
) -> list[int]:
    """Validate the arguments of :func:`plot_activation_heatmap`; the unit indices to show."""
    if acts.ndim != 2:
        raise ValueError(f"activations must be 2-D (T, units), got shape {acts.shape}")
    if len(symbols) != acts.shape[0]:
        raise ValueError(f"got {len(symbols)} symbols for {acts.shape[0]} activation steps")
    if layout not in ("rows", "text"):
        raise ValueError(f"layout must be 'rows' or 'text', got {layout!r}")
    n_units = acts.shape[1]
    if units is None:
        spread = np.nan_to_num(acts.std(axis=0)) if len(acts) else np.zeros(n_units)
        units = sorted(np.argsort(-spread, kind="stable")[: max(1, max_units)].tolist())
    units = [int(u) for u in units]
    if not units or any(not 0 <= u < n_units for u in units):
        raise ValueError(f"units must be indices in [0, {n_units}), got {units}")
    return units


def _draw_rows(acts: np.ndarray, shown: list[str], units: list[int], max_steps: int):
    """The ``"rows"`` layout: the figure, its axes, the image and the default title."""
    steps = min(len(shown), max_steps)
    fig = _figure(14, 1.4 + 0.3 * len(units))
    ax = fig.add_subplot()
    image = ax.imshow(
        acts[:steps, units].T,
        aspect="auto",
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        interpolation="nearest",
    )
    # at most ~64 labels across the figure's 1,400 px, so neighbouring symbols never overlap
    every = max(1, math.ceil(steps / 64))
    labels = [s if i % every == 0 else "" for i, s in enumerate(shown[:steps])]
    ax.set_xticks(range(steps), labels, fontsize=8, family="monospace")
    ax.set_yticks(range(len(units)), [str(u) for u in units], fontsize=7)
    ax.set_ylabel("unit")
    ax.tick_params(length=0)
    return fig, ax, image, f"hidden-unit activations, first {steps} steps"


def _text_cells(
    values: np.ndarray, shown: list[str], symbols: Sequence[str], limit: int, columns: int
) -> tuple[list[tuple[int, int, str, float]], int]:
    """The ``(row, column, text, value)`` cells of the first ``limit`` steps in reading order, and the row count."""
    cells: list[tuple[int, int, str, float]] = []
    row = col = 0
    for t in range(limit):
        if col >= columns:
            row, col = row + 1, 0
        cells.append((row, col, shown[t], values[t]))
        col += 1
        if symbols[t] == "\n":
            row, col = row + 1, 0
    return cells, max(1, row + (1 if col else 0))


def _draw_text(
    acts: np.ndarray, shown: list[str], symbols: Sequence[str], unit: int, max_steps: int, columns: int
):
    """The ``"text"`` layout: the figure, its axes, the image and the default title."""
    limit = min(len(shown), max_steps * 8)
    cells, rows = _text_cells(acts[:, unit], shown, symbols, limit, columns)
    grid = np.full((rows, columns), np.nan)
    for r, c, _, value in cells:
        grid[r, c] = value
    fig = _figure(10, min(14.0, 1.2 + 0.3 * rows))
    ax = fig.add_subplot()
    image = ax.imshow(
        grid, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest"
    )
    size = max(4.0, min(9.0, 420.0 / columns))
    for r, c, text, _ in cells:
        ax.text(c, r, text, ha="center", va="center", fontsize=size, family="monospace")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig, ax, image, f"activation of hidden unit {unit}, read left to right, top to bottom"


def plot_activation_heatmap(
    activations: np.ndarray,
    symbols: Sequence[str],
    png_path: Path | str,
    *,
    units: Sequence[int] | None = None,
    max_units: int = 16,
    max_steps: int = 120,
    layout: str = "rows",
    columns: int = 48,
    title: str | None = None,
) -> Path:
    """Hidden-unit activations over a tune (Reitman & Cho, figure 11).

    Two layouts:

    * ``"rows"``: one row per unit, one column per time step, the symbols
      along the x axis; 14 inches wide, 1.4 + 0.3 per unit high, at 100 dpi.
      At most ``max_steps`` steps are drawn.
    * ``"text"``: Reitman & Cho's picture: the tune's characters in reading order
      (a new line at every newline symbol or after ``columns`` cells), each
      cell coloured by the activation of a single unit (``units[0]``);
      10 inches wide, 1.2 + 0.3 per line high (at most 14). At most
      ``max_steps * 8`` steps are drawn.

    The colour scale is fixed to [-1, 1] (tanh outputs), blue negative, red positive.

    Args:
        activations: float ``(T, units_total)``, e.g. from :func:`hidden_activations`.
        symbols: T strings, the symbol at each step.
        png_path: the PNG to write.
        units: unit indices to show; None picks the ``max_units`` units whose
            activation varies most over the tune (the informative ones), in index order.
        max_units: >= 1, used when ``units`` is None.
        max_steps: >= 1, see the layouts.
        layout: ``"rows"`` or ``"text"``.
        columns: cells per line in the ``"text"`` layout, >= 8.
        title: the figure title; None for a description of what is shown.

    Raises:
        ValueError: shapes disagree, a unit index is out of range, or a bad layout.
    """
    acts = np.asarray(activations, dtype=np.float64)
    units = _checked_units(acts, symbols, layout, units, max_units)
    shown = [_show_symbol(s) for s in symbols]
    if layout == "rows":
        fig, ax, image, default = _draw_rows(acts, shown, units, max_steps)
    else:
        fig, ax, image, default = _draw_text(acts, shown, symbols, units[0], max_steps, columns)
    fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    ax.set_title(title if title is not None else default, fontsize=10)
    return _save(fig, png_path)


def hidden_activations(model, ids: Sequence[int] | np.ndarray, layer_name: str) -> np.ndarray:
    """The output of the layer ``layer_name`` at every step of one sequence.

    Builds a sub-model from the model's input to that layer (names as in
    :mod:`tunesmith.modeling.models`: ``lstm_0``, ``simple_rnn_1``, ``bilstm_0`` ...) and
    runs it once in inference mode (dropout off).

    Args:
        model: a model from :func:`tunesmith.modeling.models.build_model` (any input length,
            or a window equal to ``len(ids)``).
        ids: 1-D token ids, length T >= 1.
        layer_name: a layer that returns one vector per step.

    Returns:
        float32 ``(T, units)`` (``2 * units`` for a bidirectional layer).

    Raises:
        ValueError: no layer of that name (the message lists the recurrent
            ones), ids not 1-D integers, or the layer returns no sequence
            (e.g. the last ``bilstm`` layer).
    """
    import keras

    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"ids must be a non-empty 1-D integer array, got shape {ids.shape} dtype {ids.dtype}"
        )
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        recurrent = [n for n in names if re.match(r"(lstm|simple_rnn|bilstm)_\d+$", n)]
        raise ValueError(
            f"model {model.name!r} has no layer {layer_name!r}; "
            f"recurrent layers: {recurrent or names}"
        )
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    sub = keras.Model(inputs, model.get_layer(layer_name).output, name=f"{layer_name}_probe")
    out = keras.ops.convert_to_numpy(sub(ids[None, :].astype("int32"), training=False))
    if out.ndim != 3:
        raise ValueError(
            f"layer {layer_name!r} returns shape {out.shape}, not one vector per "
            "step (it does not return sequences)"
        )
    return out[0].astype(np.float32)

