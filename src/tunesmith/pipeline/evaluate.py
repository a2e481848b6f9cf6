"""Run the evaluation of one trained corpus (the evaluate stage).

:mod:`tunesmith.evaluation` holds the metric functions; this module applies them
to the artifacts of one track: the model on the test split beside its n-gram
baselines, the musical statistics of the generated samples beside held-out real
pieces, the track's playability check (if it has one) and novelty, plus the plots.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunesmith.config.stages import EvaluateConfig
from tunesmith.core.errors import ArtifactError
from tunesmith.core.safe_json import NUMBERS, open_bounded, parse_json_bounded, read_json_bounded
from tunesmith.core.sample_record import read_records
from tunesmith.evaluation.judge import HEADLINE_FORM
from tunesmith.evaluation.likelihood import evaluate_model
from tunesmith.evaluation.music_stats import (
    HISTOGRAMS,
    NOTE_LENGTH_EDGES,
    SCALARS,
    compare_distributions,
    music_stats,
    pieces_to_notes,
)
from tunesmith.evaluation.novelty import NoveltyIndex
from tunesmith.tracks import get_track
from tunesmith.tracks.base import Track

log = logging.getLogger(__name__)


def _iter_pieces(path: Path):
    """The symbols of each piece of an encoded split, one at a time (a 5M-token split as lists of
    Python strings would take about 300 MB)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)["symbols"]


def _pieces(path: Path, limit: int = 0) -> list[list[str]]:
    with open(path, encoding="utf-8") as fh:
        pieces = [json.loads(line)["symbols"] for line in fh]
    return pieces[:limit] if limit else pieces


def read_samples(samples_dir: Path, track: str | Track) -> tuple[pd.DataFrame, list[list[str]], list[list[str]]]:
    """The samples table and each sample's symbols: whole (primer included: an ABC tune
    needs its primed header to be music) and generated only (for novelty)."""
    track = get_track(track)
    records = read_records(samples_dir)
    table = pd.DataFrame([{"sample": r.name, **r.info, "error": r.error or ""} for r in records])
    whole, generated = [], []
    for record in records:
        text = Path(record.txt or samples_dir / f"{record.name}.txt").read_text(encoding="utf-8")
        symbols = track.split_text(text)
        whole.append(symbols)
        generated.append(symbols[int(record.info.get("primer_length", 0) or 0):])
    return table, whole, generated


