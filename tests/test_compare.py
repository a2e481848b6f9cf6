"""`tunesmith compare` on a temporary git repo holding a tiny DVC pipeline on two branches.

The pipeline is a few lines of Python written here (not the real training): per
corpus it writes a metrics JSON, DVCLive-style loss TSVs and a samples folder
with a .wav and a .mid, all depending on one param. It is run and committed on
`main`, then on `exp`, which changes that param for corpus `alpha`. The
repository's own .gitignore decides what git keeps, so these tests also check
that metrics and plots are committed while samples stay in the DVC cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

STAGE = '''\
import argparse, json, math, struct, wave
from pathlib import Path

import yaml

p = argparse.ArgumentParser()
p.add_argument("--corpus")
corpus = p.parse_args().corpus
lr = yaml.safe_load(open("params.yaml"))["train"][corpus]["learning_rate"]
nll = round(1.0 + lr, 4)
m = Path("data/metrics") / corpus
m.mkdir(parents=True, exist_ok=True)
(m / "train.json").write_text(json.dumps({"best_epoch": 2, "val": {"loss": nll + 0.1}}))
(m / "evaluate.json").write_text(json.dumps(
    {"model": {"nll": nll, "accuracy": round(0.5 - lr, 4)}, "margin_over_ngram_nats": round(0.3 - lr, 4)}))
for split, offset in (("train", 0.0), ("val", 0.1)):
    d = Path("data/live") / corpus / "plots/metrics" / split
    d.mkdir(parents=True, exist_ok=True)
    (d / "loss.tsv").write_text("step\\tloss\\n" + "".join(f"{s}\\t{nll + offset + 1 / (s + 1)}\\n" for s in range(3)))
s = Path("data/samples") / corpus
s.mkdir(parents=True, exist_ok=True)
(s / "samples.csv").write_text("sample,length,ended,decoded,notes,error\\nsample_000,12,True,True,4,\\n")
with wave.open(str(s / "sample_000.wav"), "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i * lr))) for i in range(800)))
# a one-track MIDI file holding only its end-of-track event
(s / "sample_000.mid").write_bytes(b"MThd" + bytes([0, 0, 0, 6, 0, 0, 0, 1, 0, 96])
                                   + b"MTrk" + bytes([0, 0, 0, 4, 0, 0xFF, 0x2F, 0]))
'''

PIPELINE = {
    "stages": {
        "run": {
            "foreach": ["alpha", "beta"],
            "do": {
                "cmd": "python stage.py --corpus ${item}",
                "deps": ["stage.py"],
                "params": ["train.${item}"],
                "outs": ["data/samples/${item}"],
                "metrics": [{"data/metrics/${item}/train.json": {"cache": False}},
                            {"data/metrics/${item}/evaluate.json": {"cache": False}}],
                "plots": [{"data/live/${item}/plots/metrics": {"cache": False, "persist": True, "x": "step"}}],
            },
        }
    }
}


def _env(**extra: str) -> dict[str, str]:
    # PATH without the venv's bin folder, nor any folder holding a `dvc`: compare must not need one
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and Path(d).resolve() != BIN.resolve() and not (Path(d) / "dvc").exists()]
    return {**os.environ, "PATH": os.pathsep.join(path), "PYTHONPATH": str(ROOT / "src"),
            "DVC_NO_ANALYTICS": "1", **extra}


def _run(repo: Path, *args: str) -> str:
    proc = subprocess.run(list(args), cwd=repo, env=_env(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _git(repo: Path, *args: str) -> str:
    return _run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args)


def _dvc(repo: Path, *args: str) -> str:
    return _run(repo, sys.executable, "-m", "dvc", *args)


def compare(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed `tunesmith` script with a PATH lacking the venv (as `.venv/bin/tunesmith` run directly)."""
    return subprocess.run([str(BIN / "tunesmith"), "compare", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=120)


def _set_lr(repo: Path, corpus: str, value: float) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"][corpus]["learning_rate"] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("compare")
    repo, remote = base / "repo", base / "remote"
    repo.mkdir()
    (repo / "stage.py").write_text(STAGE)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE, sort_keys=False))
    (repo / "params.yaml").write_text(yaml.safe_dump({"train": {"alpha": {"learning_rate": 0.1},
                                                                "beta": {"learning_rate": 0.1}}}))
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")  # the project's rules decide what git keeps
    _git(repo, "init", "-q", "-b", "main")
    _dvc(repo, "init", "-q")
    _dvc(repo, "remote", "add", "-d", "store", str(remote))
    _dvc(repo, "repro")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "main: run, with dvc.lock, metrics and plots")
    _dvc(repo, "push", "-q")
    _git(repo, "checkout", "-q", "-b", "exp")
    _set_lr(repo, "alpha", 0.3)
    _dvc(repo, "repro")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "exp: a larger learning rate for alpha")
    return repo


