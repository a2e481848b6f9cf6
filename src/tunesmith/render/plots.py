"""PNG figures: piano rolls, loss curves (the one loss-curve function), histograms.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas, never through ``pyplot``: no global backend switch, no figure manager
holding memory, nothing to close. Sizes and dpi are fixed per function, so a
figure's pixel size depends only on its arguments.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunesmith.core.io import atomic_path
from tunesmith.render.audio import _load_midi

log = logging.getLogger(__name__)

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

_DPI = 100

def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _save(fig, png_path: Path | str) -> Path:
    png_path = Path(png_path)
    with atomic_path(png_path) as tmp:
        # no Software/date metadata: same figure, same bytes
        fig.savefig(tmp, format="png", dpi=_DPI, metadata={"Software": None})
    return png_path


def _pitch_name(pitch: int) -> str:
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def _time_axis(pm, unit: str):
    """The function mapping a time in seconds to the x axis of ``unit``."""
    if unit == "beats":

        def to_x(t: float) -> float:
            return pm.time_to_tick(t) / pm.resolution
    else:

        def to_x(t: float) -> float:
            return t

    return to_x


def _draw_notes(ax, pm, to_x, max_seconds: float | None) -> tuple[list[int], float]:
    """One rectangle per non-drum note; the pitches drawn and the x where the last note ends."""
    from matplotlib.patches import Rectangle

    colours = ("#3b6ea8", "#c8553d", "#5b8c5a", "#8e6c8a", "#d4a017")
    pitches: list[int] = []
    x_end = 0.0
    voices = [inst for inst in pm.instruments if not inst.is_drum]
    for i, inst in enumerate(voices):
        for note in inst.notes:
            if max_seconds is not None and note.start >= max_seconds:
                continue
            x0, x1 = to_x(note.start), to_x(note.end)
            ax.add_patch(
                Rectangle(
                    (x0, note.pitch - 0.4),
                    max(x1 - x0, 1e-3),
                    0.8,
                    facecolor=colours[i % len(colours)],
                    edgecolor="none",
                )
            )
            pitches.append(note.pitch)
            x_end = max(x_end, x1)
    return pitches, x_end


def _set_pitch_range(ax, pitches: list[int], x_end: float) -> None:
    """Fit the axes to the notes (at least an octave, a tick at each C), or say there are none."""
    if pitches:
        low, high = min(pitches), max(pitches)
        if high - low < 12:
            mid = (low + high) / 2
            low, high = math.floor(mid - 6), math.ceil(mid + 6)
        ax.set_ylim(low - 1, high + 1)
        cs = [p for p in range(low - 1, high + 2) if p % 12 == 0]
        ax.set_yticks(cs, [_pitch_name(p) for p in cs])
        ax.set_xlim(0, x_end * 1.01)
    else:
        ax.text(0.5, 0.5, "no notes", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])


def _shade_primer(ax, pm, unit: str, primer_beats: float) -> None:
    """Shade and label the primer's first ``primer_beats`` beats, if any."""
    if primer_beats > 0:
        edge = primer_beats if unit == "beats" else pm.tick_to_time(round(primer_beats * pm.resolution))
        ax.axvspan(0, edge, color="#c9c9c9", alpha=0.45, zorder=0, linewidth=0)
        ax.text(edge / 2, 1.0, "primer", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8, color="#555555")
        ax.set_xlim(0, max(ax.get_xlim()[1], edge * 1.01))


