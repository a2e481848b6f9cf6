"""The HTML report: metrics beside baselines, plots, and every sample to hear and read.

:func:`build_report` writes one self-contained folder::

    out_dir/index.html               one page, inline CSS, no JavaScript, no network
    out_dir/assets/<corpus>/...      copies of the audio, scores, piano rolls, music
                                     files and plots it shows, linked by relative paths

so it works opened straight from the file system, copied elsewhere or zipped.
The folder is written atomically (built beside ``out_dir``, then renamed), and
the page holds no timestamps: same inputs, same bytes.

The metrics dict of a corpus is displayed generically, so the evaluation
module can grow without changes here:

* ``metrics["model"]`` (a dict of scalars) and ``metrics["baselines"]`` (a dict
  ``name -> dict of scalars``, or a list of dicts with a ``"name"``) make one
  comparison table, the model row highlighted, the best value of each column in
  bold, and a line stating the model's margin over the best n-gram baseline
  (a name containing ``kn``, ``gram`` or ``markov``) on the first
  lower-is-better column (``nll``, ``cross_entropy``, ``loss``, ``bits``...).
* any dict anywhere that holds lists of numbers of one length under both
  ``"generated"`` and ``"real"`` becomes a bar chart (:func:`tunesmith.render.plot_histograms`);
  its bin labels come from ``"labels"`` when given, pitch classes for 12 bins,
  else the bin index.
* everything else is flattened (``music.ioi.mean``) into one table per top-level
  key; top-level scalars (``split``, ``corpus`` ...) share a "general" table.
  ``metrics["split"]`` (default ``"test"``) names the split in the comparison heading.
"""

from __future__ import annotations

import html
import logging
import math
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tunesmith.io import atomic_path
from tunesmith.render import PITCH_CLASSES, plot_histograms, plot_loss_curves

log = logging.getLogger(__name__)

PUBLISHED = {
    "nottingham": {
        "source": ('Reitman & Cho, "Generating Music with LSTM Networks" '
                   "(char-LSTM, 100 hidden units, ABC folk tunes)"),
        "metric": "NLL (nats/character)",
        "values": {"train": 1.40, "validation": 1.72, "test": 1.65},
    }
}
"""Published figures shown beside ours, per corpus; an entry's ``"published"`` key overrides."""

_LOWER_BETTER = ("nll", "cross_entropy", "crossentropy", "loss", "bits", "perplexity", "entropy")
_HIGHER_BETTER = ("accuracy", "acc")
_NGRAM = re.compile(r"kn|gram|markov", re.IGNORECASE)
_TEXT_LIMIT = 4000  # characters of a sample's symbols shown inline

_CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d8dee4; --card:#ffffff; --bg:#f6f8fa;
        --accent:#3b6ea8; --good:#1a7f37; --bad:#cf222e; --hl:#eef4fb; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color:var(--ink); background:var(--bg); }
