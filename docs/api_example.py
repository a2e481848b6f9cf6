"""The example of docs/api.md as a script: load a model, generate 4 samples, write them as MIDI, score a piece.

    python docs/api_example.py --model data/models/essen --test-piece my_song.krn --out /tmp/api-example

It prints the score and how long the example took; tests/test_api.py runs `example` on a tiny model
and checks that docs/api.md shows exactly its lines.
"""

from __future__ import annotations

import argparse
import time


def example(model_dir, test_piece, out):
    # --- the example (docs/api.md shows these lines)
    from pathlib import Path

    import tunesmith

    model = tunesmith.load_model(model_dir)
    samples = model.generate(4, primer="60 _ _ _ 64 _ _ _", temperature=0.9, seed=0, max_length=256)
    for i, sample in enumerate(samples):
        sample.write(Path(out) / f"sample_{i}.mid")  # .musicxml, .abc (ABC tracks) and .txt too
    score = model.score(test_piece, unknown="unk")  # a file of your own: .krn, .abc, .musicxml, .mid
    print(score.summary())
    # --- end of the example
    return model, samples, score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="data/models/essen", help="a model folder (default: %(default)s)")
    parser.add_argument("--test-piece", required=True, help="a music file to score, e.g. a held-out essen song")
    parser.add_argument("--out", default="api-example", help="folder for the samples (default: %(default)s)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    example(args.model, args.test_piece, args.out)
    print(f"the example took {time.perf_counter() - start:.1f} s (TensorFlow's import included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
