"""The trained model's folder: ``model.keras``, ``vocab.json`` and ``config.json``, saved and loaded.

Also the vocabulary fingerprint recorded in ``config.json`` and the byte-stable
``.keras`` writer the checkpoints use too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from tunesmith.config.load import build
from tunesmith.config.model import ModelConfig
from tunesmith.config.train import STATE_FORMAT, TrainConfig
from tunesmith.core.errors import ArtifactError, ConfigError, MissingArtifactError
from tunesmith.core.io import is_write_error, read_json, write_failure, write_json
from tunesmith.core.vocab import fingerprint
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
    owner = f"the {corpus} vocab of " if corpus else ""
    return f"{owner}{len(vocab_symbols(vocab))} symbols (sha256 {vocab_fingerprint(vocab)[:12]}...)"


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
    config = read_json(model_dir / "config.json")
    try:
        trained = config["vocab"]
        trained_sha, trained_size = trained["sha256"], trained["size"]
        # validated as params.yaml is: one way, by build()
        model_cfg = build(ModelConfig, config["model"], "model")
        train_cfg = build(TrainConfig, config["train"], "train")
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise ArtifactError(
            f"{model_dir / 'config.json'} is not a model config written by train(): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    stored_vocab = read_json(model_dir / "vocab.json")
    if not isinstance(stored_vocab, Mapping) or not isinstance(stored_vocab.get("symbols"), list):
        raise ArtifactError(f"{model_dir / 'vocab.json'} is not a vocabulary: it has no 'symbols' list")
    trained_corpus = trained.get("corpus")
    owner = f"the {trained_corpus} vocab of " if trained_corpus else "vocab of "
    for label, candidate in (("its vocab.json has", stored_vocab), ("got", vocab)):
        if candidate is None:
            continue
        if vocab_fingerprint(candidate) != trained_sha:
            raise ArtifactError(
                f"model in {model_dir} was trained with {owner}{trained_size} symbols "
                f"(sha256 {trained_sha[:12]}...), {label} {_describe_vocab(candidate)}"
            )
    model_path = model_dir / "model.keras"
    size = model_path.stat().st_size
    if size == 0 or not zipfile.is_zipfile(model_path):
        raise ArtifactError(
            f"{model_path} is not a Keras model file ({'0 bytes' if size == 0 else 'not a zip archive'}: "
            "truncated or overwritten?); rerun training to rewrite it"
        )
    _check_archive_sizes(model_path)
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as exc:  # Keras raises many types (and misleading "File not found") here
        raise ArtifactError(
            f"{model_path} cannot be loaded as a Keras model: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
    used = dict(vocab if vocab is not None else stored_vocab)
    predicts = model.output_shape[-1]
    if predicts != len(used["symbols"]):
        raise ArtifactError(f"{model_path} predicts {predicts} symbols but the vocabulary has "
                            f"{len(used['symbols'])}: the model file belongs to another vocabulary")
    return model, model_cfg, train_cfg, used


MAX_MODEL_MEMBER_BYTES = {"config.json": 16 << 20, "metadata.json": 1 << 20}
"""The largest uncompressed size a ``.keras`` archive's small members may declare;
``model.weights.h5`` is bounded by the archive's whole declared size."""
MAX_MODEL_BYTES = 8 << 30


def _check_archive_sizes(path: Path) -> None:
    """Refuse a ``.keras`` zip whose members declare more bytes than a model could hold,
    before anything is inflated (a zip bomb would otherwise take memory and minutes)."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    total = sum(m.file_size for m in members)
    for m in members:
        limit = MAX_MODEL_MEMBER_BYTES.get(m.filename)
        if limit is not None and m.file_size > limit:
            raise ArtifactError(f"{path}: its {m.filename} declares {m.file_size:,} bytes uncompressed "
                                f"(at most {limit:,} expected): not a model tunesmith wrote")
    if total > MAX_MODEL_BYTES:
        raise ArtifactError(f"{path} declares {total:,} bytes uncompressed (at most {MAX_MODEL_BYTES:,})")