header, main { max-width:1200px; margin:0 auto; padding:0 20px; }
header { padding-top:24px; }
h1 { margin:0 0 4px; font-size:26px; }
h2 { margin:36px 0 8px; font-size:22px; border-bottom:2px solid var(--line); padding-bottom:4px; }
h3 { margin:22px 0 8px; font-size:17px; }
h4 { margin:0 0 6px; font-size:15px; }
nav a { margin-right:14px; color:var(--accent); text-decoration:none; }
p.lead, .muted { color:var(--muted); }
table { border-collapse:collapse; margin:6px 0 12px; background:var(--card); font-size:14px; }
th, td { border:1px solid var(--line); padding:4px 10px; text-align:right; }
th:first-child, td:first-child { text-align:left; }
thead th { background:#eef1f4; }
tr.model td { background:var(--hl); font-weight:600; }
td.best { font-weight:700; text-decoration:underline; }
.margin { padding:8px 12px; border-left:4px solid var(--accent); background:var(--card); }
.margin.good { border-color:var(--good); } .margin.bad { border-color:var(--bad); }
.tables { display:flex; flex-wrap:wrap; gap:24px; align-items:flex-start; }
.plots { display:flex; flex-wrap:wrap; gap:16px; }
figure { margin:0; background:var(--card); border:1px solid var(--line); padding:8px;
         flex:1 1 440px; max-width:620px; }
figure img { display:block; max-width:100%; height:auto; }
figcaption { font-size:13px; color:var(--muted); margin-top:4px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(520px, 1fr)); gap:16px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:12px; }
.card audio { width:100%; margin:4px 0 8px; }
.card img { display:block; max-width:100%; height:auto; margin:6px 0; }
.score { background:#fff; border:1px solid var(--line); }
.tags span { display:inline-block; font-size:12px; background:#eef1f4; border-radius:10px;
             padding:1px 8px; margin:0 4px 4px 0; }
.downloads a { margin-right:12px; font-size:14px; color:var(--accent); }
.error { color:var(--bad); font-size:14px; }
.note { color:var(--muted); font-size:13px; }
details pre { max-height:240px; overflow:auto; background:#f6f8fa; padding:8px; font-size:12px;
              white-space:pre-wrap; word-break:break-all; }
"""


# --------------------------------------------------------------------------- assets


class _Assets:
    """Copies files into ``root/assets/<corpus>/`` once each; hands back relative hrefs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.copied: dict[tuple[str, Path], str] = {}

    def folder(self, corpus: str) -> Path:
        path = self.root / "assets" / _slug(corpus)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, corpus: str, source: Path | str | None) -> str | None:
        """Copy ``source`` (if it exists) and return its href, else log and return None."""
        if source is None or source == "":
            return None
        src = Path(source)
        if not src.is_file():
            log.warning("report: %s not found, left out", src)
            return None
        key = (corpus, src.resolve())
        if key in self.copied:
            return self.copied[key]
        folder = self.folder(corpus)
        target = folder / src.name
        n = 1
        while target.exists():  # two plots both called loss.png: keep both
            target = folder / f"{src.stem}-{n}{src.suffix}"
            n += 1
        shutil.copyfile(src, target)
        href = self.href(target)
        self.copied[key] = href
        return href

    def href(self, path: Path) -> str:
        return quote(path.relative_to(self.root).as_posix())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "corpus"


# --------------------------------------------------------------------------- values


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}" if abs(value) >= 1 else f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_fmt(v) for v in value[:12])
        return f"[{shown}{', …' if len(value) > 12 else ''}]"
    return str(value)


def _short(text: str, limit: int = 40) -> str:
    # a primer can be a whole ABC header: a tag shows its start
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _direction(column: str) -> int:
    """-1 lower is better, +1 higher is better, 0 unknown."""
    name = column.lower()
    if any(k in name for k in _HIGHER_BETTER):
        return 1
    if any(k in name for k in _LOWER_BETTER):
        return -1
    return 0


def _histogram(node: Any) -> bool:
    if not isinstance(node, Mapping):
        return False
    gen, real = node.get("generated"), node.get("real")
    return (
        isinstance(gen, (list, tuple))
        and isinstance(real, (list, tuple))
        and len(gen) == len(real) > 0
        and all(_is_number(v) for v in gen)
        and all(_is_number(v) for v in real)
    )


def _baseline_rows(baselines: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if isinstance(baselines, Mapping):
        return [(str(k), v) for k, v in baselines.items() if isinstance(v, Mapping)]
    if isinstance(baselines, Sequence) and not isinstance(baselines, str):
        return [
            (str(b.get("name", f"baseline {i}")), b)
            for i, b in enumerate(baselines)
            if isinstance(b, Mapping)
        ]
    return []


def _flatten(
    node: Any, prefix: str, out: list[tuple[str, Any]], hists: list[tuple[str, Mapping[str, Any]]]
) -> None:
    if _histogram(node):
        hists.append((prefix, node))
        extra = {k: v for k, v in node.items() if k not in ("generated", "real", "labels")}
        for k, v in extra.items():
            _flatten(v, f"{prefix}.{k}", out, hists)
    elif isinstance(node, Mapping):
        for k, v in node.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, hists)
    else:
        out.append((prefix, node))