def _tables(markdown: str, section: str) -> list[list[str]]:
    """The body rows of every markdown table under ``## section`` (up to the next ``## ``)."""
    part = markdown.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in part.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in r] for r in rows if r[0].strip() not in ("metric", "revision", "param")]


def test_git_keeps_metrics_and_plots_and_leaves_samples_to_dvc(repo):
    tracked = _git(repo, "ls-files").split()
    assert "data/metrics/alpha/evaluate.json" in tracked and "data/metrics/beta/train.json" in tracked
    assert "data/live/alpha/plots/metrics/val/loss.tsv" in tracked
    assert not any(p.startswith("data/samples/") for p in tracked)
    (repo / "data/live/alpha/metrics.json").write_text("{}")  # DVCLive's own summary: not declared, ignored
    assert _git(repo, "status", "--porcelain") == ""


def test_the_projects_metrics_and_plots_are_uncached_outputs():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    declared, cached = [], []
    for name, stage in stages.items():
        body = stage.get("do", stage)
        for kind in ("metrics", "plots"):
            for entry in body.get(kind, []):
                (path, flags), = entry.items() if isinstance(entry, dict) else ((entry, {}),)
                declared.append(path)
                if (flags or {}).get("cache", True):
                    cached.append(f"{name}: {path}")
        for entry in body.get("outs", []):
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            assert (entry[path] if isinstance(entry, dict) else {}).get("cache", True), f"{name}: {path}"
    assert len(declared) >= 6 and cached == []
    assert "data/live/${key}/plots/metrics" in declared


