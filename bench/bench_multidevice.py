"""Carried-state training on several devices or workers against one device: validation NLL, k seeds.

Trains ``train.<track>`` of params.yaml once per seed on one device and again on ``--devices``
devices (MirroredStrategy: the first N GPUs, or the CPU split into N logical devices where
there are fewer GPUs), or as ``--workers`` workers on 127.0.0.1 (MultiWorkerMirroredStrategy from
TF_CONFIG, one device each); each seed is scored as ``make noise`` scores it
(`tunesmith.pipeline.seeds.seeds_stage`, resumable) into ``<out>/<mode>/seeds.json``. It prints
the validation NLL per seed, the paired differences, and whether the means differ by more than
the noise band (`tunesmith.evaluation.noise`). Needs ``data/vocab/<track>`` (``dvc repro vocab@<track>``).

    .venv/bin/python bench/bench_multidevice.py --track essen --seeds 0 1 2 --devices 2
    .venv/bin/python bench/bench_multidevice.py --track essen --seeds 0 1 2 --workers 2

Same seed, same rows: the replicas split each step's rows and the gradient is their mean, so
N devices follow one device's run up to the order of floating-point sums (and dropout's
random masks, drawn per replica).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml


def _use_devices(n: int) -> None:
    """Before TensorFlow starts: the first ``n`` GPUs, or the CPU as ``n`` logical devices."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= n:
        tf.config.set_visible_devices(gpus[:n], "GPU")
        return
    if gpus:  # fewer GPUs than asked: the comparison runs on the CPU, both sides
        tf.config.set_visible_devices([], "GPU")
    if n > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def train_seeds(track: str, seeds: list[int], params: Path, out: Path) -> None:
    """The child: every seed of ``train.<track>`` into ``out`` (``seeds.json`` beside the seeds)."""
    from tunesmith.config.load import build, section
    from tunesmith.config.stages import EvaluateConfig
    from tunesmith.pipeline.seeds import seed_folder, seed_stage, seeds_stage

    doc = yaml.safe_load(params.read_text())
    if len(seeds) == 1:  # one seed of a multi-worker run: its folder only (seeds.json needs two or more)
        seed_stage(track, section(doc, f"train.{track}"), seeds[0], Path(f"data/vocab/{track}"),
                   seed_folder(out, seeds[0]))
        return
    evaluate = build(EvaluateConfig, section(doc, f"evaluate.{track}"), f"evaluate.{track}")
    seeds_stage(track, section(doc, f"train.{track}"), seeds, evaluate.ngram_order, Path(f"data/vocab/{track}"),
                out, out / "seeds.json")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run_mode(args: argparse.Namespace, devices: int, workers: int, out: Path) -> dict:
    """Train the seeds as ``workers`` processes of ``devices`` devices each; worker 0's seeds.json."""
    base = [sys.executable, __file__, "--child", str(devices), "--track", args.track, "--params", str(args.params),
            "--seeds"]
    if workers == 1:
        subprocess.run([*base, *map(str, args.seeds), "--out", str(out)], check=True)
        return json.loads((out / "seeds.json").read_text())
    # one set of worker processes per seed: TensorFlow cannot set up its collective ops a second time in
    # a process ("Delete called on non-empty BufRendezvous" when a worker went on to its next seed)
    for seed in args.seeds:
        cluster = [f"127.0.0.1:{p}" for p in _free_ports(workers)]
        procs = [subprocess.Popen([*base, str(seed), "--out", str(out / f"worker-{i}")],
                                  env={**os.environ, "TF_CONFIG": json.dumps(
                                      {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": i}})})
                 for i in range(workers)]
        if any(p.wait() for p in procs):
            raise SystemExit(f"a worker failed on seed {seed}")
    return _assembled(out / "worker-0", args.seeds)


def _assembled(runs: Path, seeds: list[int]) -> dict:
    """The validation NLL of each seed's ``seed.json`` under ``runs``, as seeds.json lays it out. Read,
    not rerun through seeds_stage: outside the cluster its config (one replica) differs from the
    checkpoints' (two), so it would train every seed again on one device."""
    from tunesmith.evaluation.noise import spread

    values = [json.loads((runs / f"seed-{s}" / "seed.json").read_text())["figures"]["val_nll"] for s in seeds]
    return {"seeds": seeds, "figures": {"val_nll": spread(values)}}


def report(one: dict, many: dict, label: str) -> None:
    from tunesmith.evaluation.noise import noise_band, spread, verdict

    a, b = one["figures"]["val_nll"], many["figures"]["val_nll"]
    print(f"| seed | 1 device | {label} | difference |\n|---|---|---|---|")
    diffs = [y - x for x, y in zip(a["values"], b["values"], strict=True)]
    for seed, x, y, d in zip(one["seeds"], a["values"], b["values"], diffs, strict=True):
        print(f"| {seed} | {x:.4f} | {y:.4f} | {d:+.4f} |")
    paired = spread(diffs)
    band = noise_band(a["sd"], b["sd"], a["n"], b["n"])
    diff = b["mean"] - a["mean"]
    print(f"| mean (sd) | {a['mean']:.4f} ({a['sd'] or 0:.4f}) | {b['mean']:.4f} ({b['sd'] or 0:.4f}) | "
          f"{diff:+.4f} |")
    paired_band = 2 * paired["sd"] / math.sqrt(paired["n"]) if paired["sd"] else None
    print(f"\nmeans differ by {diff:+.4f}; noise band {band if band is None else f'{band:.4f}'}: "
          f"{verdict(diff, band, -1)}; paired: mean {paired['mean']:+.4f}, band "
          f"{paired_band if paired_band is None else f'{paired_band:.4f}'}: {verdict(paired['mean'], paired_band, -1)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--track", default="essen")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--devices", type=int, default=2, help="devices of the MirroredStrategy run")
    ap.add_argument("--workers", type=int, default=1, help="> 1: workers on 127.0.0.1 instead of devices")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, default=Path("bench/out/multidevice"))
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if args.child:
        _use_devices(args.child)
        train_seeds(args.track, args.seeds, args.params, args.out)
        return
    one = run_mode(args, 1, 1, args.out / args.track / "1-device")
    if args.workers > 1:
        label = f"{args.workers} workers"
        many = run_mode(args, 1, args.workers, args.out / args.track / f"{args.workers}-workers")
    else:
        label = f"{args.devices} devices"
        many = run_mode(args, args.devices, 1, args.out / args.track / f"{args.devices}-devices")
    report(one, many, label)


if __name__ == "__main__":
    main()