# --------------------------------------------------------------------------- sections


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], *, row_classes=None, raw: bool = False
) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they are pre-rendered <td>s)."""
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(row) if raw else "".join(f"<td>{_e(c)}</td>" for c in row)
        out.append(f"<tr{cls}>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _comparison(metrics: Mapping[str, Any], model_label: str) -> tuple[str, dict[str, Any]]:
    """The model-vs-baselines table and margin line; also the model row (for PUBLISHED)."""
    model = metrics.get("model")
    baselines = _baseline_rows(metrics.get("baselines"))
    if not isinstance(model, Mapping) and not baselines:
        return "", {}
    model = model if isinstance(model, Mapping) else {}
    best = metrics.get("best_ngram")
    if isinstance(best, Mapping) and best.get("name"):  # say which order won, and where it was chosen
        note = f" (best n-gram: order chosen on {best.get('chosen_on', 'validation')})"
        baselines = [(n + note if n == best["name"] else n, r) for n, r in baselines]
    extra = []
    windows = metrics.get("model_windows")
    if model and isinstance(windows, Mapping):  # the secondary figure, named as such
        extra = [(f"{model_label}, {windows.get('context', 'fixed windows')}",
                  {k: v for k, v in windows.items() if k != "context"})]
        model_label = f"{model_label}, full context of each piece"
    rows = [(model_label, model), *extra, *baselines] if model else baselines
    columns: list[str] = []
    for _, row in rows:
        columns += [k for k, v in row.items() if _is_number(v) and k not in columns]
    best: dict[str, float] = {}
    for col in columns:
        values = [r[col] for _, r in rows if _is_number(r.get(col)) and math.isfinite(r[col])]
        if values and _direction(col):
            best[col] = min(values) if _direction(col) < 0 else max(values)
    body = []
    for name, row in rows:
        cells = [f"<td>{_e(name)}</td>"]
        for col in columns:
            value = row.get(col)
            cls = ' class="best"' if col in best and value == best[col] else ""
            cells.append(f"<td{cls}>{_e(_fmt(value))}</td>")
        body.append(cells)
    classes = ["model" if model and i == 0 else "" for i in range(len(rows))]
    table = _table(["", *columns], body, row_classes=classes, raw=True)
    return table + _margin(model, baselines, columns, model_label), dict(model)


def _margin(model: Mapping[str, Any], baselines, columns: Sequence[str], label: str) -> str:
    key = next(
        (
            c
            for c in columns
            if _direction(c) < 0 and "perplexity" not in c.lower() and _is_number(model.get(c))
        ),
        None,
    )
    if key is None:
        return ""
    ngrams = [(n, r[key]) for n, r in baselines if _NGRAM.search(n) and _is_number(r.get(key))]
    if not ngrams:
        return ""
    name, ref = min(ngrams, key=lambda item: item[1])
    diff = ref - model[key]
    good = diff > 0
    pct = f" ({abs(diff) / ref:.1%})" if ref else ""
    verdict = "lower (better) than" if good else "higher (worse) than"
    return (
        f'<p class="margin {"good" if good else "bad"}">{_e(label)} {_e(key)} '
        f"<strong>{_e(_fmt(model[key]))}</strong> is {_e(_fmt(abs(diff)))}{_e(pct)} "
        f"{verdict} the best n-gram baseline, {_e(name)} ({_e(_fmt(ref))}).</p>"
    )


def _published(
    published: Mapping[str, Any], training: Mapping[str, Any], model_row: Mapping[str, Any]
) -> str:
    values = published.get("values", {})
    ours = {
        "train": (training.get("train") or {}).get("loss") if training else None,
        "validation": (training.get("val") or {}).get("loss") if training else None,
        "test": next(
            (v for k, v in model_row.items() if "nll" in k.lower() and _is_number(v)), None
        ),
    }
    rows = [[split, _fmt(values.get(split)), _fmt(ours.get(split))] for split in values]
    return (
        f"<div><h4>Published vs ours: {_e(published.get('metric', ''))}</h4>"
        + _table(["split", str(published.get("source", "published")), "tunesmith"], rows)
        + '<p class="note">Different tune sets and splits: read as orders of magnitude, '
        "not a benchmark.</p></div>"
    )


def _plots_html(figures: Sequence[tuple[str, str]]) -> str:
    if not figures:
        return ""
    items = "".join(
        f'<figure><img src="{href}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption>'
        "</figure>"
        for href, caption in figures
    )
    return f'<div class="plots">{items}</div>'


def _sample_card(corpus: str, sample: Mapping[str, Any], assets: _Assets) -> str:
    name = str(sample.get("name") or sample.get("title") or "sample")
    title = str(sample.get("title") or name)
    parts = [
        f'<article class="card" id="{_e(_slug(corpus))}-{_e(_slug(name))}">',
        f"<h4>{_e(title)}</h4>",
    ]
    info = sample.get("info") or {}
    tags = [
        f"<span>{_e(k)}: {_e(_short(_fmt(v)))}</span>"
        for k, v in info.items()
        if v not in (None, "") and not isinstance(v, (dict, list))
    ]
    if tags:
        parts.append(f'<div class="tags">{"".join(tags)}</div>')
    if sample.get("error"):
        parts.append(f'<p class="error">{_e(sample["error"])}</p>')

    mp3, wav = assets.add(corpus, sample.get("mp3")), assets.add(corpus, sample.get("wav"))
    if mp3 or wav:
        sources = "".join(
            f'<source src="{href}" type="{kind}">'
            for href, kind in ((mp3, "audio/mpeg"), (wav, "audio/wav"))
            if href
        )
        parts.append(f'<audio controls preload="metadata">{sources}</audio>')
        audio = sample.get("audio") or {}
        if audio.get("note"):
            parts.append(f'<p class="note">{_e(audio["note"])}</p>')
    if svg := assets.add(corpus, sample.get("svg")):
        parts.append(f'<img class="score" src="{svg}" alt="score of {_e(title)}">')
    if png := assets.add(corpus, sample.get("png")):
        parts.append(f'<img src="{png}" alt="piano roll of {_e(title)}">')

    links = []
    for key, label in (
        ("midi", "MIDI"),
        ("abc", "ABC"),
        ("musicxml", "MusicXML"),
        ("txt", "symbols"),
        ("wav", "WAV"),
        ("mp3", "MP3"),
    ):
        if href := assets.add(corpus, sample.get(key)):
            links.append(f'<a href="{href}" download>{label}</a>')
    if links:
        parts.append(f'<div class="downloads">{"".join(links)}</div>')

    text_file = sample.get("abc") or sample.get("txt")
    if text_file and Path(text_file).is_file():
        text = Path(text_file).read_text(encoding="utf-8", errors="replace")
        if len(text) > _TEXT_LIMIT:
            text = text[:_TEXT_LIMIT] + "\n…"
        kind = "ABC" if sample.get("abc") else "symbols"
        parts.append(f"<details><summary>{kind}</summary><pre>{_e(text)}</pre></details>")
    parts.append("</article>")
    return "".join(parts)


def _corpus_section(corpus: str, entry: Mapping[str, Any], assets: _Assets) -> str:
    title = str(entry.get("title") or corpus)
    out = [f'<section id="{_e(_slug(corpus))}"><h2>{_e(title)}</h2>']
    if entry.get("summary"):
        out.append(f'<p class="lead">{_e(entry["summary"])}</p>')
    metrics = entry.get("metrics") or {}
    training = entry.get("training") or {}
    model_label = str(entry.get("model_label") or "LSTM")

    comparison, model_row = _comparison(metrics, model_label)
    published = entry.get("published", PUBLISHED.get(corpus))
    side = []
    if comparison:
        split = metrics.get("split", "test")
        side.append(f"<div><h4>Model vs baselines ({_e(split)} split)</h4>{comparison}</div>")
    if published:
        side.append(_published(published, training, model_row))
    if training:
        rows = []
        hists_unused: list = []
        _flatten(training, "", rows, hists_unused)
        rows = [[k, _fmt(v)] for k, v in rows if k != "history"]
        side.append(f"<div><h4>Training</h4>{_table(['', 'value'], rows)}</div>")
    if side:
        out.append('<h3>Metrics</h3><div class="tables">' + "".join(side) + "</div>")

    # the other metrics: one table per top-level key; histograms drawn as bars
    hists: list[tuple[str, Mapping[str, Any]]] = []
    tables = []
    general = [
        [str(k), _fmt(v)]
        for k, v in metrics.items()
        if k not in ("model", "baselines") and not isinstance(v, Mapping)
    ]
    if general:  # top-level scalars (corpus, split, sample count ...) share one table
        tables.append(f"<div><h4>general</h4>{_table(['', 'value'], general)}</div>")
    for key, value in metrics.items():
        if key in ("model", "baselines", "model_windows") or not isinstance(value, Mapping):
            continue
        rows: list[tuple[str, Any]] = []
        _flatten(value, str(key), rows, hists)
        if rows:
            tables.append(
                f"<div><h4>{_e(key)}</h4>"
                f"{_table(['', 'value'], [[k, _fmt(v)] for k, v in rows])}</div>"
            )
    if tables:
        out.append('<div class="tables">' + "".join(tables) + "</div>")

    figures: list[tuple[str, str]] = []
    if entry.get("live_dir"):
        png = assets.folder(corpus) / "loss_curves.png"
        try:
            plot_loss_curves(entry["live_dir"], png, title=f"{title}: loss per epoch")
            figures.append((assets.href(png), "training and validation loss per epoch"))
        except (FileNotFoundError, ValueError) as exc:
            log.warning("report: no loss curves for %s: %s", corpus, exc)
    for path, node in hists:
        n = len(node["generated"])
        labels = node.get("labels")
        if not (isinstance(labels, (list, tuple)) and len(labels) == n):
            labels = PITCH_CLASSES if n == 12 else [str(i) for i in range(n)]
        png = assets.folder(corpus) / f"hist_{_slug(path)}.png"
        plot_histograms(
            node["generated"], node["real"], [str(x) for x in labels], png, f"{title}: {path}"
        )
        figures.append((assets.href(png), f"{path}: generated vs real"))
    for plot in entry.get("plots") or []:
        src, caption = (
            (plot.get("path"), plot.get("caption")) if isinstance(plot, Mapping) else (plot, None)
        )
        if href := assets.add(corpus, src):
            figures.append((href, caption or Path(src).stem.replace("_", " ")))
    if figures:
        out.append("<h3>Plots</h3>" + _plots_html(figures))

    samples = entry.get("samples") or []
    if samples:
        cards = "".join(_sample_card(corpus, s, assets) for s in samples)
        out.append(f'<h3>Samples ({len(samples)})</h3><div class="cards">{cards}</div>')
    out.append("</section>")
    return "".join(out)


# --------------------------------------------------------------------------- the page


def build_report(
    corpora: Mapping[str, Mapping[str, Any]],
    out_dir: Path | str,
    *,
    title: str = "tunesmith report",
) -> Path:
    """Write ``out_dir/index.html`` and its assets; return the path of index.html.

    Args:
        corpora: corpus key -> entry, shown in this order. Every key of an entry
            is optional:

            * ``title`` (str): the section heading, default the corpus key.
            * ``summary`` (str): a paragraph under it.
            * ``metrics`` (dict): the evaluation metrics, displayed as described
              in the module docstring (``model``, ``baselines``, histograms, the rest).
            * ``model_label`` (str): the model row's name, default ``"LSTM"``.
            * ``training`` (dict): the training ``metrics.json`` (``train.loss``,
              ``val.loss``, ``best_epoch`` ...); its ``history`` is left out.
            * ``published`` (dict or None): ``{"source", "metric", "values":
              {split: number}}`` shown beside ours (train = ``training.train.loss``,
              validation = ``training.val.loss``, test = the model row's first
              ``*nll*`` metric). Default :data:`PUBLISHED` for the corpus (seed
              003's NLL for ``nottingham``); None hides it.
            * ``live_dir`` (path): a DVCLive folder; its loss curves are plotted.
            * ``plots`` (list): more figures, each a path or ``{"path", "caption"}``.
            * ``samples`` (list of dict): one card each, as
              :func:`tunesmith.render.render_samples` returns them: ``name``,
              ``title``, paths ``midi``, ``wav``, ``mp3``, ``svg`` (score),
              ``png`` (piano roll), ``abc``, ``musicxml``, ``txt`` (each optional;
              a missing file is left out with a warning), ``info`` (dict of
              scalars shown as tags: seed, sampler, temperature ...), ``audio``
              (the :func:`tunesmith.render.render_audio` dict, whose ``note`` is
              shown), ``error`` (str).
        out_dir: the report folder; replaced as a whole.
        title: the page title.

    Returns:
        ``out_dir / "index.html"``.
    """
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        assets = _Assets(tmp)
        sections = [_corpus_section(str(c), entry or {}, assets) for c, entry in corpora.items()]
        nav = "".join(
            f'<a href="#{_e(_slug(c))}">{_e((e or {}).get("title") or c)}</a>'
            for c, e in corpora.items()
        )
        page = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{_e(title)}</h1>"
            '<p class="lead">LSTM models trained on symbolic-music corpora: how well they '
            "predict held-out music, how their output compares with the real thing, and the "
            f"samples themselves.</p><nav>{nav}</nav></header>"
            f"<main>{''.join(sections)}</main></body></html>\n"
        )
        (tmp / "index.html").write_text(page, encoding="utf-8", newline="\n")
    log.info("report written to %s", out_dir / "index.html")
    return out_dir / "index.html"
