"""The bad-input catalogue, round two: what a hostile user tried after the first catalogue held.

Same rules as tests/test_bad_input.py: every fixture is built here, a row passes when
tunesmith keeps its promise (one line naming the file, key or value, exit 2; nothing
outside its own folders read, renamed or deleted; memory bounded whatever the arguments),
and no row trains a model of its own (one tiny model serves them all).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import ESSEN_VOCAB
from test_bad_input import _cli, _copy_model, _one_error_line

ROOT = Path(__file__).resolve().parents[1]
CASES: list = []


def case(name: str, *marks) -> Callable:
    def register(fn: Callable) -> Callable:
        CASES.append(pytest.param(fn, id=name, marks=marks))
        return fn
    return register


@pytest.fixture
def model_dir(tiny_model_dir) -> Path:
    """The session's tiny trained essen model (conftest.py): copy it before changing it."""
    return tiny_model_dir


def _generate(model: Path, out: Path, *extra: str) -> int:
    """`tunesmith generate` with tunesmith's own defaults (a --params file without a generate section)."""
    params = out.parent / "no-generate-params.yaml"
    if not params.exists():
        params.write_text("{}\n")
    return _cli("generate", "--model", str(model), "--num", "1", "--max-length", "4", "--out", str(out),
                "--params", str(params), *extra)


def _under_2gb(code: str, tmp: Path, *, tensorflow: bool = True) -> subprocess.CompletedProcess:
    """Run ``code`` in a child whose address space is capped at 2 GiB beyond what TensorFlow maps
    at import (RLIMIT_AS): an allocation the budget misses fails with MemoryError there.

    ``tensorflow=False`` for a refusal due before TensorFlow is imported: the child does not spend
    seconds importing it first, and the cap counts from the bare interpreter (TensorFlow maps 1.7 GB
    of it: a generation that went on past the refusal would have less room still)."""
    script = textwrap.dedent("""
        import resource, sys
        {tf}
        import tunesmith.cli
        used = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (used + (2 << 30), used + (2 << 30)))
    """).replace("{tf}", "import tensorflow  # maps its own libraries first: the cap counts from here"
                 if tensorflow else "") + textwrap.dedent(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", script], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=300)


# =========================================================================== data lost or touched


@case("compare-out-holding-the-users-report-is-refused-untouched")
def _(tmp, monkeypatch, capsys, model_dir):
    repo = tmp / "repo"
    repo.mkdir()
    for args in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                 ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "x"]):
        subprocess.run(args, cwd=repo, check=True, capture_output=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    out = tmp / "mine"
    out.mkdir()
    (out / "report.md").write_text("my own report")
    monkeypatch.chdir(repo)
    assert _cli("compare", "--rev", "HEAD", "--out", str(out)) == 2
    assert str(out) in _one_error_line(capsys)
    assert [p.name for p in out.iterdir()] == ["report.md"] and (out / "report.md").read_text() == "my own report"


@case("generate-out-symlink-to-a-foreign-folder-is-refused-before-the-work")
def _(tmp, monkeypatch, capsys, model_dir):
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    link = tmp / "link"
    link.symlink_to(foreign, target_is_directory=True)
    assert _generate(model_dir, link) == 2
    assert "symbolic link" in _one_error_line(capsys)
    assert link.is_symlink() and [p.name for p in foreign.iterdir()] == ["notes.txt"]


@case("generate-full-disk-is-one-line-and-keeps-the-previous-samples")
def _(tmp, monkeypatch, capsys, model_dir):
    import wave

    out = tmp / "samples"
    assert _generate(model_dir, out) == 0
    before = sorted(p.name for p in out.iterdir())
    capsys.readouterr()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wave, "open", full)
    monkeypatch.setattr("tunesmith.core.io.write_text", full)
    assert _generate(model_dir, out) == 2
    line = _one_error_line(capsys)
    assert str(out) in line and "No space left on device" in line
    assert sorted(p.name for p in out.iterdir()) == before


