"""The trained model's folder: ``model.keras``, ``vocab.json`` and ``config.json``, saved and loaded.

Also the vocabulary fingerprint recorded in ``config.json`` and the byte-stable
``.keras`` writer the checkpoints use too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from tunesmith.config.load import build
from tunesmith.config.model import ModelConfig
from tunesmith.config.train import STATE_FORMAT, TrainConfig
from tunesmith.core.errors import ArtifactError, ConfigError, MissingArtifactError, one_line
from tunesmith.core.io import is_write_error, write_failure, write_json
from tunesmith.core.safe_json import need_int, need_mapping, need_str, printable, read_json_bounded
from tunesmith.core.vocab import MAX_SYMBOLS, check_vocab_json, fingerprint
from tunesmith.modeling.models import predicts_every_position


def vocab_fingerprint(vocab: Mapping[str, Any]) -> str:
    """`vocab.fingerprint` of a vocabulary dict's ``symbols``: equal iff every id means the same symbol."""
    return fingerprint(vocab_symbols(vocab))


def vocab_symbols(vocab: Mapping[str, Any]) -> list[str]:
    """The vocabulary's symbols: >= 2 distinct strings.

    Raises:
        ArtifactError: naming the first symbol that breaks the rule (a duplicate would make two
            ids decode alike and the model's output ambiguous).
    """
    symbols = vocab.get("symbols") if isinstance(vocab, Mapping) else None
    if not isinstance(symbols, (list, tuple)) or len(symbols) < 2:
        raise ArtifactError(f"vocab must have a 'symbols' list of >= 2 entries, got {symbols!r:.80}")
    seen: set[str] = set()
    for i, symbol in enumerate(symbols):
        if not isinstance(symbol, str):
            raise ArtifactError(f"vocab symbol {i} must be a string, got {symbol!r:.40}")
        if symbol in seen:
            raise ArtifactError(f"vocab symbol {symbol!r} appears twice (ids {symbols.index(symbol)} and {i})")
        seen.add(symbol)
    return list(symbols)


def _describe_vocab(vocab: Mapping[str, Any]) -> str:
    corpus = vocab.get("corpus")
    owner = f"the {printable(str(corpus)[:40], keep_newlines=False)} vocab of " if corpus else ""
    return f"{owner}{len(vocab_symbols(vocab))} symbols (sha256 {vocab_fingerprint(vocab)[:12]}...)"


def _refuse_another_vocab(model_dir: Path, trained: Mapping[str, Any], label: str, candidate: Any) -> None:
    """An ArtifactError naming both vocabularies when ``candidate``'s symbols are not those
    ``config.json`` records (``trained``: its ``vocab`` entry)."""
    if vocab_fingerprint(candidate) != trained["sha256"]:
        corpus = trained.get("corpus")
        owner = f"the {printable(corpus[:40], keep_newlines=False)} vocab of " if corpus else "vocab of "
        raise ArtifactError(f"model in {model_dir} was trained with {owner}{trained['size']} symbols "
                            f"(sha256 {trained['sha256'][:12]}...), {label} {_describe_vocab(candidate)}")


def read_model_vocab(model_dir: Path | str, trained: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A model folder's ``vocab.json``, read with limits and checked: first its symbols against the
    fingerprint ``config.json`` records (``trained``, read here when not given), so a vocabulary of
    another model is named as one, then every field (`core.vocab.check_vocab_json`).

    Raises:
        ArtifactError: one line naming the file and the field, or both vocabularies.
    """
    model_dir = Path(model_dir)
    path = model_dir / "vocab.json"
    stored = read_json_bounded(path)
    if trained is None and (model_dir / "config.json").exists():
        trained = read_model_config(model_dir / "config.json")[2]
    if trained is not None and isinstance(stored, Mapping):
        try:
            vocab_symbols(stored)
        except ArtifactError:
            pass  # not a list of distinct strings: check_vocab_json names the field
        else:
            _refuse_another_vocab(model_dir, trained, "its vocab.json has", stored)
    return check_vocab_json(stored, str(path))


# Keras writes the save time into metadata.json and the weights' zip entry; both are
# replaced by this constant so that the same weights always give the same bytes.
_FIXED_DATE_SAVED = "1980-01-01@00:00:00"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _renumber_shared_objects(config: Any) -> Any:
    """Keras names objects shared between layers by their memory address
    (``shared_object_id``); number them 1, 2, ... in order of appearance instead.
    Equal ids stay equal, so the model loads the same."""
    ids: dict[Any, int] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (ids.setdefault(v, len(ids) + 1) if k == "shared_object_id" else walk(v))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(config)


def _normalise_keras_zip(src: Path, dst: Path) -> None:
    """Copy the ``.keras`` zip ``src`` to ``dst`` with a fixed ``date_saved``, fixed entry times
    and renumbered shared-object ids, keeping each entry's name, order and compression:
    byte-identical for equal models, in any process."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            out = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
            out.compress_type = info.compress_type
            out.external_attr = info.external_attr
            if info.filename == "metadata.json":
                meta = json.loads(zin.read(info))
                meta["date_saved"] = _FIXED_DATE_SAVED
                zout.writestr(out, json.dumps(meta))
                continue
            if info.filename == "config.json":
                zout.writestr(out, json.dumps(_renumber_shared_objects(json.loads(zin.read(info)))))
                continue
            with zin.open(info) as fin, zout.open(out, "w", force_zip64=info.file_size > 1 << 30) as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)


