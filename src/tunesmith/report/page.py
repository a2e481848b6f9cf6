"""The page itself: the Jinja2 template (autoescaped) filled with each corpus's section,
written with its assets into one folder, atomically."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from tunesmith.core.io import atomic_path
from tunesmith.report.assets import Assets
from tunesmith.report.content import SAMPLES_NOTE
from tunesmith.report.sections import corpus_section

log = logging.getLogger(__name__)

TEMPLATE = "report.html.j2"
"""In ``tunesmith/templates/`` (package data)."""
LEAD = ("LSTM models trained on symbolic-music corpora: how well they predict held-out music, how "
        "their output compares with the real thing, and the samples themselves.")


@cache
def environment() -> jinja2.Environment:
    """Templates from the installed package, every ``{{ value }}`` HTML-escaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tunesmith", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def build_report(
    corpora: Mapping[str, Mapping[str, Any]],
    out_dir: Path | str,
    *,
    title: str = "tunesmith report",
    benchmark: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``out_dir/index.html`` and its assets; return the path of index.html.

    Args:
        corpora: corpus key -> entry, shown in this order. Every key of an entry
            is optional:

            * ``title`` (str): the section heading, default the corpus key.
            * ``summary`` (str): a paragraph under it.
            * ``metrics`` (dict): the evaluation metrics, displayed as described
              in the package docstring (``model``, ``baselines``, histograms, the rest).
            * ``model_label`` (str): the model row's name, default ``"LSTM"``.
            * ``training`` (dict): the training ``metrics.json`` (``train.loss``,
              ``val.loss``, ``best_epoch`` ...); its ``history`` is left out.
            * ``published`` (dict or None): ``{"source", "metric", "values":
              {split: number}}`` shown beside ours (train = ``training.train.loss``,
              validation = ``training.val.loss``, test = the model row's first
              ``*nll*`` metric): the track's own (`tunesmith.tracks.base.Track.published`,
              Reitman & Cho's NLL for ``nottingham``) as evaluate.json carries it; None hides it.
            * ``live_dir`` (path): a DVCLive folder; its loss curves are plotted.
            * ``plots`` (list): more figures, each a path or ``{"path", "caption", "explanation"}``.
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
        assets = Assets(tmp)
        sections = [corpus_section(str(c), entry or {}, assets) for c, entry in corpora.items()]
        page = environment().get_template(TEMPLATE).render(
            title=title, lead=LEAD, sections=sections, samples_note=SAMPLES_NOTE, benchmark=benchmark)
        (tmp / "index.html").write_text(page, encoding="utf-8", newline="\n")
    log.info("report written to %s", out_dir / "index.html")
    return out_dir / "index.html"
