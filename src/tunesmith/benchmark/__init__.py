"""The polyphonic benchmark tracks (``bl_*``): four fixed train/valid/test splits of 88-key
piano rolls (Boulanger-Lewandowski, Bengio & Vincent 2012), scored as in the literature:
mean negative log-likelihood per frame on ``test``, in nats.

=============  ==========================  ====================================
module         what                        used by
=============  ==========================  ====================================
``data``       the ``.mat`` files: fetch,  ``bl_fetch``, ``bl_encode``
               load, split, encode
``frame``      the frame-wise Bernoulli    ``bl_train_frame``, ``bl_evaluate``
               LSTM (88 sigmoid outputs)
``scoring``    full-context scores per     ``bl_evaluate``
               frame, n-gram order on
               valid, samples
``published``  the published figures and   ``bl_table``
               the table beside them
=============  ==========================  ====================================
"""

from __future__ import annotations

BENCHMARKS = ("bl_nottingham", "bl_jsb", "bl_piano", "bl_musedata")