def _save_model_atomic(model: keras.Model, path: Path) -> None:
    # Keras insists on the suffix, so the temporary name keeps it.
    tmp = path.with_name(f".tmp-{path.name}")
    fixed = path.with_name(f".tmp-fixed-{path.name}")
    try:
        try:
            model.save(tmp)
            _normalise_keras_zip(tmp, fixed)
        finally:
            tmp.unlink(missing_ok=True)
        os.replace(fixed, path)
    except OSError as exc:  # a full disk, a read-only folder: one line, the previous model kept
        fixed.unlink(missing_ok=True)
        if not is_write_error(exc):
            raise
        raise write_failure(path, exc) from exc


def _save_weights_atomic(model: keras.Model, path: Path) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if not is_write_error(exc):
            raise
        raise write_failure(path, exc) from exc


def save_model_bundle(
    model: keras.Model,
    out_dir: Path | str,
    vocab: Mapping[str, Any],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
) -> None:
    """Write ``model.keras``, ``vocab.json`` and ``config.json`` into ``out_dir``, each atomically.

    ``config.json`` holds ``{"model": ..., "train": ..., "vocab": {"size",
    "sha256", "corpus"}, "predicts_every_position": bool}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_model_atomic(model, out_dir / "model.keras")
    write_json(out_dir / "vocab.json", dict(vocab))
    write_json(
        out_dir / "config.json",
        {
            "format": STATE_FORMAT,
            "model": dataclasses.asdict(model_cfg),
            "train": dataclasses.asdict(train_cfg),
            "vocab": {
                "size": len(vocab_symbols(vocab)),
                "sha256": vocab_fingerprint(vocab),
                "corpus": vocab.get("corpus"),
            },
            "predicts_every_position": predicts_every_position(model_cfg),
        },
    )


def load_model_bundle(
    model_dir: Path | str, vocab: Mapping[str, Any] | None = None
) -> tuple[keras.Model, ModelConfig, TrainConfig, dict[str, Any]]:
    """Load what :func:`save_model_bundle` wrote: ``(model, model_cfg, train_cfg, vocab)``.

    The model is uncompiled: int32 ids ``(batch, time)`` -> float32 logits.
    ``vocab`` (optional) is the vocabulary the caller means to use; it must be
    the one the model was trained with.

    Raises:
        ArtifactError: ``vocab`` (or the bundle's own ``vocab.json``) differs from the
            training vocab recorded in ``config.json`` (the message gives both corpora,
            sizes and fingerprints); or a bundle file is truncated, empty, not JSON or
            not a Keras model (the message names it). A ValueError too.
        MissingArtifactError: a bundle file is missing (a FileNotFoundError too).
    """
    model_dir = Path(model_dir)
    for name in ("config.json", "vocab.json", "model.keras"):
        if not (model_dir / name).is_file():
            raise MissingArtifactError(
                f"{model_dir / name} not found: not a model folder written by train()"
            )
    model_cfg, train_cfg, trained = read_model_config(model_dir / "config.json")
    stored_vocab = read_model_vocab(model_dir, trained)
    if vocab is not None:
        _refuse_another_vocab(model_dir, trained, "got", vocab)
    trained_size = trained["size"]
    model_path = model_dir / "model.keras"
    size = model_path.stat().st_size
    if size == 0 or not zipfile.is_zipfile(model_path):
        raise ArtifactError(
            f"{model_path} is not a Keras model file ({'0 bytes' if size == 0 else 'not a zip archive'}: "
            "truncated or overwritten?); rerun training to rewrite it"
        )
    check_archive_sizes(model_path, weights_bound(model_cfg, trained_size))
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as exc:  # Keras raises many types (and misleading "File not found") here
        raise ArtifactError(keras_refusal(model_path, exc)) from exc
    used = dict(vocab if vocab is not None else stored_vocab)
    predicts = model.output_shape[-1]
    if predicts != len(used["symbols"]):
        raise ArtifactError(f"{model_path} predicts {predicts} symbols but the vocabulary has "
                            f"{len(used['symbols'])}: the model file belongs to another vocabulary")
    return model, model_cfg, train_cfg, used


def read_model_config(path: Path) -> tuple[ModelConfig, TrainConfig, dict[str, Any]]:
    """A model folder's ``config.json`` read with limits and checked: ``(model_cfg, train_cfg, vocab
    entry)``; the model and train sections as params.yaml's are (`config.load.build`), the vocab entry's
    ``size`` and ``sha256`` by type and range.

    Raises:
        ArtifactError: one line naming the file and the field.
    """
    config = read_json_bounded(path)
    where = f"{path} is not a model config written by train()"
    config = need_mapping(config, where, "the top level")
    trained = dict(need_mapping(config.get("vocab"), where, "vocab"))
    need_int(trained.get("size"), where, "vocab.size", 2, MAX_SYMBOLS)
    sha = need_str(trained.get("sha256"), where, "vocab.sha256", 64)
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ArtifactError(f"{where}: vocab.sha256 must be 64 hex digits, got {sha!r:.70}")
    need_str(trained.get("corpus"), where, "vocab.corpus", 200, optional=True)
    try:  # validated as params.yaml is: one way, by build()
        model_cfg = build(ModelConfig, config.get("model"), "model")
        train_cfg = build(TrainConfig, config.get("train"), "train")
    except ConfigError as exc:
        raise ArtifactError(f"{where}: {one_line(exc, 240)}") from exc
    return model_cfg, train_cfg, trained


def weights_bound(cfg: ModelConfig, vocab_size: int) -> int:
    """More bytes than the weights of ``cfg`` over ``vocab_size`` symbols can take in a ``.keras``
    archive, optimizer state included: 4 float32s per parameter (Adam keeps two more) and 1 MB,
    with every recurrent layer counted as wide as the widest input any family feeds it."""
    width = max(cfg.embedding_dim or vocab_size, 2 * cfg.units, cfg.conv_filters)
    recurrent = 2 * 4 * (width + cfg.units + 1) * cfg.units  # two directions, four gates
    params = (vocab_size * max(cfg.embedding_dim, 1) + cfg.layers * recurrent
              + (cfg.conv_kernel * width + 1) * cfg.conv_filters + (2 * cfg.units + 1) * vocab_size)
    return 4 * 4 * params + (1 << 20)


def keras_refusal(path: Path, exc: BaseException) -> str:
    """Keras's refusal to load ``path`` (safe mode's several lines, a damaged file) as one line naming it."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if "safe_mode" in str(exc) or "unsafe" in str(exc).lower():
        first = "it holds code (a Lambda layer or a function) that Keras's safe mode refuses to run"
    return f"{path} cannot be loaded as a Keras model: {type(exc).__name__}: {one_line(first, 200)}"


