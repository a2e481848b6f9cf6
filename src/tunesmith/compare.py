"""A markdown comparison of the workspace against another revision, CML-style.

``make compare REV=main`` (and the CI workflow) write ``compare/report.md``: the
params diff, the metrics diff and, per corpus, the loss curves of both revisions
drawn in one image. Metrics and loss logs are DVC outputs, so another revision's
copies come from the DVC cache or remote (``dvc pull`` first on a fresh machine).
"""

from __future__ import annotations

import io as stdio
import logging
import subprocess
from pathlib import Path

import pandas as pd

from tunesmith import TRACKS

log = logging.getLogger(__name__)


def _dvc(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        log.warning("dvc %s failed: %s", " ".join(args), proc.stderr.strip())
        return ""
    return proc.stdout


def _loss_table(repo: Path, track: str, split: str, rev: str | None) -> pd.DataFrame | None:
    path = f"data/live/{track}/plots/metrics/{split}/loss.tsv"
    try:
        if rev is None:
            text = (repo / path).read_text()
        else:
            import dvc.api

            text = dvc.api.read(path, repo=str(repo), rev=rev)
    except Exception as exc:  # missing at that revision, or not in the cache: show what exists
        log.info("no %s at %s: %s", path, rev or "workspace", exc)
        return None
    return pd.read_csv(stdio.StringIO(text), sep="\t")


def loss_figure(repo: Path, track: str, rev: str, png: Path) -> bool:
    """Train and validation loss per epoch, ``rev`` dashed vs the workspace solid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    drawn = False
    for label, r, style in ((rev, rev, "--"), ("workspace", None, "-")):
        for split, color in (("train", "tab:blue"), ("val", "tab:orange")):
            table = _loss_table(repo, track, split, r)
            if table is not None and len(table):
                ax.plot(table["step"] + 1, table["loss"], style, color=color, label=f"{split} ({label})")
                drawn = True
    if drawn:
        ax.set(title=f"{track}: loss per epoch", xlabel="epoch", ylabel="NLL (nats/token)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png)
    plt.close(fig)
    return drawn


def write_comparison(rev: str, out_dir: Path, *, repo: Path = Path(".")) -> Path:
    """Write ``out_dir/report.md`` comparing the workspace with ``rev``; return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"# tunesmith: workspace vs `{rev}`", ""]
    params = _dvc("params", "diff", rev, "--md", cwd=repo).strip()
    parts += ["## Params", "", params or "No params changed.", ""]
    metrics = _dvc("metrics", "diff", rev, "--md", cwd=repo).strip()
    parts += ["## Metrics", "", metrics or "No metrics changed (or none cached for that revision).", ""]
    parts += ["## Loss curves", ""]
    for track in TRACKS:
        png = out_dir / f"loss_{track}.png"
        if loss_figure(repo, track, rev, png):
            parts.append(f"![{track} loss]({png.name})")
    report = out_dir / "report.md"
    report.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return report


def _number(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN is "no value"


def _show(value) -> str:
    # exp_show gives numbers as floats: 100.0 is shown as the 100 that was set
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def sweep_summary(corpus: str, metric: str, out_dir: Path, *, repo: Path = Path(".")) -> Path:
    """Chart one metric across the ``dvc exp`` experiments of the workspace's baseline.

    Each experiment is labelled by the params it changed (seed 003's hidden-size
    sweep, seed 000's optimiser comparison ...). Writes ``out_dir/sweeps_<corpus>.png``
    and ``out_dir/sweeps_<corpus>.md``; returns the markdown path.
    """
    import dvc.api
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = dvc.api.exp_show(repo=str(repo))
    if not rows:
        raise ValueError("no experiments: run some with `dvc exp run -S ...` first")
    columns = [c for c in rows[0] if c == metric or (c.endswith(f":{metric}") and f"/{corpus}/" in c)]
    if not columns:
        raise ValueError(f"metric {metric!r} of corpus {corpus!r} not found; columns: {', '.join(rows[0])}")
    column = sorted(columns, key=lambda c: ("evaluate" not in c, c))[0]
    # the committed baseline (HEAD); the workspace row holds whatever `dvc exp run` last applied
    baseline = next((r for r in rows if r.get("typ") == "baseline" and r.get("rev") != "workspace"), rows[0])
    params = [c for c in rows[0] if c.startswith(("train.", "generate.", "prepare.", "encode.", "vocab.",
                                                   "fetch.", "evaluate."))
              or (":" in c and c.split(":", 1)[1].startswith(("train.", "generate.", "prepare.")))]
    table = []
    for r in rows:
        value = _number(r.get(column))
        if value is None:
            continue
        changed = [f"{c.split(':')[-1]}={_show(r[c])}" for c in params if r.get(c) != baseline.get(c)]
        name = r.get("Experiment") or r.get("rev") or "?"
        if r is baseline:
            label = f"{name} (baseline)"
        elif not changed:
            continue  # the workspace when it equals the baseline
        else:
            label = ", ".join(changed)
        table.append((label, name, value))
    if not table:
        raise ValueError(f"no experiment has a value for {column}")
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.2), dpi=100)
    ax.barh([t[0] for t in table], [t[2] for t in table], color="tab:blue")
    ax.invert_yaxis()
    ax.set(xlabel=column.split(":")[-1], title=f"{corpus}: {metric} across experiments")
    fig.tight_layout()
    png = out_dir / f"sweeps_{corpus}.png"
    fig.savefig(png)
    plt.close(fig)
    md = out_dir / f"sweeps_{corpus}.md"
    lines = [f"| experiment | changed | {metric} |", "|---|---|---:|"]
    lines += [f"| {name} | {label} | {value:.4f} |" for label, name, value in table]
    md.write_text("\n".join(lines) + f"\n\n![sweeps]({png.name})\n", encoding="utf-8")
    return md
