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