def test_compare_shows_both_revisions_without_dvc_on_path(repo, tmp_path):
    out = tmp_path / "cmp"
    proc = compare(repo, "--rev", "main", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    report = (out / "report.md").read_text()
    assert proc.stdout.strip() == report.strip()

    params = _tables(report, "Params")
    assert params == [["train.alpha.learning_rate", "0.1", "0.3"]]

    headline = _tables(report, "Headline metrics")
    assert len(headline) == 8  # 4 headline metrics of each corpus
    assert all(r[1] != "-" and r[2] != "-" for r in headline), headline
    nll = next(r for r in headline if "model.nll" in r[0])
    # without a seeds.json on either side there is no noise figure: no side is called better
    assert nll == [nll[0], "1.1000", "1.3000", "+0.2000", "no noise figure", ""]
    accuracy = next(r for r in headline if "model.accuracy" in r[0])
    assert accuracy[1:] == ["0.4000", "0.2000", "-0.2000", "no noise figure", ""]
    assert sum(r[4] == "same" for r in headline) == 4  # beta did not change

    assert "![alpha loss](loss_alpha.png)" in report and (out / "loss_alpha.png").stat().st_size > 5000
    loss = _tables(report, "Loss curves")
    assert ["main", "3", "1.4333", "1.5333", "3"] in loss and ["workspace", "3", "1.6333", "1.7333", "3"] in loss


def test_the_page_plays_both_revisions_samples_side_by_side(repo, tmp_path):
    out = tmp_path / "cmp"
    assert compare(repo, "--rev", "main", "--out", str(out)).returncode == 0
    page = (out / "index.html").read_text()
    sources = re.findall(r'<source src="([^"]+)" type="audio/wav">', page)
    assert sources[:2] == ["samples/main/alpha/sample_000.wav", "samples/workspace/alpha/sample_000.wav"]
    main_wav, exp_wav = (out / sources[0]).read_bytes(), (out / sources[1]).read_bytes()
    assert main_wav != exp_wav  # the learning rate changed the sound of alpha's sample
    assert exp_wav == (repo / "data/samples/alpha/sample_000.wav").read_bytes()
    assert 'href="samples/main/alpha/sample_000.mid"' in page
    assert '<td class="num">1.1000</td>' in page and 'class="num win"' not in page


def test_a_fresh_clone_compares_from_git_alone_and_says_how_to_get_samples(repo, tmp_path):
    clone = tmp_path / "clone"
    _run(tmp_path, "git", "clone", "-q", "--branch", "exp", str(repo), str(clone))
    _git(clone, "branch", "-q", "main", "origin/main")
    assert not (clone / ".dvc/cache").exists() and not (clone / "data/samples").exists()
    proc = compare(clone, "--rev", "main", "--out", str(tmp_path / "cmp"))
    assert proc.returncode == 0, proc.stderr
    headline = _tables(proc.stdout, "Headline metrics")
    assert len(headline) == 8 and all(r[1] != "-" and r[2] != "-" for r in headline), headline
    assert "![beta loss](loss_beta.png)" in proc.stdout
    page = (tmp_path / "cmp/index.html").read_text()
    assert "<audio" not in page
    assert "The samples of main are not in the local DVC cache" in page and "dvc pull generate@alpha" in page

    fetched = compare(clone, "--rev", "main", "--fetch", "--out", str(tmp_path / "fetched"))
    assert fetched.returncode == 0, fetched.stderr
    page = (tmp_path / "fetched/index.html").read_text()
    assert 'src="samples/main/alpha/sample_000.wav"' in page  # from the DVC remote, via the cache
    assert "data/samples/alpha is not in the workspace" in page  # the clone's own were never pulled


@pytest.mark.parametrize("case", ["unknown revision", "not a git repository", "not a DVC project"])
def test_failures_are_one_line_and_exit_2(repo, tmp_path, case):
    cwd, rev, expected = {
        "unknown revision": (repo, "no-such-branch", "unknown git revision 'no-such-branch'"),
        "not a git repository": (tmp_path, "main", "is not in a git repository"),
        "not a DVC project": (tmp_path, "HEAD", "is not a DVC project"),
    }[case]
    if case == "not a DVC project":
        _git(tmp_path, "init", "-q")
        (tmp_path / "x.txt").write_text("x")
        _git(tmp_path, "add", "x.txt")
        _git(tmp_path, "commit", "-qm", "x")
    proc = compare(cwd, "--rev", rev, "--out", str(tmp_path / "cmp"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tunesmith: error:") and expected in lines[0], proc.stderr


def test_metrics_files_neither_revision_has_are_left_out_but_one_sided_gaps_are_named():
    from tunesmith.compare.diff import Side, missing_notes, read_figures

    def gone(path):
        return FileNotFoundError(f"No storage files available: '{path}'")

    class Shows:  # what dvc.repo.Repo's params/metrics .show return, for two revisions
        def __init__(self, by_rev):
            self.by_rev = by_rev

        def show(self, revs, hide_workspace):
            return self.by_rev

    def rev(metrics):
        return {"data": {path: ({"error": data} if isinstance(data, Exception) else {"data": data})
                         for path, data in metrics.items()}}

    class Repo:
        params = Shows({"main": rev({"params.yaml": {"a": 1}}), "workspace": rev({"params.yaml": {"a": 2}})})
        metrics = Shows({
            "main": rev({"data/metrics/essen/evaluate.json": {"model": {"nll": 0.8}},
                         "data/benchmark/metrics/bl_jsb/train.json": gone("bl_jsb/train.json"),
                         "data/metrics/classical/evaluate.json": gone("classical/evaluate.json")}),
            "workspace": rev({"data/metrics/essen/evaluate.json": {"model": {"nll": 0.7}},
                              "data/benchmark/metrics/bl_jsb/train.json": gone("bl_jsb/train.json"),
                              "data/metrics/classical/evaluate.json": {"model": {"nll": 0.6}}}),
        })

    old, new = Side("main", "main"), Side("workspace", None)
    read_figures(Repo(), "main", old, new)
    assert old.metrics["data/metrics/essen/evaluate.json"] == {"model.nll": 0.8}
    assert new.metrics["data/metrics/classical/evaluate.json"] == {"model.nll": 0.6}
    assert not any("bl_jsb" in note for note in missing_notes(old) + missing_notes(new))
    assert [n.split(":")[0] for n in missing_notes(old)] == ["data/metrics/classical/evaluate.json"]
    assert missing_notes(new) == []


# --------------------------------------------------------------------------- seed noise


def _metrics_repo(base: Path) -> Path:
    """A git + DVC repo whose metrics files are written by hand (no stage ever runs)."""
    repo = base / "noise"
    repo.mkdir()
    files = [f"data/metrics/${{item}}/{name}.json" for name in ("evaluate", "seeds")]
    pipeline = {"stages": {"m": {"foreach": ["alpha", "beta", "gamma"], "do": {
        "cmd": "true", "params": ["train.${item}"], "metrics": [{f: {"cache": False}} for f in files]}}}}
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    (repo / "params.yaml").write_text(yaml.safe_dump(
        {"train": {c: {"learning_rate": 0.1, "seed": 0} for c in ("alpha", "beta", "gamma")}}))
    _git(repo, "init", "-q", "-b", "main")
    _dvc(repo, "init", "-q")
    return repo


def _write_metrics(repo: Path, corpus: str, nll: float, seeds: list[float] | None, *, current: bool) -> None:
    from tunesmith.evaluation.noise import summarize

    d = repo / "data/metrics" / corpus
    d.mkdir(parents=True, exist_ok=True)
    (d / "evaluate.json").write_text(json.dumps({"model": {"nll": nll}}))
    if seeds is not None:
        recipe = {"learning_rate": 0.1 if current else 0.2}  # a stale seeds.json was trained with other params
        record = summarize({i: {"test_nll": v} for i, v in enumerate(seeds)}, params=recipe, corpus=corpus)
        (d / "seeds.json").write_text(json.dumps(record))


def test_compare_calls_a_difference_inside_the_seed_band_noise(tmp_path):
    repo = _metrics_repo(tmp_path)
    # main: one run per corpus; alpha and beta carry seeds.json for other params (sd 0.01): band 2.83 x 0.01
    _write_metrics(repo, "alpha", 1.000, [0.99, 1.00, 1.01], current=False)
    _write_metrics(repo, "beta", 1.000, [0.99, 1.00, 1.01], current=False)
    _write_metrics(repo, "gamma", 1.000, None, current=False)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "main")
    _write_metrics(repo, "alpha", 1.020, None, current=False)  # inside the band
    _write_metrics(repo, "beta", 1.040, None, current=False)   # outside: main is better
    _write_metrics(repo, "gamma", 1.500, None, current=False)  # no noise figure on either side
    proc = compare(repo, "--rev", "main", "--out", str(tmp_path / "cmp"))
    assert proc.returncode == 0, proc.stderr
    alpha, beta, gamma = (r for r in _tables(proc.stdout, "Headline metrics") if "model.nll" in r[0])
    assert alpha[1:5] == ["1", "1.0200", "+0.0200", "within noise"] and alpha[5] == "±0.0283 (one run each)"
    assert beta[1:5] == ["1", "1.0400", "+0.0400", "main"] and beta[5] == "±0.0283 (one run each)"
    assert gamma[4] == "no noise figure" and gamma[5] == ""
    page = (tmp_path / "cmp/index.html").read_text()
    assert '<td class="num win">1</td>' in page  # beta: main's NLL, beyond the band
    assert page.count('class="num win"') == 1


def test_compare_compares_seed_means_when_both_sides_have_them(tmp_path):
    repo = _metrics_repo(tmp_path)
    _write_metrics(repo, "alpha", 1.000, [0.99, 1.00, 1.01], current=True)
    _write_metrics(repo, "beta", 1.000, [0.99, 1.00, 1.01], current=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "main")
    # alpha: a new recipe whose mean is 0.05 lower; beta: the same recipe, a lucky single run
    _write_metrics(repo, "alpha", 1.000, [0.94, 0.95, 0.96], current=True)
    _write_metrics(repo, "beta", 0.975, [0.99, 1.00, 1.01], current=True)
    proc = compare(repo, "--rev", "main", "--out", str(tmp_path / "cmp"))
    assert proc.returncode == 0, proc.stderr
    alpha, beta = (r for r in _tables(proc.stdout, "Headline metrics") if "model.nll" in r[0])
    # band of two 3-seed means with sd 0.01: 2 x 0.01 x sqrt(2/3) = 0.0163
    assert alpha[1:] == ["1", "0.9500", "-0.0500", "workspace", "±0.0163 (means of 3 and 3 seeds)"]
    assert beta[1:4] == ["1", "1", "0"] and beta[4] == "within noise"  # the means, not the single runs


def test_sweeps_out_that_is_a_file_and_an_unknown_metric_are_one_line(repo, tmp_path):
    env = _env()

    def sweeps(*args):
        return subprocess.run([str(BIN / "tunesmith"), "sweeps", "--corpus", "essen", *args], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=120)

    a_file = tmp_path / "taken"
    a_file.write_text("mine")
    proc = sweeps("--out", str(a_file))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "is a file, not a folder" in proc.stderr
    assert a_file.read_text() == "mine"
    proc = sweeps("--metric", "no.such.metric", "--out", str(tmp_path / "s"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "no.such.metric" in proc.stderr and len(proc.stderr) < 400


@pytest.mark.parametrize("width", [1280, 390])
def test_the_compare_page_fits_a_desktop_and_a_phone(repo, tmp_path, width):
    from browser import chromium, probe

    if chromium() is None:
        pytest.skip("needs chromium (apt: chromium) for the browser check")
    out = tmp_path / "cmp"
    assert compare(repo, "--rev", "main", "--out", str(out)).returncode == 0
    result, _ = probe(out / "index.html", tmp_path / "profile", width=width)
    assert result["overflow"] == [] and result["pageWidth"] <= result["viewport"], result


def test_figures_per_symbol_get_no_verdict_when_the_encoding_differs():
    from tunesmith.compare.diff import Side, headline_rows
    from tunesmith.compare.page import _band

    path = "data/metrics/essen/evaluate.json"
    old = Side("main", "main", params={"encode.essen.time_step": 0.25},
               metrics={path: {"model.nll": 0.716, "music.pitch_class_hist_kl": 0.05}})
    new = Side("workspace", None, params={"encode.essen.time_step": 0.25, "encode.essen.representation": "metered"},
               metrics={path: {"model.nll": 0.635, "music.pitch_class_hist_kl": 0.02}})
    rows = {r.key: r for r in headline_rows("essen", old, new)}
    nll, kl = rows["evaluate: model.nll"], rows["evaluate: music.pitch_class_hist_kl"]
    assert nll.verdict == "" and _band(nll) == "not comparable: encode.essen.representation differs (other symbols)"
    assert kl.direction != 0 and kl.verdict != ""  # music statistics still compare
    same = Side("main", "main", params=dict(new.params), metrics=old.metrics)
    assert {r.key: r for r in headline_rows("essen", same, new)}["evaluate: model.nll"].direction != 0