# =========================================================================== memory and time


@case("generate-max-length-of-a-billion-is-refused-before-any-allocation")
def _(tmp, monkeypatch, capsys, model_dir):
    proc = _under_2gb(f"sys.exit(tunesmith.cli.main(['generate', '--model', {str(model_dir)!r}, '--num', '8', "
                      "'--max-length', '1000000000', '--out', 'out']))", tmp, tensorflow=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "over the budget" in proc.stderr and "--max-length" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp / "out").exists()


@case("generate-num-of-a-billion-is-refused-before-any-allocation")
def _(tmp, monkeypatch, capsys, model_dir):
    proc = _under_2gb(f"sys.exit(tunesmith.cli.main(['generate', '--model', {str(model_dir)!r}, "
                      "'--num', '1000000000', '--max-length', '8', '--out', 'out']))", tmp, tensorflow=False)
    assert proc.returncode == 2 and "over the budget" in proc.stderr, proc.stderr[-2000:]


@case("generate-long-primer-is-fed-in-chunks-and-matches-stepping")
def _(tmp, monkeypatch, capsys, model_dir):
    from tunesmith.generation.steppers import PRIME_CHUNK, RecurrentStepper
    from tunesmith.training.bundle import load_model_bundle

    model, cfg, _, _ = load_model_bundle(model_dir)
    ids = np.random.default_rng(3).integers(0, 7, (2, PRIME_CHUNK * 2 + 37)).astype(np.int32)
    chunked = RecurrentStepper(model, cfg, 2).prime(ids)
    stepper = RecurrentStepper(model, cfg, 2)
    for t in range(ids.shape[1]):
        stepped = stepper.step(ids[:, t])
    np.testing.assert_allclose(chunked, stepped, rtol=1e-4, atol=1e-5)
    # a primer of several chunks through the CLI: one prime() of every symbol, fed as a handful of
    # block calls, then only the generated tokens stepped. (40,000 symbols took 90 s here, nearly
    # all of it music21 writing the 20,000-note sample, which holds the primer, not priming.)
    calls: dict[str, list] = {"prime": [], "block": [], "step": 0}
    prime, step = RecurrentStepper.prime, RecurrentStepper.step

    def spy_prime(self, block):
        calls["prime"].append(np.shape(block))
        block_fn = self._block_fn
        self._block_fn = lambda chunk: calls["block"].append(chunk.shape[1]) or block_fn(chunk)
        return prime(self, block)

    def spy_step(self, ids):
        calls["step"] += 1
        return step(self, ids)

    monkeypatch.setattr(RecurrentStepper, "prime", spy_prime)
    monkeypatch.setattr(RecurrentStepper, "step", spy_step)
    symbols = 4 * 600  # 2,400 symbols: 5 chunks
    primer = " ".join(["60", "_", "62", "_"] * (symbols // 4))
    assert _generate(model_dir, tmp / "out", "--primer", primer) == 0
    assert len(calls["prime"]) == 1 and calls["prime"][0][1] >= symbols
    assert len(calls["block"]) == -(-calls["prime"][0][1] // PRIME_CHUNK) and max(calls["block"]) == PRIME_CHUNK
    assert calls["step"] <= 4  # --max-length 4: the primer is never stepped


@case("model-zip-whose-config-inflates-to-gigabytes-is-refused-unread")
def _(tmp, monkeypatch, capsys, model_dir):
    model = _copy_model(model_dir, tmp)
    with zipfile.ZipFile(model / "model.keras") as z:
        members = {m: z.read(m) for m in z.namelist()}
    with zipfile.ZipFile(model / "model.keras", "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            if name == "config.json":
                with z.open(name, "w", force_zip64=True) as fh:  # 2 GiB of spaces, 2 MB on disk
                    block = b" " * (1 << 24)
                    for _ in range(128):
                        fh.write(block)
            else:
                z.writestr(name, data)
    assert _generate(model, tmp / "out") == 2
    line = _one_error_line(capsys)
    assert "config.json declares 2,147,483,648 bytes" in line


# =========================================================================== tracebacks


@case("generate-negative-seed-is-an-option-error")
def _(tmp, monkeypatch, capsys, model_dir):
    with pytest.raises(SystemExit) as stop:
        _generate(model_dir, tmp / "out", "--seed", "-1")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "argument --seed: must be >= 0, got -1" in err and "Traceback" not in err


@pytest.mark.parametrize("sampler", ["temperature", "greedy"])
def test_generate_bias_weighting_every_symbol_zero_is_one_line(sampler, model_dir, tmp_path, capsys):
    bias = ",".join(f"{s}=0" for s in ESSEN_VOCAB["symbols"])
    assert _generate(model_dir, tmp_path / "out", "--sampler", sampler, "--bias", bias) == 2
    assert "every symbol of the vocabulary weight 0" in _one_error_line(capsys)


@case("generate-model-whose-vocab-json-is-a-list-is-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    model = _copy_model(model_dir, tmp)
    (model / "vocab.json").write_text("[]")
    assert _generate(model, tmp / "out") == 2
    assert "vocab.json is not a vocabulary" in _one_error_line(capsys)


@case("generate-model-file-of-another-vocabulary-is-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    from tunesmith.config.model import ModelConfig
    from tunesmith.config.train import TrainConfig
    from tunesmith.training.loop import train

    other = tmp / "other"
    vocab = {**ESSEN_VOCAB, "symbols": [*ESSEN_VOCAB["symbols"], "65", "67"]}
    ids = np.random.default_rng(0).integers(0, 9, 300).astype(np.uint16)
    ids[[0, 99, -1]] = 0
    train(ModelConfig(units=8, embedding_dim=4, dropout=0.0),
          TrainConfig(window=8, batch_size=8, epochs=1, context="window", average_epochs=0), vocab, ids, ids[:100],
          other)
    model = _copy_model(model_dir, tmp)
    shutil.copy(other / "model.keras", model / "model.keras")
    assert _generate(model, tmp / "out") == 2
    line = _one_error_line(capsys)
    assert "model.keras" in line and ("predicts 9 symbols" in line or "vocab" in line)


@case("generate-test-primer-from-a-file-that-is-not-json-lines-names-the-line")
def _(tmp, monkeypatch, capsys, model_dir):
    host = tmp / "hostname"
    host.write_text("build-box\n")
    assert _generate(model_dir, tmp / "out", "--primer-mode", "test", "--test-pieces", str(host)) == 2
    assert f"{host}, line 1" in _one_error_line(capsys)


@pytest.mark.parametrize("damage", ["empty samples.csv", "vocab.json without size", "truncated train.npy",
                                    "vocab.json a list"])
def test_inspect_on_damaged_artifacts_is_one_line(damage, tmp_path, capsys):
    folder = tmp_path / "f"
    folder.mkdir()
    if damage == "empty samples.csv":
        (folder / "samples.csv").write_text("")
    elif damage == "vocab.json a list":
        (folder / "vocab.json").write_text('["a", "b"]')
    else:
        (folder / "vocab.json").write_text(json.dumps({"symbols": ["/", "60"], "special": {"end": "/"}}))
        np.save(folder / "train.npy", np.arange(100, dtype=np.uint16))
        if damage == "truncated train.npy":
            data = (folder / "train.npy").read_bytes()
            (folder / "train.npy").write_bytes(data[: len(data) // 2])
    code = _cli("inspect", str(folder))
    if damage == "vocab.json without size":  # nothing is missing that inspect needs: it counts the symbols
        assert code == 0 and "size 2" in capsys.readouterr().out
        return
    assert code == 2
    assert str(folder) in _one_error_line(capsys)


# =========================================================================== quiet surprises


@case("generate-cache-on-a-model-without-cache-json-is-refused")
def _(tmp, monkeypatch, capsys, model_dir):
    model = _copy_model(model_dir, tmp)
    (model / "cache.json").unlink(missing_ok=True)
    assert _generate(model, tmp / "out", "--cache") == 2
    assert "has no cache.json" in _one_error_line(capsys)


@case("generate-interrupted-says-so-in-one-line-and-keeps-the-folder")
def _(tmp, monkeypatch, capsys, model_dir):
    out = tmp / "samples"
    assert _generate(model_dir, out) == 0
    before = sorted(p.name for p in out.iterdir())
    code = textwrap.dedent(f"""
        import os, signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C arrives even when started in background
        import tunesmith.generation.samples as s
        real = s.write_sample
        def interrupted(*a, **k):
            os.kill(os.getpid(), signal.SIGINT)
            return real(*a, **k)
        s.write_sample = interrupted
        sys.exit(tunesmith.cli.main(['generate', '--model', {str(model_dir)!r}, '--num', '1',
                                     '--max-length', '4', '--out', {str(out)!r}]))
    """)
    proc = _under_2gb(code, tmp)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "interrupted" in proc.stderr and "nothing written" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == before


# =========================================================================== round two, the stages


@case("generate-second-writer-of-a-folder-stops-and-leaves-the-first-ones-temporary")
def _(tmp, monkeypatch, capsys, model_dir):
    from tunesmith.core import io

    out = tmp / "race"
    live = tmp / f".race.{os.getpid()}.abcd1234.tmp"  # what writer A is filling right now
    live.mkdir()
    (live / "sample_000.mid").write_bytes(b"MThd")
    with io.output_lock(out):  # writer A holds the folder
        assert _generate(model_dir, out) == 2
        line = _one_error_line(capsys)
    assert str(out) in line and f"pid {os.getpid()}" in line and "another tunesmith process" in line
    assert (live / "sample_000.mid").read_bytes() == b"MThd" and not out.exists()
    assert _generate(model_dir, out) == 0  # once A is done, the next writer goes ahead
    assert not io.lock_name(out).exists()


@case("checkpoint-state-naming-a-file-outside-its-folder-touches-nothing")
def _(tmp, monkeypatch, capsys, model_dir):
    from test_bad_input import _train

    model = tmp / "model"
    _train(model)  # a finished run whose checkpoint the next call would resume
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.keras").write_bytes(b"years of work")
    state_path = model / "checkpoints" / "state.json"
    for name in ("../../elsewhere/precious.keras", str(elsewhere / "precious.keras")):
        state = json.loads(state_path.read_text())
        state["model_file"] = name
        state_path.write_text(json.dumps(state))
        with pytest.raises(Exception, match="is not a file name inside") as err:
            _train(model)
        assert "state.json" in str(err.value) and "\n" not in str(err.value)
        assert [p.name for p in elsewhere.iterdir()] == ["precious.keras"]
        assert (elsewhere / "precious.keras").read_bytes() == b"years of work"


def _prepare_with_manifest(tmp: Path, capsys, source_file: str, *, sha256: str) -> str:
    """The prepare stage on ``tmp/raw`` whose manifest lists one ABC file; its one-line error."""
    from test_bad_input import _run_stage

    raw = tmp / "raw"
    raw.mkdir(exist_ok=True)
    (raw / "manifest.csv").write_text("id,source_file,title,format,sha256,split,origin,rhythm\n"
                                      f"x,{source_file},x,abc,{sha256},,local,\n")
    return _run_stage("prepare", tmp, capsys, corpus="essen", raw=raw, out=tmp / "prepared",
                      metrics=tmp / "prepare.json")


@pytest.mark.parametrize("source_file", ["../../../outside.abc", "/etc/hostname"])
def test_prepare_reads_no_manifest_path_outside_the_raw_folder(source_file, tmp_path, capsys):
    from test_bad_input import TUNE

    (tmp_path / "outside.abc").write_text(TUNE)
    line = _prepare_with_manifest(tmp_path, capsys, source_file, sha256="")
    assert "manifest.csv, line 2" in line and source_file in line and "not a path inside" in line
    assert not (tmp_path / "prepared").exists()


@case("prepare-checks-each-files-sha256-before-reading-it")
def _(tmp, monkeypatch, capsys, model_dir):
    from test_bad_input import TUNE

    (tmp / "raw").mkdir()
    (tmp / "raw" / "t.abc").write_text(TUNE)
    line = _prepare_with_manifest(tmp, capsys, "t.abc", sha256="0" * 64)
    assert "manifest.csv, line 2" in line and "the manifest says 0000000000000000" in line


@case("train-on-a-vocab-with-a-duplicated-symbol-stops-naming-it")
def _(tmp, monkeypatch, capsys, model_dir):
    from test_bad_input import _run_stage
    from tunesmith.core import io

    vocab = tmp / "vocab"
    vocab.mkdir()
    io.write_json(vocab / "vocab.json", {**ESSEN_VOCAB, "symbols": [*ESSEN_VOCAB["symbols"], "60"]})
    line = _run_stage("train", tmp, capsys, corpus="essen", vocab=vocab, out=tmp / "model", live=tmp / "live",
                      metrics=tmp / "train.json")
    assert "vocab.json" in line and "'60' appears twice" in line and not (tmp / "model").exists()


@pytest.mark.parametrize(("setting", "key"), [({"batch_size": 1_000_000_000}, "train.essen.batch_size"),
                                             ({"model": {"units": 1_000_000_000}}, "train.essen.model.units")])
def test_train_refuses_a_run_larger_than_memory_before_building_it(setting, key, tmp_path, capsys):
    import yaml

    from test_bad_input import _run_stage
    from tunesmith.core import io

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["essen"] = {**params["train"]["essen"], **setting}
    if "model" in setting:
        params["train"]["essen"]["model"] = {**yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["essen"][
            "model"], **setting["model"]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    io.write_json(vocab / "vocab.json", ESSEN_VOCAB)
    line = _run_stage("train", tmp_path, capsys, corpus="essen", vocab=vocab, out=tmp_path / "model",
                      live=tmp_path / "live", metrics=tmp_path / "train.json")
    assert key in line and "GiB" in line and "available" in line


@case("params-yaml-alias-bomb-is-refused-unexpanded")
def _(tmp, monkeypatch, capsys, model_dir):
    import tracemalloc

    from tunesmith.config.load import load_params
    from tunesmith.core.errors import ConfigError

    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    (tmp / "params.yaml").write_text("\n".join(lines) + "\n")
    tracemalloc.start()
    with pytest.raises(ConfigError) as err:
        load_params(tmp / "params.yaml")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "aliases expand to" in str(err.value) and len(str(err.value)) < 200
    assert peak < 50 << 20
    # an anchor for shared defaults is fine
    (tmp / "params.yaml").write_text("base: &base {lr: 1}\ntrain: {a: *base, b: *base}\n")
    assert load_params(tmp / "params.yaml")["train"]["b"] == {"lr": 1}


@case("params-yaml-indented-with-a-tab-is-one-line-naming-the-line")
def _(tmp, monkeypatch, capsys, model_dir):
    from tunesmith.config.load import load_params
    from tunesmith.core.errors import ConfigError

    (tmp / "params.yaml").write_text("train:\n\tessen: 1\n")
    with pytest.raises(ConfigError) as err:
        load_params(tmp / "params.yaml")
    assert "\n" not in str(err.value) and "(line 2, column 1)" in str(err.value)


@case("params-train-section-that-is-a-list-is-one-line")
def _(tmp, monkeypatch, capsys, model_dir):
    import yaml

    from test_bad_input import _run_stage

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["essen"] = [1, 2]
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    line = _run_stage("train", tmp, capsys, corpus="essen", vocab=tmp / "vocab", out=tmp / "model",
                      live=tmp / "live", metrics=tmp / "train.json")
    assert "train.essen must be a mapping" in line


@pytest.mark.parametrize("line", ['{"id": "p", "events": "oops"}', '{"id": "p", "events": [["sixty", 1.0]]}',
                                  '{"id": "p"}', '"just a string"'])
def test_encode_names_the_pieces_jsonl_line_it_cannot_use(line, tmp_path, capsys):
    from test_bad_input import _run_stage
    from tunesmith.core import io

    prepared = tmp_path / "prepared"
    prepared.mkdir()
    good = {"id": "a", "events": [[60, 1.0], [62, 1.0]], "title": "a"}
    (prepared / "pieces.jsonl").write_text(json.dumps(good) + "\n" + line + "\n")
    io.write_json(prepared / "meta.json", {"prepare": {}})
    message = _run_stage("encode", tmp_path, capsys, corpus="essen", prepared=prepared, out=tmp_path / "enc",
                         metrics=tmp_path / "encode.json")
    assert "pieces.jsonl, line 2" in message and not (tmp_path / "enc").exists()


@pytest.mark.parametrize("check", CASES)
def test_bad_input_round2(check, tmp_path, monkeypatch, capsys, model_dir):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the CLI's own defaults, not the project's
    check(tmp_path, monkeypatch, capsys, model_dir)


def test_catalogue_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))





# =========================================================================== the CLI samples as the pipeline does


def test_cli_generate_uses_the_pipelines_settings_unless_told_otherwise(model_dir, tmp_path, caplog, capsys,
                                                                        monkeypatch):
    import logging

    import yaml

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"generate": {"essen": {
        "num_samples": 2, "max_length": 6, "seed": 0, "render": False,
        "sampler": {"method": "top_p", "temperature": 1.0, "top_p": 0.8, "bias": {"r": 0.9}},
        "primer": {"mode": "symbols", "text": "60 _ 62 _", "length": 32}}}}))

    def run(out, *extra):
        with caplog.at_level(logging.INFO, logger="tunesmith"):
            assert _cli("generate", "--model", str(model_dir), "--out", str(out), "--params", str(params),
                        *extra) == 0
        return json.loads((out / "generation.json").read_text())["config"]

    cfg = run(tmp_path / "a")
    assert cfg["sampler"]["method"] == "top_p" and cfg["sampler"]["top_p"] == 0.8
    assert cfg["sampler"]["bias"] == {"r": 0.9} and cfg["num_samples"] == 2 and cfg["max_length"] == 6
    assert cfg["primer"]["text"] == "60 _ 62 _"
    assert f"the pipeline's settings, generate.essen of {params}" in caplog.text
    cfg = run(tmp_path / "b", "--top-p", "0.5", "--num", "1")  # what the user says wins
    assert cfg["sampler"]["top_p"] == 0.5 and cfg["num_samples"] == 1 and cfg["sampler"]["method"] == "top_p"
    capsys.readouterr()
    # a --params file that is not there is one line, never a silent fall back to the defaults
    assert _cli("generate", "--model", str(model_dir), "--out", str(tmp_path / "c"),
                "--params", str(tmp_path / "none.yaml")) == 2
    assert _one_error_line(capsys) == f"tunesmith: error: --params {tmp_path / 'none.yaml'}: no such file"
    assert not (tmp_path / "c").exists()
    caplog.clear()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no --params and no params.yaml here: tunesmith's defaults
    with caplog.at_level(logging.INFO, logger="tunesmith"):
        assert _cli("generate", "--model", str(model_dir), "--out", str(tmp_path / "c"), "--max-length", "6",
                    "--num", "1") == 0
    cfg = json.loads((tmp_path / "c" / "generation.json").read_text())["config"]
    assert cfg["sampler"]["method"] == "temperature" and "tunesmith's defaults" in caplog.text
