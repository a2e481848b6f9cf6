"""The polyphonic benchmark tracks (``bl_*``): four fixed train/valid/test splits of 88-key
piano rolls (Boulanger-Lewandowski, Bengio & Vincent 2012), scored as in the literature:
mean negative log-likelihood per frame on ``test``, in nats.

Modules (and the stages that use them):

- ``data``: the ``.mat`` files: fetch, load, split, encode (``bl_fetch``, ``bl_encode``).
- ``frame``: the frame-wise Bernoulli LSTM, 88 sigmoid outputs (``bl_train_frame``, ``bl_evaluate``);
  ``frame_resume``: its checkpoints, one an epoch.
- ``scoring``: full-context scores per frame, the n-gram order chosen on valid, samples (``bl_evaluate``).
- ``augment``: every training piece moved by its own random shift each epoch, one copy an epoch
  (``bl_train``, ``bl_train_frame``, ``bl_pooled``).
- ``pooled``: one LSTM on the four training sets pooled (``bl_pooled``).
- ``published``: the published figures and the table beside them (``bl_table``, the report).
"""

from __future__ import annotations

BENCHMARKS = ("bl_nottingham", "bl_jsb", "bl_piano", "bl_musedata")
