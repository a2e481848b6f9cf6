"""Carried-state training on several devices: 2 logical CPU devices (MirroredStrategy) and 2 workers
on 127.0.0.1 (MultiWorkerMirroredStrategy from TF_CONFIG) train as one device does.

Each run is a subprocess: logical devices must be set before TensorFlow starts, and a worker's
cluster is fixed for its process's life. Every replica gets a fixed half of the 8 rows and carries
their state, and the gradient is the mean over all rows as on one device, so the runs differ by
the order of floating-point sums only (the all-reduce adds two halves): the final weights agree to
1e-3 after 3 epochs that move them by tenths, where rows dealt to the wrong replica or a state
carried from another row's stream change the gradients themselves.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # four training subprocesses, 10 to 30 s each on 2 cores

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = """
import json, logging, sys
from pathlib import Path
devices, out = int(sys.argv[1]), Path(sys.argv[2])
import tensorflow as tf
if devices > 1:  # before TensorFlow initialises: the CPU split into logical devices
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
import numpy as np
sys.path.insert(0, {src!r})
from tunesmith.config.model import ModelConfig
from tunesmith.config.train import TrainConfig
from tunesmith.training.loop import train
logging.basicConfig(level=logging.INFO)

def split(pieces):
    return np.array([0] + [t for p in pieces for t in (*p, 0)], dtype=np.uint16)

# a piece steps through the 5 note symbols with a stride its first notes show (1, 2 or 3):
# predicting it needs the state carried across chunk boundaries
pieces = [[2 + (k + i * (1 + k % 3)) % 5 for i in range(12 + 5 * (k % 7))] for k in range(30)]
vocab = {vocab!r}
cfg = TrainConfig(window=8, batch_size=8, epochs=3, learning_rate=0.03, seed=1, patience=0, context="carried",
                  max_padding=1.0, average_epochs=0, cache=False)
got = train(ModelConfig(units=8, embedding_dim=4, dropout=0.0), cfg, vocab, split(pieces[:24]),
            split(pieces[24:]), out)
print(json.dumps({{"val": [h["val_loss"] for h in got["history"]], "rows": got["rows"]}}))
"""


def _child(tmp_path: Path) -> Path:
    from conftest import ESSEN_VOCAB

    script = tmp_path / "child.py"
    script.write_text(CHILD.format(src=str(SRC), vocab=ESSEN_VOCAB))
    return script


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0", **extra}


def _result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _train(script: Path, devices: int, out: Path) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, str(script), str(devices), str(out)], env=_env(),
                          capture_output=True, text=True, timeout=300)
    return _result(proc), proc.stderr


def _weights(folder: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(folder / "model.keras", compile=False).get_weights()


@pytest.fixture(scope="module")
def one_device(tmp_path_factory) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("one-device")
    got, _ = _train(_child(tmp), 1, tmp / "model")
    return got, tmp / "model"


def _assert_same_training(got: dict, folder: Path, one_device: tuple[dict, Path]) -> None:
    ref, ref_folder = one_device
    assert got["rows"]["used"] == ref["rows"]["used"] == 8 and got["rows"]["replicas"] == 2
    assert ref["val"][-1] < ref["val"][0] - 0.1  # it learned: the weights moved well beyond the tolerance
    np.testing.assert_allclose(got["val"], ref["val"], atol=1e-4)
    for a, b in zip(_weights(folder), _weights(ref_folder), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_two_logical_devices_train_carried_state_as_one_device(tmp_path, one_device):
    got, log = _train(_child(tmp_path), 2, tmp_path / "model")
    assert "2 logical CPU devices with MirroredStrategy" in log
    _assert_same_training(got, tmp_path / "model", one_device)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_two_workers_on_loopback_train_carried_state_as_one_device(tmp_path, one_device):
    script = _child(tmp_path)
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):  # each worker writes its own model folder, as each machine writes its own
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
        procs.append(subprocess.Popen([sys.executable, str(script), "1", str(tmp_path / f"w{i}")],
                                      env=_env(TF_CONFIG=json.dumps(tf_config)), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        results.append(_result(subprocess.CompletedProcess(p.args, p.returncode, out, err)))
        assert "MultiWorkerMirroredStrategy" in err
    for i, got in enumerate(results):
        _assert_same_training(got, tmp_path / f"w{i}", one_device)
