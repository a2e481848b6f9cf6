"""What the report says in words: per-corpus summaries, readable metric names with a
one-line explanation each, figure captions, and the published figures set beside ours.

Everything a reader sees instead of a raw key (``music.ioi_hist_kl``) is here, so
the stage and the page code hold no prose.
"""

from __future__ import annotations

import re
from typing import NamedTuple

VINZE = ('Vinze et al., "Automatic Music Generation using Long Short-Term Memory Neural Networks"')
LORINCZI = 'Lorinczi & Brailovsky, "Music Generation Using Deep Learning" (2021)'
VASUDEVA = 'Vasudeva H N, "Music Generation using an LSTM model" (2024)'
REITMAN = 'Reitman & Cho, "Generating Music with LSTM Networks"'
WALDER = 'Walder, "Modelling Symbolic Music: Beyond the Piano Roll" (2016)'

SUMMARY = {
    "nottingham": f"Folk tunes as characters of ABC text, as in {VINZE} and {REITMAN}.",
    "essen": (f"Essen folksongs as a 16th-note time series of MIDI pitch, rest and hold, as in {VASUDEVA}, "
              "each song opening with its meter and key and marking its bar lines, so the model knows where it "
              "is in the bar; encode.essen.representation other than metered gives the plain time series."),
    "classical": (f"Piano music as a piano roll: each frame's sounding pitches, each marked struck or held, then a "
                  f"frame end ({WALDER}) that names the frame's place in its 4/4 bar, so notes end where beats do "
                  f"and a repeated note is struck again; encode.classical.representation=chords gives the chord "
                  f"tokens of {LORINCZI}."),
}
"""One paragraph under each corpus heading."""

class Text(NamedTuple):
    """A readable name and a one-line explanation."""

    name: str
    explanation: str = ""


EVAL_FIGURES = {
    "pitch_class_hist.png": Text(
        "Pitch classes, generated vs real",
        f"Share of notes on each of the 12 pitch classes in the samples and in real held-out pieces "
        f"(as {LORINCZI}, figures 4-6): a model that learnt the keys of the corpus matches the grey bars."),
    "note_length_hist.png": Text(
        "Note lengths, generated vs real",
        "Share of notes of each length in beats: the rhythmic vocabulary of the samples beside the real one."),
    "ioi_hist.png": Text(
        "Inter-onset intervals, generated vs real",
        "Time in beats from one note's start to the next: how dense and how regular the rhythm is."),
    "activations.png": Text(
        "Hidden-unit activations over a generated piece",
        f"The output of the first recurrent layer at each step of sample_000, blue negative, red positive "
        f"(as {REITMAN}, figure 11): units that switch with bars or phrases show learnt structure."),
}
"""The PNGs the evaluate stage draws that the report shows, by file name, in this order."""

LOSS_FIGURE = Text(
    "Loss per epoch",
    "Training and validation loss (mean NLL in nats per symbol) after each epoch; the star marks the best "
    "single epoch on validation. The saved model is usually the mean of the last epochs' weights, which "
    "validates lower still (the track's training figures say which).")
SAMPLES_NOTE = ("Each card: the sampler settings, the audio (rendered with FluidSynth, or a plain sine "
                "synthesizer where the card says so), the engraved score, a piano roll (time across, pitch "
                "up) and the files to download.")

SECTIONS = {
    "general": Text("General", "The split scored and how."),
    "training": Text("Training", "The saved weights (the best epoch, or the average of the last epochs "
                     "when it validates lower) and their losses."),
    "music": Text("Music statistics, generated vs real",
                  "How the samples' statistics compare with real held-out pieces of the corpus."),
    "samples": Text("Samples", "How many samples were generated and how many became music."),
    "playability": Text("Playability of the generated tunes",
                        "Whether the generated ABC reads as music with whole bars."),
    "playability_real": Text("Playability of real tunes", "The same checks on real held-out tunes, for reference."),
    "novelty": Text("Novelty", "Whether the samples copy the training set."),
    "best_ngram": Text("Best n-gram baseline",
                       "The Kneser-Ney n-gram order with the lowest validation NLL, scored on the test split."),
}

