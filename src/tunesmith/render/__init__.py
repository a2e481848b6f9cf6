"""Make generated music audible and visible: audio, engraved scores and plots.

* :func:`render_audio` (``audio``) -- MIDI -> WAV (and MP3 when an encoder
  exists) with FluidSynth and a General MIDI soundfont; without them,
  pretty_midi's sine-wave synthesizer, reported as such.
* :func:`render_score_svg` (``scores``) -- MusicXML or ABC -> an engraved score (verovio).
* :func:`plot_piano_roll`, :func:`plot_loss_curves` / :func:`plot_loss_series`,
  :func:`plot_histograms` (``plots``) -- PNG figures (loss curves as Vinze et al. and
  Reitman & Cho show them, Lorinczi & Brailovsky's note distributions).
* :func:`plot_activation_heatmap`, :func:`hidden_activations` (``activations``) --
  Reitman & Cho's figure 11 hidden-unit heatmap and the per-step output it draws.
* :func:`render_samples` (``sample_set``) -- all of the above for a folder written
  by the generate stage, returning the sample records :func:`tunesmith.report.build_report` takes.
"""