def plot_piano_roll(
    midi_path: Path | str,
    png_path: Path | str,
    *,
    unit: str = "beats",
    max_seconds: float | None = None,
    title: str | None = None,
    primer_beats: float = 0.0,
) -> Path:
    """Draw a MIDI file as a piano roll: one rectangle per note, time vs pitch.

    The figure is 8 x 3 inches at 100 dpi (800 x 300 px). Each non-drum
    instrument gets its own colour; the pitch axis spans the notes played
    (at least an octave), labelled at each C.

    Args:
        midi_path: the MIDI file.
        png_path: the PNG to write (atomically).
        unit: ``"beats"`` (quarter notes, from the file's tempo map) or ``"seconds"``.
        max_seconds: draw only notes starting before this time; None for all.
        title: the figure title; None for the file name.
        primer_beats: the primer's length in beats (what the model was given, not what it
            wrote): shaded grey and labelled, so a listener can tell where the model begins.

    Returns:
        ``png_path``.
    """
    if unit not in ("beats", "seconds"):
        raise ValueError(f"unit must be 'beats' or 'seconds', got {unit!r}")
    midi_path = Path(midi_path)
    pm = _load_midi(midi_path)
    to_x = _time_axis(pm, unit)

    fig = _figure(8, 3)
    ax = fig.add_subplot()
    pitches, x_end = _draw_notes(ax, pm, to_x, max_seconds)
    _set_pitch_range(ax, pitches, x_end)
    _shade_primer(ax, pm, unit, primer_beats)
    ax.set_xlabel("time (beats)" if unit == "beats" else "time (s)")
    ax.set_ylabel("pitch")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title if title is not None else midi_path.stem, fontsize=10)
    return _save(fig, png_path)


_VAL_DIRS = ("val", "eval", "validation")


def read_live_metric(live_dir: Path | str, split: str, name: str = "loss") -> np.ndarray | None:
    """One DVCLive metric as ``(steps,)`` float64, or None when the TSV is absent.

    Looks in ``live_dir/plots/metrics/<split>/<name>.tsv`` (DVCLive's layout,
    columns ``step`` and ``<name>``), or ``live_dir/<split>/<name>.tsv`` when
    ``live_dir`` is already the ``plots/metrics`` folder. Rows are sorted by
    step; a step logged twice (a resumed run) keeps its last value.
    """
    import pandas as pd

    live_dir = Path(live_dir)
    for base in (live_dir / "plots" / "metrics", live_dir):
        tsv = base / split / f"{name}.tsv"
        if tsv.is_file():
            table = pd.read_csv(tsv, sep="\t")
            if "step" not in table or name not in table:
                raise ValueError(
                    f"{tsv} must have columns 'step' and {name!r}, got {list(table.columns)}"
                )
            table = table.drop_duplicates("step", keep="last").sort_values("step")
            return table[name].to_numpy(dtype=np.float64)
    return None


@dataclass(frozen=True)
class LossSeries:
    """One line of a loss figure: a value per epoch.

    ``epochs`` are 1-based (None: 1, 2, ... ``len(values)``); ``mark_best``
    stars the lowest finite value (the epoch whose model is kept).
    """

    label: str
    values: Sequence[float]
    color: str
    linestyle: str = "-"
    epochs: Sequence[int] | None = None
    mark_best: bool = False


def plot_loss_series(
    series: Sequence[LossSeries], png_path: Path | str, *, title: str, metric: str = "loss"
) -> Path:
    """Loss (or ``metric``) per epoch, one line per :class:`LossSeries`: the one function
    that draws loss curves (the report's per-corpus figure, ``tunesmith compare``'s
    two revisions). 6 x 3.5 inches at 100 dpi (600 x 350 px).

    Raises:
        ValueError: no series to draw.
    """
    if not series:
        raise ValueError(f"{title}: no loss series to draw")
    fig = _figure(6, 3.5)
    ax = fig.add_subplot()
    all_epochs = []
    for line in series:
        values = np.asarray(line.values, dtype=np.float64)
        epochs = np.arange(1, len(values) + 1) if line.epochs is None else np.asarray(line.epochs)
        all_epochs.append(epochs)
        if not len(values):
            continue
        ax.plot(epochs, values, marker="o", markersize=3, label=line.label, color=line.color,
                linestyle=line.linestyle)
        if line.mark_best and np.isfinite(values).any():
            best = int(np.nanargmin(values))
            ax.plot(
                [epochs[best]],
                [values[best]],
                marker="*",
                markersize=12,
                color=line.color,
                linestyle="none",
                label=f"best: epoch {epochs[best]} ({values[best]:.3f})",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric} (nats/token)" if metric == "loss" else metric)
    ticks = np.unique(np.concatenate(all_epochs))
    if len(ticks) <= 20:
        ax.set_xticks(ticks)
    ax.grid(color="#e5e5e5", linewidth=0.6)
    ax.legend(frameon=False, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=10)
    return _save(fig, png_path)


