"""The real pipeline: `dvc repro` in a temporary copy of the repository, on tiny
local corpora built in the test, then checks of what it wrote."""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pretty_midi
import pytest
import yaml
from filelock import FileLock

from browser import needs_chromium, probe

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TRACKS = ("nottingham", "essen", "classical")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JIGS = """X:1
T:First Jig
R:jig
M:6/8
L:1/8
K:G
|:GAG GAB|ABA ABd|edd gdd|edB dBA:|

X:2
T:Second Jig
R:jig
M:6/8
L:1/8
K:D
|:DFA dAF|GBd gdB|AFD DFA|B2A AFD:|
"""
HORNPIPE = "X:3\nT:A Hornpipe\nR:hornpipe\nM:4/4\nL:1/8\nK:D\n(3ABc|dAFA DFAd|fdcd fdAF|GBAG FAdf|a2f2 d2:|\n"
BROKEN_ABC = "X:4\nT:No key here\nM:6/8\nL:1/8\nGAG GAB|\n"
REELS = """X:1
T:Reel One
R:reel
M:4/4
L:1/8
K:D
|:d2fd Adfd|g2eg fdec|d2fd Adfd|egfe d4:|

X:2
T:Reel Two
R:reel
M:4/4
L:1/8
K:G
|:G2BG dGBG|A2cA eAcA|G2BG dGBd|cBAc B2G2:|

X:3
T:Reel Three
R:reel
M:4/4
L:1/8
K:A
|:A2cA eAcA|B2dB fBdB|A2cA eAce|fedc A4:|
"""
OWN = "my_reels"
"""A track of the user's own (params.yaml tracks), of the abc kind, beside the bundled three."""

KERN = {  # every song has a rest, so "r" is in the training vocabulary (the essen sampler biases it)
    "song1.krn": "**kern\n*M2/4\n*k[f#]\n=1\n4g\n4a\n=2\n4b\n8a\n8r\n=3\n2d\n==\n*-\n",
    "song2.krn": "**kern\n*M3/4\n*k[]\n=1\n4c\n4e\n4g\n=2\n2c\n4r\n==\n*-\n",
    "song3.krn": "**kern\n*M2/4\n*k[b-]\n=1\n4f\n4a\n=2\n4cc\n4r\n=3\n2f\n==\n*-\n",
    "song4.krn": "**kern\n*M2/4\n*k[]\n=1\n8e\n8d\n8c\n8r\n=2\n2c\n==\n*-\n",
    "triplets.krn": "**kern\n*M2/4\n*k[]\n=1\n4c\n12d\n12e\n12f\n=2\n2g\n==\n*-\n",
}


def _midi(path: Path, chords: list[tuple[int, ...]]) -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0)
    for k, chord in enumerate(chords):
        for p in chord:
            inst.notes.append(pretty_midi.Note(velocity=80, pitch=p, start=k * 0.25, end=k * 0.25 + 0.25))
    pm.instruments.append(inst)
    pm.write(str(path))


def _corpora(base: Path) -> dict[str, Path]:
    nott, essen, classical = base / "nott", base / "essen", base / "classical"
    own = base / "reels"
    for d in (nott, essen, classical, own):
        d.mkdir(parents=True)
    (own / "reels.abc").write_text(REELS)
    (nott / "jigs.abc").write_text(JIGS)
    (nott / "hornpipe.abc").write_text(HORNPIPE)
    (nott / "broken.abc").write_text(BROKEN_ABC)
    for name, text in KERN.items():
        (essen / name).write_text(text)
    c, e, g, f, a = 60, 64, 67, 65, 69
    for k in range(4):
        _midi(classical / f"piece{k}.mid", [(c + k, e + k), (e + k,), (g,), (c, e, g), (f, a), (g,)] * 3)
    (classical / "garbage.mid").write_bytes(b"MThd but not really a midi file")
    return {"nottingham": nott, "essen": essen, "classical": classical, OWN: own}


