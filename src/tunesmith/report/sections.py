"""One corpus's part of the page, as plain data for the template: the headline, the
model-vs-baselines table, the published figures, the folded metric tables, the
figures (drawn here when the metrics hold histograms) and the sample cards.

Nothing here writes HTML: the template (``templates/report.html.j2``) does, with
autoescaping, so a corpus title or a sample's error message shows as text.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tunesmith.evaluation.noise import FIGURES
from tunesmith.render.plots import PITCH_CLASSES, plot_histograms, plot_loss_curves
from tunesmith.report.assets import Assets
from tunesmith.report.content import LOSS_FIGURE, Text, metric_text, section_text
from tunesmith.report.judged import judged_section
from tunesmith.report.values import NGRAM, baseline_rows, direction, flatten, fmt, is_number, short, slug
from tunesmith.tracks import UnknownTrackError, get_track

log = logging.getLogger(__name__)

TEXT_LIMIT = 4000
"""Characters of a sample's symbols shown inline."""
_OWN_TABLES = ("model", "baselines", "model_windows", "model_no_cache")


def comparison(metrics: Mapping[str, Any], model_label: str) -> dict[str, Any] | None:
    """The model-vs-baselines table and its headline, or None when there is neither a model
    row nor a baseline.

    Returns ``{"columns": [{"key", "name", "explanation"}], "rows": [{"name", "model",
    "cells": [{"text", "best"}]}], "headline": dict or None, "model_row": dict}``.
    """
    model = metrics.get("model")
    baselines = baseline_rows(metrics.get("baselines"))
    if not isinstance(model, Mapping) and not baselines:
        return None
    model = model if isinstance(model, Mapping) else {}
    plain = baselines  # named as in the metrics, for the headline sentence
    notes: list[str] = []
    best_ngram = metrics.get("best_ngram")
    if isinstance(best_ngram, Mapping) and best_ngram.get("name"):  # which order won, and where it was chosen
        baselines = [(n + " (best n-gram)" if n == best_ngram["name"] else n, r) for n, r in baselines]
        notes.append(f"best n-gram: the Kneser-Ney order chosen on {best_ngram.get('chosen_on', 'validation')}")
    extra = []
    windows = metrics.get("model_windows")
    alone = metrics.get("model_no_cache")
    cache = metrics.get("cache") or {}
    cached = bool(model) and isinstance(alone, Mapping) and is_number(cache.get("lambda")) and cache["lambda"] > 0
    base_label = model_label
    if cached:  # the LSTM without its cache, full context: the plain figure, beside the headline
        extra.append((f"{base_label} alone", dict(alone)))
    if model and isinstance(windows, Mapping):  # the secondary figure, named as such
        extra.append((f"{base_label}, fixed windows", {k: v for k, v in windows.items() if k != "context"}))
        notes.append(f"{base_label} rows score every token with the full context of its piece; "
                     f"fixed windows: {windows.get('context', 'windows from a zero state')}")
    if cached:
        model_label = f"{base_label} + cache"
        model = {**model, "lambda": cache["lambda"]}  # its cache weight, in the column the n-gram's cache fills
        notes.append("cache: the continuous cache over the piece so far (attending by the cosine of hidden "
                     f"states), lambda {cache['lambda']:g} and theta {cache.get('theta', 0):g}, chosen on "
                     "validation; the n-gram + cache row is the n-gram with its own cache, fitted the same way")
    rows = [(model_label, model), *extra, *baselines] if model else baselines
    columns: list[str] = []
    for _, row in rows:
        columns += [k for k, v in row.items() if is_number(v) and k not in columns]
    for event, plain_key in (("event_accuracy", "accuracy"), ("event_nll", "nll")):
        if event in columns and all(r.get(event) == r.get(plain_key) for _, r in rows):
            columns.remove(event)  # a corpus without holds: every token is an event, the columns are equal
    best: dict[str, float] = {}
    for col in columns:
        values = [r[col] for _, r in rows if is_number(r.get(col)) and math.isfinite(r[col])]
        if values and direction(col):
            best[col] = min(values) if direction(col) < 0 else max(values)
    return {
        "columns": [{"key": c, **metric_text(c)._asdict()} for c in columns],
        "rows": [
            {"name": name, "model": bool(model) and i == 0,
             "cells": [{"text": fmt(row.get(c)), "best": c in best and row.get(c) == best[c]} for c in columns]}
            for i, (name, row) in enumerate(rows)
        ],
        "headline": headline(model, plain, columns, model_label, str(metrics.get("split", "test"))),
        "model_row": dict(model),
        "notes": notes,
    }


