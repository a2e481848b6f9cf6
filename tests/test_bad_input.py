"""The bad-input catalogue: one row per promise about broken files, bad params, bad options,
interrupted stages and reruns. Every fixture is built here, in code.

A row passes when tunesmith keeps its promise: a bad piece is rejected and listed with its
reason, a bad artifact or option stops with one line naming it (exit 2 for the command and
the stages), nothing that tunesmith did not write is deleted, and a failed run leaves the
last good artifact in place. (Download and archive cases live with the download code's tests.)
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pandas as pd
import pretty_midi
import pytest

from conftest import ESSEN_VOCAB, train_tiny
from tunesmith.config.load import build
from tunesmith.config.stages import (
    EncodeConfig,
    EvaluateConfig,
    FetchConfig,
    GenerateConfig,
    PrepareConfig,
    VocabConfig,
)
from tunesmith.core import io
from tunesmith.core.errors import ArtifactError, ConfigError, FetchError, MusicInputError, TunesmithError
from tunesmith.data.prepare import prepare_corpus
from tunesmith.sources.local import fetch_local
from tunesmith.tracks.abc.track import prepare_nottingham
from tunesmith.tracks.melody.track import prepare_essen
from tunesmith.tracks.piano.track import prepare_classical

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

TUNE = "X:1\nT:Tune\nM:4/4\nL:1/4\nK:C\nC D E F | G A B c |]\n"
KERN = "**kern\n*M2/4\n*k[]\n=1\n4c\n4d\n=2\n2e\n==\n*-\n"

CASES: list = []


def case(name: str, *marks) -> Callable:
    """Register a row of the catalogue under ``name`` (its pytest id)."""
    def register(fn: Callable) -> Callable:
        CASES.append(pytest.param(fn, id=name, marks=marks))
        return fn
    return register


# --------------------------------------------------------------------------- helpers


def _midi(path: Path, notes=((60, 0.0, 0.5), (64, 0.5, 1.0)), *, drums: bool = False) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0, is_drum=drums)
    inst.notes = [pretty_midi.Note(velocity=80, pitch=p, start=s, end=e) for p, s, e in notes]
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def _raw_midi(path: Path, tracks: list[list[mido.Message]], *, kind: int = 1, tpq: int = 96) -> Path:
    mid = mido.MidiFile(type=kind, ticks_per_beat=tpq)
    for messages in tracks:
        mid.tracks.append(mido.MidiTrack(messages))
    mid.save(str(path))
    return path


def _prepare_one(track: str, tmp: Path, name: str, data: bytes | str, fmt: str, **cfg) -> tuple[list, pd.DataFrame]:
    """Run prepare_corpus on one raw file; returns (pieces, rejected)."""
    path = tmp / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    manifest = pd.DataFrame([{"id": "p", "source_file": name, "title": "", "format": fmt, "split": "",
                              "rhythm": ""}])
    pieces, rejected, _ = prepare_corpus(track, tmp, manifest, PrepareConfig(workers=1, **cfg), progress=False)
    return pieces, rejected


def _reason(rejected: pd.DataFrame) -> str:
    assert len(rejected) == 1, rejected
    return rejected.iloc[0]["reason"]


def _stage(name: str):
    # a stage script imports `_bootstrap` from its own folder first, as `python stages/<name>.py` finds it
    if str(ROOT / "stages") not in sys.path:
        sys.path.insert(0, str(ROOT / "stages"))
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_stage(name: str, tmp: Path, capsys, **args) -> str:
    """Run a stage's main through tunesmith.pipeline.common.run; returns its stderr after it stops with exit 2."""
    from tunesmith.pipeline.common import run

    params = tmp / "params.yaml"
    if not params.exists():
        shutil.copy(ROOT / "params.yaml", params)
    module = _stage(name)
    errors: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = errors.append
    logging.getLogger("tunesmith").addHandler(handler)
    try:
        with pytest.raises(SystemExit) as stop:
            run(module.main, argparse.Namespace(params=params, **args))
    finally:
        logging.getLogger("tunesmith").removeHandler(handler)
    assert stop.value.code == 2
    assert len(errors) == 1 and errors[0].exc_info is None, [e.getMessage() for e in errors]
    message = errors[0].getMessage()
    assert "\n" not in message and "Traceback" not in capsys.readouterr().err
    return message


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "ERROR" in line or "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _cli(*argv: str) -> int:
    from tunesmith.cli import main

    return main(list(argv))


# --------------------------------------------------------------------------- a tiny model


@pytest.fixture
def model_dir(tiny_model_dir) -> Path:
    """The session's tiny trained essen model (conftest.py): copy it before changing it."""
    return tiny_model_dir


