"""Chart one metric across the ``dvc exp`` experiments of the workspace's baseline
(``tunesmith sweeps``)."""

from __future__ import annotations

from pathlib import Path

from tunesmith.compare import _number


def _show(value) -> str:
    # exp_show gives numbers as floats: 100.0 is shown as the 100 that was set
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def sweep_summary(corpus: str, metric: str, out_dir: Path, *, repo: Path = Path(".")) -> Path:
    """Chart one metric across the ``dvc exp`` experiments of the workspace's baseline.

    Each experiment is labelled by the params it changed (Reitman & Cho's hidden-size
    sweep, Vinze et al.'s optimiser comparison ...). Writes ``out_dir/sweeps_<corpus>.png``
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
