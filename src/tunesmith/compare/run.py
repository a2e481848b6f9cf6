"""tunesmith compare: read both revisions through DVC and write the comparison folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from tunesmith.compare.diff import LOSS_TSV, MARKER, WORKSPACE, Side, _one_line, _tsv, corpora, read_figures
from tunesmith.compare.git import git_root, git_text, resolve_rev
from tunesmith.core.errors import TunesmithError
from tunesmith.core.io import atomic_path, check_replaceable, write_json

log = logging.getLogger(__name__)


def read_loss(root: Path, side: Side, corpus: str) -> None:
    """Train and validation loss of ``corpus`` on one side: the workspace's files, or git at
    ``side.rev`` (then the DVC cache, for revisions whose plots were cached outputs)."""
    tables = {}
    for split in ("train", "val"):
        path = LOSS_TSV.format(corpus=corpus, split=split)
        if side.rev is None:
            text = (root / path).read_text() if (root / path).is_file() else None
        else:
            text = git_text(root, side.rev, path)
            if text is None:
                text = _dvc_read(root, path, side.rev)
        try:
            table = _tsv(text)
        except (ValueError, pd.errors.ParserError) as exc:
            side.errors[path] = _one_line(exc)
            table = None
        if table is not None:
            tables[split] = table
    if tables:
        side.loss[corpus] = tables


def _dvc_read(root: Path, path: str, rev: str) -> str | None:
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        return dvc.api.read(path, repo=str(root), rev=rev)
    except (DvcException, OSError) as exc:  # not at that revision, or not in the cache
        log.debug("no %s at %s: %s", path, rev, exc)
        return None


def loss_figure(corpus: str, old: Side, new: Side, png: Path) -> bool:
    """Train and validation loss per epoch of both sides in one figure: ``old`` dashed, ``new`` solid
    (drawn by `render.plot_loss_series`); False, and no file, when neither side has a curve."""
    from tunesmith.render.plots import LossSeries, plot_loss_series

    series = [
        LossSeries(f"{split} ({side.label})", table["loss"].to_numpy(), color, style,
                   epochs=(table["step"] + 1).to_numpy())
        for side, style in ((old, "--"), (new, "-"))
        for split, color in (("train", "tab:blue"), ("val", "tab:orange"))
        if (table := side.loss.get(corpus, {}).get(split)) is not None
    ]
    if series:
        plot_loss_series(series, png, title=f"{corpus}: loss per epoch")
    return bool(series)


def _quiet_dvc() -> None:
    # DVC warns (several lines) about each revision it cannot read; the report lists them instead
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("dvc").setLevel(logging.ERROR)


def warn_if_stale(dvc_repo) -> list[str]:
    """One warning line when ``dvc status`` of the workspace is not clean: its figures may then come
    from different runs (an evaluate.json of one model beside the train.json of another). Returns
    the stages that are not up to date."""
    from dvc.exceptions import DvcException

    try:
        stale = sorted(dvc_repo.status())
    except DvcException as exc:
        log.warning("could not run dvc status (%s): the workspace may mix runs", _one_line(exc))
        return []
    if stale:
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        log.warning("dvc status is not clean (%s): the workspace's figures may mix runs; "
                    "`dvc repro` (or `dvc checkout`) first to compare one run", shown)
    return stale


def write_comparison(rev: str, out_dir: Path, *, repo: Path = Path("."), fetch: bool = False) -> Path:
    """Compare the workspace of ``repo`` with git revision ``rev``.

    Writes ``out_dir/report.md`` (for a CI job summary), ``out_dir/index.html``,
    ``out_dir/loss_<corpus>.png`` and copies of both sides' samples under
    ``out_dir/samples/``; returns the markdown path. ``fetch`` first pulls the
    samples of ``rev`` from the DVC remote into the cache.

    Raises:
        TunesmithError: not a git repository or DVC project, unknown ``rev``.
    """
    root = git_root(Path(repo))
    sha = resolve_rev(root, rev)
    _quiet_dvc()
    from dvc.exceptions import DvcException, NotDvcRepoError  # after the quick checks: DVC imports slowly
    from dvc.repo import Repo

    from tunesmith.compare import page as compare_page
    from tunesmith.compare import samples as compare_samples

    try:
        dvc_repo = Repo(str(Path(repo).resolve()))
    except NotDvcRepoError as exc:
        raise TunesmithError(f"{Path(repo).resolve()} is not a DVC project (no .dvc folder; `dvc init`)") from exc
    root = Path(dvc_repo.root_dir)
    warn_if_stale(dvc_repo)
    old, new = Side(label=rev, rev=sha), Side(label=WORKSPACE, rev=None)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise TunesmithError(f"--out {out_dir} is a file, not a folder")
    check_replaceable(out_dir, owned_if=(MARKER,))  # before any work: a folder of the user's is never touched
    with dvc_repo:
        try:
            read_figures(dvc_repo, rev, old, new)
        except DvcException as exc:
            raise TunesmithError(f"DVC could not read params or metrics: {_one_line(exc)}") from exc
        names = corpora(old, new)
        if fetch:
            compare_samples.fetch(dvc_repo, sha, names)
        for corpus in names:
            read_loss(root, old, corpus)
            read_loss(root, new, corpus)
        # the whole folder is written beside its target and renamed into place (io.atomic_path)
        with atomic_path(out_dir, owned_if=(MARKER,)) as tmp:
            tmp.mkdir()
            figures = {c: f"loss_{c}.png" for c in names if loss_figure(c, old, new, tmp / f"loss_{c}.png")}
            samples = {c: (compare_samples.revision_samples(dvc_repo, root, sha, rev, c, tmp),
                           compare_samples.workspace_samples(root, c, tmp)) for c in names}
            context = compare_page.context(old, new, names, figures, samples, short_sha=sha[:8])
            (tmp / "index.html").write_text(compare_page.html(context), encoding="utf-8")
            (tmp / "report.md").write_text(compare_page.markdown(context), encoding="utf-8")
            write_json(tmp / MARKER, {"rev": rev, "sha": sha, "corpora": names})
    return out_dir / "report.md"