def _clean(obj: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None (DVC and browsers read the file)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def evaluate_stage(track: str, *, model_dir: Path, vocab_dir: Path, encoded_dir: Path, samples_dir: Path,
                   live_dir: Path | None, cfg: EvaluateConfig, plots_dir: Path) -> tuple[dict, dict]:
    """Evaluate one corpus; write its plots into ``plots_dir``.

    Returns ``(metrics, histograms)``: ``metrics`` is flat enough for
    ``dvc metrics show``: ``model`` (test metrics with the full context of each
    piece, mixed with the continuous cache the train stage fitted when it has
    one), ``model_no_cache`` (the LSTM alone, full context) and its
    ``margin_vs_best_ngram_no_cache``, ``margin_vs_best_ngram_with_cache`` (the headline
    against the best n-gram with its own cache, `evaluation.ngram_cache`), ``model_windows`` (the same model on
    fixed windows from a zero state), ``baselines`` (uniform, unigram and the Kneser-Ney order chosen on
    the validation split), ``best_ngram``, ``margin_vs_best_ngram`` (relative NLL
    reduction), music distances, playability, novelty; ``histograms`` maps each
    musical histogram to its ``generated`` and ``real`` counts and bin ``labels``.
    """
    from tunesmith.training.bundle import load_model_bundle

    corpus = get_track(track)
    model, model_cfg, train_cfg, vocab = load_model_bundle(model_dir)
    metrics = _likelihood(corpus, model, model_cfg, train_cfg, vocab, model_dir, vocab_dir, cfg)
    if corpus.published is not None:
        metrics["published"] = dict(corpus.published)
    training = model_dir / "metrics.json"
    if training.exists():
        t = read_json_bounded(training, allow=NUMBERS)
        metrics["training"] = {k: t.get(k) for k in ("saved", "best_epoch", "epochs_run", "stopped_early")}
        metrics["training"].update({"train_nll": t.get("train", {}).get("loss"),
                                    "val_nll": t.get("val", {}).get("loss")})
    table, whole, generated = read_samples(samples_dir, corpus)
    histograms = _music(track, corpus, vocab, table, whole, encoded_dir, cfg, plots_dir, metrics)
    metrics.update(_judged(corpus, vocab, samples_dir, encoded_dir))
    # ---- novelty: do the samples copy the training set?
    index = NoveltyIndex(_iter_pieces(encoded_dir / "train.jsonl"), ngram=cfg.novelty_ngram)
    novelty = index.novelty(generated)
    metrics["novelty"] = {k: v for k, v in novelty.items() if k != "per_sample"}
    _pictures(track, model, model_cfg, vocab, whole, live_dir, cfg, plots_dir)
    return _clean(metrics), _clean(histograms)


def _likelihood(corpus, model, model_cfg, train_cfg, vocab, model_dir: Path, vocab_dir: Path,
                cfg: EvaluateConfig) -> dict[str, Any]:
    """The test likelihoods: the model (with its cache, alone, on windows) beside the n-grams."""
    from tunesmith.data.windows import load_split
    from tunesmith.evaluation.best_ngram import best_ngram_table, margin
    from tunesmith.evaluation.full_context import full_context_metrics
    from tunesmith.evaluation.ngram import KneserNey
    from tunesmith.evaluation.ngram_cache import kn_cache_row
    from tunesmith.modeling.models import predicts_every_position
    from tunesmith.training.cache_file import load_cache

    symbols = list(vocab["symbols"])
    end_id = symbols.index(vocab["special"]["end"])
    train_ids, val_ids, test_ids = (np.asarray(load_split(vocab_dir, s)) for s in ("train", "validation", "test"))
    mask = corpus.hold_mask(test_ids, symbols)

    # The headline: every test token scored once from the start of its piece, as
    # generation sees it. Windows that restart from a zero state every
    # `window` tokens are the secondary figure (what training on windows sees).
    window_row = evaluate_model(model, model_cfg, test_ids, window=train_cfg.window,
                                batch_size=cfg.batch_size, hold_mask=mask, max_positions=cfg.max_positions)
    causal = predicts_every_position(model_cfg)
    lstm_row = (full_context_metrics(model, model_cfg, test_ids, end_id, len(symbols), hold_mask=mask)
                if causal else window_row)
    # With a cache (fitted on validation by the train stage) the headline is the LSTM mixed with
    # it; the LSTM alone stays beside it as `model_no_cache`.
    cache = load_cache(model_dir) if causal else None
    model_row = (full_context_metrics(model, model_cfg, test_ids, end_id, len(symbols), hold_mask=mask,
                                      cache=cache) if cache is not None and cache.on else lstm_row)
    orders = range(min(2, cfg.ngram_order), cfg.ngram_order + 1)
    baselines, best = best_ngram_table(train_ids, val_ids, test_ids, len(symbols), orders=orders,
                                       hold_mask=mask)
    by_name = {row.pop("model"): row for row in baselines}
    # the n-gram's own cache over the piece so far: the fair partner of the LSTM's
    kn_cache = kn_cache_row(KneserNey.fit(train_ids, len(symbols), best["order"]), val_ids, test_ids, end_id,
                            hold_mask=mask)
    by_name[f"{best['name']} + cache"] = {k: v for k, v in kn_cache.items() if k != "chosen_on"}
    return {
        "model": model_row,
        "model_windows": {**window_row, "context": f"{train_cfg.window}-token windows from a zero state"},
        "baselines": by_name,
        "best_ngram": {**best, "nll_with_cache": kn_cache["nll"]},
        "margin_over_ngram_nats": best["nll"] - model_row["nll"],
        "margin_vs_best_ngram": margin(model_row["nll"], best["nll"]),
        "model_no_cache": lstm_row,
        "margin_vs_best_ngram_no_cache": margin(lstm_row["nll"], best["nll"]),
        "margin_vs_best_ngram_with_cache": margin(model_row["nll"], kn_cache["nll"]),
        "cache": {"lambda": cache.lam if cache is not None else 0.0,
                  "theta": cache.theta if cache is not None else None},
        "scoring": "every test token, with the full context of its piece" if causal
        else f"last token of up to {cfg.max_positions} windows (bilstm)",
    }


def _music(track: str, corpus, vocab, table, whole, encoded_dir: Path, cfg: EvaluateConfig, plots_dir: Path,
           metrics: dict[str, Any]) -> dict[str, Any]:
    """The samples beside held-out real pieces: music statistics, lengths, playability (into
    ``metrics``) and the histograms (returned, and drawn into ``plots_dir``)."""
    from tunesmith.render.plots import PITCH_CLASSES, plot_histograms

    real = _pieces(encoded_dir / "test.jsonl", cfg.real_pieces)
    gen_notes, gen_skipped = pieces_to_notes(corpus, whole, vocab)
    real_notes, _ = pieces_to_notes(corpus, real, vocab)
    histograms: dict[str, Any] = {}
    if gen_notes and real_notes:
        gen_stats, real_stats = music_stats(gen_notes), music_stats(real_notes)
        metrics["music"] = compare_distributions(gen_stats, real_stats)
        metrics["music"].update({f"generated_{k}": gen_stats[k] for k in SCALARS if k in gen_stats})
        metrics["music"].update({f"real_{k}": real_stats[k] for k in SCALARS if k in real_stats})
        labels = {"pitch_class_hist": list(PITCH_CLASSES), "note_length_hist": _edge_labels(NOTE_LENGTH_EDGES),
                  "ioi_hist": _edge_labels(NOTE_LENGTH_EDGES)}
        titles = {"pitch_class_hist": "pitch classes", "note_length_hist": "note lengths (beats)",
                  "ioi_hist": "inter-onset intervals (beats)"}
        for name in HISTOGRAMS:
            histograms[name] = {"generated": list(map(int, gen_stats[name])),
                                "real": list(map(int, real_stats[name])), "labels": labels[name]}
            plot_histograms(gen_stats[name], real_stats[name], labels[name],
                            plots_dir / f"{name}.png", f"{track}: {titles[name]}, generated vs real")
    else:
        log.warning("%s: no decodable samples (%d skipped); no music statistics", track, gen_skipped)
    metrics["samples"] = {"count": len(table), "decoded": int(table["decoded"].astype(bool).sum()),
                          "ended": int(table["ended"].astype(bool).sum()),
                          "mean_length": float(table["length"].mean()) if len(table) else 0.0}
    # whole pieces on both sides (the primer included, as in the real ones): the length ratio
    real_all = _pieces(encoded_dir / "test.jsonl")
    if whole and real_all:
        samples = metrics["samples"]
        samples["mean_symbols"] = float(np.mean([len(s) for s in whole]))
        samples["real_mean_symbols"] = float(np.mean([len(s) for s in real_all]))
        samples["length_ratio"] = samples["mean_symbols"] / samples["real_mean_symbols"]
    meters = meter_shares(corpus, whole, _iter_pieces(encoded_dir / "train.jsonl"))
    if meters is not None:
        metrics["meters"] = meters
    playable = corpus.playability(whole)
    if playable is not None:
        metrics["playability"] = {k: v for k, v in playable.items() if k != "reasons"}
        metrics["playability_real"] = {k: v for k, v in corpus.playability(real).items() if k != "reasons"}
    return histograms


def _judged(corpus, vocab, samples_dir: Path, encoded_dir: Path) -> dict[str, Any]:
    """The judging pool (``pool.jsonl``) against as many real test pieces: form and the two-sample test."""
    from tunesmith.evaluation.judge import judge
    from tunesmith.generation.pool import POOL

    path = samples_dir / POOL
    if not path.is_file():
        return {}
    text = open_bounded(path, 256 * 2**20).decode("utf-8", errors="replace")
    pool = []
    for number, line in enumerate(text.splitlines(), 1):
        record = parse_json_bounded(line, f"{path}, line {number}")
        if not isinstance(record, dict) or not isinstance(record.get("symbols"), list) \
                or not all(isinstance(s, str) for s in record["symbols"]):
            raise ArtifactError(f"{path}, line {number}: not a judging-pool sample ('symbols': a list of strings)")
        pool.append(record["symbols"])
    # a seeded draw, not the split's first pieces: a split may list its collections in order
    real = _pieces(encoded_dir / "test.jsonl")
    real = random.Random(0).sample(real, min(len(pool), len(real)))
    return judge(corpus, pool, real, vocab)


def _pictures(track: str, model, model_cfg, vocab, whole, live_dir: Path | None, cfg: EvaluateConfig,
              plots_dir: Path) -> None:
    """Loss curves and a hidden-unit heatmap over the first sample (Reitman & Cho's figure 11)."""
    from tunesmith.modeling.models import recurrent_layer_names
    from tunesmith.render.activations import hidden_activations, plot_activation_heatmap
    from tunesmith.render.plots import plot_loss_curves

    symbols = list(vocab["symbols"])
    if live_dir is not None and (live_dir / "plots").exists():
        plot_loss_curves(live_dir, plots_dir / "loss.png", title=f"{track}: loss per epoch")
    if whole and whole[0]:
        ids = [symbols.index(vocab["special"]["end"])] + [symbols.index(s) if s in symbols else
                                                          symbols.index("<unk>") for s in whole[0]]
        try:
            layer = recurrent_layer_names(model_cfg)[0]
            acts = hidden_activations(model, ids[: cfg.heatmap_steps], layer)
            plot_activation_heatmap(acts, [symbols[i] for i in ids[: cfg.heatmap_steps]],
                                    plots_dir / "activations.png",
                                    title=f"{track}: {layer} activations over sample_000")
        except ValueError as exc:  # bilstm's last layer returns no sequence
            log.info("%s: no activation heatmap: %s", track, exc)


def _edge_labels(edges: Sequence[float]) -> list[str]:
    out = []
    for lo, hi in itertools.pairwise(edges):
        out.append(f">={lo:g}" if math.isinf(hi) else f"{lo:g}-{hi:g}")
    return out


HEADLINE: dict[str, tuple[str, ...]] = {
    "model": ("nll", "event_nll", "accuracy", "event_accuracy"),
    "model_no_cache": ("nll",),
    "best_ngram": ("name", "nll", "nll_with_cache"),
    "music": ("pitch_class_hist_kl", "note_length_hist_kl"),
    "playability": ("parse_rate", "bar_rate"),
    "samples": ("count", "decoded"),
    "novelty": ("mean_longest_match", "mean_8gram_share"),
    "meters": ("max_gap_points",),
    "two_sample": ("accuracy", "sd", "n_per_side"),
    "form_samples": HEADLINE_FORM,
    "form_real": HEADLINE_FORM,
}
"""The evaluate stage's DVC metrics, beside the margins: the figures `tunesmith compare` and a
reader of ``dvc metrics show`` look at first. Everything else (every baseline, the windows figure,
music statistics, per-order n-grams) is ``data/eval/<corpus>/evaluate.json``."""
MARGINS = ("margin_vs_best_ngram", "margin_vs_best_ngram_no_cache", "margin_vs_best_ngram_with_cache",
           "margin_over_ngram_nats")


def headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The headline subset of an evaluate record (sections it lacks are left out)."""
    out: dict[str, Any] = {k: metrics[k] for k in MARGINS if k in metrics}
    for section, keys in HEADLINE.items():
        found = metrics.get(section)
        if isinstance(found, Mapping):
            out[section] = {k: found[k] for k in keys if k in found}
    return out


def meter_shares(corpus, samples: Iterable[Sequence[str]], train: Iterable[Sequence[str]]) -> dict[str, Any] | None:
    """The share of each meter among the samples and among the training pieces, and the largest
    gap between the two in percentage points (None for a track whose pieces declare no meter)."""
    def shares(pieces: Iterable[Sequence[str]]) -> dict[str, float]:
        found = [m for p in pieces if (m := corpus.meter(p))]
        return {m: found.count(m) / len(found) for m in sorted(set(found))} if found else {}

    generated, real = shares(samples), shares(train)
    if not real:
        return None
    gap = max(abs(generated.get(m, 0.0) - real.get(m, 0.0)) for m in set(generated) | set(real))
    return {"generated": generated, "train": real, "max_gap_points": round(100 * gap, 1)}

