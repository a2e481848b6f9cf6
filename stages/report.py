"""report: one static HTML page for all corpora (data/report/index.html).

Per corpus: the metrics beside the baselines (and Reitman & Cho's published figures for
nottingham), loss curves and music-statistics plots, and every sample with its audio
player, engraved score, piano roll and download links. Opens from the file system.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith import TRACKS, io
from tunesmith.stage import run

CAPTIONS = {
    "pitch_class_hist.png": "Pitch classes, generated vs real (Lorinczi & Brailovsky's figures 4-6)",
    "note_length_hist.png": "Note lengths, generated vs real",
    "ioi_hist.png": "Inter-onset intervals, generated vs real",
    "activations.png": "Hidden-unit activations over a generated piece (Reitman & Cho's figure 11)",
}
SUMMARY = {
    "nottingham": "Folk tunes as characters of ABC text (Vinze et al. and Reitman & Cho).",
    "essen": "Essen folksongs as a 16th-note time series of MIDI pitch, rest and hold (Vasudeva).",
    "classical": ("Piano music as a piano roll: each frame's sounding pitches, then a frame end (Walder 2016); "
                  "encode.classical.representation=chords gives Lorinczi & Brailovsky's chord tokens."),
}


def main(args, params: dict) -> None:
    from tunesmith.report import build_report
    from tunesmith.samples import sample_records

    corpora = {}
    for track in args.corpora:
        metrics = io.read_json(args.metrics / track / "evaluate.json")
        # shown in their own tables (published figures beside ours; the training run)
        metrics.pop("published_seed_003", None)
        metrics.pop("training", None)
        plots_dir = args.eval / track  # the histograms are drawn there by evaluate (captioned PNGs)
        corpora[track] = {
            "title": track,
            "summary": SUMMARY[track],
            "metrics": metrics,
            "training": io.read_json(args.models / track / "metrics.json"),
            "live_dir": str(args.live / track),
            "plots": [{"path": str(plots_dir / name), "caption": caption}
                      for name, caption in CAPTIONS.items() if (plots_dir / name).exists()],
            "samples": sample_records(args.samples / track),
        }
    build_report(corpora, args.out, title="tunesmith: what the models learned and made")


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpora", nargs="+", choices=TRACKS, default=list(TRACKS))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    for name, what in (("metrics", "data/metrics: <corpus>/evaluate.json"),
                       ("eval", "data/eval: <corpus>/ plots and histograms.json"),
                       ("models", "data/models: <corpus>/metrics.json"),
                       ("live", "data/live: <corpus>/ DVCLive logs"),
                       ("samples", "data/samples: <corpus>/ samples and media"),
                       ("out", "the report folder to write")):
        p.add_argument(f"--{name}", type=Path, required=True, help=what)
    run(main, p.parse_args())
