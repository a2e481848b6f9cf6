"""Make generated music audible and visible: audio, engraved scores and plots.

* :func:`render_audio` -- MIDI -> WAV (and MP3 when an encoder exists) with
  FluidSynth and a General MIDI soundfont; without them, pretty_midi's sine-wave
  synthesizer, reported as such.
* :func:`render_score_svg` -- MusicXML or ABC -> an engraved score (verovio).
* :func:`plot_piano_roll`, :func:`plot_loss_curves`, :func:`plot_histograms`,
  :func:`plot_activation_heatmap` -- PNG figures (seeds 000/003 loss curves,
  Lorinczi & Brailovsky note distributions, Reitman & Cho figure 11 hidden-unit heatmap).
* :func:`hidden_activations` -- the per-step output of a named recurrent layer.
* :func:`render_samples` -- all of the above for a folder written by the
  generate stage, returning the sample records :func:`tunesmith.report.build_report` takes.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas, never through ``pyplot``: no global backend switch, no figure manager
holding memory, nothing to close. Sizes and dpi are fixed per function, so a
figure's pixel size depends only on its arguments.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.io import atomic_path, write_text

log = logging.getLogger(__name__)

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian/Ubuntu: fluid-soundfont-gm
    "/usr/share/sounds/sf2/default-GM.sf2",  # Debian alternatives link
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",  # musescore-general-soundfont
    "/usr/share/sounds/sf2/TimGM6mb.sf2",  # timgm6mb-soundfont
    "/usr/share/soundfonts/FluidR3_GM.sf2",  # Fedora, Arch
    "/usr/share/soundfonts/default.sf2",
)
"""Where :func:`find_soundfont` looks for a General MIDI soundfont, in order."""

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

_DPI = 100
_FADE_S = 0.02  # fade-out at the cut, so a trimmed note ends without a click
_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: Any) -> None:
    # A fallback applies to every sample of a run: say it once, not twenty times.
    if key in _warned:
        log.debug(message, *args)
    else:
        _warned.add(key)
        log.warning(message, *args)


# --------------------------------------------------------------------------- audio


def find_soundfont() -> Path | None:
    """The first existing file of :data:`SOUNDFONT_CANDIDATES`, or None."""
    for candidate in SOUNDFONT_CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            return path
    return None


def _load_midi(midi_path: Path):
    import pretty_midi

    try:
        return pretty_midi.PrettyMIDI(str(midi_path))
    except Exception as exc:  # pretty_midi/mido raise many types for a broken file
        raise ValueError(f"cannot read MIDI file {midi_path}: {exc}") from exc


def _truncated(pm, seconds: float):
    """A copy of ``pm`` without notes starting after ``seconds``; later note ends clipped."""
    import copy

    pm = copy.deepcopy(pm)
    for inst in pm.instruments:
        inst.notes = [n for n in inst.notes if n.start < seconds]
        for n in inst.notes:
            n.end = min(n.end, seconds)
        inst.control_changes = [c for c in inst.control_changes if c.time < seconds]
        inst.pitch_bends = [b for b in inst.pitch_bends if b.time < seconds]
    return pm


def _run_fluidsynth(
    exe: str, soundfont: Path, midi_path: Path, wav_path: Path, sample_rate: int, timeout: float
) -> None:
    cmd = [
        exe,
        "-ni",
        "-q",
        "-T",
        "wav",
        "-O",
        "s16",
        "-r",
        str(sample_rate),
        "-F",
        str(wav_path),
        str(soundfont),
        str(midi_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not wav_path.is_file() or wav_path.stat().st_size <= 44:
        detail = (proc.stderr or proc.stdout).strip()[-300:]
        raise RuntimeError(f"fluidsynth exited with {proc.returncode}: {detail}")


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV -> float32 ``(frames, channels)`` in [-1, 1] and its sample rate."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise RuntimeError(f"{path}: expected 16-bit PCM, got {8 * w.getsampwidth()}-bit")
        raw = w.readframes(w.getnframes())
        frames = np.frombuffer(raw, dtype="<i2").reshape(-1, w.getnchannels())
        return frames.astype(np.float32) / 32768.0, w.getframerate()


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """float ``(frames, channels)`` in [-1, 1] -> 16-bit PCM WAV, atomically."""
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def _finish(audio: np.ndarray, sample_rate: int, seconds: float, peak_dbfs: float) -> np.ndarray:
    """Trim to ``seconds``, fade the last few ms, scale the peak to ``peak_dbfs``."""
    audio = audio[: max(1, round(seconds * sample_rate))].copy()
    fade = min(len(audio), round(_FADE_S * sample_rate))
    if fade > 1:
        audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1e-6:  # a silent render stays silent instead of amplifying dither
        audio *= (10.0 ** (peak_dbfs / 20.0)) / peak
    return audio


def _mp3_command(wav: Path, mp3: Path) -> list[str] | None:
    if exe := shutil.which("lame"):
        return [exe, "--quiet", "-V", "2", str(wav), str(mp3)]
    if exe := shutil.which("ffmpeg"):
        return [
            exe,
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(wav),
            "-codec:a",
            "libmp3lame",
            "-qscale:a",
            "2",
            "-f",
            "mp3",
            str(mp3),
        ]
    return None


def encode_mp3(wav_path: Path | str, mp3_path: Path | str) -> bool:
    """Encode a WAV as MP3 with ``lame`` or ``ffmpeg``; False (log line) when neither works."""
    wav_path, mp3_path = Path(wav_path), Path(mp3_path)
    with tempfile.TemporaryDirectory(dir=mp3_path.parent, prefix=".mp3-") as tmp:
        out = Path(tmp) / "out.mp3"
        cmd = _mp3_command(wav_path, out)
        if cmd is None:
            _warn_once("mp3", "no MP3 encoder (lame or ffmpeg) found: writing WAV only")
            return False
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0 or not out.is_file():
            log.warning("MP3 encoding of %s failed: %s", wav_path, proc.stderr.strip()[-300:])
            return False
        out.replace(mp3_path)
    return True


def render_audio(
    midi_path: Path | str,
    wav_path: Path | str,
    *,
    soundfont: Path | str | None = None,
    sample_rate: int = 44100,
    max_seconds: float = 180.0,
    tail_seconds: float = 1.5,
    peak_dbfs: float = -1.0,
    mp3: bool = True,
) -> dict[str, Any]:
    """Render a MIDI file to a 16-bit PCM WAV, plus an MP3 beside it when possible.

    FluidSynth (the ``fluidsynth`` command) with a General MIDI soundfont
    (``soundfont``, else :func:`find_soundfont`) gives stereo audio with real
    instrument sounds. When the command or a soundfont is missing, or FluidSynth
    fails, pretty_midi's ``synthesize()`` (one sine wave per note, mono; drums
    are silent) is used instead, with a warning and a ``note`` saying so.

    The audio lasts the MIDI's length plus ``tail_seconds`` (so the last notes
    ring out), at most ``max_seconds`` (notes after the cap are dropped before
    rendering), and its peak is scaled to ``peak_dbfs`` dBFS so samples play at
    the same level. The MP3 (``wav_path`` with suffix ``.mp3``) needs ``lame``
    or ``ffmpeg``; without one it is skipped with a log line.

    Args:
        midi_path: the MIDI file to play.
        wav_path: the WAV to write (atomically); its folder is created.
        soundfont: a ``.sf2``/``.sf3`` file, or None to search the usual places.
        sample_rate: Hz, >= 8000.
        max_seconds: cap on the audio length, > 0.
        tail_seconds: silence-or-release after the last note ends, >= 0.
        peak_dbfs: the peak level after normalisation, <= 0.
        mp3: also try to write the MP3.

    Returns:
        ``{"engine": "fluidsynth" | "pretty_midi", "note": str, "wav": str,
        "mp3": str | None, "seconds": float, "sample_rate": int,
        "channels": int, "soundfont": str | None}``; ``note`` is empty when
        FluidSynth rendered the audio and explains the fallback otherwise.

    Raises:
        ValueError: the MIDI file cannot be read, or an argument is out of range.
    """
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be >= 8000, got {sample_rate!r}")
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds!r}")
    if not tail_seconds >= 0:
        raise ValueError(f"tail_seconds must be >= 0, got {tail_seconds!r}")
    if not peak_dbfs <= 0:
        raise ValueError(f"peak_dbfs must be <= 0, got {peak_dbfs!r}")

    pm = _load_midi(midi_path)
    end = float(pm.get_end_time())
    if end > max_seconds:
        log.info("%s lasts %.1f s: rendering the first %.1f s", midi_path, end, max_seconds)
        pm = _truncated(pm, max_seconds)
    seconds = min(end + tail_seconds, max_seconds)
    wav_path.parent.mkdir(parents=True, exist_ok=True)

    exe = shutil.which("fluidsynth")
    font = Path(soundfont) if soundfont is not None else find_soundfont()
    note = ""
    audio = None
    engine = "fluidsynth"
    if exe is None:
        note = "FluidSynth not found: sine-wave preview by pretty_midi"
    elif font is None or not font.is_file():
        where = f"{font} does not exist" if font is not None else "no General MIDI soundfont found"
        note = f"{where}: sine-wave preview by pretty_midi"
    else:
        with tempfile.TemporaryDirectory(dir=wav_path.parent, prefix=".render-") as tmp:
            src = Path(tmp) / "in.mid"
            pm.write(str(src))  # the (possibly truncated) copy, so the cap saves render time
            raw = Path(tmp) / "raw.wav"
            try:
                _run_fluidsynth(exe, font, src, raw, sample_rate, timeout=60 + 2 * max_seconds)
                audio, rate = _read_wav(raw)
                if rate != sample_rate:
                    raise RuntimeError(f"fluidsynth wrote {rate} Hz, asked for {sample_rate}")
            except (RuntimeError, subprocess.TimeoutExpired, wave.Error, OSError) as exc:
                note = f"FluidSynth failed ({exc}): sine-wave preview by pretty_midi"
                audio = None
    if audio is None:
        engine = "pretty_midi"
        _warn_once(note.split(":")[0], "%s (%s)", note, midi_path)
        mono = pm.synthesize(fs=sample_rate) if pm.instruments else np.zeros(0)
        audio = np.asarray(mono, dtype=np.float32)[:, None]
    pad = round(seconds * sample_rate) - len(audio)
    if pad > 0:  # sine synthesis stops at the last note: add the tail as silence
        audio = np.concatenate([audio, np.zeros((pad, audio.shape[1]), np.float32)])
    audio = _finish(audio, sample_rate, seconds, peak_dbfs)
    _write_wav(wav_path, audio, sample_rate)

    mp3_path = wav_path.with_suffix(".mp3")
    wrote_mp3 = mp3 and encode_mp3(wav_path, mp3_path)
    if not wrote_mp3 and mp3_path.exists():
        # an MP3 from an earlier render would no longer match this WAV
        mp3_path.unlink()
    info = {
        "engine": engine,
        "note": note,
        "wav": str(wav_path),
        "mp3": str(mp3_path) if wrote_mp3 else None,
        "seconds": len(audio) / sample_rate,
        "sample_rate": sample_rate,
        "channels": int(audio.shape[1]),
        "soundfont": str(font) if engine == "fluidsynth" else None,
    }
    log.debug("rendered %s -> %s with %s (%.1f s)", midi_path, wav_path, engine, info["seconds"])
    return info


# --------------------------------------------------------------------------- score


_VEROVIO_INPUT = {
    ".abc": "abc",
    ".musicxml": "musicxml",
    ".xml": "musicxml",
    ".mei": "mei",
    ".krn": "humdrum",
}

# Run in a child process: verovio's ABC importer segfaults on some malformed
# input (seen with 6.4.1), and a generated sample may be exactly that; a crash
# there must cost one score, not the whole stage. Self-contained (only
# verovio) so it needs nothing from this package's import path.
_ENGRAVE_SCRIPT = """
import json, sys
import verovio
args = json.loads(sys.argv[1])
verovio.enableLog(verovio.LOG_ERROR)
tk = verovio.toolkit()
tk.resetXmlIdSeed(0)
tk.setOptions(args["options"])
tk.setInputFrom(args["input"])
if not tk.loadFile(args["path"]) or tk.getPageCount() < 1:
    sys.exit(3)