def _copy_model(model_dir: Path, tmp: Path) -> Path:
    copy = tmp / "model"
    shutil.copytree(model_dir, copy)
    return copy


def _train(out: Path, **train_cfg):
    return train_tiny(out, seed=1, **train_cfg)


# =========================================================================== data loss


@case("generate-out-foreign-folder-is-refused-untouched")
def _(tmp, monkeypatch, capsys, model_dir):
    out = tmp / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    assert _cli("generate", "--model", str(model_dir), "--num", "1", "--max-length", "4", "--out", str(out)) == 2
    assert str(out) in _one_error_line(capsys)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


@case("generate-out-model-folder-is-refused")
def _(tmp, monkeypatch, capsys, model_dir):
    model = _copy_model(model_dir, tmp)
    before = (model / "model.keras").read_bytes()
    assert _cli("generate", "--model", str(model), "--num", "1", "--out", str(model)) == 2
    assert "model folder" in _one_error_line(capsys)
    assert (model / "model.keras").read_bytes() == before


@case("generate-out-parent-of-model-folder-is-refused")
def _(tmp, monkeypatch, capsys, model_dir):
    model = _copy_model(model_dir, tmp)
    assert _cli("generate", "--model", str(model), "--num", "1", "--out", str(tmp)) == 2
    assert "model folder" in _one_error_line(capsys)
    assert (model / "model.keras").is_file()


