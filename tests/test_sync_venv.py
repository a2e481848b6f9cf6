"""tools/sync_venv.py: what `make install` uninstalls before installing a lock over a venv."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import sync_venv  # noqa: E402  -- tools/sync_venv.py


class FakeDist:
    def __init__(self, name: str, files: list[str]) -> None:
        self.metadata = {"Name": name}
        self.files = files


def test_strays_go_and_so_does_a_locked_package_sharing_their_files(tmp_path, monkeypatch):
    lock = tmp_path / "cpu.lock"
    lock.write_text("tensorflow==2.21.0 \\\n    --hash=sha256:00\nFlufl.Lock==9.2.0 \\\n    --hash=sha256:11\n"
                    "numpy==2.4.6 ; python_version >= '3.11' \\\n    --hash=sha256:22\n")
    dists = [
        FakeDist("tensorflow", ["tensorflow/__init__.py", "../../bin/tf_upgrade_v2"]),
        FakeDist("tensorflow_cpu", ["tensorflow/__init__.py", "../../bin/tf_upgrade_v2"]),  # the old kind
        FakeDist("flufl_lock", ["flufl/lock/__init__.py"]),
        FakeDist("numpy", ["numpy/__init__.py"]),
        FakeDist("nvidia-cublas-cu12", ["nvidia/cublas/lib/libcublas.so"]),  # GPU=1 before
        FakeDist("pip", ["pip/__init__.py"]),
        FakeDist("tunesmith", ["__editable__.tunesmith.pth"]),
    ]
    monkeypatch.setattr(sync_venv.metadata, "distributions", lambda: dists)
    # tensorflow shares tensorflow/ with tensorflow-cpu: removed too, so the lock installs it whole
    assert sync_venv.to_remove(lock) == ["nvidia-cublas-cu12", "tensorflow", "tensorflow-cpu"]
    assert sync_venv.locked_names(lock) == {"tensorflow", "flufl-lock", "numpy"}
    clean = [d for d in dists if "cpu" not in d.metadata["Name"] and "nvidia" not in d.metadata["Name"]]
    monkeypatch.setattr(sync_venv.metadata, "distributions", lambda: clean)
    assert sync_venv.to_remove(lock) == []
