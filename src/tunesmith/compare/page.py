"""The comparison as markdown (a CI job summary) and as an HTML page (Jinja2, autoescaped).

Both are rendered from one plain ``context`` dict built by :func:`context`; see
:func:`tunesmith.compare.run.write_comparison` for what goes in.
"""

from __future__ import annotations

import math
from typing import Any

from tunesmith.compare.diff import Side, changed_metrics, headline_rows, loss_summary, missing_notes, params_diff
from tunesmith.core.cells import markdown_cell


def fmt(value: Any) -> str:
    """A value for a table cell: ``-`` for none, 4 decimals for fractional numbers."""
    if value is None:
        return "-"
    if isinstance(value, (bool, int)):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4f}"
    return str(value)


def _delta(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0:
        return "0"
    return f"{int(value):+d}" if float(value).is_integer() and abs(value) >= 1 else f"{value:+.4f}"


def _band(row) -> str:
    """The noise band of a headline row, and what it compares ("" for rows that have none); for a
    figure the two sides count over other symbols, why there is no verdict."""
    if getattr(row, "basis", "").startswith("not comparable"):
        return row.basis
    if getattr(row, "band", None) is None:
        return ""
    return f"±{row.band:.4f} ({row.basis})"


def _row(row, old: Side, new: Side) -> dict[str, str]:
    verdict = row.verdict
    return {"label": row.label, "key": row.key, "old": fmt(row.old), "new": fmt(row.new),
            "delta": _delta(row.delta), "better": row.better(old.label, new.label), "band": _band(row),
            "winner": {"better": "new", "worse": "old"}.get(verdict, "")}


def context(old: Side, new: Side, corpora: list[str], figures: dict[str, str], samples: dict,
            *, short_sha: str) -> dict[str, Any]:
    """Everything both renderings show, as strings and lists."""
    corpus_blocks = []
    for corpus in corpora:
        summaries = [(side.label, loss_summary(side, corpus)) for side in (old, new)]
        corpus_blocks.append({
            "name": corpus,
            "headline": [_row(r, old, new) for r in headline_rows(corpus, old, new)],
            "figure": figures.get(corpus),
            "loss": [{"side": label, "epochs": fmt(s["epochs"]), "train": fmt(s["train"]),
                      "val": fmt(s["val"]), "val_epoch": fmt(s["val_epoch"])}
                     for label, s in summaries if s],
            "samples": samples.get(corpus),
        })
    return {
        "old": old.label, "new": new.label, "sha": short_sha, "noise_note": NOISE_NOTE,
        # params as written in params.yaml (0.1 stays 0.1)
        "params": [{"key": k, "old": "-" if a is None else str(a), "new": "-" if b is None else str(b)}
                   for k, a, b in params_diff(old, new)],
        "corpora": corpus_blocks,
        "changed": [{"path": path, **_row(r, old, new)} for path, r in changed_metrics(old, new)],
        "missing": [(side.label, note) for side in (old, new) for note in missing_notes(side)],
    }


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    # every cell escaped (`markdown_cell`): a revision's or a corpus's name cannot shift the columns
    lines = ["| " + " | ".join(markdown_cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(markdown_cell(c) for c in r) + " |" for r in rows]
    return lines


NOISE_NOTE = ("A side is called better only when the difference exceeds the noise band: two standard errors "
              "of the difference, from the seed sd in either side's data/metrics/<corpus>/seeds.json "
              "(`make noise`). Both sides' seed means are compared when both have seeds for their own params. "
              "Without a seeds.json there is no noise figure, and no side is called better.")


def markdown(ctx: dict[str, Any]) -> str:
    """The comparison as GitHub-flavoured markdown (images are files beside it)."""
    old, new = markdown_cell(ctx["old"]), markdown_cell(ctx["new"])
    out = [f"# tunesmith: {new} vs {old} ({markdown_cell(ctx['sha'])})", "", "## Params", ""]
    if ctx["params"]:
        out += _md_table(["param", ctx["old"], ctx["new"]], [[p["key"], p["old"], p["new"]] for p in ctx["params"]])
    else:
        out.append("No params changed.")
    out += ["", "## Headline metrics", "", NOISE_NOTE, ""]
    for c in ctx["corpora"]:
        out += [f"### {c['name']}", ""]
        if c["headline"]:
            out += _md_table(["metric", ctx["old"], ctx["new"], "change", "better", "noise band"],
                             [[f"{r['label']} ({r['key']})", r["old"], r["new"], r["delta"], r["better"], r["band"]]
                              for r in c["headline"]])
        else:
            out.append("No headline metrics on either side.")
        out.append("")
    out += ["## Loss curves", ""]
    for c in ctx["corpora"]:
        if not c["loss"]:
            continue
        out += [f"### {c['name']}", ""]
        out += _md_table(["revision", "epochs", "last train loss", "best val loss", "at epoch"],
                         [[s["side"], s["epochs"], s["train"], s["val"], s["val_epoch"]] for s in c["loss"]])
        if c["figure"]:
            out += ["", f"![{c['name']} loss]({c['figure']})"]
        out.append("")
    out += ["## Samples", "", "Listen to both sides in `index.html` (beside this file, or in the CI artifact).", ""]
    for c in ctx["corpora"]:
        for s in c["samples"] or ():
            if s.note:
                out.append(f"- {c['name']}, {s.side}: {s.note}")
    if ctx["changed"]:
        out += ["", "<details><summary>Every changed metric</summary>", ""]
        out += _md_table(["path", "metric", ctx["old"], ctx["new"], "change"],
                         [[r["path"], r["key"], r["old"], r["new"], r["delta"]] for r in ctx["changed"]])
        out += ["", "</details>"]
    if ctx["missing"]:
        out += ["", "## Not found", ""]
        out += [f"- {side}: {note}" for side, note in ctx["missing"]]
        out.append("- metrics and plots committed before they were `cache: false` live only in the DVC "
                   "cache or remote: `dvc pull` on that revision, or compare with a later one.")
    return "\n".join(out) + "\n"


def html(ctx: dict[str, Any]) -> str:
    """The comparison as one static HTML page with both sides' samples side by side."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(**ctx)


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tunesmith: {{ new }} vs {{ old }}</title>
<style>
body { margin:0 auto; max-width:1200px; padding:0 20px 40px; font:15px/1.5 system-ui, sans-serif; color:#1f2328; }
table { border-collapse:collapse; margin:8px 0 16px; display:block; max-width:100%; overflow-x:auto; }
img { max-width:100%; height:auto; }
th, td { border:1px solid #d8dee4; padding:3px 8px; text-align:left; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
td.win { background:#dafbe1; font-weight:600; }
.pair { display:grid; grid-template-columns:repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap:16px; }
.pair > * { min-width:0; }
.card { border:1px solid #d8dee4; border-radius:6px; padding:8px 12px; margin:0 0 12px; }
.card audio { width:100%; }
.card img { max-width:100%; background:#fff; }
.note { color:#59636e; }
.tags span { display:inline-block; background:#eef4fb; border-radius:4px; padding:0 6px;
             margin:0 4px 4px 0; font-size:13px; }
</style>
</head>
<body>
<h1>tunesmith: {{ new }} vs <code>{{ old }}</code> <small>({{ sha }})</small></h1>
<p class="note">{{ noise_note }}</p>

<h2>Params that differ</h2>
{% if params %}
<table><tr><th>param</th><th>{{ old }}</th><th>{{ new }}</th></tr>
{% for p in params %}<tr><td><code>{{ p.key }}</code></td><td>{{ p.old }}</td><td>{{ p.new }}</td></tr>
{% endfor %}</table>
{% else %}<p>No params changed.</p>{% endif %}

{% for c in corpora %}
<section id="{{ c.name }}">
<h2>{{ c.name }}</h2>
{% if c.headline %}
<table><tr><th>metric</th><th>{{ old }}</th><th>{{ new }}</th><th>change</th><th>better</th><th>noise band</th></tr>
{% for r in c.headline %}<tr><td>{{ r.label }} <code>{{ r.key }}</code></td>
<td class="num{{ ' win' if r.winner == 'old' }}">{{ r.old }}</td>
<td class="num{{ ' win' if r.winner == 'new' }}">{{ r.new }}</td>
<td class="num">{{ r.delta }}</td><td>{{ r.better }}</td><td class="note">{{ r.band }}</td></tr>
{% endfor %}</table>
{% else %}<p class="note">No headline metrics on either side.</p>{% endif %}
{% if c.figure %}<figure><img src="{{ c.figure }}" alt="{{ c.name }} loss curves of both revisions">
<figcaption>Loss per epoch: {{ old }} dashed, {{ new }} solid.</figcaption></figure>{% endif %}
{% if c.loss %}
<table><tr><th>revision</th><th>epochs</th><th>last train loss</th><th>best val loss</th><th>at epoch</th></tr>
{% for s in c.loss %}<tr><td>{{ s.side }}</td><td class="num">{{ s.epochs }}</td><td class="num">{{ s.train }}</td>
<td class="num">{{ s.val }}</td><td class="num">{{ s.val_epoch }}</td></tr>
{% endfor %}</table>
{% endif %}
{% if c.samples %}
<h3>Samples</h3>
<div class="pair">
{% for side in c.samples %}
<div class="side">
<h4>{{ side.side }}</h4>
{% if side.note %}<p class="note">{{ side.note }}</p>{% endif %}
{% for s in side.samples %}
<article class="card">
<strong>{{ s.name }}</strong>
<div class="tags">{% for k, v in s.info.items() %}<span>{{ k }}: {{ v }}</span>{% endfor %}</div>
{% if s.audio %}<audio controls preload="none">
<source src="{{ s.audio[0] }}" type="{{ s.audio[1] }}"></audio>{% endif %}
{% if s.audio_note %}<p class="note">{{ s.audio_note }}</p>{% endif %}
{% if s.score %}<img src="{{ s.score }}" alt="score of {{ s.name }}">{% endif %}
{% if s.roll %}<img src="{{ s.roll }}" alt="piano roll of {{ s.name }}">{% endif %}
<div>{% for label, href in s.links %}<a href="{{ href }}">{{ label }}</a> {% endfor %}</div>
</article>
{% endfor %}
</div>
{% endfor %}
</div>
{% endif %}
</section>
{% endfor %}

{% if changed %}
<details><summary>Every changed metric ({{ changed|length }})</summary>
<table><tr><th>path</th><th>metric</th><th>{{ old }}</th><th>{{ new }}</th><th>change</th></tr>
{% for r in changed %}<tr><td>{{ r.path }}</td><td>{{ r.key }}</td><td class="num">{{ r.old }}</td>
<td class="num">{{ r.new }}</td><td class="num">{{ r.delta }}</td></tr>
{% endfor %}</table>
</details>
{% endif %}
{% if missing %}
<h2>Not found</h2>
<ul>{% for side, note in missing %}<li>{{ side }}: {{ note }}</li>{% endfor %}</ul>
{% endif %}
</body>
</html>
"""
