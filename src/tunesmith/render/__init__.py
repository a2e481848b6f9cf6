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

from tunesmith.render.activations import hidden_activations, plot_activation_heatmap
from tunesmith.render.audio import SOUNDFONT_CANDIDATES, encode_mp3, find_soundfont, render_audio
from tunesmith.render.plots import (
    PITCH_CLASSES,
    LossSeries,
    plot_histograms,
    plot_loss_curves,
    plot_loss_series,
    plot_piano_roll,
    read_live_metric,
)
from tunesmith.render.sample_set import render_samples
from tunesmith.render.scores import render_score_svg

__all__ = [
    "PITCH_CLASSES",
    "SOUNDFONT_CANDIDATES",
    "LossSeries",
    "encode_mp3",
    "find_soundfont",
    "hidden_activations",
    "plot_activation_heatmap",
    "plot_histograms",
    "plot_loss_curves",
    "plot_loss_series",
    "plot_piano_roll",
    "read_live_metric",
    "render_audio",
    "render_samples",
    "render_score_svg",
]
