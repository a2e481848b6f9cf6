"""Rendering: audio (FluidSynth and the sine fallback), engraved scores, the figures."""

from __future__ import annotations

import logging
import shutil
import sys
import wave
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from matplotlib.image import imread

from tunesmith.render import audio
from tunesmith.render.activations import hidden_activations, plot_activation_heatmap
from tunesmith.render.audio import find_soundfont, render_audio
from tunesmith.render.plots import PITCH_CLASSES, plot_histograms, plot_loss_curves, plot_piano_roll, read_live_metric
from tunesmith.render.sample_set import render_samples
from tunesmith.render.scores import render_score_svg

NOTES = [60, 62, 64, 65, 67, 69, 71, 72]  # a C major scale, 0.25 s a note
NOTE_S = 0.25
RATE = 44100


def write_scale(path: Path, *, program: int = 0) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=program)
    for i, pitch in enumerate(NOTES):
        inst.notes.append(
            pretty_midi.Note(velocity=90, pitch=pitch, start=i * NOTE_S, end=(i + 1) * NOTE_S)
        )
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, "16-bit PCM"
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return frames.reshape(-1, w.getnchannels()), w.getframerate(), w.getnchannels()


@pytest.fixture
def scale_midi(tmp_path: Path) -> Path:
    return write_scale(tmp_path / "scale.mid")


