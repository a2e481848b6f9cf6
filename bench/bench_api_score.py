"""The Python API's score of real test files against the evaluate stage's full-context scoring of the
same pieces as the pipeline encoded them (data/encoded/<c>/test.jsonl), on the trained model:

    .venv/bin/python bench/bench_api_score.py essen 5      # the first 5 test pieces of essen

For each piece: whether `Model.encode` of its raw file gives the pipeline's symbols, both NLLs
(the LSTM alone and with the continuous cache) and their difference. Needs `make repro` first.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

import tunesmith
from tunesmith.core.vocab import Vocab
from tunesmith.evaluation.full_context import full_context_metrics

corpus, n = sys.argv[1], int(sys.argv[2])
model = tunesmith.load_model(f"data/models/{corpus}")
rows = [json.loads(line) for line in Path(f"data/encoded/{corpus}/test.jsonl").read_text().splitlines()[:n]]
vocab = Vocab.from_json(model.vocab)
worst = 0.0
for row in rows:
    name = row["id"].split("--", 1)[1]
    raw = next(Path(f"data/raw/{corpus}").rglob(f"{name}.*"))
    t = time.perf_counter()
    api = model.score(raw, unknown="unk")
    ids = np.asarray(vocab.corpus_ids([row["symbols"]]))
    mask = model.track.hold_mask(ids, list(vocab.symbols))
    args = (model.keras_model, model.model_config, ids, vocab.end_id, len(vocab))
    lstm = full_context_metrics(*args, hold_mask=mask)
    mixed = full_context_metrics(*args, hold_mask=mask, cache=model.cache)
    same = model.encode(raw) == [row["symbols"]]
    d = max(abs(api.nll - lstm["nll"]), abs(api.nll_cache - mixed["nll"]))
    worst = max(worst, d)
    print(f"{raw}: same symbols {same}; API {api.nll:.6f} / {api.nll_cache:.6f} with the cache; evaluate's "
          f"{lstm['nll']:.6f} / {mixed['nll']:.6f}; |diff| {d:.1e} ({time.perf_counter() - t:.1f} s)")
print(f"largest difference {worst:.1e}")
