"""Fit a model on token ids: early stopping, checkpoints, resume, DVCLive.

:func:`train` runs one epoch per ``model.fit`` call so that everything that
decides the next epoch (data order, early-stopping counters, the best weights
so far) lives in this package and in a small JSON file, not inside Keras
callbacks. That is what makes a run killed with ``kill -9`` continue where it
stopped: after every epoch the full model (with optimizer state) and, when it
improved, the best weights are written atomically, then ``state.json`` is
replaced -- the commit point. Files the state does not name are leftovers of
an interrupted write and are deleted.

Layout of ``out_dir`` after a completed run (``checkpoints/`` is ``checkpoint_dir``)::

    model.keras            the best epoch's model (lowest validation loss), or the weight
                           average when it scores lower (``average_epochs``), no optimizer
    vocab.json             the vocabulary it was trained with
    config.json            model + train config, vocab size and sha256 fingerprint
    metrics.json           what was saved, best epoch, its train loss, the saved weights'
                           val loss, accuracy, perplexity, the average's scores, tokens/s ...
    checkpoints/state.json epoch, best val loss, early-stopping wait, history, compat key
    checkpoints/epoch-NNNN.keras       the last epoch's model + optimizer state
    checkpoints/best-NNNN.weights.h5   the best epoch's weights
    checkpoints/average-NNNN.npz       the running mean of the averaged epochs' weights

The checkpoints are kept after a run ends: calling :func:`train` again with a
larger ``epochs`` continues the same run instead of starting over, and calling it
with the same settings rebuilds the model folder without training. ``checkpoint_dir``
moves them out of ``out_dir``: the train stage keeps them in ``.cache/checkpoints/<corpus>``
(gitignored), so its model folder is a plain DVC output that the run-cache can restore;
they cost one copy of the model with optimizer state plus one of the weights.

Data order is a pure function of ``(seed, epoch)`` and the dropout RNG state is
saved with the model, so on a CPU (op determinism on) an interrupted and
resumed run ends with the same weights as an uninterrupted one.

Modules: ``config`` (:class:`TrainConfig`), ``loop`` (:func:`train`, step by
step), ``fitting`` (device, compiled model, one epoch, early stopping,
validation), ``streams`` (checked ids, each epoch's batches, carried state),
``checkpoints`` (resume, corrupt files set aside), ``averaging`` (stochastic
weight averaging), ``bundle`` (the model folder
saved and loaded, the vocabulary fingerprint), ``live`` (DVCLive).
"""