sys.stderr.write("pages: %d\\n" % tk.getPageCount())
sys.stdout.write(tk.renderToSVG(1))
"""


def render_score_svg(
    path: Path | str,
    svg_path: Path | str,
    *,
    page_width: int = 2100,
    scale: int = 40,
    timeout: float = 120.0,
) -> bool:
    """Engrave a monophonic score (MusicXML, ABC, MEI or kern) as one SVG with verovio.

    Layout: systems broken to ``page_width`` (verovio units; at ``scale`` 40
    the SVG is ``page_width * scale / 100`` = 840 px wide) on one page as tall
    as the music needs (verovio's maximum page height), so a whole generated
    tune is a single image. Music longer than that page keeps its first page
    only, with a log line. The SVG has a ``viewBox`` as well as a pixel
    width/height, so an ``<img>`` scales it cleanly; ids are seeded for
    repeatable output. Verovio runs in a child process (it can crash on
    malformed ABC), about 0.1 s of overhead per score.

    Args:
        path: the score; its suffix picks the reader (``.abc``, ``.musicxml``/``.xml``,
            ``.mei``, ``.krn``; anything else: verovio guesses).
        svg_path: the SVG to write (atomically).
        page_width: verovio page width, >= 500.
        scale: percent, 10-100.
        timeout: seconds before the engraving is abandoned.

    Returns:
        True when the SVG was written; False (with a warning naming the file)
        when verovio cannot read, lay out or survive the score -- a bad
        generated sample must not stop a report.
    """
    path, svg_path = Path(path), Path(svg_path)
    args = {
        "path": str(path),
        "input": _VEROVIO_INPUT.get(path.suffix.lower(), "auto"),
        "options": {
            "pageWidth": max(500, int(page_width)),
            "pageHeight": 60000,  # verovio's maximum: one page for a whole tune
            "adjustPageHeight": True,
            "scale": min(100, max(10, int(scale))),
            "breaks": "auto",
            "footer": "none",
            "svgViewBox": True,
            "xmlIdSeed": 1,  # ids from a fixed seed: same score, same SVG (0 would mean random)
        },
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _ENGRAVE_SCRIPT, json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("verovio took over %.0f s on %s: no score", timeout, path)
        return False
    if proc.returncode != 0:
        why = "could not read" if proc.returncode == 3 else f"crashed (exit {proc.returncode}) on"
        detail = proc.stderr.strip().splitlines()[-1:] or [""]
        log.warning("verovio %s the score %s %s", why, path, detail[0][:200])
        return False
    svg = proc.stdout
    pages = re.search(r"pages: (\d+)", proc.stderr)
    if pages and int(pages.group(1)) > 1:
        log.info("score %s spans %s pages: keeping the first", path, pages.group(1))
    match = re.search(r'<svg viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    if match is None or float(match.group(1)) <= 0 or float(match.group(2)) <= 0:
        log.warning("verovio produced an empty score for %s", path)
        return False
    width, height = match.groups()
    svg = svg.replace(match.group(0), f'{match.group(0)} width="{width}px" height="{height}px"', 1)
    write_text(svg_path, svg)
    return True


# --------------------------------------------------------------------------- figures


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


def plot_piano_roll(
    midi_path: Path | str,
    png_path: Path | str,
    *,
    unit: str = "beats",
    max_seconds: float | None = None,
    title: str | None = None,
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

    Returns:
        ``png_path``.
    """
    from matplotlib.patches import Rectangle

    if unit not in ("beats", "seconds"):
        raise ValueError(f"unit must be 'beats' or 'seconds', got {unit!r}")
    midi_path = Path(midi_path)
    pm = _load_midi(midi_path)
    if unit == "beats":

        def to_x(t: float) -> float:
            return pm.time_to_tick(t) / pm.resolution
    else:

        def to_x(t: float) -> float:
            return t

    fig = _figure(8, 3)
    ax = fig.add_subplot()
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


def plot_loss_curves(
    live_dir: Path | str, png_path: Path | str, *, title: str | None = None, metric: str = "loss"
) -> Path:
    """Training and validation loss per epoch from a DVCLive folder (Vinze et al. and Reitman & Cho).

    Reads ``train/<metric>.tsv`` and the first of ``val``/``eval``/``validation``
    (see :func:`read_live_metric`); marks the epoch with the lowest validation
    loss (the saved model). 6 x 3.5 inches at 100 dpi (600 x 350 px).

    Raises:
        FileNotFoundError: no training TSV under ``live_dir``.
    """
    train = read_live_metric(live_dir, "train", metric)
    if train is None:
        raise FileNotFoundError(f"no train/{metric}.tsv under {live_dir} (a DVCLive folder)")
    val = next(
        (v for d in _VAL_DIRS if (v := read_live_metric(live_dir, d, metric)) is not None), None
    )
    fig = _figure(6, 3.5)
    ax = fig.add_subplot()
    epochs = np.arange(1, len(train) + 1)
    ax.plot(epochs, train, marker="o", markersize=3, label="train", color="#3b6ea8")
    if val is not None and len(val):
        v_epochs = np.arange(1, len(val) + 1)
        ax.plot(v_epochs, val, marker="o", markersize=3, label="validation", color="#c8553d")
        if np.isfinite(val).any():
            best = int(np.nanargmin(val))
            ax.plot(
                [best + 1],
                [val[best]],
                marker="*",
                markersize=12,
                color="#c8553d",
                linestyle="none",
                label=f"best: epoch {best + 1} ({val[best]:.3f})",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric} (nats/token)" if metric == "loss" else metric)
    if len(epochs) <= 20:
        ax.set_xticks(epochs)
    ax.grid(color="#e5e5e5", linewidth=0.6)
    ax.legend(frameon=False, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title if title is not None else f"{metric} per epoch", fontsize=10)
    return _save(fig, png_path)


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


def _show_symbol(symbol: str) -> str:
    return {"\n": "⏎", " ": "␣", "\t": "⇥"}.get(symbol, symbol)


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
    shown = [_show_symbol(s) for s in symbols]
    if layout == "rows":
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
        ax.set_xticks(range(steps), shown[:steps], fontsize=7, family="monospace")
        ax.set_yticks(range(len(units)), [str(u) for u in units], fontsize=7)
        ax.set_ylabel("unit")
        ax.tick_params(length=0)
        default = f"hidden-unit activations, first {steps} steps"
    else:
        unit = units[0]
        limit = min(len(shown), max_steps * 8)
        cells: list[tuple[int, int, str, float]] = []
        row = col = 0
        for t in range(limit):
            if col >= columns:
                row, col = row + 1, 0
            cells.append((row, col, shown[t], acts[t, unit]))
            col += 1
            if symbols[t] == "\n":
                row, col = row + 1, 0
        rows = max(1, row + (1 if col else 0))
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
        default = f"activation of hidden unit {unit}, read left to right, top to bottom"
    fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    ax.set_title(title if title is not None else default, fontsize=10)
    return _save(fig, png_path)


def hidden_activations(model, ids: Sequence[int] | np.ndarray, layer_name: str) -> np.ndarray:
    """The output of the layer ``layer_name`` at every step of one sequence.

    Builds a sub-model from the model's input to that layer (names as in
    :mod:`tunesmith.models`: ``lstm_0``, ``simple_rnn_1``, ``bilstm_0`` ...) and
    runs it once in inference mode (dropout off).

    Args:
        model: a model from :func:`tunesmith.models.build_model` (any input length,
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


# --------------------------------------------------------------------------- a sample set


def render_samples(
    samples_dir: Path | str,
    out_dir: Path | str,
    *,
    soundfont: Path | str | None = None,
    max_seconds: float = 180.0,
    scores: bool = True,
) -> list[dict[str, Any]]:
    """Render every sample of a generate-stage folder; return records for the report.

    For each ``sample_NNN.mid`` in ``samples_dir`` (rows of ``samples.csv``
    when present, else the MIDI files in name order) writes into ``out_dir``:
    ``sample_NNN.wav`` (+ ``.mp3``), ``sample_NNN.png`` (piano roll) and, when
    ``scores`` and a ``.musicxml`` or ``.abc`` exists, ``sample_NNN.svg``.
    A sample whose MIDI is missing or unreadable keeps its record with an
    ``error`` and no rendered files.

    Returns:
        One dict per sample, the ``samples`` entries of
        :func:`tunesmith.report.build_report`: ``name``, paths (str or None)
        ``midi``, ``wav``, ``mp3``, ``svg``, ``png``, ``abc``, ``musicxml``,
        ``txt``, ``audio`` (the :func:`render_audio` dict or None), ``error``
        and ``info`` (the samples.csv row: seed, sampler, temperature ...).
    """
    import pandas as pd

    samples_dir, out_dir = Path(samples_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = samples_dir / "samples.csv"
    rows: list[Mapping[str, Any]]
    if table.is_file():
        frame = pd.read_csv(table, keep_default_na=False)
        rows = frame.to_dict("records")
    else:
        rows = [{"sample": p.stem} for p in sorted(samples_dir.glob("*.mid"))]
    from tqdm import tqdm

    records = []
    for row in tqdm(rows, desc=f"render {samples_dir.name}", unit="sample", leave=False):
        name = str(row.get("sample") or row.get("name"))
        stem = Path(name).stem
        found = {ext: samples_dir / f"{stem}.{ext}" for ext in ("mid", "abc", "musicxml", "txt")}
        found = {k: (str(p) if p.is_file() else None) for k, p in found.items()}
        record: dict[str, Any] = {
            "name": stem,
            "midi": found["mid"],
            "abc": found["abc"],
            "musicxml": found["musicxml"],
            "txt": found["txt"],
            "wav": None,
            "mp3": None,
            "svg": None,
            "png": None,
            "audio": None,
            "error": str(row.get("error") or "") or None,
            "info": {k: v for k, v in row.items() if k not in ("sample", "files", "error")},
        }
        if found["mid"] is not None:
            try:
                audio = render_audio(
                    found["mid"],
                    out_dir / f"{stem}.wav",
                    soundfont=soundfont,
                    max_seconds=max_seconds,
                )
                record.update(audio=audio, wav=audio["wav"], mp3=audio["mp3"])
                record["png"] = str(plot_piano_roll(found["mid"], out_dir / f"{stem}.png"))
            except ValueError as exc:
                log.warning("sample %s not rendered: %s", stem, exc)
                record["error"] = record["error"] or str(exc)
        score = found["musicxml"] or found["abc"]
        if scores and score is not None and render_score_svg(score, out_dir / f"{stem}.svg"):
            record["svg"] = str(out_dir / f"{stem}.svg")
        records.append(record)
    return records
