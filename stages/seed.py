"""seed@<track>-<seed> (``make noise``): the ``train.<corpus>`` recipe trained with one seed of
``noise.seeds``, scored on test like the evaluate stage's headline.

Writes the model folder to --out (with seed.json: the seed's figures and the recipe's hash) and
keeps its resumable checkpoints in --checkpoints, outside the output. --threads (noise.threads) fixes
TensorFlow's thread pools, so a seed's figures do not depend on how many seeds train beside it
(`make noise` runs them NOISE_JOBS at a time, tools/noise.py).
"""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.config.load import section
from tunesmith.pipeline.common import fix_threads, parser, run, shared_checkpoints


def main(args, params: dict) -> None:
    fix_threads(args.threads)
    from tunesmith.pipeline.seeds import seed_stage

    seed_stage(args.corpus, section(params, f"train.{args.corpus}"), args.seed, args.vocab, args.out,
               checkpoints=shared_checkpoints(args.checkpoints))


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--seed", type=int, required=True, help="the seed (one of noise.seeds)")
    p.add_argument("--vocab", type=Path, required=True, help="the vocab stage's folder")
    p.add_argument("--out", type=Path, required=True, help="the seed's model folder to write")
    p.add_argument("--checkpoints", type=Path, default=None, help="resumable checkpoints (default: --out/checkpoints)")
    p.add_argument("--threads", type=int, default=None, choices=range(1, 1025), metavar="N",
                   help="TensorFlow threads (noise.threads; default: TensorFlow's own, one per core)")
    run(main, p.parse_args())
