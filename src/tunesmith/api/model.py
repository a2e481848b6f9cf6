"""`load_model` and `Model`: a trained model folder in a notebook; `tunesmith generate` and
`tunesmith score` read their settings through the same functions."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tunesmith.api.sample import Sample
from tunesmith.api.scoring import Score, check_known, encode_music, score_symbols
from tunesmith.core.errors import ConfigError, TunesmithError
from tunesmith.tracks.base import Track

PrimerLike = str | Sequence[str] | os.PathLike | None
"""A primer: text (ABC for a track of characters, else symbols separated by spaces), a list of
symbols, or a music file whose opening is taken."""


def model_vocab(model_dir: Path | str, params: Path | str | None = None) -> dict[str, Any]:
    """The ``vocab.json`` of a model folder, checked, with its track made known (params.yaml's
    ``tracks`` when ``params`` lists it, else the kind the vocabulary records)."""
    from tunesmith.tracks import BUILTIN, KINDS, register_tracks
    from tunesmith.training.bundle import read_model_vocab

    vocab_path = Path(model_dir) / "vocab.json"
    if not vocab_path.exists() and not vocab_path.is_symlink():
        raise TunesmithError(f"{model_dir} is not a model folder: {vocab_path.name} is missing")
    vocab = read_model_vocab(model_dir)  # bounded, every field checked: one line naming the field
    if not isinstance(vocab, dict) or not isinstance(vocab.get("symbols"), list) or not vocab["symbols"]:
        raise TunesmithError(f"{vocab_path} is not a vocabulary: it has no list of symbols")
    corpus, kind = vocab.get("corpus"), vocab.get("kind")
    if corpus is None:
        raise TunesmithError(f"{vocab_path} does not say which corpus it belongs to")
    tracks = None
    if params is not None:
        from tunesmith.config.load import load_params

        tracks = load_params(params).get("tracks")
    if isinstance(tracks, dict) and corpus in tracks:
        register_tracks(tracks, f"{params}: tracks")
    elif corpus not in BUILTIN:
        if kind not in KINDS:
            where = f"{params} does not list" if params is not None else "no params.yaml lists"
            raise TunesmithError(f"{vocab_path} belongs to track {corpus!r}, which {where}, and whose kind the "
                                 "vocabulary does not record: pass the params.yaml that lists it (--params, or "
                                 "params= of load_model)")
        register_tracks({**{name: {"kind": k} for name, k in BUILTIN.items()}, corpus: {"kind": kind}})
    return vocab


def generation_settings(corpus: str, params: Path | str | None, *, num: int | None = None,
                        max_length: int | None = None, seed: int = 0, sampler: str | None = None,
                        temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                        bias: Mapping[str, float] | None = None, primer: str | None = None,
                        primer_mode: str | None = None, primer_length: int | None = None,
                        cache: bool = False):
    """The `tunesmith.config.stages.GenerateConfig` to sample with: the pipeline's ``generate.<corpus>``
    of ``params`` (when that file has it; else tunesmith's defaults) with every option given laid over
    it. Returns ``(config, where the defaults came from, in words)``.

    Raises:
        ConfigError: a bad option, naming it.
    """
    from tunesmith.config.load import build, load_params
    from tunesmith.config.stages import GenerateConfig, PrimerConfig

    base, source = GenerateConfig(num_samples=4), "tunesmith's defaults (no params.yaml)"
    if params is not None:
        section = (load_params(params).get("generate") or {}).get(corpus)
        if isinstance(section, dict):
            base = build(GenerateConfig, section, f"generate.{corpus}")
            source = f"the pipeline's settings, generate.{corpus} of {params}"
        else:
            source = f"tunesmith's defaults ({params} has no generate.{corpus})"
    chosen = {k: v for k, v in (("method", sampler), ("temperature", temperature), ("top_k", top_k),
                                ("top_p", top_p), ("bias", bias)) if v is not None}
    length = primer_length or base.primer.length
    try:
        if primer:
            primer_cfg = PrimerConfig(mode=primer_mode or "symbols", text=primer, length=length)
        elif primer_mode is not None:
            primer_cfg = PrimerConfig(mode=primer_mode, text="", length=length)
        else:
            primer_cfg = replace(base.primer, length=length)
        cfg = replace(base, num_samples=num if num is not None else base.num_samples,
                      max_length=max_length if max_length is not None else base.max_length,
                      seed=seed, sampler=replace(base.sampler, **chosen), primer=primer_cfg,
                      cache=cache or base.cache)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"bad option: {exc}") from exc
    return cfg, source


def load_model(folder: Path | str, *, params: Path | str | None = None) -> Model:
    """Load a model folder the train stage wrote (``model.keras``, ``vocab.json``, ``config.json`` and,
    when fitted, ``cache.json``).

    ``params``: a params.yaml whose ``generate.<corpus>`` gives the sampling defaults (as
    ``tunesmith generate`` reads it) and whose ``tracks`` name a corpus of your own; without it,
    tunesmith's defaults.

    Raises:
        ArtifactError: a missing or damaged file of the folder, named.
    """
    from tunesmith.tracks import get_track
    from tunesmith.training.bundle import load_model_bundle
    from tunesmith.training.cache_file import load_cache

    folder = Path(folder)
    params = Path(params) if params is not None else None
    if params is not None and not params.is_file():
        raise ConfigError(f"params file {params} not found")
    vocab = model_vocab(folder, params)
    model, model_cfg, train_cfg, vocab = load_model_bundle(folder)
    return Model(folder, model, model_cfg, train_cfg, vocab, get_track(vocab["corpus"]), load_cache(folder), params)


class Model:
    """A trained model with its vocabulary, track and continuous cache: :meth:`generate` and :meth:`score`.

    Attributes:
        folder: the model folder; corpus: its track's name; track: the `tunesmith.tracks.Track`;
        vocab: ``vocab.json``; keras_model: the uncompiled Keras model (ids -> logits);
        model_config, train_config: ``config.json``; cache: the fitted `tunesmith.modeling.cache.Cache`.
    """

    def __init__(self, folder: Path, keras_model, model_config, train_config, vocab: dict[str, Any], track: Track,
                 cache, params: Path | None = None) -> None:
        self.folder, self.keras_model, self.model_config, self.train_config = folder, keras_model, model_config, \
            train_config
        self.vocab, self.track, self.cache, self.params = vocab, track, cache, params
        self.corpus: str = vocab["corpus"]

    def __repr__(self) -> str:
        return (f"<tunesmith.Model {self.corpus} from {self.folder}: {self.model_config.family}, "
                f"{len(self.vocab['symbols'])} symbols, cache lambda {self.cache.lam}>")

    def _primer(self, primer: PrimerLike, length: int) -> tuple[list[str], bool]:
        """The primer's symbols and whether unknown ones become ``<unk>`` (a real piece's may)."""
        if primer is None:
            return [], False
        if isinstance(primer, os.PathLike):
            pieces = self.encode(Path(primer))
            if not pieces:
                raise ConfigError(f"primer {primer}: the file holds no piece")
            return list(pieces[0][:length]), True
        if isinstance(primer, str):
            return (list(primer) if self.track.char_symbols else primer.split()), False
        return [str(s) for s in primer], False

    def generate(self, n: int = 4, primer: PrimerLike = None, *, temperature: float | None = None, seed: int = 0,
                 max_length: int | None = None, sampler: str | None = None, top_k: int | None = None,
                 top_p: float | None = None, cache: bool = False, primer_length: int = 32) -> list[Sample]:
        """Generate ``n`` samples as one batch, each up to ``max_length`` new symbols or its end token.

        ``primer``: None (a piece from its start), text (ABC text for an ABC track, else symbols
        separated by spaces: ``"60 _ _ _ 62 _"``), a list of symbols, or a ``pathlib.Path`` of a music
        file (its first ``primer_length`` symbols, read as :meth:`encode` reads it). ``temperature``,
        ``sampler`` (`tunesmith.config.sampling.METHODS`), ``top_k``, ``top_p`` and ``max_length``
        default to ``params``' ``generate.<corpus>`` or tunesmith's defaults; ``cache`` samples from
        the LSTM mixed with its continuous cache. The same model, arguments and ``seed`` give the same
        samples, the same as ``tunesmith generate`` with the same options and one primer.

        Raises:
            ConfigError: a bad option or a primer symbol the vocabulary lacks (named, with the nearest).
        """
        from tunesmith.generation.constraints import kept_order_and_rules
        from tunesmith.generation.decode import generate
        from tunesmith.generation.primers import symbol_ids
        from tunesmith.generation.samplers import make_sampler
        from tunesmith.generation.samples import bar_limit, check_budget, sampling_cache

        cfg, _ = generation_settings(self.corpus, self.params, num=n, max_length=max_length, seed=seed,
                                     sampler=sampler, temperature=temperature, top_k=top_k, top_p=top_p,
                                     cache=cache, primer_length=primer_length)
        symbols, end = list(self.vocab["symbols"]), self.vocab["special"]["end"]
        primer_symbols, allow_unk = self._primer(primer, cfg.primer.length)
        try:
            ids = symbol_ids(primer_symbols, symbols, end, allow_unk=allow_unk)
            sample_next = make_sampler(cfg.sampler, symbols)
        except ValueError as exc:
            raise ConfigError(f"generate: {exc}") from exc
        check_budget(self.corpus, cfg, len(ids))
        max_units, unit_id, min_units = bar_limit(self.corpus, self.track, cfg, self.vocab, symbols)
        end_id = symbols.index(end)
        cycle, rules = kept_order_and_rules(self.track, self.vocab, symbols, cfg)  # as `tunesmith generate` keeps them
        try:
            outputs = generate(self.keras_model, self.model_config, symbols, primer_ids=ids,
                               num_samples=cfg.num_samples, max_length=cfg.max_length, sampler=sample_next,
                               seed=cfg.seed, end_id=end_id, window=self.train_config.window,
                               cache=sampling_cache(self.corpus, self.folder, cfg, self.model_config),
                               max_units=max_units, unit_id=unit_id, min_units=min_units, cycle=cycle, rules=rules)
        except ValueError as exc:
            raise ConfigError(f"generate: {exc}") from exc
        ended = [bool(out) and out[-1] == end_id for out in outputs]
        return [Sample(tuple(primer_symbols), tuple(symbols[t] for t in (out[:-1] if done else out)), done,
                       cfg.seed, self.track, self.vocab) for out, done in zip(outputs, ended)]

    def encode(self, music) -> list[list[str]]:
        """The symbols of each piece of ``music`` (a path, ABC text, a music21 stream or a PrettyMIDI), read
        with the prepare and encode options of the model's corpus (`tunesmith.api.scoring.encode_music`)."""
        return encode_music(self.track, music, self.vocab, where=str(self.folder / "vocab.json"))

    def score(self, music, *, unknown: str = "error") -> Score:
        """Negative log-likelihood of ``music`` (see :meth:`encode`) under the model, per symbol and per note,
        without and with the continuous cache: the evaluate stage's full-context scoring of the same pieces.

        ``unknown``: ``"error"`` stops with one line naming the symbols the vocabulary lacks;
        ``"unk"`` scores them as ``<unk>``, as ``evaluate`` scores the test split.

        Raises:
            MusicInputError: the file cannot be read, prepare rejects it, or (``unknown="error"``) it
                holds symbols the vocabulary lacks.
        """
        pieces = self.encode(music)
        name = str(music) if isinstance(music, str | os.PathLike) and "\n" not in str(music) else "the piece"
        if not pieces:
            raise ConfigError(f"{name}: holds no piece to score")
        missing = check_known(pieces, self.vocab, unknown, name)
        return score_symbols(self.keras_model, self.model_config, self.track, self.vocab, pieces, self.cache, missing)
