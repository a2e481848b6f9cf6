"""bl_fetch@<benchmark>: the published .mat file (checksum-pinned) into --out."""

from __future__ import annotations

from pathlib import Path

from bl_common import parser
from tunesmith import io
from tunesmith.stage import run


def main(args, params: dict) -> None:
    from tunesmith.benchmark.data import BenchFetchConfig, fetch_local
    from tunesmith.config import build, section
    from tunesmith.errors import FetchError

    key = f"fetch.{args.benchmark}"
    cfg = build(BenchFetchConfig, section(params, key), key)
    if not cfg.local_dir:
        raise FetchError(f"{key}.local_dir is empty: set it to the folder holding the published .mat files "
                         f"(e.g. dvc exp run -S {key}.local_dir=/path/to/mdata)")
    with io.atomic_path(args.out) as tmp:
        fetch_local(args.benchmark, cfg.local_dir, tmp, check_sha256=cfg.check_sha256)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--out", type=Path, required=True, help="folder to write the .mat file into")
    run(main, p.parse_args())