@case("generate-out-read-only-file-system-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    out = tmp / "ro" / "samples"
    assert _cli("generate", "--model", str(model_dir), "--num", "1", "--max-length", "4", "--out", str(out)) == 2
    line = _one_error_line(capsys)
    assert str(out) in line and "Read-only file system" in line


@case("library-replace-of-foreign-folder-is-refused")
def _(tmp, monkeypatch, capsys, model_dir):
    src, out = tmp / "src", tmp / "out"
    src.mkdir()
    (src / "a.abc").write_text(TUNE)
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ArtifactError, match=f"refusing to replace {out}"):
        fetch_local("nottingham", src, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    with pytest.raises(ArtifactError, match="refusing to replace"), io.atomic_path(out) as t:
        t.mkdir()
    assert (out / "notes.txt").read_text() == "mine"


@case("library-replaces-its-own-and-empty-folders")
def _(tmp, monkeypatch, capsys, model_dir):
    src, out = tmp / "src", tmp / "out"
    src.mkdir()
    (src / "a.abc").write_text(TUNE)
    out.mkdir()  # empty: fine
    fetch_local("nottingham", src, out)
    io.write_csv(out / "manifest.csv", pd.DataFrame({"id": ["a"]}))  # as the fetch stage does
    manifest, _ = fetch_local("nottingham", src, out)  # a rerun replaces what tunesmith wrote
    assert list(manifest["id"]) == ["a-1"]


@case("train-window-longer-than-corpus-keeps-previous-model")
def _(tmp, monkeypatch, capsys, model_dir):
    model = _copy_model(model_dir, tmp)
    before = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    with pytest.raises(TunesmithError, match="too few for one window of 100000"):
        _train(model, window=100_000)
    assert {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()} == before


@case("train-crash-mid-run-keeps-previous-model")
def _(tmp, monkeypatch, capsys, model_dir):
    from tunesmith.training import loop

    model = _copy_model(model_dir, tmp)
    before = (model / "model.keras").read_bytes()

    def crash(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(loop, "_fit_one_epoch", crash)
    with pytest.raises(RuntimeError):
        _train(model, epochs=2, learning_rate=0.5)  # another config: training starts again
    assert (model / "model.keras").read_bytes() == before
    assert (model / "vocab.json").is_file() and (model / "config.json").is_file()


@case("train-truncated-checkpoint-is-set-aside-and-training-starts-afresh")
def _(tmp, monkeypatch, capsys, model_dir):
    out = tmp / "run"
    _train(out, epochs=1)
    ckpt = out / "checkpoints" / "epoch-0001.keras"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logging.getLogger("tunesmith").addHandler(handler)
    try:
        summary = _train(out, epochs=2)
    finally:
        logging.getLogger("tunesmith").removeHandler(handler)
    assert summary["resumed_from_epoch"] is None and summary["epochs_run"] == 2
    assert (out / "checkpoints" / "epoch-0001.keras.corrupt").is_file()
    assert any("epoch-0001.keras" in m and "set aside" in m for m in records), records


@case("train-zero-byte-best-weights-is-set-aside")
def _(tmp, monkeypatch, capsys, model_dir):
    out = tmp / "run"
    _train(out, epochs=1)
    (out / "checkpoints" / "best-0001.weights.h5").write_bytes(b"")
    summary = _train(out, epochs=2)
    assert summary["resumed_from_epoch"] is None and summary["epochs_run"] == 2
    assert (out / "checkpoints" / "best-0001.weights.h5.corrupt").is_file()


# =========================================================================== unbounded input


@case("midi-note-held-for-9.9-million-ticks-is-too_long-without-the-memory")
def _(tmp, monkeypatch, capsys, model_dir):
    path = _raw_midi(tmp / "long.mid", [[mido.Message("note_on", note=60, velocity=80, time=0),
                                         mido.Message("note_off", note=60, velocity=0, time=9_900_000)]], tpq=1)
    assert path.stat().st_size < 60
    tracemalloc.start()
    try:
        with pytest.raises(MusicInputError) as err:
            prepare_classical(path, "midi", "long", "", PrepareConfig(transpose=False))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.reason == "too_long" and "long.mid" in str(err.value)
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.0f} MiB"


@case("midi-longer-than-max_seconds-is-too_long")
def _(tmp, monkeypatch, capsys, model_dir):
    _midi(tmp / "m.mid", [(60, 0.0, 20.0)])
    _, rejected = _prepare_one("classical", tmp, "m.mid", (tmp / "m.mid").read_bytes(), "midi", max_seconds=10)
    assert _reason(rejected) == "too_long"


@case("abc-tune-longer-than-max_tokens-is-too_long")
def _(tmp, monkeypatch, capsys, model_dir):
    _, rejected = _prepare_one("nottingham", tmp, "t.abc", TUNE, "abc", max_tokens=10)
    assert _reason(rejected) == "too_long" and "characters" in rejected.iloc[0]["message"]


@case("essen-melody-longer-than-max_seconds-is-too_long")
def _(tmp, monkeypatch, capsys, model_dir):
    long_tune = "X:1\nM:4/4\nL:1/4\nK:C\n" + "C8 | " * 10 + "|]\n"  # 80 quarters = 40 s at 120 bpm
    _, rejected = _prepare_one("essen", tmp, "t.abc", long_tune, "abc", max_seconds=30)
    assert _reason(rejected) == "too_long"


@case("essen-melody-longer-than-max_tokens-is-too_long")
def _(tmp, monkeypatch, capsys, model_dir):
    _, rejected = _prepare_one("essen", tmp, "k.krn", KERN, "kern", max_tokens=8)  # 16 sixteenths
    assert _reason(rejected) == "too_long"


@case("slow-parse-is-rejected-as-timeout")
def _(tmp, monkeypatch, capsys, model_dir):
    big = "X:1\nM:4/4\nL:1/8\nK:G\n" + "GABc dedB | " * 400 + "|]\n"
    _, rejected = _prepare_one("essen", tmp, "big.abc", big, "abc", parse_timeout=0.05)
    assert _reason(rejected) == "timeout" and "big.abc" in rejected.iloc[0]["message"]


# =========================================================================== silent drops


@case("abc-utf16-with-bom-is-read")
def _(tmp, monkeypatch, capsys, model_dir):
    src = tmp / "src"
    src.mkdir()
    (src / "wide.abc").write_bytes(TUNE.replace("T:Tune", "T:Grüß").encode("utf-16"))
    manifest, rejected = fetch_local("nottingham", src, tmp / "out")
    assert list(manifest["title"]) == ["Grüß"] and rejected.empty
    pieces, rejected = _prepare_one("nottingham", tmp, "w.abc", TUNE.encode("utf-16"), "abc")
    assert len(pieces) == 1 and rejected.empty


@case("abc-utf8-with-bom-is-read")
def _(tmp, monkeypatch, capsys, model_dir):
    src = tmp / "src"
    src.mkdir()
    (src / "bom.abc").write_bytes(b"\xef\xbb\xbf" + TUNE.encode())
    manifest, rejected = fetch_local("nottingham", src, tmp / "out")
    assert len(manifest) == 1 and rejected.empty


@case("abc-without-any-tune-is-listed-as-no_tune")
def _(tmp, monkeypatch, capsys, model_dir):
    src = tmp / "src"
    src.mkdir()
    (src / "prose.abc").write_text("just some words\nno tune here\n")
    (src / "empty.abc").write_bytes(b"")
    manifest, rejected = fetch_local("nottingham", src, tmp / "out")
    assert manifest.empty
    assert sorted(rejected["source_file"]) == ["empty.abc", "prose.abc"]
    assert set(rejected["reason"]) == {"no_tune"}


@case("every-input-file-ends-in-manifest-or-rejected")
def _(tmp, monkeypatch, capsys, model_dir):
    src = tmp / "src"
    src.mkdir()
    files = {"good.abc": TUNE.encode(), "utf16.abc": TUNE.encode("utf-16"), "prose.abc": b"hello\n",
             "nokey.abc": b"X:1\nT:No key\nCDE|\n", "garbage.mid": os.urandom(64), "zero.krn": b"",
             "song.krn": KERN.encode()}
    for name, data in files.items():
        (src / name).write_bytes(data)
    manifest, rejected = fetch_local("essen", src, tmp / "out")
    origins = {o.split("#")[0] for o in manifest["origin"]} | {o.split("#")[0] for o in rejected["source_file"]}
    assert origins == set(files)


@case("prepare-with-every-file-rejected-stops-with-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    raw = tmp / "raw"
    raw.mkdir()
    rows = []
    for k in range(3):
        (raw / f"bad{k}.mid").write_bytes(b"MThd garbage")
        rows.append({"id": f"bad{k}", "source_file": f"bad{k}.mid", "title": "", "format": "midi",
                     "sha256": "", "split": "", "origin": "", "rhythm": ""})
    io.write_csv(raw / "manifest.csv", pd.DataFrame(rows))
    line = _run_stage("prepare", tmp, capsys, corpus="classical", raw=raw, out=tmp / "prepared",
                      metrics=tmp / "prepare.json")
    assert f"0 of 3 files in {raw} could be used: see {tmp / 'prepared' / 'rejected.csv'}" in line
    assert len(pd.read_csv(tmp / "prepared" / "rejected.csv")) == 3


def _prepared(tmp: Path, n: int) -> Path:
    prepared = tmp / "prepared"
    prepared.mkdir()
    with open(prepared / "pieces.jsonl", "w") as fh:
        for k in range(n):
            fh.write(json.dumps({"id": f"p{k}", "title": "", "abc": TUNE, "split": ""}) + "\n")
    io.write_json(prepared / "meta.json", {"corpus": "nottingham", "prepare": {}})
    return prepared


@case("encode-with-no-pieces-stops-with-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    prepared = _prepared(tmp, 0)
    line = _run_stage("encode", tmp, capsys, corpus="nottingham", prepared=prepared, out=tmp / "enc",
                      metrics=tmp / "enc.json")
    assert "holds no pieces" in line and "pieces.jsonl" in line


@case("encode-with-an-empty-split-stops-with-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    prepared = _prepared(tmp, 2)
    line = _run_stage("encode", tmp, capsys, corpus="nottingham", prepared=prepared, out=tmp / "enc",
                      metrics=tmp / "enc.json")
    assert "validation and test splits are empty" in line and "encode.nottingham" in line


@case("train-with-an-empty-validation-split-stops-with-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    vocab = tmp / "vocab"
    vocab.mkdir()
    io.write_json(vocab / "vocab.json", ESSEN_VOCAB)
    io.write_npy(vocab / "train.npy", np.arange(200, dtype=np.uint16) % 7)
    io.write_npy(vocab / "validation.npy", np.zeros(1, dtype=np.uint16))
    line = _run_stage("train", tmp, capsys, corpus="essen", vocab=vocab, out=tmp / "model", live=tmp / "live",
                      metrics=tmp / "train.json")
    assert "validation split has 1 tokens" in line and str(vocab) in line


@case("train-with-another-corpus-vocab-stops-naming-both")
def _(tmp, monkeypatch, capsys, model_dir):
    vocab = tmp / "vocab"
    vocab.mkdir()
    io.write_json(vocab / "vocab.json", {**ESSEN_VOCAB, "corpus": "nottingham"})
    line = _run_stage("train", tmp, capsys, corpus="essen", vocab=vocab, out=tmp / "model", live=tmp / "live",
                      metrics=tmp / "train.json")
    assert "nottingham vocabulary" in line and "not essen" in line


@case("model-vocab-from-another-corpus-is-refused-naming-both")
def _(tmp, monkeypatch, capsys, model_dir):
    from tunesmith.training.bundle import load_model_bundle

    other = {**ESSEN_VOCAB, "symbols": ["<end>", "<unk>", "a", "b"], "corpus": "nottingham"}
    with pytest.raises(ArtifactError, match=r"the essen vocab of 7 symbols.*the nottingham vocab of 4 symbols"):
        load_model_bundle(model_dir, other)
    model = _copy_model(model_dir, tmp)
    io.write_json(model / "vocab.json", other)
    assert _cli("generate", "--model", str(model), "--out", str(tmp / "s")) == 2
    assert "nottingham vocab" in _one_error_line(capsys)


for _name, _file, _damage, _says in [
    ("model.keras-truncated", "model.keras", lambda b: b[: len(b) // 2], "not a Keras model file"),
    ("model.keras-0-bytes", "model.keras", lambda b: b"", "0 bytes"),
    ("model.keras-not-a-model", "model.keras", lambda b: b"PK\x05\x06" + b"\0" * 18, "cannot be loaded"),
    ("vocab.json-not-json", "vocab.json", lambda b: b"{\"symbols\": [", "not valid JSON"),
    ("vocab.json-0-bytes", "vocab.json", lambda b: b"", "is empty"),
    ("config.json-truncated", "config.json", lambda b: b[:20], "not valid JSON"),
    ("config.json-0-bytes", "config.json", lambda b: b"", "is empty"),
    ("config.json-wrong-shape", "config.json", lambda b: b"[1, 2]", "not a model config"),
]:
    def _row(tmp, monkeypatch, capsys, model_dir, file=_file, damage=_damage, says=_says):
        model = _copy_model(model_dir, tmp)
        (model / file).write_bytes(damage((model / file).read_bytes()))
        assert _cli("generate", "--model", str(model), "--num", "1", "--out", str(tmp / "s")) == 2
        line = _one_error_line(capsys)
        assert file in line and says in line, line
        assert not (tmp / "s").exists()

    case(f"corrupt-{_name}-named-in-one-line")(_row)


@case("truncated-kern-is-rejected-as-truncated")
def _(tmp, monkeypatch, capsys, model_dir):
    cut = KERN[: KERN.index("=2")]  # the file stops after bar 1: no closing '*-'
    _, rejected = _prepare_one("essen", tmp, "cut.krn", cut, "kern")
    assert _reason(rejected) == "truncated" and "cut.krn" in rejected.iloc[0]["message"]
    pieces, rejected = _prepare_one("essen", tmp, "whole.krn", KERN + "!!!ONB: a closing comment\n", "kern")
    assert len(pieces) == 1 and rejected.empty


@case("midi-type-2-is-rejected-as-midi_type_2")
def _(tmp, monkeypatch, capsys, model_dir):
    song = [mido.Message("note_on", note=60, velocity=80, time=0), mido.Message("note_off", note=60, time=96)]
    path = _raw_midi(tmp / "two.mid", [song, song], kind=2)
    with pytest.raises(MusicInputError) as err:
        prepare_classical(path, "midi", "two", "", PrepareConfig(transpose=False))
    assert err.value.reason == "midi_type_2"


# =========================================================================== files that were always handled


@case("garbage-bytes-as-mid-is-a-parse_error")
def _(tmp, monkeypatch, capsys, model_dir):
    _, rejected = _prepare_one("classical", tmp, "g.mid", os.urandom(200), "midi")
    assert _reason(rejected) == "parse_error"


@case("zero-byte-files-are-rejected")
def _(tmp, monkeypatch, capsys, model_dir):
    for track, name, fmt in (("classical", "z.mid", "midi"), ("essen", "z.krn", "kern"),
                             ("essen", "z.xml", "musicxml"), ("nottingham", "z.abc", "abc")):
        pieces, rejected = _prepare_one(track, tmp, name, b"", fmt)
        assert not pieces and len(rejected) == 1, (name, rejected)


@case("drums-only-midi-is-empty")
def _(tmp, monkeypatch, capsys, model_dir):
    _midi(tmp / "d.mid", drums=True)
    _, rejected = _prepare_one("classical", tmp, "d.mid", (tmp / "d.mid").read_bytes(), "midi")
    assert _reason(rejected) == "empty"


@case("abc-without-K-is-listed-as-abc_missing_key")
def _(tmp, monkeypatch, capsys, model_dir):
    src = tmp / "src"
    src.mkdir()
    (src / "nokey.abc").write_text("X:1\nT:No key\nM:4/4\nCDEF|\n")
    manifest, rejected = fetch_local("nottingham", src, tmp / "out")
    assert manifest.empty and list(rejected["reason"]) == ["abc_missing_key"]
    with pytest.raises(MusicInputError):
        prepare_nottingham(src / "nokey.abc", "abc", "n", "", PrepareConfig())


@case("latin-1-abc-is-read")
def _(tmp, monkeypatch, capsys, model_dir):
    src = tmp / "src"
    src.mkdir()
    (src / "old.abc").write_bytes(TUNE.replace("T:Tune", "T:Caf\xe9").encode("latin-1"))
    manifest, _ = fetch_local("nottingham", src, tmp / "out")
    assert list(manifest["title"]) == ["Café"]


@case("kern-tuplets-are-unacceptable_duration")
def _(tmp, monkeypatch, capsys, model_dir):
    triplets = "**kern\n*M2/4\n*k[]\n=1\n4c\n12d\n12e\n12f\n=2\n2g\n==\n*-\n"
    with pytest.raises(MusicInputError) as err:
        prepare_essen(_write(tmp / "t.krn", triplets), "kern", "t", "",
                      PrepareConfig(acceptable_durations=(0.25, 0.5, 1.0, 2.0)))
    assert err.value.reason == "unacceptable_duration"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@case("html-named-xml-is-a-parse_error")
def _(tmp, monkeypatch, capsys, model_dir):
    html = "<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n"
    _, rejected = _prepare_one("essen", tmp, "page.xml", html, "musicxml")
    assert _reason(rejected) == "parse_error" and "page.xml" in rejected.iloc[0]["message"]


@case("local-folder-missing-empty-or-without-music-is-a-FetchError")
def _(tmp, monkeypatch, capsys, model_dir):
    with pytest.raises(FetchError, match="not found"):
        fetch_local("essen", tmp / "nowhere", tmp / "out")
    (tmp / "empty").mkdir()
    with pytest.raises(FetchError, match="holds no music files"):
        fetch_local("essen", tmp / "empty", tmp / "out")
    (tmp / "docs").mkdir()
    (tmp / "docs" / "readme.txt").write_text("no music")
    (tmp / "docs" / "song.mp3").write_bytes(b"ID3")
    with pytest.raises(FetchError, match="holds no music files"):
        fetch_local("essen", tmp / "docs", tmp / "out")
    assert not (tmp / "out").exists()


@case("symlink-loop-in-local-folder-is-skipped")
def _(tmp, monkeypatch, capsys, model_dir):
    src = tmp / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.abc").write_text(TUNE)
    (src / "sub" / "loop").symlink_to(src, target_is_directory=True)
    (src / "self.abc").symlink_to(src / "self.abc")
    manifest, _ = fetch_local("nottingham", src, tmp / "out")
    assert list(manifest["source_file"]) == ["sub/a-1.abc"]


@case("oov-primer-symbol-is-named-in-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    assert _cli("generate", "--model", str(model_dir), "--primer", "60 x72", "--out", str(tmp / "s")) == 2
    assert "primer symbol 'x72' (position 1) is not in the vocabulary" in _one_error_line(capsys)
    assert not (tmp / "s").exists()


@case("bad-cli-option-value-is-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    assert _cli("generate", "--model", str(model_dir), "--num", "0", "--out", str(tmp / "s")) == 2
    assert "num_samples must be >= 1, got 0" in _one_error_line(capsys)
    assert _cli("generate", "--model", str(tmp / "nothing"), "--out", str(tmp / "s")) == 2
    assert "not a model folder" in _one_error_line(capsys)


# --------------------------------------------------------------------------- every bad params value

BAD_PARAMS = [
    (FetchConfig, "fetch.essen", {"source": "ftp"}, "fetch.essen.source must be one of bundled, download, local"),
    (FetchConfig, "fetch.essen", {"collections": ["erk5"], "max_pieces": -1}, "fetch.essen.max_pieces must be >= 0"),
    (FetchConfig, "fetch.essen", {"source": "local"}, "fetch.essen.local_dir must name a folder"),
    (FetchConfig, "fetch.essen", {"source": "download", "mirror": "ftp://x/y"},
     "fetch.essen.mirror must be empty or start with http:// or https://"),
    (FetchConfig, "fetch.essen", {"source": "download", "mirror": "https://x/y", "method": "archive"},
     "fetch.essen.method must be auto or files when a mirror is set"),
    (FetchConfig, "fetch.essen", {"source": "download", "subsets": ["erk/x"]},
     "fetch.essen.subsets[0] must name one folder or file"),
    (PrepareConfig, "prepare.essen", {"transpose": "yes"}, "prepare.essen.transpose must be true or false, got 'yes'"),
    (PrepareConfig, "prepare.essen", {"acceptable_duration": [1]}, "did you mean 'acceptable_durations'"),
    (PrepareConfig, "prepare.essen", {"acceptable_durations": [0.5, -1]}, "acceptable_durations[1] must be > 0"),
    (PrepareConfig, "prepare.classical", {"fs": 20}, "frames_per_beat must be > 0 or fs > 0 but not both"),
    (PrepareConfig, "prepare.classical", {"pitch_low": 90, "pitch_high": 30}, "pitch_low must be <= pitch_high"),
    (PrepareConfig, "prepare.essen", {"headers": "some"}, "prepare.essen.headers must be one of all, musical"),
    (PrepareConfig, "prepare.essen", {"max_seconds": 0}, "prepare.essen.max_seconds must be > 0, got 0"),
    (PrepareConfig, "prepare.essen", {"max_tokens": 0}, "prepare.essen.max_tokens must be >= 1, got 0"),
    (PrepareConfig, "prepare.essen", {"parse_timeout": -1}, "prepare.essen.parse_timeout must be >= 0"),
    (PrepareConfig, "prepare.essen", {"workers": -2}, "prepare.essen.workers must be >= 0"),
    (EncodeConfig, "encode.essen", {"time_step": 0}, "encode.essen.time_step must be > 0"),
    (EncodeConfig, "encode.essen", {"split": {"train": 0.5, "validation": 0.1, "test": 0.1}}, "must sum to 1"),
    (EncodeConfig, "encode.essen", {"split": {"train": 0, "validation": 0.5, "test": 0.5}},
     "encode.essen.split.train must be > 0"),
    (VocabConfig, "vocab.classical", {"min_count": 0}, "vocab.classical.min_count must be >= 1"),
    (GenerateConfig, "generate.essen", {"num_samples": 0}, "generate.essen.num_samples must be >= 1"),
    (GenerateConfig, "generate.essen", {"primer": {"mode": "symbols"}}, "primer.text must not be empty"),
    (GenerateConfig, "generate.essen", {"primer": {"mode": "tune"}}, "generate.essen.primer.mode must be one of"),
    (GenerateConfig, "generate.essen", {"render_seconds": -1}, "render_seconds must be > 0"),
    (GenerateConfig, "generate.essen", {"keep_wav": "no"}, "generate.essen.keep_wav must be true or false"),
    (GenerateConfig, "generate.classical", {"frame_rules": "on"},
     "generate.classical.frame_rules must be true or false, got 'on'"),
    (EvaluateConfig, "evaluate.essen", {"ngram_order": 0}, "evaluate.essen.ngram_order must be >= 1"),
    (EvaluateConfig, "evaluate.essen", {"real_pieces": -1}, "evaluate.essen.real_pieces must be >= 0"),
]


def _train_params(section: str, data: dict, message: str):
    def row(tmp, monkeypatch, capsys, model_dir):
        from tunesmith.config.model import ModelConfig
        from tunesmith.config.train import TrainConfig

        cls = ModelConfig if section.endswith(".model") else TrainConfig
        with pytest.raises(ConfigError) as err:
            build(cls, data, section)
        assert message in str(err.value), str(err.value)
    return row


for _cls, _key, _data, _message in BAD_PARAMS:
    def _params_row(tmp, monkeypatch, capsys, model_dir, cls=_cls, key=_key, data=_data, message=_message):
        with pytest.raises(ConfigError) as err:
            build(cls, data, key)
        assert message in str(err.value), str(err.value)

    case(f"params-{_key}-{'-'.join(f'{k}={v}' for k, v in _data.items())}"[:90])(_params_row)

for _key, _data, _message in [
    ("train.essen", {"window": 0}, "train.essen.window must be >= 1, got 0"),
    ("train.essen", {"optimizer": "adamw"}, "train.essen.optimizer must be one of adam"),
    ("train.essen", {"learning_rate": 0}, "train.essen.learning_rate must be > 0"),
    ("train.essen", {"target": "first"}, "train.essen.target must be one of all, last"),
    ("train.essen", {"epochs": 2.5}, "train.essen.epochs must be an integer"),
    ("train.essen.model", {"dropout": 1.5}, "train.essen.model.dropout must be in [0, 1), got 1.5"),
    ("train.essen.model", {"family": "gru"}, "train.essen.model.family must be"),
]:
    case(f"params-{_key}-{'-'.join(f'{k}={v}' for k, v in _data.items())}")(_train_params(_key, _data, _message))


@case("params-file-not-yaml-is-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    from tunesmith.config.load import load_params

    (tmp / "params.yaml").write_text("prepare: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_params(tmp / "params.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp / "missing.yaml")


# =========================================================================== leftovers after kill -9

_POOL_CHILD = """
import os, sys, time
sys.path.insert(0, {src!r})
{setup}
"""

_PREPARE_SETUP = """
from pathlib import Path
import pandas as pd
from tunesmith.data import prepare
from tunesmith.config.stages import PrepareConfig
from tunesmith.tracks.melody.track import Essen

def slow(*args, **kwargs):
    time.sleep(600)

Essen.prepare_file = slow
rows = [{{"id": f"p{{k}}", "source_file": "x.abc", "format": "abc"}} for k in range(16)]
print("ready", flush=True)
prepare.prepare_corpus("essen", Path({raw!r}), pd.DataFrame(rows), PrepareConfig(workers=2), progress=False)
"""

_FETCH_SETUP = """
from pathlib import Path
from tunesmith.sources import bundled

def slow(src, dst):
    time.sleep(600)

bundled._convert_score = slow
print("ready", flush=True)
bundled.fetch_bundled("classical", Path({out!r}), collections=["bach"], max_pieces=4, workers=2)
"""


def _workers_die_with_parent(tmp: Path, setup: str) -> None:
    import psutil

    script = tmp / "child.py"
    script.write_text(textwrap.dedent(_POOL_CHILD.format(src=str(SRC), setup=setup)))
    log = open(tmp / "child.log", "wb")  # noqa: SIM115 -- closed below, read when the child fails
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=log,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    try:
        assert child.stdout.readline().strip() == b"ready"
        parent = psutil.Process(child.pid)
        deadline = time.monotonic() + 60
        while len(parent.children(recursive=True)) < 2:
            assert child.poll() is None, (tmp / "child.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "no workers started"
            time.sleep(0.1)
        time.sleep(1.0)  # the workers are inside their (slow) tasks
        workers = parent.children(recursive=True)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        log.close()
    _, alive = psutil.wait_procs(workers, timeout=10)
    for proc in alive:  # do not leave them behind even when the test fails
        proc.kill()
    assert not alive, f"{len(alive)} worker(s) outlived the killed stage"


@case("prepare-workers-die-with-a-killed-stage", pytest.mark.slow)
def _(tmp, monkeypatch, capsys, model_dir):
    _workers_die_with_parent(tmp, _PREPARE_SETUP.format(raw=str(tmp)))


@case("bundled-fetch-workers-die-with-a-killed-stage", pytest.mark.slow)
def _(tmp, monkeypatch, capsys, model_dir):
    _workers_die_with_parent(tmp, _FETCH_SETUP.format(out=str(tmp / "raw")))


@case("stale-temporaries-of-an-interrupted-write-are-removed-by-the-next-run")
def _(tmp, monkeypatch, capsys, model_dir):
    src, raw = tmp / "src", tmp / "data" / "raw"
    src.mkdir()
    (src / "a.abc").write_text(TUNE)
    raw.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [raw / ".essen.k2j_9xqa.tmp", raw / f".essen.{dead.pid}.k2j_9xqa.tmp",
             raw / f".essen.{dead.pid}.a1b2c3d4.old"]
    for path in stale:
        path.mkdir()
        (path / "half.abc").write_text("X:1")
    # a user's .essen.old and a live process's temporary are not a dead tunesmith's
    others = [raw / ".essen.notours.tmp", raw / ".classical.k2j_9xqa.tmp", raw / "essen.k2j_9xqa.tmp",
              raw / ".essen.old", raw / f".essen.{os.getppid()}.k2j_9xqa.tmp"]
    for path in others:
        path.mkdir()
    fetch_local("essen", src, raw / "essen")
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in others)


# =========================================================================== reproducibility


_SAVE_CHILD = """
import sys
sys.path.insert(0, {src!r})
from tunesmith.training.bundle import load_model_bundle, save_model_bundle
model, model_cfg, train_cfg, vocab = load_model_bundle({model!r})
save_model_bundle(model, {out!r}, vocab, model_cfg, train_cfg)
"""


@case("model.keras-is-byte-identical-when-saved-again", pytest.mark.slow)
def _(tmp, monkeypatch, capsys, model_dir):
    from tunesmith.training.bundle import load_model_bundle, save_model_bundle

    model, model_cfg, train_cfg, vocab = load_model_bundle(model_dir)
    save_model_bundle(model, tmp / "a", vocab, model_cfg, train_cfg)
    time.sleep(2.1)  # zip entry times have a resolution of 2 s; date_saved of 1 s
    save_model_bundle(model, tmp / "b", vocab, model_cfg, train_cfg)
    # another process: Keras writes objects' memory addresses into the model's config
    child = _SAVE_CHILD.format(src=str(SRC), model=str(model_dir), out=str(tmp / "c"))
    subprocess.run([sys.executable, "-c", child], check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    for name in ("model.keras", "vocab.json", "config.json"):
        assert (tmp / "a" / name).read_bytes() == (tmp / "b" / name).read_bytes(), name
        assert (tmp / "a" / name).read_bytes() == (tmp / "c" / name).read_bytes(), name


@case("musicxml-and-score-svg-are-byte-identical")
def _(tmp, monkeypatch, capsys, model_dir):
    from tunesmith.generation.samples import write_sample
    from tunesmith.render.scores import render_score_svg

    symbols = ["60", "_", "_", "_", "62", "_", "r", "_", "64", "_", "_", "_"]
    for d in ("a", "b"):
        write_sample("essen", symbols, ESSEN_VOCAB, tmp / d / "s")
        assert render_score_svg(tmp / d / "s.musicxml", tmp / d / "s.svg")
    for name in ("s.mid", "s.musicxml", "s.svg"):
        assert (tmp / "a" / name).read_bytes() == (tmp / "b" / name).read_bytes(), name
    assert "<encoding-date>" not in (tmp / "a" / "s.musicxml").read_text()


# =========================================================================== the catalogue


@pytest.mark.parametrize("check", CASES)
def test_bad_input(check, tmp_path, monkeypatch, capsys, model_dir):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the CLI's own defaults, not the project's
    check(tmp_path, monkeypatch, capsys, model_dir)


def test_catalogue_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) > 60
