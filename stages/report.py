"""report: one static HTML page for all corpora (data/report/index.html).

Per corpus: a headline (the LSTM's NLL beside the best n-gram baseline), the metrics beside
the baselines (and Reitman & Cho's published figures for nottingham), loss curves and
music-statistics plots, each explained in a line, and every sample with its audio player,
engraved score, piano roll and download links. Opens from the file system.
"""

from __future__ import annotations

from pathlib import Path

import _bootstrap  # noqa: F401  (first: this checkout's src/ on sys.path)
from tunesmith.pipeline.common import run
from tunesmith.tracks import known_tracks


def main(args, params: dict) -> None:
    from tunesmith.pipeline.report import report_stage

    report_stage(args.corpora or list(known_tracks()), args.out, metrics_dir=args.metrics,
                 eval_dir=args.eval, models_dir=args.models, live_dir=args.live, samples_dir=args.samples,
                 train_params=params.get("train", {}), benchmark_metrics=args.benchmark_metrics)


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpora", nargs="+", default=None,
                   help="the tracks to show (default: params.yaml's tracks)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--benchmark-metrics", type=Path, default=None,
                   help="benchmark/data/metrics: <set>/evaluate.json of make benchmark, where it has run")
    for name, what in (("metrics", "data/metrics: <corpus>/evaluate.json (and seeds.json, from make noise)"),
                       ("eval", "data/eval: <corpus>/ plots and histograms.json"),
                       ("models", "data/models: <corpus>/metrics.json"),
                       ("live", "data/live: <corpus>/ DVCLive logs"),
                       ("samples", "data/samples: <corpus>/ samples and media"),
                       ("out", "the report folder to write")):
        p.add_argument(f"--{name}", type=Path, required=True, help=what)
    run(main, p.parse_args())
