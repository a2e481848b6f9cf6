"""The Python API: a trained model folder in a notebook (docs/api.md).

::

    import tunesmith

    model = tunesmith.load_model("data/models/essen")
    for i, sample in enumerate(model.generate(4, seed=0)):
        sample.write(f"melody_{i}.mid")
    print(model.score("my_song.krn").summary())

`tunesmith generate` and `tunesmith score` read their settings through the same functions.
"""

from tunesmith.api.model import Model, generation_settings, load_model, model_vocab
from tunesmith.api.sample import Sample
from tunesmith.api.scoring import Score, encode_music

__all__ = ["Model", "Sample", "Score", "encode_music", "generation_settings", "load_model", "model_vocab"]
