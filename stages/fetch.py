"""fetch@<corpus>: raw pieces (one per file) + manifest.csv + rejected.csv in --out."""

from __future__ import annotations

from pathlib import Path

from tunesmith import io
from tunesmith.config import FetchConfig, build, section
from tunesmith.errors import ArtifactError
from tunesmith.sources import packaged_manifest
from tunesmith.sources.bundled import fetch_bundled
from tunesmith.sources.local import fetch_local
from tunesmith.sources.pinned import fetch_download
from tunesmith.stage import parser, run


def main(args, params: dict) -> None:
    key = f"fetch.{args.corpus}"
    cfg = build(FetchConfig, section(params, key), key)
    out = args.out
    if cfg.source == "bundled":
        manifest, rejected = fetch_bundled(args.corpus, out, collections=cfg.collections,
                                           rhythms=cfg.rhythms, max_pieces=cfg.max_pieces, workers=cfg.workers)
    elif cfg.source == "download":
        manifest, rejected = fetch_download(args.corpus, packaged_manifest(args.corpus), out,
                                            cache_dir=args.cache, mirror=cfg.mirror, subsets=cfg.subsets,
                                            method=cfg.method, subsets_key=f"{key}.subsets")
    else:
        manifest, rejected = fetch_local(args.corpus, Path(cfg.local_dir).expanduser(), out)
    io.write_csv(out / "manifest.csv", manifest)
    io.write_csv(out / "rejected.csv", rejected)
    if manifest.empty:
        raise ArtifactError(f"0 of {len(rejected)} pieces of {args.corpus} could be used: "
                            f"see {out / 'rejected.csv'}")


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--out", type=Path, required=True, help="raw folder to write, e.g. data/raw/essen")
    p.add_argument("--cache", type=Path, default=Path(".cache/downloads"),
                   help="where downloads are kept between runs (resumable)")
    run(main, p.parse_args())