def _dvc(repo: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(repo / "src"),
           "DVC_NO_ANALYTICS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _run_tool(repo: Path, tool: str, *args: str) -> str:
    """``python <repository>/tool args`` in ``repo``, with the environment of :func:`_dvc`."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(repo / "src"),
           "DVC_NO_ANALYTICS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(ROOT / tool), *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, f"{tool} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def tiny_params(params: dict, corpora: dict[str, Path]) -> dict:
    """The repository's params.yaml pointed at the tiny corpora, with tiny models, and a track of
    the user's own (every section nottingham's: the same kind)."""
    params["tracks"][OWN] = {"kind": "abc", "title": "My reels", "description": "Three reels of my own."}
    for section in ("fetch", "prepare", "encode", "vocab", "train", "generate", "evaluate"):
        params[section][OWN] = copy.deepcopy(params[section]["nottingham"])
    for track, folder in corpora.items():
        params["fetch"][track].update(source="local", local_dir=str(folder), rhythms=[])
        params["prepare"][track]["workers"] = 1
    params["vocab"]["classical"]["min_count"] = 1
    for track in (*TRACKS, OWN):
        params["train"][track].update(window=16, batch_size=8, epochs=2)
        params["train"][track]["model"].update(units=16, embedding_dim=8)
        # a small judging pool and one real piece: a 2-epoch model's ABC is slow for music21 to parse
        params["generate"][track].update(num_samples=2, max_length=48, judge_samples=6, real_pieces=1)
    for track in (*TRACKS, OWN):
        params["generate"][track]["render_seconds"] = 5.0
        params["evaluate"][track].update(ngram_order=3, real_pieces=5)
    return params


def _build(base: Path) -> Path:
    """The repository's pipeline on the tiny corpora in ``base``, reproduced: ``base/repo``."""
    repo = base / "repo"
    repo.mkdir(parents=True)
    for name in ("dvc.yaml", "params.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, repo / name)
    for name in ("stages", "src", "benchmark/data/metrics"):  # the report shows the benchmark table too
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".dvcignore", repo / ".dvcignore")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc(repo, "init", "-q")
    _dvc(repo, "config", "core.analytics", "false")
    params = tiny_params(yaml.safe_load((repo / "params.yaml").read_text()), _corpora(base / "corpora"))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / ".gitignore").write_text("/data/\n/.cache/\n__pycache__/\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "tiny pipeline")  # dvc exp and DVCLive need a commit
    # as `make repro` runs it: the tracks' chains two at a time in queued experiments, then the report
    out = _run_tool(repo, "tools/repro.py", "--jobs", "2")
    assert "4 track(s) queued, 2 at a time" in out, out
    (base / "build.log").write_text(out)
    return repo


def built_repo(tmp_path_factory) -> Path:
    """The tiny pipeline, reproduced once per test run and shared by the e2e modules: under
    pytest-xdist the first worker to get here builds it (under a file lock) and the others wait
    for it. Read-only: a module works on its own copy (:func:`copy_of_built`)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this run's folder, above each worker's own
    base = shared / "e2e-built"
    with FileLock(str(shared / "e2e-built.lock")):
        if not (base / "built").exists():
            shutil.rmtree(base, ignore_errors=True)  # a build that failed part-way
            _build(base)
            (base / "built").touch()
    return base / "repo"


def copy_of_built(tmp_path_factory) -> Path:
    """A private copy of :func:`built_repo` (git, DVC cache, data and all; not DVC's locks and state
    in .dvc/tmp): a module's tests change it in their order, as a user's commands would."""
    repo = tmp_path_factory.mktemp("e2e") / "repo"
    built = built_repo(tmp_path_factory)
    shutil.copytree(built, repo, symlinks=True,
                    ignore=lambda folder, names: ["tmp"] if Path(folder) == built / ".dvc" else [])
    return repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return copy_of_built(tmp_path_factory)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args], cwd=repo, check=True)


def test_every_track_reaches_vocab_with_ids_that_decode(repo):
    for track in TRACKS:
        vocab = json.loads((repo / f"data/vocab/{track}/vocab.json").read_text())
        symbols = vocab["symbols"]
        ids = np.load(repo / f"data/vocab/{track}/train.npy", allow_pickle=False)
        end = vocab["special"]["end"]
        assert ids.dtype == np.uint16 and ids[0] == symbols.index(end) and ids[-1] == symbols.index(end)
        with open(repo / f"data/encoded/{track}/train.jsonl") as fh:
            pieces = [json.loads(line)["symbols"] for line in fh]
        expected = [end] + [s for piece in pieces for s in [*piece, end]]
        assert [symbols[i] for i in ids] == expected


def test_a_track_of_your_own_runs_every_stage_and_has_its_section(repo):
    ran = sorted(set(re.findall(r"(\w+)@" + OWN, _dvc(repo, "stage", "list"))))
    assert ran == ["encode", "evaluate", "fetch", "generate", "prepare", "train", "vocab"]
    headline = json.loads((repo / f"data/metrics/{OWN}/evaluate.json").read_text())
    assert headline["model"]["nll"] > 0
    vocab = json.loads((repo / f"data/vocab/{OWN}/vocab.json").read_text())
    assert vocab["corpus"] == OWN and vocab["kind"] == "abc"
    whole = json.loads((repo / f"data/eval/{OWN}/evaluate.json").read_text())
    assert "published" not in whole or whole["published"] is None  # Reitman & Cho's figures are nottingham's
    page = (repo / "data/report/index.html").read_text()
    assert "My reels" in page and "Three reels of my own." in page
    assert (repo / f"data/samples/{OWN}/samples.jsonl").is_file()


def test_nottingham_keeps_tunes_and_lists_the_broken_one(repo):
    rejected = (repo / "data/prepared/nottingham/rejected.csv").read_text()
    assert "broken" in rejected and re.search(r"no K:.*field", rejected)
    stats = json.loads((repo / "data/metrics/nottingham/prepare.json").read_text())
    assert stats["pieces_kept"] == 3


def test_essen_drops_triplets_and_transposes(repo):
    rejected = (repo / "data/prepared/essen/rejected.csv").read_text()
    assert "triplets" in rejected and "unacceptable_duration" in rejected
    with open(repo / "data/prepared/essen/pieces.jsonl") as fh:
        pieces = {p["id"]: p for p in map(json.loads, fh)}
    assert len(pieces) == 4
    song1 = next(p for k, p in pieces.items() if "song1" in k)
    assert song1["key"] == "G major" and song1["events"][0][0] == 72  # g -> c''


def test_classical_lists_garbage_midi(repo):
    rejected = (repo / "data/prepared/classical/rejected.csv").read_text()
    assert "garbage" in rejected and "parse_error" in rejected


def test_make_repro_trained_the_tracks_in_the_queue_and_restored_them(tmp_path_factory):
    """tools/repro.py ran each track's chain in a queued experiment; the final `dvc repro` in the
    workspace restored every track stage from the run-cache and ran only the report."""
    log = (built_repo(tmp_path_factory).parent / "build.log").read_text()
    final = log[log.rindex("Ran experiment(s)"):]
    for track in (*TRACKS, OWN):
        for stage in ("train", "generate", "evaluate"):
            assert f"Stage '{stage}@{track}' is cached - skipping run" in final, final
    assert re.findall(r"Running stage '([^']+)'", final) == ["report"]


def test_second_repro_does_nothing_and_status_is_clean(repo):
    out = _dvc(repo, "repro")
    assert "Running stage" not in out
    assert "up to date" in _dvc(repo, "status")


def test_what_is_not_an_output_leaves_status_clean(repo):
    """A workspace where a train stage ran holds DVCLive's summary beside the loss curves
    (data/live/<c>/metrics.json, not an output); one restored from the run-cache (`make repro`'s
    queue, a clone after `dvc pull --run-cache`) has none; a killed writer leaves its lock file beside
    its output, and a killed generate its staging folder: none of them makes the report, which
    depends on those whole folders, stale."""
    assert not list(repo.glob("data/live/*/metrics.json")), "restored from the run-cache: no summaries"
    summary = repo / "data/live/essen/metrics.json"
    stray = repo / "data/models/.nottingham.lock"
    staging = repo / "data/samples/.nottingham.999999999.k1ll3d00.tmp"  # a killed generate's
    try:
        summary.write_text('{"step": 1, "loss": 2.0}\n')  # what DVCLive writes where training ran
        stray.write_text("tunesmith-lock 999999999\n")
        staging.mkdir()
        (staging / "sample_000.mid").write_bytes(b"MThd")
        assert "up to date" in _dvc(repo, "status")
    finally:
        summary.unlink(missing_ok=True)
        stray.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def _data_hashes(repo: Path) -> dict[str, str]:
    """md5 of every data output in dvc.lock (metrics hold timings, so they are left out)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])
            if not out["path"].startswith("data/metrics/")}


