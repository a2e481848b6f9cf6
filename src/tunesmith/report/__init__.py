"""The HTML report: per corpus a headline, metrics beside baselines, plots, and every sample.

:func:`build_report` writes one self-contained folder::

    out_dir/index.html               one page, inline CSS, no JavaScript, no network
    out_dir/assets/<corpus>/...      copies of the audio, scores, piano rolls, music
                                     files and plots it shows, linked by relative paths

so it works opened straight from the file system, copied elsewhere or zipped.
The HTML comes from the Jinja2 template ``tunesmith/templates/report.html.j2``
(package data) with autoescaping on.
The folder is written atomically (built beside ``out_dir``, then renamed), and
the page holds no timestamps: same inputs, same bytes.

The metrics dict of a corpus is displayed generically, so the evaluation
module can grow without changes here:

* ``metrics["model"]`` (a dict of scalars) and ``metrics["baselines"]`` (a dict
  ``name -> dict of scalars``, or a list of dicts with a ``"name"``) make one
  comparison table, the model row highlighted, the best value of each column
  underlined, and a headline sentence stating the model's margin over the best n-gram baseline
  (a name containing ``kn``, ``gram`` or ``markov``) on the first
  lower-is-better column (``nll``, ``cross_entropy``, ``loss``, ``bits``...).
* any dict anywhere that holds lists of numbers of one length under both
  ``"generated"`` and ``"real"`` becomes a bar chart (:func:`tunesmith.render.plot_histograms`);
  its bin labels come from ``"labels"`` when given, pitch classes for 12 bins,
  else the bin index.
* everything else is flattened (``music.ioi.mean``) into one table per top-level
  key, folded away; top-level scalars (``split``, ``corpus`` ...) share a "general" table.
  Every metric shows its readable name and a one-line explanation (`content.metric_text`),
  the raw key on hover.
  ``metrics["split"]`` (default ``"test"``) names the split in the comparison heading.

Modules: ``page`` (`build_report`), ``sections`` (one corpus's data for the template),
``content`` (summaries, readable names, captions, published figures), ``values``
(formatting), ``assets`` (copied files), ``entries`` (`report_stage`: a pipeline run's report).
"""
