"""Evaluation: model metrics, n-gram baselines, music statistics, playability, novelty.

Everything here is a pure function of its arguments (numpy, no file I/O), so the
evaluate stage only loads artefacts and writes what these return; the per-corpus
run (:func:`tunesmith.pipeline.evaluate.evaluate_stage`) is kept out of this package's
namespace so that importing the metrics does not import training and plotting.

1. :mod:`~tunesmith.evaluation.likelihood`: :func:`evaluate_model`, next-token negative
   log-likelihood (nats), perplexity, accuracy and *event accuracy* of a trained model on
   one split's token ids; :func:`hold_mask` asks the track which positions are holds.
2. :mod:`~tunesmith.evaluation.ngram`: :func:`ngram_table`, the same metrics for a uniform,
   a unigram (add-one) and an interpolated modified Kneser-Ney n-gram model
   (:class:`KneserNey`) fitted on the train ids, so a model's numbers have a floor to beat.
3. :mod:`~tunesmith.evaluation.music_stats`: music statistics in the manner of Yang & Lerch
   (2020) and MusPy: each track's symbols as notes ``(pitch, start_beat, end_beat)``,
   :func:`music_stats` of a set of pieces and :func:`compare_distributions` of a generated
   set against a real one.
4. Playability, the track's own check (:meth:`tunesmith.tracks.Track.playability`); for
   nottingham :func:`abc_playability`: the share of generated tunes music21 parses and the
   share whose bars fit their meter (Reitman & Cho's "playable").
5. :mod:`~tunesmith.evaluation.novelty`: :class:`NoveltyIndex`, the longest run of symbols a
   sample shares with any training piece and the share of its 8-grams found in training.

Two more modules are imported on their own (they need Keras or the n-gram tables):
:mod:`~tunesmith.evaluation.full_context`, the headline NLL, every test token scored with the
state carried from the start of its piece; :mod:`~tunesmith.evaluation.best_ngram`, the
Kneser-Ney order chosen on the validation split, the baseline the LSTM's margin is measured on.

"Event accuracy" leaves out the positions whose *target* is a hold (nothing new
happens: essen's ``_``, a classical frame that strikes no new pitch). Holds are
most tokens of a time-series or piano-roll corpus and are easy to predict, so
plain accuracy flatters a model that has learnt little more than "hold".
"""

from __future__ import annotations