METRICS = {
    "nll": Text("NLL (nats/symbol)", "Mean negative log-likelihood of each held-out symbol: lower predicts "
                "the music better."),
    "loss": Text("loss (nats/symbol)", "Mean negative log-likelihood of a symbol during training."),
    "bits_per_token": Text("bits per symbol", "The NLL in bits: yes/no questions the next symbol costs."),
    "perplexity": Text("perplexity", "e to the NLL in nats: as unsure as a choice among this many equal symbols."),
    "accuracy": Text("accuracy", "Share of symbols the model ranks most likely."),
    "event_nll": Text("NLL of note events (nats)", "The NLL over symbols that start a note or rest, holds left out."),
    "event_accuracy": Text("accuracy on note events", "The accuracy over symbols that start a note or rest."),
    "tokens": Text("symbols scored", "How many held-out symbols the figures average over."),
    "events": Text("note events scored", "How many of them start a note or rest."),
    "margin_over_ngram_nats": Text("margin over the best n-gram (nats)",
                                   "The best n-gram's NLL minus the LSTM's: above 0 the LSTM predicts better."),
    "margin_vs_best_ngram": Text("relative margin over the best n-gram",
                                 "The margin as a share of the n-gram's NLL."),
    "margin_vs_best_ngram_no_cache": Text("relative margin over the best n-gram, LSTM alone",
                                          "The same without the continuous cache."),
    "margin_vs_best_ngram_with_cache": Text("relative margin over the best n-gram with its own cache",
                                            "Both models with a cache over the piece so far: the fair comparison."),
    "cache_order": Text("cache context (symbols)", "The longest context the n-gram's cache matches."),
    "lambda": Text("cache weight (lambda)", "Share of each prediction taken from the cache over the piece so "
                   "far (Grave, Joulin & Usunier 2017); 0 = the LSTM alone. Chosen on validation."),
    "theta": Text("cache sharpness (theta)", "How strongly the cache prefers the earlier moments most like this one."),
    "scoring": Text("how symbols were scored", "Full context of each piece, or fixed windows."),
    "split": Text("split", "The held-out split the figures are measured on."),
    "corpus": Text("corpus"),
    "name": Text("name"),
    "order": Text("n-gram order", "How many previous symbols the n-gram model conditions on, plus one."),
    "chosen_on": Text("chosen on", "The split the order was picked on."),
    "best_epoch": Text("best epoch", "The epoch with the lowest validation loss: the model kept, unless the "
                       "weight average validates lower."),
    "saved": Text("saved weights", "The best epoch's, or the mean of the last epochs' weights (stochastic weight "
                  "averaging, Izmailov et al. 2018) when that scores lower on validation."),
    "average": Text("weight average", "The mean of the weights at the end of the last epochs, scored on validation."),
    "first_epoch": Text("first epoch averaged"),
    "last_epoch": Text("last epoch averaged"),
    "used": Text("saved instead of the best epoch", "Whether the average validated lower than every single epoch."),
    "epochs_run": Text("epochs run"),
    "stopped_early": Text("stopped early", "Whether validation loss stopped improving before the last epoch."),
    "resumed_from_epoch": Text("resumed after epoch", "A run interrupted and resumed from its checkpoint."),
    "target": Text("training target", "Every position predicts its next symbol, or only the window's last."),
    "tokens_per_s": Text("training speed (symbols/s)"),
    "device": Text("device"),
    "train_nll": Text("train NLL (nats)", "NLL on the training split during the best epoch."),
    "val_nll": Text("validation NLL (nats)", "NLL on the validation split of the saved weights."),
    "pitch_range": Text("pitch range (semitones)", "Highest minus lowest pitch."),
    "pitch_class_entropy": Text("pitch-class entropy (bits)",
                                "How evenly the 12 pitch classes are used: 0 one class, 3.58 all alike."),
    "scale_consistency": Text("scale consistency", "Share of notes in the best-fitting major or minor scale."),
    "empty_beat_rate": Text("empty-beat rate", "Share of beats in which nothing sounds."),
    "polyphony": Text("polyphony", "Mean number of notes sounding together while any sounds."),
    "n_pieces": Text("pieces"),
    "n_notes": Text("notes"),
    "count": Text("samples generated"),
    "decoded": Text("samples that decode to music"),
    "ended": Text("samples that reached an end token", "The rest stopped at the length limit."),
    "mean_length": Text("mean sample length (symbols)", "New symbols per sample, the primer left out."),
    "mean_symbols": Text("mean sample length, whole piece (symbols)", "The primer included, as in a real piece."),
    "real_mean_symbols": Text("mean real piece length (symbols)", "The test split's pieces."),
    "length_ratio": Text("sample length / real length", "1 = as long as the real pieces on average."),
    "n": Text("tunes checked"),
    "parse_rate": Text("share that parse as ABC", "Share of tunes music21 reads as ABC."),
    "bar_rate": Text("share with whole bars", "Share of tunes whose every bar fits the M: meter."),
    "mean_longest_match": Text("mean longest copied run (symbols)",
                               "The longest stretch of a sample found verbatim in the training set, averaged."),
    "max_longest_match": Text("longest copied run (symbols)", "The longest such stretch of any sample."),
}
"""Readable name and explanation by metric key (the last part of a dotted path)."""

_HISTOGRAMS = {"pitch_class_hist": "pitch classes", "note_length_hist": "note lengths",
               "ioi_hist": "inter-onset intervals"}
_SPLITS = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}
_SHARE = re.compile(r"^mean_(\d+)gram_share$")


def metric_text(path: str) -> Text:
    """The readable name and explanation of a metric given by its dotted path
    (``music.ioi_hist_kl``); an unknown key reads as itself with spaces."""
    parts = path.split(".")
    key = parts[-1]
    if len(parts) > 1 and parts[-2] in _SPLITS and key in METRICS:  # training's train.loss, val.accuracy
        inner = METRICS[key]
        return Text(f"{_SPLITS[parts[-2]]} {inner.name}", inner.explanation)
    if key in METRICS:
        return METRICS[key]
    for prefix, side in (("generated_", "generated"), ("real_", "real pieces")):
        if key.startswith(prefix) and key[len(prefix):] in METRICS:
            inner = METRICS[key[len(prefix):]]
            return Text(f"{inner.name}, {side}", inner.explanation)
    for hist, what in _HISTOGRAMS.items():
        if key == f"{hist}_kl":
            return Text(f"{what}: KL divergence",
                        f"How far the samples' distribution of {what} is from the real one (0 = the same).")
        if key == f"{hist}_overlap":
            return Text(f"{what}: overlap", f"Share of the two histograms of {what} that coincides (1 = the same).")
    if match := _SHARE.match(key):
        n = match.group(1)
        return Text(f"share of {n}-grams copied", f"Share of a sample's {n}-symbol runs found in the training set.")
    return Text(key.replace("_", " "))


def section_text(key: str) -> Text:
    """The heading and explanation of a top-level metrics group (``music``, ``novelty`` ...)."""
    return SECTIONS.get(key, Text(key.replace("_", " ")))