def test_forced_rerun_gives_byte_identical_data(repo):
    before = _data_hashes(repo)
    assert {"data/raw/essen", "data/prepared/essen", "data/encoded/essen", "data/vocab/essen"} <= set(before)
    _dvc(repo, "repro", "--force", "--single-item", "fetch@essen", "prepare@essen", "encode@essen",
         "vocab@essen", "fetch@classical", "prepare@classical", "encode@classical", "vocab@classical")
    assert _data_hashes(repo) == before


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_retraining_and_regenerating_give_byte_identical_model_and_samples(repo):
    models, samples = repo / "data/models/essen", repo / "data/samples/essen"
    before_model, before_samples = _files(models), _files(samples)
    assert not (models / "checkpoints").exists()  # they live outside the output: DVC's run-cache can hold it
    shutil.rmtree(repo / ".cache/checkpoints/essen")  # else training would resume from its finished checkpoint
    _dvc(repo, "repro", "--force", "--single-item", "train@essen", "generate@essen")
    after_model, after_samples = _files(models), _files(samples)
    assert set(after_model) == set(before_model) and "model.keras" in after_model
    # every file, metrics.json too: timings are logged, not kept, so the folder's DVC hash is the same
    assert sorted(k for k in before_model if before_model[k] != after_model[k]) == []
    assert set(after_samples) == set(before_samples) and "sample_000.musicxml" in after_samples
    assert sorted(k for k in before_samples if before_samples[k] != after_samples[k]) == []