@pytest.fixture
def no_fluidsynth(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(
        audio.shutil,
        "which",
        lambda name, *a, **k: None if name == "fluidsynth" else real_which(name),
    )
    monkeypatch.setattr(audio, "_warned", set())


def assert_valid_audio(info: dict, wav: Path, *, seconds: float) -> np.ndarray:
    frames, rate, channels = read_wav(wav)
    assert rate == RATE == info["sample_rate"]
    assert channels == info["channels"]
    assert len(frames) / rate == pytest.approx(seconds, abs=0.01)
    assert info["seconds"] == pytest.approx(seconds, abs=0.01)
    peak = np.abs(frames.astype(np.int32)).max()
    # normalised to -1 dBFS (0.891 of full scale)
    assert 0.85 * 32767 < peak <= 0.90 * 32767
    return frames


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or find_soundfont() is None,
    reason="needs the fluidsynth command and a GM soundfont (apt: fluidsynth fluid-soundfont-gm)",
)
def test_render_audio_with_fluidsynth(scale_midi, tmp_path):
    wav = tmp_path / "out" / "scale.wav"
    info = render_audio(scale_midi, wav, tail_seconds=1.0, mp3=False)
    assert info["engine"] == "fluidsynth" and info["note"] == ""
    assert info["soundfont"] == str(find_soundfont())
    frames = assert_valid_audio(info, wav, seconds=len(NOTES) * NOTE_S + 1.0)
    assert info["channels"] == 2
    # sound while the notes play, near silence at the very end (fade-out)
    first = frames[: RATE // 2].astype(np.float64)
    assert np.sqrt((first**2).mean()) > 300
    assert np.abs(frames[-5:]).max() < 200


def test_fallback_without_fluidsynth(scale_midi, tmp_path, no_fluidsynth, caplog):
    wav = tmp_path / "scale.wav"
    with caplog.at_level(logging.WARNING, logger="tunesmith.render"):
        info = render_audio(scale_midi, wav, tail_seconds=0.5, mp3=False)
    assert info["engine"] == "pretty_midi"
    assert "FluidSynth not found" in info["note"]
    assert info["soundfont"] is None
    assert any("sine-wave" in r.getMessage() for r in caplog.records)
    frames = assert_valid_audio(info, wav, seconds=len(NOTES) * NOTE_S + 0.5)
    assert info["channels"] == 1
    # the tail is silence: sine synthesis ends with the last note
    assert np.abs(frames[-RATE // 4 :]).max() == 0


def test_fallback_when_soundfont_missing(scale_midi, tmp_path):
    missing = tmp_path / "nowhere.sf2"
    info = render_audio(scale_midi, tmp_path / "a.wav", soundfont=missing, mp3=False)
    assert info["engine"] == "pretty_midi"
    if shutil.which("fluidsynth"):
        assert str(missing) in info["note"]
    assert_valid_audio(info, tmp_path / "a.wav", seconds=len(NOTES) * NOTE_S + 1.5)


def test_duration_is_capped(scale_midi, tmp_path, no_fluidsynth):
    info = render_audio(scale_midi, tmp_path / "c.wav", max_seconds=1.0, mp3=False)
    frames, rate, _ = read_wav(tmp_path / "c.wav")
    assert len(frames) == rate == RATE
    assert info["seconds"] == 1.0


def test_mp3_beside_wav_only_with_an_encoder(scale_midi, tmp_path, no_fluidsynth, monkeypatch):
    copier = "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])"
    monkeypatch.setattr(
        audio, "_mp3_command", lambda wav, mp3: [sys.executable, "-c", copier, str(wav), str(mp3)]
    )
    wav = tmp_path / "m.wav"
    info = render_audio(scale_midi, wav)
    assert info["mp3"] == str(tmp_path / "m.mp3")
    assert (tmp_path / "m.mp3").read_bytes() == wav.read_bytes()

    # no encoder any more: the stale MP3 goes, the WAV is still written
    monkeypatch.setattr(audio, "_mp3_command", lambda wav, mp3: None)
    info = render_audio(scale_midi, wav)
    assert info["mp3"] is None
    assert not (tmp_path / "m.mp3").exists()
    assert wav.is_file()


def test_unreadable_midi_names_the_file(tmp_path):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd not really")
    with pytest.raises(ValueError, match=r"broken\.mid"):
        render_audio(bad, tmp_path / "x.wav")


def test_score_svg_from_musicxml(tmp_path):
    import music21

    melody = music21.stream.Stream(
        [music21.note.Note(p, quarterLength=1) for p in ("C4", "E4", "G4", "C5")]
    )
    xml = tmp_path / "tune.musicxml"
    melody.write("musicxml", fp=str(xml))
    svg_path = tmp_path / "tune.svg"
    assert render_score_svg(xml, svg_path) is True
    svg = svg_path.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg") and 'width="' in svg and "viewBox" in svg
    assert svg.count('class="note"') == 4


def test_score_svg_from_abc(tmp_path):
    abc = tmp_path / "jig.abc"
    abc.write_text("X:1\nT:Test jig\nM:6/8\nL:1/8\nK:G\nGAB c2d|e2f g3|]\n", encoding="utf-8")
    assert render_score_svg(abc, tmp_path / "jig.svg")
    svg = (tmp_path / "jig.svg").read_text(encoding="utf-8")
    assert svg.count('class="note"') == 8


@pytest.mark.parametrize(
    "content", [b"no music here at all", b"garbage %%%% \x00 "], ids=["text", "nul-bytes"]
)
def test_score_svg_bad_input_returns_false(tmp_path, caplog, content):
    # the NUL-byte case crashes verovio 6.4.1's ABC reader: the child process absorbs it
    bad = tmp_path / "bad.abc"
    bad.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="tunesmith.render"):
        ok = render_score_svg(bad, tmp_path / "bad.svg")
    if ok:  # verovio accepted the text as an (empty) tune: then it must be a real SVG
        assert "<svg" in (tmp_path / "bad.svg").read_text(encoding="utf-8")
    else:
        assert not (tmp_path / "bad.svg").exists()
        assert any("bad.abc" in r.getMessage() for r in caplog.records)


def png_shape(path: Path) -> tuple[int, int]:
    image = imread(path)
    return image.shape[1], image.shape[0]  # width, height


def test_piano_roll(scale_midi, tmp_path):
    png = plot_piano_roll(scale_midi, tmp_path / "roll.png")
    assert png_shape(png) == (800, 300)
    pixels = imread(png)[..., :3]
    note_blue = np.array([0x3B, 0x6E, 0xA8]) / 255
    assert (np.abs(pixels - note_blue).sum(axis=-1) < 0.02).sum() > 500  # the note rectangles

    empty = tmp_path / "empty.mid"
    pretty_midi.PrettyMIDI().write(str(empty))
    assert png_shape(plot_piano_roll(empty, tmp_path / "e.png", unit="seconds")) == (
        800,
        300,
    )
    with pytest.raises(ValueError, match="unit"):
        plot_piano_roll(scale_midi, tmp_path / "x.png", unit="bars")


def write_live(live: Path, split: str, rows: list[tuple[int, float]]) -> None:
    folder = live / "plots" / "metrics" / split
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["step\tloss", *(f"{s}\t{v}" for s, v in rows)]
    (folder / "loss.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_loss_curves_from_dvclive_tsvs(tmp_path):
    live = tmp_path / "live"
    # step 1 logged twice, as after a resumed run: the last value counts
    write_live(live, "train", [(0, 2.0), (1, 1.9), (1, 1.7), (2, 1.5)])
    write_live(live, "val", [(0, 2.1), (1, 1.8), (2, 1.85)])
    assert read_live_metric(live, "train").tolist() == [2.0, 1.7, 1.5]
    assert read_live_metric(live / "plots" / "metrics", "val").tolist() == [2.1, 1.8, 1.85]
    png = plot_loss_curves(live, tmp_path / "loss.png")
    assert png_shape(png) == (600, 350)

    with pytest.raises(FileNotFoundError, match=r"train/loss\.tsv"):
        plot_loss_curves(tmp_path / "nothing", tmp_path / "none.png")


def test_loss_curves_read_what_dvclive_writes(tmp_path):
    from dvclive import Live

    live = Live(dir=str(tmp_path / "live"), save_dvc_exp=False, dvcyaml=None)
    for epoch in range(3):
        live.log_metric("train/loss", 2.0 - 0.2 * epoch)
        live.log_metric("val/loss", 2.2 - 0.1 * epoch)
        live.next_step()
    live.end()
    np.testing.assert_allclose(read_live_metric(tmp_path / "live", "val"), [2.2, 2.1, 2.0])
    assert plot_loss_curves(tmp_path / "live", tmp_path / "l.png").is_file()


def test_histograms(tmp_path):
    png = plot_histograms(
        list(range(12)), [1] * 12, PITCH_CLASSES, tmp_path / "pc.png", "pitch classes"
    )
    assert png_shape(png) == (600, 350)
    wide = plot_histograms(
        [1] * 40, [2] * 40, [str(i) for i in range(40)], tmp_path / "w.png", "intervals"
    )
    assert png_shape(wide) == (1200, 350)
    with pytest.raises(ValueError, match="one length"):
        plot_histograms([1, 2], [1, 2, 3], ["a", "b"], tmp_path / "x.png", "bad")


def test_activation_heatmap(tmp_path):
    rng = np.random.default_rng(0)
    text = "X:1\nT:Tune\nK:G\n" + "GAB c2d|" * 10
    acts = np.tanh(rng.normal(size=(len(text), 20)))
    rows = plot_activation_heatmap(acts, list(text), tmp_path / "rows.png", max_units=5)
    assert png_shape(rows) == (1400, round(100 * (1.4 + 0.3 * 5)))
    grid = plot_activation_heatmap(
        acts, list(text), tmp_path / "text.png", units=[11], layout="text", columns=40
    )
    assert png_shape(grid)[0] == 1000
    with pytest.raises(ValueError, match="symbols"):
        plot_activation_heatmap(acts, list(text)[:-1], tmp_path / "x.png")
    with pytest.raises(ValueError, match="units"):
        plot_activation_heatmap(acts, list(text), tmp_path / "x.png", units=[20])


def test_hidden_activations(tmp_path):
    import keras

    from tunesmith.config.model import ModelConfig
    from tunesmith.modeling.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(
        ModelConfig(family="stacked_lstm", units=6, layers=2, embedding_dim=4, dropout=0.5),
        vocab_size=5,
    )
    ids = np.array([0, 1, 2, 3, 4, 1, 2])
    acts = hidden_activations(model, ids, "lstm_1")
    assert acts.shape == (7, 6) and acts.dtype == np.float32
    assert np.abs(acts).max() < 1 and np.abs(acts).max() > 0
    # causal and dropout off: a prefix gets exactly the prefix's activations
    np.testing.assert_allclose(
        hidden_activations(model, ids[:3], "lstm_1"), acts[:3], rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="lstm_0"):
        hidden_activations(model, ids, "lstm_9")

    bilstm = build_model(ModelConfig(family="bilstm", units=3, layers=1, embedding_dim=4), 5)
    with pytest.raises(ValueError, match="sequences"):
        hidden_activations(bilstm, ids, "bilstm_0")


def test_render_samples_folder(tmp_path, no_fluidsynth):
    samples = tmp_path / "samples"
    samples.mkdir()
    write_scale(samples / "sample_000.mid")
    (samples / "sample_000.abc").write_text(
        "X:1\nT:t\nM:4/4\nL:1/4\nK:C\nCDEF|]\n", encoding="utf-8"
    )
    (samples / "samples.csv").write_text(
        "sample,seed,sampler,temperature,error\nsample_000,7,temperature,0.7,\n"
        "sample_001,8,temperature,0.7,decode failed\n",
        encoding="utf-8",
    )
    records = render_samples(samples, tmp_path / "out")
    assert [r["name"] for r in records] == ["sample_000", "sample_001"]
    first, second = records
    for key in ("wav", "png", "svg"):
        assert Path(first[key]).is_file(), key
    assert first["info"]["temperature"] == 0.7 and first["error"] is None
    assert second["wav"] is None and second["error"] == "decode failed"


def test_render_samples_in_threads_gives_each_sample_its_own_files_in_order(tmp_path, no_fluidsynth, monkeypatch):
    from tunesmith.render import sample_set

    samples = tmp_path / "samples"
    samples.mkdir()
    for k in range(5):  # five scales a semitone apart: five different recordings and pictures
        pm = pretty_midi.PrettyMIDI(initial_tempo=120)
        inst = pretty_midi.Instrument(program=0)
        inst.notes += [pretty_midi.Note(velocity=90, pitch=pitch + k, start=i * NOTE_S, end=(i + 1) * NOTE_S)
                       for i, pitch in enumerate(NOTES)]
        pm.instruments.append(inst)
        pm.write(str(samples / f"sample_{k:03d}.mid"))
    monkeypatch.setattr(sample_set, "render_workers", lambda n: 4)
    threaded = render_samples(samples, tmp_path / "threaded", scores=False)
    monkeypatch.setattr(sample_set, "render_workers", lambda n: 1)
    serial = render_samples(samples, tmp_path / "serial", scores=False)
    assert [r["name"] for r in threaded] == [f"sample_{k:03d}" for k in range(5)]
    for a, b in zip(threaded, serial, strict=True):
        assert Path(a["wav"]).name == f"{a['name']}.wav"
        for key in ("wav", "png"):
            assert Path(a[key]).read_bytes() == Path(b[key]).read_bytes(), (a["name"], key)
    assert len({Path(r["wav"]).read_bytes() for r in threaded}) == 5
    assert len({Path(r["png"]).read_bytes() for r in threaded}) == 5


def test_render_samples_drops_the_wav_only_when_its_mp3_was_written(tmp_path, no_fluidsynth, monkeypatch):
    copier = "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])"
    monkeypatch.setattr(
        audio, "_mp3_command", lambda wav, mp3: [sys.executable, "-c", copier, str(wav), str(mp3)]
    )
    samples = tmp_path / "samples"
    samples.mkdir()
    write_scale(samples / "sample_000.mid")
    [kept] = render_samples(samples, tmp_path / "kept", scores=False)
    [dropped] = render_samples(samples, tmp_path / "dropped", scores=False, keep_wav=False)
    assert Path(kept["wav"]).is_file() and Path(kept["mp3"]).is_file()
    assert dropped["wav"] is None and dropped["audio"]["wav"] is None
    assert sorted(p.name for p in (tmp_path / "dropped").iterdir()) == ["sample_000.mp3", "sample_000.png"]
    assert Path(dropped["mp3"]).read_bytes() == Path(kept["wav"]).read_bytes()  # the copier "encoded" it

    # no encoder: the WAV is the only recording and stays
    monkeypatch.setattr(audio, "_mp3_command", lambda wav, mp3: None)
    [alone] = render_samples(samples, tmp_path / "alone", scores=False, keep_wav=False)
    assert alone["mp3"] is None and Path(alone["wav"]).is_file()


@pytest.mark.skipif(shutil.which("lame") is None, reason="needs lame (make system-deps)")
def test_mp3s_are_mono_at_48_kbps_and_a_cut_sample_says_so(scale_midi, tmp_path):
    info = render_audio(scale_midi, tmp_path / "s.wav", max_seconds=1.0)
    data = Path(info["mp3"]).read_bytes()
    frame = next(i for i in range(len(data) - 4) if data[i] == 0xFF and (data[i + 1] & 0xFE) == 0xFA)
    assert data[frame + 3] >> 6 == 3  # MPEG-1 layer III, channel mode: single channel
    assert data[frame + 2] >> 4 == 3  # bitrate index 3 of MPEG-1 layer III: 48 kbit/s
    assert info["seconds"] <= 1.0 < info["music_seconds"]

    from tunesmith.report.sections import _audio_note

    assert _audio_note({}, {"seconds": 95.2, "audio_seconds": 60.0}) == "audio: the first 60 s of 95 s"
    assert _audio_note({}, {"seconds": 20.0, "audio_seconds": 20.0}) is None
