"""vocab@<corpus>: vocab.json from the training split, and {train,validation,test}.npy token ids."""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.config.load import build, section
from tunesmith.config.stages import VocabConfig
from tunesmith.pipeline.common import parser, run
from tunesmith.pipeline.vocab import vocab_stage


def main(args, params: dict) -> None:
    key = f"vocab.{args.corpus}"
    vocab_stage(args.encoded, args.out, args.metrics, build(VocabConfig, section(params, key), key).min_count)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--encoded", type=Path, required=True, help="the encode stage's folder")
    p.add_argument("--out", type=Path, required=True, help="vocab folder to write")
    p.add_argument("--metrics", type=Path, required=True, help="size, tokens and coverage (JSON)")
    run(main, p.parse_args())