def plot_loss_curves(
    live_dir: Path | str, png_path: Path | str, *, title: str | None = None, metric: str = "loss"
) -> Path:
    """Training and validation loss per epoch from a DVCLive folder (Vinze et al. and Reitman & Cho).

    Reads ``train/<metric>.tsv`` and the first of ``val``/``eval``/``validation``
    (see :func:`read_live_metric`); marks the epoch with the lowest validation
    loss (the saved model). Drawn by :func:`plot_loss_series`.

    Raises:
        FileNotFoundError: no training TSV under ``live_dir``.
    """
    train = read_live_metric(live_dir, "train", metric)
    if train is None:
        raise FileNotFoundError(f"no train/{metric}.tsv under {live_dir} (a DVCLive folder)")
    val = next(
        (v for d in _VAL_DIRS if (v := read_live_metric(live_dir, d, metric)) is not None), None
    )
    series = [LossSeries("train", train, "#3b6ea8")]
    if val is not None:
        series.append(LossSeries("validation", val, "#c8553d", mark_best=True))
    return plot_loss_series(series, png_path, title=title if title is not None else f"{metric} per epoch",
                            metric=metric)


def plot_histograms(
    generated: Sequence[float],
    real: Sequence[float],
    labels: Sequence[str],
    png_path: Path | str,
    title: str,
    *,
    normalize: bool = True,
    ylabel: str | None = None,
) -> Path:
    """Side-by-side bars of a statistic of generated vs real music (Lorinczi & Brailovsky, figures 4-6).

    Args:
        generated: one value per bin (counts or shares), finite, >= 0 when ``normalize``.
        real: same length as ``generated``.
        labels: one label per bin (e.g. :data:`PITCH_CLASSES`).
        png_path: the PNG to write. Height 3.5 inches; width 6 inches, growing
            with the bin count up to 14 inches, at 100 dpi.
        title: the figure title.
        normalize: divide each series by its sum, so corpora of different sizes
            compare (a series summing to 0 is left as is).
        ylabel: the y label; None for "share" or "value".

    Raises:
        ValueError: the lengths differ or a value is not finite.
    """
    gen = np.asarray(generated, dtype=np.float64)
    ref = np.asarray(real, dtype=np.float64)
    if gen.ndim != 1 or gen.shape != ref.shape or len(labels) != len(gen):
        raise ValueError(
            f"{title}: generated ({gen.shape}), real ({ref.shape}) and labels "
            f"({len(labels)}) must be 1-D of one length"
        )
    if not (np.isfinite(gen).all() and np.isfinite(ref).all()):
        raise ValueError(f"{title}: histogram values must be finite")
    if normalize:
        gen = gen / gen.sum() if gen.sum() > 0 else gen
        ref = ref / ref.sum() if ref.sum() > 0 else ref
    n = len(gen)
    fig = _figure(min(14.0, max(6.0, 0.3 * n)), 3.5)
    ax = fig.add_subplot()
    x = np.arange(n)
    ax.bar(x - 0.2, gen, width=0.4, label="generated", color="#3b6ea8")
    ax.bar(x + 0.2, ref, width=0.4, label="real", color="#bbbbbb")
    step = max(1, math.ceil(n / 40))  # at most ~40 readable tick labels
    ax.set_xticks(
        x[::step],
        [str(label) for label in labels][::step],
        rotation=90 if n > 16 else 0,
        fontsize=8,
    )
    ax.set_ylabel(ylabel or ("share" if normalize else "value"))
    ax.legend(frameon=False, fontsize=8)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=10)
    return _save(fig, png_path)