def test_every_track_trains_and_generates(repo):
    for track in TRACKS:
        model_dir = repo / "data/models" / track
        assert {"model.keras", "vocab.json", "config.json", "metrics.json"} <= {p.name for p in model_dir.iterdir()}
        assert (repo / f"data/live/{track}/plots/metrics/train/loss.tsv").exists()
        table = pd.read_csv(repo / f"data/samples/{track}/samples.csv")
        assert len(table) == 2 and (table["length"] >= 1).all()
        for _, row in table[table["decoded"]].iterrows():
            midi = pretty_midi.PrettyMIDI(str(repo / f"data/samples/{track}/{row['sample']}.mid"))
            assert sum(len(i.notes) for i in midi.instruments) == row["notes"] or track == "nottingham"
    nott = pd.read_csv(repo / "data/samples/nottingham/samples.csv")
    for name in nott["sample"]:  # the ABC text is written whether or not music21 can play it
        assert (repo / f"data/samples/nottingham/{name}.abc").read_text().startswith("X:1\nT:")
    # the primer is a training song's header (its meter and key, the metered series'): a whole song follows
    essen = (repo / "data/samples/essen/sample_000.txt").read_text().split()
    with open(repo / "data/encoded/essen/train.jsonl") as fh:
        headers = {tuple(s for s in json.loads(line)["symbols"][:2] if s.startswith(("M", "K:"))) for line in fh}
    assert essen[0].startswith("M") and tuple(s for s in essen[:2] if s.startswith(("M", "K:"))) in headers


