"""Generate a set of samples from a trained model and write them as music files.

Used by the generate stage and by ``tunesmith generate``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunesmith.core import io
from tunesmith.core.cells import write_frame
from tunesmith.core.errors import ArtifactError, ConfigError, MusicInputError
from tunesmith.core.sample_record import SampleRecord, write_records
from tunesmith.generation.constraints import frame_rules_text, kept_order_and_rules
from tunesmith.tracks import get_track
from tunesmith.tracks.base import Track

log = logging.getLogger(__name__)


from tunesmith.generation.music_files import write_sample  # noqa: E402  (looked up here: tests replace it)
from tunesmith.generation.primers import primer_symbols, symbol_ids  # noqa: E402  (their old home)

SAMPLES_MARKER = ("samples.csv",)
"""A folder holding this file was written by :func:`generate_samples` and may be replaced."""


GENERATION_BUDGET = 20_000_000
"""The most tokens one generate call may produce or feed (``num_samples x max_length``, and
``num_samples x`` the primer's length): 20M tokens keep the arrays of a call far under 2 GB."""


def check_budget(track: str, cfg, primer_length: int) -> None:
    """Refuse a generation whose size alone would exhaust memory, before any work, naming the keys."""
    for what, size in (("num_samples x max_length (--num x --max-length)", cfg.num_samples * cfg.max_length),
                       ("num_samples x primer length (--num x the primer)", cfg.num_samples * primer_length)):
        if size > GENERATION_BUDGET:
            raise ConfigError(f"generate.{track}: {what} is {size:,} tokens, over the budget of "
                              f"{GENERATION_BUDGET:,} per call: generate fewer or shorter samples")


def unit_symbols(symbol: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """The symbols that each close one time unit (`tunesmith.tracks.Track.bar_unit`'s first item:
    one symbol, several, or None for every symbol, here none listed)."""
    if symbol is None:
        return ()
    return (symbol,) if isinstance(symbol, str) else tuple(symbol)


def primer_beats(music: Track, meta, primer: Sequence[str]) -> float:
    """How long a primer lasts, in beats (quarter notes), counted by the track's time units
    (`tunesmith.tracks.Track.bar_unit`); 0.0 for a track that cannot tell or a header-only primer."""
    unit = music.bar_unit(meta)
    if unit is None or not primer:
        return 0.0
    symbol, per_bar = unit
    primer = music.after_header(primer)  # `M:C|` is a meter, not a bar line
    count = len(primer) if symbol is None else sum(1 for s in primer if s in unit_symbols(symbol))
    return round(4.0 * count / per_bar, 3)


def bar_limit(track: str, music: Track, cfg, vocab, symbols: Sequence[str],
               train_pieces: Path | None = None) -> tuple[int, int | None, int]:
    """``(max_units, unit_id, min_units)`` for `tunesmith.generation.decode.generate` from
    ``generate.<c>.max_bars`` and ``min_bars``, or (``lengths: corpus``) the training pieces' lengths."""
    if not cfg.max_bars and not cfg.min_bars and (cfg.lengths != "corpus" or train_pieces is None):
        return 0, None, 0
    unit = music.bar_unit(vocab)
    if unit is None:
        raise ConfigError(f"generate.{track}.max_bars: the {track} track cannot count bars; set it to 0")
    symbol, per_bar = unit
    missing = [s for s in unit_symbols(symbol) if s not in symbols]
    if missing:
        raise ConfigError(f"generate.{track}.max_bars: the vocabulary has no {missing[0]!r} to count bars by")
    unit_id = None if symbol is None else [list(symbols).index(s) for s in unit_symbols(symbol)]
    if cfg.lengths == "corpus" and train_pieces is None:  # the API or CLI away from the pipeline's splits
        log.info("%s: lengths: corpus needs the encoded train split; using max_bars/min_bars", track)
    elif cfg.lengths == "corpus":
        low, high = corpus_bars(music, train_pieces, symbol, per_bar)
        log.info("%s: each sample as long as a training piece drawn at random, %.1f to %.1f bars of new music "
                 "(their 10th to 90th percentile), ending up to %d bars before it", track, low, high,
                 LENGTH_SLACK_BARS)
        return round(high * per_bar), unit_id, round(low * per_bar)
    return cfg.max_bars * per_bar, unit_id, cfg.min_bars * per_bar


LENGTH_SLACK_BARS = 2
"""With ``lengths: corpus`` each sample draws its length from the training pieces' (:func:`drawn_limits`) and
may end up to this many bars before it: where its form lets it end (a bar that comes home), not on the bar."""


def corpus_lengths(music: Track, train_pieces: Path, symbol: str | None, per_bar: int) -> np.ndarray:
    """The training pieces' lengths in 4/4 bars, those from their 10th to their 90th percentile
    (:func:`corpus_bars`): what ``lengths: corpus`` draws each sample's length from."""
    bars = _piece_bars(music, train_pieces, symbol, per_bar)
    low, high = np.percentile(bars, [10, 90])
    return bars[(bars >= low) & (bars <= high)]


def drawn_limits(lengths: np.ndarray, n: int, seed: int, per_bar: int) -> tuple[np.ndarray, np.ndarray]:
    """``(max_units, min_units)``, one each for ``n`` samples: a length drawn from ``lengths`` (bars)
    with ``seed`` (the batch's, so a seed still reproduces its samples), and the same less
    :data:`LENGTH_SLACK_BARS` (a bar at least)."""
    rng = np.random.default_rng((seed, 1))  # a stream of its own: the sampler's is default_rng(seed)
    most = np.round(rng.choice(lengths, n) * per_bar).astype(np.int64)
    return most, np.maximum(most - LENGTH_SLACK_BARS * per_bar, per_bar)


def sample_limits(track: str, music: Track, cfg, vocab, symbols: Sequence[str], train: Path | None):
    """``(unit_id, limits)``: ``limits(n, seed)`` is the ``(max_units, min_units)`` of a batch of ``n``
    samples, :func:`bar_limit`'s for every sample or, with ``lengths: corpus``, one drawn a sample
    (:func:`drawn_limits`)."""
    max_units, unit_id, min_units = bar_limit(track, music, cfg, vocab, symbols, train)
    if cfg.lengths != "corpus" or not max_units or train is None:
        return unit_id, lambda n, seed: (max_units, min_units)
    symbol, per_bar = music.bar_unit(vocab)
    lengths = corpus_lengths(music, train, symbol, per_bar)
    return unit_id, lambda n, seed: drawn_limits(lengths, n, seed, per_bar)


def corpus_bars(music: Track, train_pieces: Path | None, symbol: str | None, per_bar: int) -> tuple[float, float]:
    """The 10th and 90th percentiles of the training pieces' lengths in 4/4 bars (``symbol`` counts
    a unit, None: every symbol does), for ``generate.<c>.lengths: corpus``."""
    low, high = np.percentile(_piece_bars(music, train_pieces, symbol, per_bar), [10, 90])
    return float(low), float(high)


def _piece_bars(music: Track, train_pieces: Path | None, symbol: str | None, per_bar: int) -> np.ndarray:
    """Each training piece's length in 4/4 bars (``symbol`` counts a unit, None: every symbol does)."""
    from tunesmith.generation.pool import read_pieces

    if train_pieces is None or not train_pieces.is_file():
        raise ConfigError(f"generate.{music.name}.lengths: corpus needs the encoded train split, "
                          f"{train_pieces} not found")
    units = unit_symbols(symbol)
    return np.array([(len(p["symbols"]) if symbol is None else sum(p["symbols"].count(s) for s in units)) / per_bar
                     for p in read_pieces(train_pieces)])


def check_samples_folder(out_dir: Path, model_dir: Path) -> None:
    """Refuse an output folder that is, holds or lies inside the model folder, that is a
    symbolic link, or that tunesmith did not write (see :func:`tunesmith.core.io.check_replaceable`)."""
    if Path(out_dir).is_symlink():
        raise ArtifactError(f"refusing to write samples to {out_dir}: it is a symbolic link "
                            f"(to {Path(out_dir).resolve()}); give the folder itself")
    out, model = Path(out_dir).resolve(), Path(model_dir).resolve()
    if out == model or out in model.parents or model in out.parents:
        raise ArtifactError(f"refusing to write samples to {out_dir}: it would replace or write into "
                            f"the model folder {model_dir}; choose another folder")
    io.check_replaceable(out_dir, SAMPLES_MARKER)


def generate_samples(track: str, model_dir: Path, cfg, out_dir: Path, *,
                     test_pieces: Path | None = None) -> pd.DataFrame:
    """Generate ``cfg.num_samples`` samples from the model in ``model_dir`` into ``out_dir``.

    With ``cfg.cache`` (and a fitted ``cache.json``) the samples come from the LSTM mixed with its
    continuous cache over each sample so far; with ``cfg.form: plan``, along a form plan
    (`tunesmith.generation.form_plan`). Samples that share a primer are one batch. A sample that
    does not decode to music is generated again, alone, with the next unused seed, up to
    ``cfg.retries`` times; ``samples.csv`` records each kept sample's seed, ``attempts`` and the
    ``rejected`` seeds with their errors (one still undecoded stays, marked ``decoded`` False).
    """
    from tunesmith.generation.decode import generate
    from tunesmith.generation.samplers import make_sampler
    from tunesmith.training.bundle import load_model_bundle

    check_samples_folder(out_dir, model_dir)
    check_budget(track, cfg, 0)
    music = get_track(track)
    model, model_cfg, train_cfg, vocab = load_model_bundle(model_dir)
    cache = sampling_cache(track, model_dir, cfg, model_cfg)
    symbols = list(vocab["symbols"])
    end = vocab["special"]["end"]
    end_id = symbols.index(end)
    try:
        sampler = make_sampler(cfg.sampler, symbols)
    except ValueError as exc:
        raise ConfigError(f"generate.{track}.sampler.{exc}") from exc
    primers = primer_symbols(cfg, vocab, test_pieces=test_pieces, track=music)
    try:
        primer_ids = [symbol_ids(p, symbols, end, allow_unk=cfg.primer.mode in ("midi", "test")) for p in primers]
    except ValueError as exc:
        raise ConfigError(f"generate.{track}.primer: {exc}") from exc
    check_budget(track, cfg, max(map(len, primer_ids)))
    train = test_pieces.with_name("train.jsonl") if test_pieces is not None else None
    unit_id, limits = sample_limits(track, music, cfg, vocab, symbols, train)
    cycle, rules = kept_order_and_rules(music, vocab, symbols, cfg)
    plan, form_log = _form_plan(track, music, cfg, vocab, train, cache, model_cfg.family), []

    groups: dict[tuple[int, ...], list[int]] = {}
    for i, ids in enumerate(primer_ids):
        groups.setdefault(tuple(ids), []).append(i)
    outputs: dict[int, list[int]] = {}
    seeds: dict[int, int] = {}
    start = time.perf_counter()
    reuse: dict = {}  # one stepper for every call (a batch per primer, the judging pool, retries)

    def sample(ids: Sequence[int], n: int, seed: int) -> list[list[int]]:
        form = None if plan is None else _form_control(music, vocab, plan, ids, n, seed)
        most, least = limits(n, seed)
        try:
            out = generate(model, model_cfg, symbols, primer_ids=list(ids), num_samples=n,
                           max_length=cfg.max_length, sampler=sampler, seed=seed, end_id=end_id,
                           window=train_cfg.window, cache=cache, max_units=most, unit_id=unit_id,
                           min_units=least, form=form, reuse=reuse, cycle=cycle, rules=rules)
        except ValueError as exc:  # what the sampler cannot do with these logits, named
            raise ConfigError(f"generate.{track}.sampler: {exc}") from exc
        form_log.extend([form.summary()] if form is not None else [])
        return out

    for g, (ids, members) in enumerate(groups.items()):
        outputs.update(zip(members, sample(ids, len(members), cfg.seed + g)))
        seeds.update(dict.fromkeys(members, cfg.seed + g))
    next_seed = cfg.seed + len(groups)  # retries take the seeds after the batches'
    seconds = time.perf_counter() - start
    new_tokens = sum(len(s) for s in outputs.values())
    from tunesmith.generation.pool import judge_pool

    pool = judge_pool(cfg, vocab, music, sample, test_pieces=test_pieces)

    rows: list[dict[str, Any]] = []
    try:
        table = _write_sample_set(track, music, vocab, cfg, out_dir, primers, primer_ids, outputs, seeds, sample,
                                  next_seed, end_id, symbols, rows, cache, new_tokens, pool, test_pieces,
                                  form_log, rules)
    except OSError as exc:  # a full disk, a folder removed under us: the previous samples stay
        raise ArtifactError(f"cannot write samples to {out_dir}: {exc.strerror or exc}; "
                            "the previous samples, if any, are kept") from exc
    log.info("%s: %d samples, %d tokens in %.1f s (%.0f tokens/s), %d decode", track, cfg.num_samples,
             new_tokens, seconds, new_tokens / max(seconds, 1e-9), int(table["decoded"].sum()))
    return table


def _form_plan(track: str, music: Track, cfg, vocab, train: Path | None, cache, family: str):
    """The form plan fitted on the training split (``generate.<c>.form: plan``), or None."""
    from tunesmith.generation.steppers import STEPPABLE_FAMILIES

    if cfg.form != "plan":
        return None
    if family not in STEPPABLE_FAMILIES:  # the plan redraws bars from a stepped model's saved states
        log.warning("%s: a %s model is re-run on windows, not stepped: sampling without the form plan",
                    track, family)
        return None
    if cache.on:  # asked for the cache (--cache): it mixes in the sample so far, which the plan repeats
        log.warning("%s: sampling with the cache, without the form plan (the plan works on the model alone)", track)
        return None
    if train is None or not train.is_file():  # the API or CLI away from the pipeline's splits
        log.info("%s: form: plan needs the encoded train split (%s); sampling without it", track, train)
        return None
    from tunesmith.generation.form_plan import track_plan

    return track_plan(music, vocab, train)


def _form_control(music: Track, vocab, plan, ids, n: int, seed: int):
    """A form control for a batch: ``ids`` one primer shared by ``n`` samples, or one per sample."""
    from tunesmith.generation.form_plan import control_for

    rows = [list(r) for r in ids] if ids and isinstance(ids[0], (list, tuple)) else [list(ids)] * n
    symbols = vocab["symbols"]
    return control_for(music, vocab, plan, [[symbols[t] for t in r] for r in rows], seed)


def _form_summary(logs: Sequence[dict]) -> dict[str, Any]:
    """The form plan, the rules its bar reader enforced (where it states them) and what it did over
    every batch (bars redrawn and repeated, and why)."""
    from collections import Counter

    reasons: Counter = Counter()
    for entry in logs:
        reasons.update(entry["redrawn_for"])
    return {**{k: logs[0][k] for k in ("section_bars", "sections", "repeat_share", "places", "rules") if k in logs[0]},
            "bars_redrawn": sum(e["bars_redrawn"] for e in logs),
            "bars_repeated": sum(e["bars_repeated"] for e in logs),
            "redrawn_for": dict(reasons.most_common())}


def sampling_cache(track: str, model_dir: Path, cfg, model_cfg):
    """The continuous cache to sample with: the model folder's ``cache.json`` when ``cfg.cache``,
    else (or for a family that is not stepped) an off cache."""
    from tunesmith.generation.steppers import STEPPABLE_FAMILIES
    from tunesmith.modeling.cache import Cache
    from tunesmith.training.cache_file import load_cache

    if cfg.cache and not (Path(model_dir) / "cache.json").is_file():
        raise ConfigError(f"generate.{track}.cache (--cache): {model_dir} has no cache.json; its model was "
                          "trained without the continuous cache (train.<corpus>.cache: false)")
    cache = load_cache(model_dir) if cfg.cache else Cache()
    if cache.on and model_cfg.family not in STEPPABLE_FAMILIES:
        log.warning("%s: a %s model is re-run on windows, not stepped: sampling without its cache",
                    track, model_cfg.family)
        cache = Cache()
    return cache


def _note_count(music: Track, symbols: Sequence[str], vocab) -> int:
    """How many notes ``symbols`` hold (0 when they hold none, or are no music on their own)."""
    try:
        return len(music.notes(list(symbols), vocab))
    except (MusicInputError, ValueError):
        return 0


def _beyond_primer(info: dict[str, Any], primer_notes: int) -> dict[str, Any]:
    """``info`` of a decoded sample with no note beyond its primer's: not decoded (the model ended
    the piece before any music of its own), so it is generated again like any other failure."""
    if info["decoded"] and info["notes"] <= primer_notes:
        notes = f"{primer_notes} note" + ("" if primer_notes == 1 else "s")
        return {**info, "decoded": False,
                "error": f"only the primer ({notes}): the model ended the piece before a note of its own"}
    return info


def _write_sample_set(track, music, vocab, cfg, out_dir, primers, primer_ids, outputs, seeds, sample, next_seed,
                      end_id, symbols, rows, cache, new_tokens, pool, test_pieces, form_log=(),
                      rules=None) -> pd.DataFrame:
    """Decode, retry and write every sample, samples.csv and generation.json into ``out_dir`` atomically."""
    with io.atomic_path(out_dir, owned_if=SAMPLES_MARKER) as tmp:
        tmp.mkdir()
        for i in range(cfg.num_samples):
            primer = primers[i]
            primer_notes = _note_count(music, primer, vocab)
            sample_symbols = [*primer, *(symbols[t] for t in outputs[i])]
            stem = tmp / f"sample_{i:03d}"
            info = _beyond_primer(write_sample(track, sample_symbols, vocab, stem, title=f"tunesmith {track} {i}",
                                               primer_length=len(primer)), primer_notes)
            rejected = []
            while not info["decoded"] and len(rejected) < cfg.retries:
                # a sample that is not music is never kept silently: generate it again with the next seed
                rejected.append(f"seed {seeds[i]}: {info['error']}")
                seeds[i], next_seed = next_seed, next_seed + 1
                outputs[i] = sample(primer_ids[i], 1, seeds[i])[0]
                new_tokens += len(outputs[i])
                sample_symbols = [*primer, *(symbols[t] for t in outputs[i])]
                info = _beyond_primer(write_sample(track, sample_symbols, vocab, stem,
                                                   title=f"tunesmith {track} {i}", primer_length=len(primer)),
                                      primer_notes)
            io.write_text(stem.with_suffix(".txt"), music.sample_text(sample_symbols))
            rows.append({
                "sample": stem.name,
                "seed": seeds[i],
                "attempts": len(rejected) + 1,
                "rejected": "; ".join(rejected),
                "sampler": cfg.sampler.method,
                "temperature": cfg.sampler.temperature,
                "primer_mode": cfg.primer.mode,
                "primer": music.join(primer),
                "primer_length": len(primer),
                "primer_beats": primer_beats(music, vocab, primer),
                "length": len(outputs[i]),
                "ended": bool(outputs[i]) and outputs[i][-1] == end_id,
                "decoded": info["decoded"],
                "notes": info["notes"],
                "files": " ".join(info["files"]),
                "error": info["error"],
            })
        table = pd.DataFrame(rows)
        write_frame(table, tmp / "samples.csv")
        if cfg.render:  # to listen to and look at: audio, engraved score, piano roll
            from tunesmith.render.sample_set import render_samples

            records = render_samples(tmp, tmp, max_seconds=cfg.render_seconds, scores=music.scores,
                                     keep_wav=cfg.keep_wav)
            # how long each sample is, and how much of it the audio plays (render_seconds at most)
            audio = {r.name: r.audio or {} for r in records}
            table["seconds"] = [round(float(audio.get(n, {}).get("music_seconds", 0.0)), 2) for n in table["sample"]]
            table["audio_seconds"] = [round(float(audio.get(n, {}).get("seconds", 0.0)), 2) for n in table["sample"]]
            write_frame(table, tmp / "samples.csv")
            rows = table.to_dict("records")
            for record, row in zip(records, rows):
                record.info.update({k: row[k] for k in ("seconds", "audio_seconds")})
        else:
            records = [SampleRecord.found(tmp, str(row["sample"]), {k: v for k, v in row.items() if k != "sample"},
                                          str(row.get("error") or "")) for row in table.to_dict("records")]
        write_records(tmp, records)  # the one record of each sample: evaluate, report and compare read it
        from tunesmith.generation.pool import write_real_pieces

        write_real_pieces(track, music, vocab, cfg, tmp, test_pieces, cfg.real_pieces)
        if pool:
            from tunesmith.generation.pool import POOL

            io.write_text(tmp / POOL, "".join(json.dumps(p) + "\n" for p in pool))
        io.write_json(tmp / "generation.json", {"config": json.loads(json.dumps(asdict(cfg), default=dict)),
                                                "tokens": new_tokens,
                                                "cache": {"lambda": cache.lam, "theta": cache.theta},
                                                **({"form": _form_summary(form_log)} if form_log else {}),
                                                **({"order": list(music.cycle(vocab))} if music.cycle(vocab) else {}),
                                                **({"frame_rules": frame_rules_text(rules)} if rules else {})})
    return table