def headline(model: Mapping[str, Any], baselines, columns: Sequence[str], label: str,
             split: str) -> dict[str, Any] | None:
    """The model's first lower-is-better figure (its NLL) beside the best n-gram baseline's,
    as the parts of one sentence; None without an n-gram baseline."""
    # the NLL in nats, as every other figure on the page; bits and perplexity only as a fallback
    preferred = [c for c in ("nll", "event_nll") if c in columns and is_number(model.get(c))]
    key = preferred[0] if preferred else next(
        (c for c in columns if direction(c) < 0 and "perplexity" not in c.lower() and "bits" not in c.lower()
         and is_number(model.get(c))), None)
    if key is None:
        return None
    ngrams = [(n, r[key]) for n, r in baselines if NGRAM.search(n) and is_number(r.get(key))]
    if not ngrams:
        return None
    name, ref = min(ngrams, key=lambda item: item[1])
    diff = ref - model[key]
    return {
        "label": label,
        "metric": metric_text(key).name,
        "value": fmt(model[key]),
        "diff": fmt(abs(diff)),
        "pct": f" ({abs(diff) / ref:.1%})" if ref else "",
        "good": diff > 0,
        "baseline": name,
        "baseline_value": fmt(ref),
        "split": split,
    }


def published_table(published: Mapping[str, Any], training: Mapping[str, Any],
                    model_row: Mapping[str, Any], alone_row: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Published figures beside ours, like with like: the published model is an LSTM without any
    cache, so ours is the LSTM alone on every split (train and validation loss of the saved
    weights, the test NLL without the cache)."""
    values = published.get("values", {})
    alone = alone_row if isinstance(alone_row, Mapping) and is_number(alone_row.get("nll")) else model_row
    ours = {
        "train": (training.get("train") or {}).get("loss") if training else None,
        "validation": (training.get("val") or {}).get("loss") if training else None,
        "test": alone.get("nll") if is_number(alone.get("nll")) else None,
    }
    return {
        "metric": published.get("metric", ""),
        "source": str(published.get("source", "published")),
        "ours": "tunesmith, the LSTM alone (no cache)",
        "rows": [[split, fmt(values.get(split)), fmt(ours.get(split))] for split in values],
    }


def _rows(items: Sequence[tuple[str, Any]]) -> list[dict[str, str]]:
    return [{"key": k, **metric_text(k)._asdict(), "value": fmt(v)} for k, v in items]


def metric_tables(metrics: Mapping[str, Any], training: Mapping[str, Any],
                  hists: list[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Every metric outside the comparison table, one table per top-level key (top-level
    scalars together), readable names first; histogram dicts go to ``hists``."""
    tables = []
    if training:
        rows: list[tuple[str, Any]] = []
        flatten(training, "", rows, [])
        tables.append({"key": "training", **section_text("training")._asdict(),
                       "rows": _rows([(k, v) for k, v in rows if k != "history"])})
    general = [(str(k), v) for k, v in metrics.items()
               if k not in ("model", "baselines") and not isinstance(v, Mapping)]
    if general:  # top-level scalars (corpus, split, sample count ...) share one table
        tables.append({"key": "general", **section_text("general")._asdict(), "rows": _rows(general)})
    for key, value in metrics.items():
        if key in _OWN_TABLES or not isinstance(value, Mapping):
            continue
        rows = []
        flatten(value, str(key), rows, hists)
        if rows:
            tables.append({"key": str(key), **section_text(str(key))._asdict(), "rows": _rows(rows)})
    return tables


def _figure(href: str, text: Text) -> dict[str, str]:
    return {"href": href, "caption": text.name, "explanation": text.explanation}


def figures(corpus: str, title: str, entry: Mapping[str, Any], hists, assets: Assets) -> list[dict[str, str]]:
    """The loss curves (drawn from ``live_dir``), the histograms found in the metrics and
    the entry's own ``plots``, each with a caption and a one-line explanation."""
    out = []
    if entry.get("live_dir"):
        png = assets.folder(corpus) / "loss_curves.png"
        try:
            plot_loss_curves(entry["live_dir"], png, title=f"{title}: loss per epoch")
            out.append(_figure(assets.href(png), LOSS_FIGURE))
        except (FileNotFoundError, ValueError) as exc:
            log.warning("report: no loss curves for %s: %s", corpus, exc)
    for path, node in hists:
        n = len(node["generated"])
        labels = node.get("labels")
        if not (isinstance(labels, (list, tuple)) and len(labels) == n):
            labels = PITCH_CLASSES if n == 12 else [str(i) for i in range(n)]
        png = assets.folder(corpus) / f"hist_{slug(path)}.png"
        name = metric_text(path).name
        plot_histograms(node["generated"], node["real"], [str(x) for x in labels], png, f"{title}: {name}")
        out.append(_figure(assets.href(png), Text(f"{name}: generated vs real",
                                                  "Each bin's share in the samples (blue) and in real pieces (grey).")))
    for plot in entry.get("plots") or []:
        if isinstance(plot, Mapping):
            src, caption, explanation = plot.get("path"), plot.get("caption"), plot.get("explanation", "")
        else:
            src, caption, explanation = plot, None, ""
        if href := assets.add(corpus, src):
            out.append(_figure(href, Text(caption or Path(src).stem.replace("_", " "), explanation or "")))
    return out


_DOWNLOADS = (("midi", "MIDI"), ("abc", "ABC"), ("musicxml", "MusicXML"), ("txt", "symbols"), ("mp3", "MP3"))


SHARED = ("sampler", "temperature", "primer_mode", "primer", "primer_length", "primer_beats", "attempts",
          "rejected", "audio_seconds", "sample", "files")
"""samples.csv columns said once per track (`sample_settings`), or inside other tags, not on every card."""


def _tags(info: Mapping[str, Any]) -> list[str]:
    """What sets one sample apart: its seed, length in symbols and seconds, whether it ended and decoded."""
    tags = [f"{k}: {short(fmt(v))}" for k, v in info.items()
            if k not in SHARED and k != "seconds" and v not in (None, "") and not isinstance(v, (dict, list))]
    if is_number(info.get("seconds")) and info["seconds"] > 0:
        tags.append(f"{info['seconds']:.0f} s")
    if is_number(info.get("attempts")) and info["attempts"] > 1:
        tags.append(f"attempts: {info['attempts']}")
    return tags


def _share(x: float) -> str:
    return f"{x:.0%}"


def music_in_words(metrics: Mapping[str, Any], *, scale: bool = True) -> list[str]:
    """Two to four sentences a musician reads: how the samples compare with the real held-out
    pieces in key and scale, bars, range, rhythm and length, from evaluate.json's figures.
    ``scale`` False leaves out the scale fit, for notation whose key signature guarantees it (ABC)."""
    music = metrics.get("music") or {}
    out = []
    g, r = music.get("generated_scale_consistency"), music.get("real_scale_consistency")
    if not scale:
        g = r = None
    overlap = music.get("pitch_class_hist_overlap")
    if is_number(g) and is_number(r):
        text = (f"Key and scale: {_share(g)} of the samples' notes fit the best-matching major or minor scale, "
                f"against {_share(r)} in the real pieces")
        if is_number(overlap):
            text += f"; their pitch classes overlap the real ones' by {_share(overlap)}"
        out.append(text + ".")
    play, real_play = metrics.get("playability") or {}, metrics.get("playability_real") or {}
    if is_number(play.get("bar_rate")):
        real = f" (the real tunes: {_share(real_play['bar_rate'])})" if is_number(real_play.get("bar_rate")) else ""
        out.append(f"Bars: {_share(play['bar_rate'])} of the tunes keep every bar the length their meter "
                   f"asks{real}, and {_share(play.get('parse_rate', 0))} are read by music21.")
    gr, rr = music.get("generated_pitch_range"), music.get("real_pitch_range")
    rhythm = music.get("note_length_hist_overlap")
    if is_number(gr) and is_number(rr):
        text = f"Range: {gr:.0f} semitones from lowest to highest note on average, against {rr:.0f} in the real pieces"
        if is_number(rhythm):
            text += f"; rhythm: the note lengths overlap the real ones' by {_share(rhythm)}"
        out.append(text + ".")
    samples = metrics.get("samples") or {}
    if is_number(samples.get("length_ratio")):
        out.append(f"Length: the samples are {samples['length_ratio']:.2f} times as long as the real pieces, "
                   f"counted in symbols; {samples.get('ended', 0)} of {samples.get('count', 0)} ended by themselves.")
    return out


def sample_settings(samples: Sequence[Mapping[str, Any]]) -> str:
    """The generation settings every sample shares, in one sentence, with the primer's share of the music."""
    infos = [s.get("info") or {} for s in samples]
    if not infos:
        return ""
    first = infos[0]
    parts = [f"sampler {first.get('sampler', '?')}"]
    if is_number(first.get("temperature")):
        parts.append(f"temperature {first['temperature']:g}")
    if first.get("primer_mode"):
        parts.append(f"primer: {first['primer_mode']}" + (f" ({short(str(first['primer']))})" if first.get("primer")
                                                          else ""))
    beats = [i.get("primer_beats") for i in infos if is_number(i.get("primer_beats"))]
    seconds = [i.get("seconds") for i in infos if is_number(i.get("seconds")) and i["seconds"] > 0]
    if beats and seconds and max(beats) > 0:
        primer_s = sum(beats) / len(beats) * 0.5  # beats at 120 a minute, the samples' MIDI tempo
        parts.append(f"the primer (shaded in each piano roll) is the first {primer_s:.1f} s of "
                     f"{sum(seconds) / len(seconds):.0f} s on average: the rest is the model's")
    return "; ".join(parts) + "."


def _audio_note(sample: Mapping[str, Any], info: Mapping[str, Any]) -> str | None:
    """What the player plays, when it is not the plain, whole sample: the synthesis fallback,
    and the cut (``generate.<c>.render_seconds``) of a sample longer than it."""
    notes = [(sample.get("audio") or {}).get("note") or ""]
    whole, played = info.get("seconds"), info.get("audio_seconds")
    if is_number(whole) and is_number(played) and played + 0.5 < whole:
        notes.append(f"audio: the first {played:.0f} s of {whole:.0f} s")
    text = "; ".join(n for n in notes if n)
    return text or None


def sample_card(corpus: str, sample: Mapping[str, Any], assets: Assets, *, real: bool = False) -> dict[str, Any]:
    """One sample: tags, audio sources, score, piano roll, downloads and its text (shortened).

    The audio is the MP3 when there is one; the WAV (ten times its size: 10 MB a
    minute) is copied into the report only when it is the sole recording, and
    otherwise stays beside the sample in its samples folder.
    """
    name = str(sample.get("name") or sample.get("title") or "sample")
    info = sample.get("info") or {}
    mp3 = assets.add(corpus, sample.get("mp3"))
    wav = None if mp3 else assets.add(corpus, sample.get("wav"))
    card = {
        "id": f"{slug(corpus)}-{slug(name)}",
        "title": f"real: {info.get('title') or name}" if real else str(sample.get("title") or name),
        "tags": _tags(info),
        "error": sample.get("error") or "",
        "sources": [(href, kind) for href, kind in ((mp3, "audio/mpeg"), (wav, "audio/wav")) if href],
        "note": _audio_note(sample, info) if (mp3 or wav) else None,
        "svg": assets.add(corpus, sample.get("svg")),
        "png": assets.add(corpus, sample.get("png")),
        "links": [(href, label) for key, label in _DOWNLOADS if (href := assets.add(corpus, sample.get(key)))]
        + ([(wav, "WAV")] if wav else []),
        "text": None,
    }
    text_file = sample.get("abc") or sample.get("txt")
    if text_file and Path(text_file).is_file():
        text = Path(text_file).read_text(encoding="utf-8", errors="replace")
        card["text"] = text[:TEXT_LIMIT] + "\n…" if len(text) > TEXT_LIMIT else text
        card["text_kind"] = "ABC" if sample.get("abc") else "symbols"
    return card


SEED_ROWS = ("test_nll", "test_nll_no_cache", "val_nll", "margin_vs_best_ngram_no_cache",
             "margin_vs_best_ngram_with_cache")
"""The seeds.json figures the report shows, in this order."""


def seed_spread(seeds: Mapping[str, Any] | None, train_params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The recipe's results over its seeds (``seeds.json``) as table rows of mean ± sd, and
    whether this run's recipe is the one the seeds were trained with; None without seeds.json."""
    from tunesmith.evaluation.noise import params_hash

    if not isinstance(seeds, Mapping) or not isinstance(seeds.get("figures"), Mapping):
        return None
    rows = []
    for key in SEED_ROWS:
        fig = seeds["figures"].get(key)
        if not isinstance(fig, Mapping) or not is_number(fig.get("mean")):
            continue
        pct = key.startswith("margin")
        show = (lambda v: f"{v:.1%}") if pct else (lambda v: f"{v:.3f}")
        sd = fig.get("sd")
        rows.append([FIGURES.get(key, key), f"{show(fig['mean'])} ± {show(sd) if is_number(sd) else '-'}",
                     str(fig.get("n", "")), ", ".join(show(v) for v in fig.get("values", []))])
    recipe = {k: v for k, v in train_params.items() if k != "seed"}
    return {"rows": rows, "n": seeds.get("n"), "seeds": ", ".join(map(str, seeds.get("seeds", []))),
            "current": bool(recipe) and params_hash(recipe) == seeds.get("params_hash")}


def _kind(corpus: str) -> str:
    """The kind of a registered track, "" for a name the registry does not know."""
    try:
        return get_track(corpus).kind
    except UnknownTrackError:  # a report of folders whose track no params.yaml here lists
        return ""


def corpus_section(corpus: str, entry: Mapping[str, Any], assets: Assets) -> dict[str, Any]:
    """Everything the template shows for one corpus (see `build_report` for ``entry``)."""
    title = str(entry.get("title") or corpus)
    metrics = entry.get("metrics") or {}
    training = entry.get("training") or {}
    table = comparison(metrics, str(entry.get("model_label") or "LSTM"))
    published = entry.get("published")
    hists: list[tuple[str, Mapping[str, Any]]] = []
    tables = metric_tables(metrics, training, hists)
    return {
        "id": slug(corpus),
        "title": title,
        "summary": entry.get("summary") or "",
        "split": metrics.get("split", "test"),
        "comparison": table,
        "seeds": seed_spread(entry.get("seeds"), entry.get("train_params") or {}),
        "published": published_table(published, training, table["model_row"] if table else {},
                                     metrics.get("model_no_cache")) if published else None,
        "tables": tables,
        "figures": figures(corpus, title, entry, hists, assets),
        "samples": [sample_card(corpus, s, assets) for s in entry.get("samples") or []],
        "real": [sample_card(corpus, s, assets, real=True) for s in entry.get("real") or []],
        "judged": judged_section(metrics, entry.get("plan"), entry.get("order"), entry.get("frame_rules")),
        "sample_settings": sample_settings(entry.get("samples") or []),
        "music_words": music_in_words(metrics, scale=_kind(corpus) != "abc"),
    }
