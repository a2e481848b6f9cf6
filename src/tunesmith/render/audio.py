"""MIDI -> WAV (and MP3 when an encoder exists) with FluidSynth and a General MIDI soundfont;
without them, pretty_midi's sine-wave synthesizer, reported as such."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.io import atomic_path

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

_FADE_S = 0.02  # fade-out at the cut, so a trimmed note ends without a click
_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: Any) -> None:
    # A fallback applies to every sample of a run: say it once, not twenty times.
    if key in _warned:
        log.debug(message, *args)
    else:
        _warned.add(key)
        log.warning(message, *args)



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


MP3_KBPS = 48
"""The MP3s are mono at 48 kbit/s (360 kB a minute): one melody line or a piano preview needs no
stereo image, and the report of the default run (48 samples, up to a minute each) stays small."""


def _mp3_command(wav: Path, mp3: Path) -> list[str] | None:
    if exe := shutil.which("lame"):
        return [exe, "--quiet", "-a", "-m", "m", "-b", str(MP3_KBPS), str(wav), str(mp3)]
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
            "-ac",
            "1",
            "-b:a",
            f"{MP3_KBPS}k",
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


def _check_render_args(sample_rate: int, max_seconds: float, tail_seconds: float, peak_dbfs: float) -> None:
    """Raise ValueError for a :func:`render_audio` argument out of range."""
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be >= 8000, got {sample_rate!r}")
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds!r}")
    if not tail_seconds >= 0:
        raise ValueError(f"tail_seconds must be >= 0, got {tail_seconds!r}")
    if not peak_dbfs <= 0:
        raise ValueError(f"peak_dbfs must be <= 0, got {peak_dbfs!r}")


def _fluidsynth_audio(
    pm, exe: str, font: Path, wav_path: Path, sample_rate: int, max_seconds: float
) -> tuple[np.ndarray | None, str]:
    """FluidSynth's audio of ``pm`` and an empty note, or None and the note saying why it failed."""
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
            return None, f"FluidSynth failed ({exc}): sine-wave preview by pretty_midi"
    return audio, ""


def _synthesize(
    pm, exe: str | None, font: Path | None, midi_path: Path, wav_path: Path, sample_rate: int, max_seconds: float
) -> tuple[np.ndarray, str, str]:
    """The audio of ``pm``, its engine and the fallback note (empty when FluidSynth rendered it)."""
    note = ""
    audio = None
    if exe is None:
        note = "FluidSynth not found: sine-wave preview by pretty_midi"
    elif font is None or not font.is_file():
        where = f"{font} does not exist" if font is not None else "no General MIDI soundfont found"
        note = f"{where}: sine-wave preview by pretty_midi"
    else:
        audio, note = _fluidsynth_audio(pm, exe, font, wav_path, sample_rate, max_seconds)
    if audio is None:
        _warn_once(note.split(":")[0], "%s (%s)", note, midi_path)
        mono = pm.synthesize(fs=sample_rate) if pm.instruments else np.zeros(0)
        return np.asarray(mono, dtype=np.float32)[:, None], "pretty_midi", note
    return audio, "fluidsynth", note


def _pad_and_finish(audio: np.ndarray, sample_rate: int, seconds: float, peak_dbfs: float) -> np.ndarray:
    """Pad ``audio`` with silence up to ``seconds``, then :func:`_finish` it."""
    pad = round(seconds * sample_rate) - len(audio)
    if pad > 0:  # sine synthesis stops at the last note: add the tail as silence
        audio = np.concatenate([audio, np.zeros((pad, audio.shape[1]), np.float32)])
    return _finish(audio, sample_rate, seconds, peak_dbfs)


def _mp3_beside(wav_path: Path, mp3: bool) -> str | None:
    """Encode the MP3 beside ``wav_path`` when asked; its path, or None (a stale MP3 removed)."""
    mp3_path = wav_path.with_suffix(".mp3")
    wrote_mp3 = mp3 and encode_mp3(wav_path, mp3_path)
    if not wrote_mp3 and mp3_path.exists():
        # an MP3 from an earlier render would no longer match this WAV
        mp3_path.unlink()
    return str(mp3_path) if wrote_mp3 else None


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
    _check_render_args(sample_rate, max_seconds, tail_seconds, peak_dbfs)

    pm = _load_midi(midi_path)
    end = float(pm.get_end_time())
    if end > max_seconds:
        log.info("%s lasts %.1f s: rendering the first %.1f s", midi_path, end, max_seconds)
        pm = _truncated(pm, max_seconds)
    seconds = min(end + tail_seconds, max_seconds)
    wav_path.parent.mkdir(parents=True, exist_ok=True)

    exe = shutil.which("fluidsynth")
    font = Path(soundfont) if soundfont is not None else find_soundfont()
    audio, engine, note = _synthesize(pm, exe, font, midi_path, wav_path, sample_rate, max_seconds)
    audio = _pad_and_finish(audio, sample_rate, seconds, peak_dbfs)
    _write_wav(wav_path, audio, sample_rate)

    info = {
        "engine": engine,
        "note": note,
        "wav": str(wav_path),
        "mp3": _mp3_beside(wav_path, mp3),
        "seconds": len(audio) / sample_rate,
        "music_seconds": float(end),  # the whole sample; "seconds" is what was rendered (max_seconds at most)
        "sample_rate": sample_rate,
        "channels": int(audio.shape[1]),
        "soundfont": str(font) if engine == "fluidsynth" else None,
    }
    log.debug("rendered %s -> %s with %s (%.1f s)", midi_path, wav_path, engine, info["seconds"])
    return info


