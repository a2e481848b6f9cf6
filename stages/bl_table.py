"""bl_table: tunesmith's test NLL per frame on the four benchmarks beside the published figures (markdown)."""

from __future__ import annotations

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.core import io
from tunesmith.pipeline.common import run


def main(args, params: dict) -> None:
    from tunesmith.benchmark.published import table_markdown

    results = {}
    for path in args.metrics:
        data = io.read_json(path)
        results.setdefault(data["benchmark"], []).append(data)  # several files of one set: its seeds
    if args.pooled is not None:
        results["pooled"] = io.read_json(args.pooled)
    io.write_text(args.out, table_markdown(results))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="the params file")
    p.add_argument("--metrics", type=Path, nargs="+", required=True, help="each benchmark's evaluate metrics")
    p.add_argument("--pooled", type=Path, default=None, help="bl_pooled's record (a row when it trained)")
    p.add_argument("--out", type=Path, required=True, help="the markdown table to write")
    run(main, p.parse_args())