def test_cli_generates_from_a_trained_model(repo, tmp_path, capsys):
    from tunesmith.cli import main

    out = tmp_path / "cli"
    assert main(["generate", "--model", str(repo / "data/models/essen"), "--num", "3", "--max-length", "20",
                 "--primer", "r _", "--sampler", "top_k", "--top-k", "3", "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "samples.csv")) == 3
    assert main(["generate", "--model", str(repo / "data/models/essen"), "--primer", "r _ x72",
                 "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "primer symbol 'x72' (position 2) is not in the vocabulary" in err
    assert not (tmp_path / "bad").exists()


def test_cli_samples_from_the_cache_only_when_asked(repo, tmp_path, caplog):
    import shutil

    from tunesmith.cli import main

    model = tmp_path / "model"
    shutil.copytree(repo / "data/models/essen", model, ignore=shutil.ignore_patterns("checkpoints"))
    (model / "cache.json").write_text(json.dumps({"lambda": 0.5, "theta": 2.0, "similarity": "cosine"}))
    used = {}
    for flag in ([], ["--cache"]):
        out = tmp_path / f"out{len(flag)}"
        assert main(["generate", "--model", str(model), "--num", "2", "--max-length", "12", "--primer", "r _",
                     "--out", str(out), *flag]) == 0
        used[bool(flag)] = json.loads((out / "generation.json").read_text())["cache"]
    assert used == {False: {"lambda": 0.0, "theta": 1.0}, True: {"lambda": 0.5, "theta": 2.0}}
    # a model that is re-run on windows (not stepped) cannot carry a cache: said, and not recorded as used
    config = json.loads((model / "config.json").read_text())
    config["model"]["family"] = "cnn_lstm"
    (model / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING):
        assert main(["generate", "--model", str(model), "--num", "1", "--max-length", "4", "--primer", "r _",
                     "--out", str(tmp_path / "window"), "--cache"]) == 0
    assert "a cnn_lstm model is re-run on windows, not stepped: sampling without its cache" in caplog.text
    # nor follow a form plan (essen's default), which redraws bars from a stepped model's states
    assert "a cnn_lstm model is re-run on windows, not stepped: sampling without the form plan" in caplog.text
    assert json.loads((tmp_path / "window" / "generation.json").read_text())["cache"]["lambda"] == 0.0


def test_evaluate_puts_the_model_beside_its_baselines(repo):
    for track in TRACKS:
        metrics = json.loads((repo / f"data/eval/{track}/evaluate.json").read_text())  # the whole record
        headline = json.loads((repo / f"data/metrics/{track}/evaluate.json").read_text())  # the DVC metrics
        assert headline["model"]["nll"] == metrics["model"]["nll"] and "baselines" not in headline
        assert len(pd.json_normalize(headline).columns) <= 25
        vocab = json.loads((repo / f"data/vocab/{track}/vocab.json").read_text())
        assert metrics["baselines"]["uniform"]["nll"] == pytest.approx(np.log(vocab["size"]))
        best = metrics["best_ngram"]  # the order chosen on validation among 2..ngram_order (3)
        assert best["order"] in (2, 3) and best["chosen_on"] == "validation"
        assert set(best["validation_nll"]) == {"2", "3"}
        assert set(metrics["baselines"]) == {"uniform", "unigram", best["name"], f"{best['name']} + cache"}
        # the n-gram's own cache (fitted on validation) beside the LSTM's, on the same tokens
        with_cache = metrics["baselines"][f"{best['name']} + cache"]
        assert with_cache["tokens"] == metrics["model"]["tokens"] and with_cache["cache_order"] in (1, 2, 4, 8)
        assert metrics["margin_vs_best_ngram_with_cache"] == pytest.approx(
            (with_cache["nll"] - metrics["model"]["nll"]) / with_cache["nll"])
        # the headline is the LSTM with its cache when the train stage kept one, else the LSTM alone
        cache = json.loads((repo / f"data/models/{track}/cache.json").read_text())
        assert metrics["cache"]["lambda"] == cache["lambda"]
        if cache["lambda"] == 0:
            assert metrics["model"] == metrics["model_no_cache"]
        else:
            assert cache["validation_nll"] < cache["validation_nll_without"]
        assert metrics["margin_over_ngram_nats"] == pytest.approx(
            metrics["baselines"][best["name"]]["nll"] - metrics["model"]["nll"])
        assert metrics["margin_vs_best_ngram"] == pytest.approx(
            metrics["margin_over_ngram_nats"] / metrics["baselines"][best["name"]]["nll"])
        assert metrics["model"]["tokens"] == metrics["model_windows"]["tokens"]
        assert "mean_longest_match" in metrics["novelty"]
    nott = json.loads((repo / "data/eval/nottingham/evaluate.json").read_text())
    assert nott["published"]["values"]["test"] == 1.65 and "parse_rate" in nott["playability"]
    assert "nottingham" in _dvc(repo, "metrics", "show")


def test_report_links_only_existing_files(repo):
    from html.parser import HTMLParser

    index = repo / "data/report/index.html"
    refs: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            refs.extend(v for k, v in attrs if k in ("src", "href") and v and not v.startswith(("#", "http")))

    Links().feed(index.read_text())
    assert refs and all((index.parent / r).exists() for r in refs), [r for r in refs if not (index.parent / r).exists()]
    html = index.read_text()
    assert all(f'id="{t}"' in html or t in html for t in TRACKS)
    assert "<audio" in html


@needs_chromium
def test_report_opens_in_a_browser_with_everything_loading(repo, tmp_path):
    result, console = probe(repo / "data/report/index.html", tmp_path / "profile")
    assert result["images"] > 0 and result["badImages"] == []
    assert result["audio"] > 0 and result["badAudio"] == []
    assert console == []