MAX_MODEL_MEMBER_BYTES = {"config.json": 16 << 20, "metadata.json": 1 << 20}
"""The largest uncompressed size a ``.keras`` archive's small members may declare;
``model.weights.h5`` is bounded by what the model's config can need (`weights_bound`)."""
MAX_MODEL_BYTES = 8 << 30
MAX_MODEL_MEMBERS = 64
"""Keras writes three members (config.json, metadata.json, model.weights.h5)."""


def check_archive_sizes(path: Path, weights: int = MAX_MODEL_BYTES) -> None:
    """Refuse a ``.keras`` zip whose members declare more bytes than a model could hold (``weights``
    for ``model.weights.h5``, :data:`MAX_MODEL_BYTES` in all), before anything is inflated: a zip
    bomb would otherwise take memory and minutes. Reads only the zip's directory.

    Raises:
        ArtifactError: one line naming the file, the member and both sizes.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArtifactError(f"{path} is not a readable zip archive: {one_line(exc, 160)}") from exc
    if len(members) > MAX_MODEL_MEMBERS:
        raise ArtifactError(f"{path} holds {len(members):,} files (at most {MAX_MODEL_MEMBERS}): "
                            "not a model tunesmith wrote")
    total = sum(m.file_size for m in members)
    for m in members:
        limit = MAX_MODEL_MEMBER_BYTES.get(m.filename, weights)
        if m.file_size > limit:
            name = printable(m.filename[:80], keep_newlines=False)
            raise ArtifactError(f"{path}: its {name} declares {m.file_size:,} bytes uncompressed "
                                f"(at most {limit:,} expected for this model): not a model tunesmith wrote; "
                                "refused unread")
    if total > MAX_MODEL_BYTES:
        raise ArtifactError(f"{path} declares {total:,} bytes uncompressed (at most {MAX_MODEL_BYTES:,})")
