"""Chart one metric across the ``dvc exp`` experiments of the workspace's baseline
(``tunesmith sweeps``)."""

from __future__ import annotations

import difflib
from pathlib import Path

from tunesmith.compare.diff import _number
from tunesmith.core.io import atomic_path, write_text


def _show(value) -> str:
    # exp_show gives numbers as floats: 100.0 is shown as the 100 that was set
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _tracks(repo: Path) -> tuple[str, ...]:
    """The tracks of the repository's params.yaml (the bundled ones without it)."""
    from tunesmith.config.load import load_params
    from tunesmith.tracks import TRACKS

    params = repo / "params.yaml"
    tracks = load_params(params).get("tracks") if params.is_file() else None
    return tuple(tracks) if isinstance(tracks, dict) else TRACKS


def _check_out(out_dir: Path, tracks: tuple[str, ...]) -> None:
    """The output folder must be new, empty, or one sweeps wrote (it holds a ``sweeps_<corpus>.md``)."""
    from tunesmith.core.errors import ArtifactError
    from tunesmith.core.io import check_replaceable

    if out_dir.exists() and not out_dir.is_dir():
        raise ArtifactError(f"--out {out_dir} is a file, not a folder")
    check_replaceable(out_dir, owned_if=tuple(f"sweeps_{t}.md" for t in tracks))


def sweep_summary(corpus: str, metric: str, out_dir: Path, *, repo: Path = Path(".")) -> Path:
    """Chart one metric across the ``dvc exp`` experiments of the workspace's baseline.

    Each experiment is labelled by the params it changed (Reitman & Cho's hidden-size
    sweep, Vinze et al.'s optimiser comparison ...). Writes ``out_dir/sweeps_<corpus>.png``
    and ``out_dir/sweeps_<corpus>.md``; returns the markdown path.
    """
    from tunesmith.core.errors import ConfigError

    tracks = _tracks(repo)
    if corpus not in tracks:
        raise ConfigError(f"--corpus {corpus}: not a track of {repo / 'params.yaml'} ({', '.join(tracks)})")
    _check_out(out_dir, tracks)  # before any work
    import dvc.api
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = dvc.api.exp_show(repo=str(repo))
    if not rows:
        raise ValueError("no experiments: run some with `dvc exp run -S ...` first")
    columns = [c for c in rows[0] if c == metric or (c.endswith(f":{metric}") and f"/{corpus}/" in c)]
    if not columns:
        near = difflib.get_close_matches(metric, [c.split(":")[-1] for c in rows[0]], n=5, cutoff=0.4)
        raise ValueError(f"metric {metric!r} of corpus {corpus!r} not found among the {len(rows[0])} columns of "
                         f"`dvc exp show`" + (f"; nearest: {', '.join(near)}" if near else ""))
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
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    md = out_dir / f"sweeps_{corpus}.md"
    lines = [f"| experiment | changed | {metric} |", "|---|---|---:|"]
    lines += [f"| {name} | {label} | {value:.4f} |" for label, name, value in table]
    write_text(md, "\n".join(lines) + f"\n\n![sweeps]({png.name})\n")
    return md
