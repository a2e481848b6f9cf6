"""Both revisions' samples for the comparison page, copied next to it.

The workspace's samples are the files in ``data/samples/<corpus>``. Another
revision's are a cached DVC output: its dvc.lock gives the md5 of the folder,
whose ``.dir`` manifest in the local DVC cache lists every file's md5. Nothing
is checked out or changed in the workspace; the files are copied into
``<out>/samples/<side>/<corpus>/`` so the page opens from the file system (or
from a CI artifact).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tunesmith.core.sample_record import MEDIA, RECORDS_FILE, read_records, trusted_roots

log = logging.getLogger(__name__)

SAMPLES_DIR = "data/samples/{corpus}"  # the generate stage's output (dvc.yaml)
# what the page shows per sample, in order of preference for each role
AUDIO = ((".mp3", "audio/mpeg"), (".wav", "audio/wav"))
PICTURES = (".svg", ".png")  # engraved score, piano roll
LINKS = (".mid", ".abc", ".musicxml")
INFO = ("length", "notes", "ended", "decoded", "seed", "sampler", "temperature", "error")


@dataclass
class SampleSet:
    """One side's samples of one corpus: ``samples`` (page records) or ``note`` saying why not."""

    side: str
    samples: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "rev"


def _wanted(names: list[str]) -> list[str]:
    """The files the page needs: samples.csv, one audio file and the pictures and links per sample."""
    keep = {"samples.csv"} | ({RECORDS_FILE} & set(names))
    stems = {Path(n).stem for n in names if n not in ("samples.csv", RECORDS_FILE)}
    for stem in stems:
        audio = next((f"{stem}{s}" for s, _ in AUDIO if f"{stem}{s}" in names), None)
        keep |= {audio} if audio else set()
        keep |= {f"{stem}{s}" for s in (*PICTURES, *LINKS) if f"{stem}{s}" in names}
    return sorted(keep)


def _records(folder: Path, out_dir: Path) -> list[dict[str, Any]]:
    """Page records of the samples of ``folder`` (`tunesmith.core.sample_record`; hrefs relative to
    ``out_dir``): only the files copied there count."""
    records = []
    for record in read_records(folder):
        href = {s: Path(p).relative_to(out_dir).as_posix() for medium, s in MEDIA.items()
                if (p := record.get(medium)) and Path(p).is_file()}
        audio = next(((href[s], kind) for s, kind in AUDIO if s in href), None)
        note = (record.audio or {}).get("note")
        info = {**record.info, "error": record.error}
        records.append({
            "name": record.name,
            "info": {k: info[k] for k in INFO if info.get(k) not in (None, "")},
            "audio": audio,
            "audio_note": note or None,
            "score": href.get(".svg"),
            "roll": href.get(".png"),
            "links": [(s.lstrip(".").upper(), href[s]) for s in LINKS if s in href],
        })
    return records


def workspace_samples(root: Path, corpus: str, out_dir: Path) -> SampleSet:
    """The workspace's samples of ``corpus``, copied under ``out_dir/samples/workspace``."""
    src = root / SAMPLES_DIR.format(corpus=corpus)
    result = SampleSet(side="workspace")
    if not (src / "samples.csv").is_file():
        result.note = (f"{src.relative_to(root)} is not in the workspace: `dvc pull generate@{corpus}` "
                       f"(with a DVC remote) or `dvc repro generate@{corpus}` writes it.")
        return result
    dest = out_dir / "samples" / "workspace" / corpus
    _fresh(dest)
    roots = trusted_roots(src)  # a link to a file elsewhere is never copied (nor what it points to)
    files = [p.name for p in src.iterdir() if p.is_file() and any(p.resolve().is_relative_to(r) for r in roots)]
    for name in _wanted(files):
        shutil.copy2(src / name, dest / name)
    result.samples = _records(dest, out_dir)
    return result


def _fresh(dest: Path) -> None:
    # only ever a folder this module wrote (out/samples/<side>/<corpus>)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)


def locked_out(lock_text: str | None, path: str) -> dict[str, Any] | None:
    """The dvc.lock entry of output ``path`` (``md5``, ``hash`` ...), or None."""
    if not lock_text:
        return None
    lock = yaml.safe_load(lock_text) or {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == path:
                return out
    return None


def _odb(dvc_repo, entry: dict[str, Any]):
    # DVC 3 writes `hash: md5` into dvc.lock; entries without it were hashed by DVC 2 (legacy cache)
    return dvc_repo.cache.local if entry.get("hash") == "md5" else dvc_repo.cache.legacy


def how_to_get(rev: str, corpus: str) -> str:
    return (f"The samples of {rev} are not in the local DVC cache. With a DVC remote: "
            f"`tunesmith compare --rev {rev} --fetch` (or `git checkout {rev} && dvc pull generate@{corpus}`, "
            f"then back with `git checkout - && dvc checkout`). Without one, run the pipeline on that "
            f"revision (`git checkout {rev} && dvc repro`) and listen there.")


def revision_samples(dvc_repo, root: Path, sha: str, rev: str, corpus: str, out_dir: Path) -> SampleSet:
    """The samples of ``corpus`` committed at ``sha`` (shown as ``rev``), from the local DVC cache."""
    from tunesmith.compare.git import git_text

    path = SAMPLES_DIR.format(corpus=corpus)
    result = SampleSet(side=rev)
    entry = locked_out(git_text(root, sha, "dvc.lock"), path)
    if entry is None or not str(entry.get("md5", "")).endswith(".dir"):
        result.note = (f"dvc.lock at {rev} records no {path}: its pipeline was not run and committed "
                       f"(`dvc repro`, then commit dvc.lock with the metrics and plots).")
        return result
    odb = _odb(dvc_repo, entry)
    manifest = Path(odb.oid_to_path(entry["md5"]))
    if not manifest.is_file():
        result.note = how_to_get(rev, corpus)
        return result
    files = {e["relpath"]: e["md5"] for e in json.loads(manifest.read_text())}
    wanted = [n for n in _wanted(list(files)) if Path(odb.oid_to_path(files[n])).is_file()]
    if "samples.csv" not in wanted:
        result.note = how_to_get(rev, corpus)
        return result
    dest = out_dir / "samples" / _slug(rev) / corpus
    if _slug(rev) == "workspace":
        dest = out_dir / "samples" / "rev_workspace" / corpus
    _fresh(dest)
    for name in wanted:
        shutil.copyfile(odb.oid_to_path(files[name]), dest / name)
    result.samples = _records(dest, out_dir)
    if len(wanted) < len(_wanted(list(files))):
        result.note = "Some of these files are missing from the local DVC cache. " + how_to_get(rev, corpus)
    return result


def fetch(dvc_repo, sha: str, corpora: list[str]) -> None:
    """Pull the samples of ``corpora`` at commit ``sha`` from the default DVC remote into the cache."""
    from dvc.exceptions import DvcException

    targets = [SAMPLES_DIR.format(corpus=c) for c in corpora]
    try:
        got = dvc_repo.fetch(targets=targets, revs=[sha], workspace=False)
        log.info("fetched %d files of %s from the DVC remote", got, sha[:8])
    except DvcException as exc:  # no remote, no access: the page says how to get them
        log.warning("could not fetch the samples of %s: %s", sha[:8], str(exc).splitlines()[0] if str(exc) else exc)
