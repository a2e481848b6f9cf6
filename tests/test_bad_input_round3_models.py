"""The bad-input catalogue, round three: untrusted model folders, comparisons and params (issue 34).

Someone's ``data/models/<track>`` handed to ``tunesmith generate`` or ``inspect``, a checkpoint
folder left by another run, a hostile params.yaml. A row passes when tunesmith keeps its promise:
one line naming the file and the field (or the params key), nothing read that is larger than a
model could be, no traceback, a corrupt ``state.json`` set aside instead of stopping every rerun.
Every fixture is built here from the session's tiny model (tests/conftest.py), copied first; no
row trains a model of its own but the one that checks a run resumes afresh.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ESSEN_VOCAB
from tunesmith.core.errors import ArtifactError, ConfigError

ESC = "\x1b"
SPARSE = 6 << 30  # a 6 GB file that takes no disk: refused by its size, never read


def _cli(*argv: str) -> int:
    from tunesmith.cli import main

    return main(list(argv))


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert ESC not in lines[0]
    return lines[0]


def _one_line(exc: BaseException, *names: str) -> str:
    """The message of ``exc``: one line, short, naming each of ``names``."""
    text = str(exc)
    assert "\n" not in text and len(text) < 500 and ESC not in text, text
    for name in names:
        assert name in text, (name, text)
    return text


@pytest.fixture
def model(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the session's tiny essen model folder, to damage."""
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    return copy


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _sparse(path: Path) -> None:
    path.unlink(missing_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(SPARSE)


def _symlink_to_sparse(path: Path) -> None:
    target = path.parent.parent / f"big-{path.name}"
    _sparse(target)
    path.unlink()
    path.symlink_to(target)


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _vocab_with(**changes) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        vocab = {**ESSEN_VOCAB, **changes}
        _write(path, json.dumps({k: v for k, v in vocab.items() if v is not ...}))
    return damage


def _json_edit(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = json.loads(path.read_text())
        edit(data)
        _write(path, json.dumps(data))  # json.dumps writes NaN and Infinity as JavaScript does
    return damage


def _raw(text: str) -> Callable[[Path], None]:
    return lambda path: _write(path, text)


DEEP = "[" * 200_000
HUGE_INT = "9" * 5000

# --------------------------------------------------------------------------- vocab.json

VOCAB_CASES = [
    ("sparse-6gb-file", _sparse, "refused unread"),
    ("symlink-to-a-sparse-6gb-file", _symlink_to_sparse, "refused unread"),
    ("fifo-that-would-block-forever", _fifo, "not a regular file"),
    ("a-folder", lambda p: (p.unlink(), p.mkdir()), "is a folder"),
    ("200000-open-brackets", _raw(DEEP), "200,000 deep"),
    ("5000-digit-integer", _raw('{"symbols": ["/", "60"], "size": ' + HUGE_INT + "}"), "5,000 digits"),
    ("nan-count", _vocab_with(counts={"60": float("nan")}), "NaN"),
    ("count-of-1e999", _raw('{"symbols": ["/", "60"], "special": {"end": "/"}, "counts": {"60": 1e999}}'),
     "too large for a float"),
    ("not-utf8", lambda p: p.write_bytes(b'{"symbols": ["\xff\xfe"]}'), "not UTF-8"),
    ("empty", _raw(""), "is empty"),
    ("a-list", _raw('["/", "60"]'), "is not a vocabulary"),
    ("without-special", _vocab_with(special=...), "special must be an object"),
    ("special-a-list", _vocab_with(special=["/", "<unk>"]), "special must be an object"),
    ("special-end-not-a-symbol", _vocab_with(special={"end": "zzz", "unk": "<unk>"}), "special.end is 'zzz'"),
    ("special-without-end", _vocab_with(special={"unk": "<unk>"}), "special has no 'end'"),
    ("special-unk-a-number", _vocab_with(special={"end": "/", "unk": 3}), "special.unk must be a string"),
    ("symbol-not-a-string", _vocab_with(symbols=["/", "<unk>", 60, "62"]), "symbols[2] must be a string"),
    ("one-symbol", _vocab_with(symbols=["/"]), "symbols must be a list of 2"),
    ("symbol-twice", _vocab_with(symbols=["/", "<unk>", "60", "60"]), "'60' appears twice"),
    ("size-that-lies", _vocab_with(size=99), "size must be an integer in [7, 7]"),
    ("negative-count", _vocab_with(counts={"60": -4}), "counts['60']"),
    ("corpus-a-list", _vocab_with(corpus=["essen"]), "corpus must be a string"),
    ("escape-sequence-as-end", _vocab_with(special={"end": "\x1b[2J", "unk": "<unk>"}), "special.end is '\\x1b[2J'"),
]


@pytest.mark.parametrize(("damage", "expected"), [pytest.param(d, e, id=i) for i, d, e in VOCAB_CASES])
def test_generate_on_a_hostile_vocab_json_is_one_line_naming_it(damage, expected, model, tmp_path, capsys):
    damage(model / "vocab.json")
    started = time.monotonic()
    (tmp_path / "none.yaml").write_text("{}\n")  # tunesmith's own defaults (a missing --params is an error)
    code = _cli("generate", "--model", str(model), "--num", "1", "--max-length", "4", "--out",
                str(tmp_path / "out"), "--params", str(tmp_path / "none.yaml"))
    line = _one_error_line(capsys)
    assert code == 2 and "vocab.json" in line and expected in line, line
    assert time.monotonic() - started < 5 and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- config.json

CONFIG_CASES = [
    ("sparse-6gb-file", _sparse, "refused unread"),
    ("symlink-to-a-sparse-6gb-file", _symlink_to_sparse, "refused unread"),
    ("200000-open-brackets", _raw(DEEP), "200,000 deep"),
    ("5000-digit-units", lambda p: _write(p, p.read_text().replace('"units": 8', '"units": ' + HUGE_INT)),
     "5,000 digits"),
    ("nan-dropout", _json_edit(lambda c: c["model"].update(dropout=float("nan"))), "NaN"),
    ("not-json", _raw("{\"model\": "), "is not valid JSON"),
    ("a-list", _raw("[]"), "the top level must be an object"),
    ("without-vocab", _json_edit(lambda c: c.pop("vocab")), "vocab must be an object"),
    ("vocab-size-a-string", _json_edit(lambda c: c["vocab"].update(size="7")), "vocab.size must be an integer"),
    ("vocab-sha256-a-path", _json_edit(lambda c: c["vocab"].update(sha256="../" * 30)), "vocab.sha256"),
    ("vocab-sha256-not-hex", _json_edit(lambda c: c["vocab"].update(sha256="z" * 64)), "64 hex digits"),
    ("unknown-family", _json_edit(lambda c: c["model"].update(family="transformer")), "model.family"),
    ("units-a-string", _json_edit(lambda c: c["model"].update(units="8")), "model.units"),
    ("train-a-list", _json_edit(lambda c: c.update(train=[1])), "train must be a mapping"),
    ("epochs-of-1e30", _json_edit(lambda c: c["train"].update(epochs=10**30)), "train.epochs"),
    ("escape-sequence-as-family", _json_edit(lambda c: c["model"].update(family="\x1b]0;owned\x07")),
     "model.family"),
]


@pytest.mark.parametrize(("damage", "expected"), [pytest.param(d, e, id=i) for i, d, e in CONFIG_CASES])
def test_loading_a_model_with_a_hostile_config_json_is_one_line_naming_it(damage, expected, model):
    from tunesmith.training.bundle import load_model_bundle

    damage(model / "config.json")
    with pytest.raises(ArtifactError) as err:
        load_model_bundle(model)
    _one_line(err.value, "config.json", expected)


# --------------------------------------------------------------------------- cache.json

CACHE_CASES = [
    ("theta-infinity", _raw('{"lambda": 0.2, "theta": Infinity, "similarity": "cosine"}'), "Infinity"),
    ("theta-1e999", _raw('{"lambda": 0.2, "theta": 1e999, "similarity": "cosine"}'), "too large for a float"),
    ("theta-nan", _raw('{"lambda": 0.2, "theta": NaN, "similarity": "cosine"}'), "NaN"),
    ("theta-negative", _raw('{"lambda": 0.2, "theta": -3, "similarity": "cosine"}'), "theta must be a finite"),
    ("theta-1e300", _raw('{"lambda": 0.2, "theta": 1e300, "similarity": "cosine"}'), "theta must be a finite"),
    ("lambda-one", _raw('{"lambda": 1, "theta": 20, "similarity": "cosine"}'), "lambda must be"),
    ("lambda-a-string", _raw('{"lambda": "0.2", "theta": 20, "similarity": "cosine"}'), "lambda must be"),
    ("a-list", _raw("[0.2, 20]"), "the top level must be an object"),
    ("200000-open-brackets", _raw(DEEP), "200,000 deep"),
    ("sparse-6gb-file", _sparse, "refused unread"),
    ("similarity-an-escape-sequence", _raw('{"lambda": 0.2, "theta": 20, "similarity": "\\u001b[2J"}'),
     "\\x1b[2J"),
]


@pytest.mark.parametrize(("damage", "expected"), [pytest.param(d, e, id=i) for i, d, e in CACHE_CASES])
def test_a_hostile_cache_json_is_one_line_naming_it(damage, expected, model):
    from tunesmith.training.cache_file import load_cache

    (model / "cache.json").write_text("{}")
    damage(model / "cache.json")
    with pytest.raises(ArtifactError) as err:
        load_cache(model)
    _one_line(err.value, "cache.json", expected)


def test_generate_with_a_cache_of_infinite_theta_blames_cache_json_not_the_sampler(model, tmp_path, capsys):
    _write(model / "cache.json", '{"lambda": 0.2, "theta": Infinity, "similarity": "cosine"}')
    (tmp_path / "none.yaml").write_text("{}\n")
    assert _cli("generate", "--model", str(model), "--num", "1", "--max-length", "4", "--cache",
                "--out", str(tmp_path / "out"), "--params", str(tmp_path / "none.yaml")) == 2
    line = _one_error_line(capsys)
    assert "cache.json" in line and "Infinity" in line and "sampler" not in line and "NaN" not in line


# --------------------------------------------------------------------------- checkpoints/state.json


def _state_edit(**changes) -> Callable[[dict], None]:
    return lambda state: state.update(changes)


STATE_CASES = [
    ("epoch-a-string", _json_edit(_state_edit(epoch="30x")), "epoch must be an integer"),
    ("epoch-of-1e30", _json_edit(_state_edit(epoch=10**30)), "epoch must be an integer"),
    ("epoch-zero", _json_edit(_state_edit(epoch=0)), "epoch must be an integer"),
    ("history-a-string", _json_edit(_state_edit(history="abc")), "history must be a list"),
    ("history-record-a-string", _json_edit(_state_edit(history=["abc"])), "history[0] must be an object"),
    ("history-loss-a-string", _json_edit(_state_edit(history=[{"val_loss": "low"}])), "history[0].val_loss"),
    ("rng-state-of-1e30", _json_edit(_state_edit(rng={"lstm_cell/0": [10**30, 0]})), "rng.lstm_cell/0[0]"),
    ("rng-state-a-string", _json_edit(_state_edit(rng={"lstm_cell/0": "seed"})), "rng.lstm_cell/0"),
    ("rng-a-list", _json_edit(_state_edit(rng=[1, 2])), "rng must be an object"),
    ("best-val-loss-a-string", _json_edit(_state_edit(best_val_loss="low")), "best_val_loss"),
    ("best-val-loss-nan", _json_edit(_state_edit(best_val_loss=float("nan"))), "best_val_loss"),
    ("best-val-loss-infinite-after-an-improvement", _json_edit(_state_edit(best_val_loss=float("inf"))),
     "best_val_loss"),
    ("best-epoch-after-the-last-epoch", _json_edit(_state_edit(best_epoch=5)), "best_epoch"),
    ("wait-negative", _json_edit(_state_edit(wait=-1)), "wait"),
    ("seed-negative", _json_edit(_state_edit(seed=-1)), "seed"),
    ("model-file-a-number", _json_edit(_state_edit(model_file=5)), "model_file"),
    ("average-a-string", _json_edit(_state_edit(average="yes")), "average must be an object"),
    ("stop-epoch-a-string", _json_edit(_state_edit(stop_epoch="2")), "stop_epoch"),
    ("200000-open-brackets", _raw(DEEP), "200,000 deep"),
    ("5000-digit-epoch", lambda p: _write(p, p.read_text().replace('"epoch": 1,', '"epoch": ' + HUGE_INT + ",")),
     "5,000 digits"),
    ("not-json", _raw('{"epoch": '), "not valid JSON"),
    ("a-list", _raw("[1]"), "not a checkpoint state"),
    ("sparse-6gb-file", _sparse, "refused unread"),
]


def _load_state(model: Path):
    from tunesmith.training.checkpoints import _load_state

    ckpt = model / "checkpoints"
    compat = json.loads((ckpt / "state.json.orig").read_text())["compat"]
    return _load_state(ckpt, compat)


@pytest.mark.parametrize(("damage", "expected"), [pytest.param(d, e, id=i) for i, d, e in STATE_CASES])
def test_a_corrupt_state_json_is_set_aside_and_training_starts_afresh(damage, expected, model, caplog):
    state = model / "checkpoints" / "state.json"
    shutil.copy(state, state.with_name("state.json.orig"))
    damage(state)
    with caplog.at_level(logging.WARNING, logger="tunesmith"):
        assert _load_state(model) is None
    aside = state.with_name("state.json.corrupt")
    assert aside.is_file() and not state.exists()
    assert [p.name for p in state.parent.iterdir()] == ["state.json.corrupt"]  # the rest cleared
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "state.json.corrupt" in warnings[0] and expected in warnings[0], warnings
    assert "\n" not in warnings[0] and len(warnings[0]) < 600


@pytest.mark.parametrize(("edit", "what"), [
    (_state_edit(history=[{"epoch": 1, "val_loss": float("nan"), "train_loss": float("nan")}]),
     "a diverged epoch's NaN losses"),
    (_state_edit(best_val_loss=float("inf"), best_epoch=-1, wait=1), "no epoch improved yet: best is Infinity"),
], ids=["nan-losses-in-history", "infinite-best-before-any-improvement"])
def test_a_state_json_tunesmith_writes_is_still_resumed(edit, what, model):
    state = model / "checkpoints" / "state.json"
    shutil.copy(state, state.with_name("state.json.orig"))
    _json_edit(edit)(state)
    resumed = _load_state(model)
    assert resumed is not None, what
    assert not state.with_name("state.json.corrupt").exists()


def test_train_over_a_corrupt_state_json_runs_afresh_and_keeps_it_aside(model, caplog):
    from conftest import train_tiny

    state = model / "checkpoints" / "state.json"
    _json_edit(_state_edit(epoch="30x"))(state)
    with caplog.at_level(logging.WARNING, logger="tunesmith"):
        summary = train_tiny(model)
    assert summary["resumed_from_epoch"] is None and summary["epochs_run"] == 1
    assert "state.json.corrupt" in caplog.text
    assert json.loads(state.with_name("state.json.corrupt").read_text())["epoch"] == "30x"
    assert json.loads(state.read_text())["epoch"] == 1  # the fresh run's own checkpoint


def test_a_checkpoint_whose_weights_declare_gigabytes_is_set_aside_uninflated(model, caplog):
    ckpt = model / "checkpoints"
    shutil.copy(ckpt / "state.json", ckpt / "state.json.orig")
    name = json.loads((ckpt / "state.json").read_text())["model_file"]
    _declare_weights(ckpt / name, 0xFFFF_FFF0)
    with caplog.at_level(logging.WARNING, logger="tunesmith"):
        assert _load_state(model) is None
    assert (ckpt / f"{name}.corrupt").is_file() and "declares 4,294,967,280 bytes" in caplog.text


# --------------------------------------------------------------------------- model.keras


def _declare_weights(path: Path, size: int) -> None:
    """Patch the central directory of the ``.keras`` zip ``path`` so that ``model.weights.h5``
    declares ``size`` bytes uncompressed (what a zip bomb of zeros declares), leaving its data."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("model.weights.h5").file_size < size
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(b"model.weights.h5"))
    data[entry + 24: entry + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def _rezip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_weights_declaring_4_gib_are_refused_unread_in_well_under_a_second(model):
    from tunesmith.training.bundle import load_model_bundle

    _declare_weights(model / "model.keras", 0xFFFF_FFF0)
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(ArtifactError) as err:
        load_model_bundle(model)
    elapsed, peak = time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    _one_line(err.value, "model.keras", "model.weights.h5 declares 4,294,967,280 bytes", "refused unread")
    assert elapsed < 1.0 and peak < 20 << 20


def test_weights_of_64_mb_of_zeros_in_a_small_zip_are_refused_uninflated(model):
    from tunesmith.training.bundle import load_model_bundle

    members = _members(model / "model.keras")
    members["model.weights.h5"] = bytes(64 << 20)  # deflates to about 64 KB
    _rezip(model / "model.keras", members)
    assert (model / "model.keras").stat().st_size < 1 << 20
    with pytest.raises(ArtifactError) as err:
        load_model_bundle(model)
    _one_line(err.value, "model.keras", "declares 67,108,864 bytes", "expected for this model")


def test_a_keras_zip_of_a_thousand_members_is_refused(model):
    from tunesmith.training.bundle import load_model_bundle

    members = _members(model / "model.keras")
    _rezip(model / "model.keras", {**members, **{f"assets/{i}": b"" for i in range(1000)}})
    with pytest.raises(ArtifactError) as err:
        load_model_bundle(model)
    _one_line(err.value, "model.keras", "holds 1,003 files")


def test_a_lambda_layer_refused_by_keras_safe_mode_is_one_line_naming_the_file(model):
    import keras

    from tunesmith.training.bundle import load_model_bundle

    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(len(ESSEN_VOCAB["symbols"]), 4)(ids)
    x = keras.layers.Lambda(lambda t: t * 2.0)(x)  # bytecode: Keras's safe mode refuses to load it
    keras.Model(ids, keras.layers.Dense(len(ESSEN_VOCAB["symbols"]))(x)).save(model / "model.keras")
    with pytest.raises(ArtifactError) as err:
        load_model_bundle(model)
    assert len(str(err.value.__cause__)) > 300  # what Keras says: a paragraph on how to switch safe mode off
    _one_line(err.value, "model.keras", "safe mode")
    assert "safe_mode=False" not in str(err.value)  # not an invitation to switch it off


@pytest.mark.parametrize("family", ["lstm", "stacked_lstm", "bilstm", "cnn_lstm", "simple_rnn"])
def test_the_weights_bound_holds_every_family_with_its_optimizer_state(family, tmp_path):
    """The cap must never refuse a model tunesmith wrote: a checkpoint (weights and Adam's two
    moments) of each family, one-hot and embedded, stays under `bundle.weights_bound`."""
    import keras

    from tunesmith.config.model import ModelConfig
    from tunesmith.modeling.models import build_model
    from tunesmith.training.bundle import weights_bound

    for embedding in (0, 16):
        cfg = ModelConfig(family=family, units=48, layers=1 if family == "lstm" else 2, embedding_dim=embedding)
        model = build_model(cfg, 90, window=8)
        model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
        model.optimizer.build(model.trainable_variables)
        model.save(tmp_path / f"{embedding}.keras")
        with zipfile.ZipFile(tmp_path / f"{embedding}.keras") as z:
            size = z.getinfo("model.weights.h5").file_size
        assert size < weights_bound(cfg, 90) < 4 << 20, size  # a 64 MB bomb is refused for these too


# --------------------------------------------------------------------------- inspect prints artifact text

INSPECT_CASES = [
    ("representation-clears-the-screen", "vocab.json", _vocab_with(representation="\x1b[2J\x1b[H fake")),
    ("corpus-sets-the-window-title", "vocab.json", _vocab_with(corpus="\x1b]0;owned\x07")),
    ("special-holds-a-bidi-override", "vocab.json",
     _vocab_with(symbols=[*ESSEN_VOCAB["symbols"], "\u202e"], special={"end": "/", "unk": "\u202e"})),
    ("config-json-string", "config.json", _json_edit(lambda c: c.update(note="\x1b[31mred\x9b"))),
    ("metrics-json-string", "metrics.json", _json_edit(lambda m: m.update(saved="\x1b[2Jgone\r\x9b2J"))),
    ("cache-json-similarity", "cache.json",
     _raw('{"lambda": 0, "theta": 1, "similarity": "\\u001b[2J", "chosen_on": null}')),
]


@pytest.mark.parametrize(("name", "damage"), [pytest.param(n, d, id=i) for i, n, d in INSPECT_CASES])
def test_inspect_escapes_control_characters_of_artifact_text(name, damage, model, capsys):
    (model / name).touch()
    if name == "cache.json":
        (model / name).write_text("{}")
    damage(model / name)
    assert _cli("inspect", str(model)) == 0
    out = capsys.readouterr().out
    controls = [c for c in out if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f or c == "\u202e"]
    assert not controls and any(shown in out for shown in ("\\x1b", "\\u202e", "\\x9b", "\\u001b")), out


def test_inspect_of_samples_csv_escapes_its_titles(tmp_path, capsys):
    (tmp_path / "samples.csv").write_text("sample,title\nsample_000,\x1b[2Jhello\x07\n")
    assert _cli("inspect", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert ESC not in out and "\x07" not in out and "\\x1b[2Jhello\\x07" in out


@pytest.mark.parametrize("name", ["config.json", "metrics.json", "cache.json"])
def test_inspect_refuses_a_sparse_6gb_file_unread(name, model, capsys):
    _sparse(model / name)
    assert _cli("inspect", str(model)) == 2
    assert name in _one_error_line(capsys)


# --------------------------------------------------------------------------- params.yaml


def _params(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    _write(path, text)
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ("train:\n  essen:\n    epochs: 3\n  nottingham: {}\n  essen:\n    epochs: 30\n",
     "key 'train.essen' appears twice (lines 2 and 5)"),
    ("train: {}\ngenerate: {}\ntrain: {essen: {}}\n", "key 'train' appears twice (lines 1 and 3)"),
    ("generate:\n  essen:\n    sampler:\n      top_p: 0.9\n      top_p: 0.5\n",
     "key 'generate.essen.sampler.top_p' appears twice (lines 4 and 5)"),
    ("fetch:\n  essen:\n    files:\n      - {a: 1, a: 2}\n", "key 'fetch.essen.files[0].a' appears twice"),
], ids=["train-essen-twice", "top-level-twice", "sampler-key-twice", "inside-a-list"])
def test_params_yaml_with_a_duplicate_key_is_refused_naming_both_lines(text, expected, tmp_path):
    from tunesmith.config.load import load_params

    with pytest.raises(ConfigError) as err:
        load_params(_params(tmp_path, text))
    _one_line(err.value, "params.yaml", expected)


def test_params_yaml_merge_keys_and_one_alias_used_twice_are_not_duplicates(tmp_path):
    from tunesmith.config.load import load_params

    text = "base: &b {lr: 1, epochs: 2}\ntrain:\n  essen: {<<: *b, epochs: 3}\n  other: *b\n"
    assert load_params(_params(tmp_path, text))["train"]["essen"] == {"lr": 1, "epochs": 3}


def test_a_50_mb_params_yaml_is_refused_before_parsing(tmp_path):
    from tunesmith.config.load import load_params

    path = tmp_path / "params.yaml"
    with open(path, "wb") as fh:
        fh.write(b"a: [" + b"1, " * 1000)
        fh.truncate(50 << 20)  # the rest a sparse tail: the size is what is refused, before a byte is parsed
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert time.monotonic() - started < 1.0
    _one_line(err.value, "params.yaml", "bytes (at most 1,048,576)", "refused unread")


@pytest.mark.parametrize(("cls_key", "data", "expected"), [
    ("evaluate", {"ngram_order": 2000}, "evaluate.essen.ngram_order must be in [1, 16], got 2000"),
    ("evaluate", {"novelty_ngram": 10**6}, "evaluate.essen.novelty_ngram must be in [1, 64]"),
    ("evaluate", {"batch_size": 10**9}, "evaluate.essen.batch_size"),
    ("evaluate", {"real_pieces": -1}, "evaluate.essen.real_pieces"),
    ("generate", {"seed": -5}, "generate.essen.seed must be >= 0, got -5"),
    ("generate", {"seed": 10**30}, "generate.essen.seed"),
    ("generate", {"retries": 10**9}, "generate.essen.retries"),
    ("train", {"epochs": 10**9}, "train.essen.epochs must be in [1, 100000]"),
    ("train", {"window": 10**12}, "train.essen.window"),
    ("train", {"seed": 2**40}, "train.essen.seed"),
    ("train", {"average_epochs": 10**9}, "train.essen.average_epochs"),
], ids=["ngram-order-2000", "novelty-ngram-a-million", "evaluate-batch-a-billion", "real-pieces-negative",
        "generate-seed-minus-5", "generate-seed-1e30", "generate-retries-a-billion", "train-epochs-a-billion",
        "train-window-1e12", "train-seed-2-to-the-40", "train-average-epochs-a-billion"])
def test_params_bounds_name_the_exact_key(cls_key, data, expected):
    from tunesmith.config.load import build
    from tunesmith.config.stages import EvaluateConfig, GenerateConfig
    from tunesmith.config.train import TrainConfig

    cls = {"evaluate": EvaluateConfig, "generate": GenerateConfig, "train": TrainConfig}[cls_key]
    with pytest.raises(ConfigError) as err:
        build(cls, data, f"{cls_key}.essen")
    _one_line(err.value, expected)


def test_params_at_their_bounds_are_accepted():
    from tunesmith.config.load import build
    from tunesmith.config.stages import EvaluateConfig, GenerateConfig

    assert build(EvaluateConfig, {"ngram_order": 16}, "evaluate.essen").ngram_order == 16
    assert build(GenerateConfig, {"seed": 2**31 - 1}, "generate.essen").seed == 2**31 - 1


def test_generate_stage_names_a_negative_seed_before_loading_the_model(model, tmp_path):
    from tunesmith.pipeline.generate import generate_stage

    (model / "model.keras").write_bytes(b"not a model")  # loading it first would fail with another message
    with pytest.raises(ConfigError) as err:
        generate_stage("essen", {"generate": {"essen": {"seed": -5}}}, model, tmp_path / "out")
    _one_line(err.value, "generate.essen.seed", "got -5")
    assert "sampler" not in str(err.value) and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- what already held


def test_the_untouched_tiny_model_still_loads_under_every_check(model):
    from tunesmith.training.bundle import load_model_bundle
    from tunesmith.training.cache_file import load_cache

    loaded, model_cfg, _, vocab = load_model_bundle(model)
    assert loaded.output_shape[-1] == len(vocab["symbols"]) == 7 and model_cfg.units == 8
    assert not load_cache(model).on


def test_samples_jsonl_line_nested_200000_deep_is_one_line(tmp_path):
    from tunesmith.core.sample_record import read_records

    (tmp_path / "samples.jsonl").write_text(DEEP + "\n")
    with pytest.raises(ArtifactError) as err:
        read_records(tmp_path)
    _one_line(err.value, "samples.jsonl, line 1", "200,000 deep")


def test_bounded_reader_reads_what_tunesmith_writes(tmp_path):
    from tunesmith.core.io import write_json
    from tunesmith.core.safe_json import NUMBERS, read_json_bounded

    record = {"loss": float("nan"), "best": float("inf"), "deep": [[[[1]]]], "text": "a \"[quoted]\" {b}"}
    write_json(tmp_path / "metrics.json", record)
    back = read_json_bounded(tmp_path / "metrics.json", allow=NUMBERS)
    assert back["best"] == float("inf") and back["loss"] != back["loss"] and back["text"] == record["text"]
    with pytest.raises(ArtifactError, match=r"holds (NaN|Infinity), which is not a number it may hold"):
        read_json_bounded(tmp_path / "metrics.json")
