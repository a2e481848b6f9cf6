"""Memory a training run will need, estimated before anything is built.

A model of ``units: 1000000000`` or a ``batch_size`` of a billion must stop with one line
naming the key and the estimate, not after minutes of swapping and the kernel's OOM killer.
The estimate is deliberately simple (float32 everywhere):

- weights: embedding ``V x E`` (or the one-hot width ``V``), each recurrent layer
  ``4 x units x (input + units + 1)`` (LSTM gates; x2 for ``bilstm``), logits ``units x V + V``;
  with Adam's two moments, the gradient and the weight average, 6 copies;
- activations kept for backpropagation through time: ``batch x window`` positions, each
  holding about ``10 x units`` floats per recurrent layer plus ``3 x V`` for the logits,
  their softmax and its gradient.

It is compared with the memory the machine has available now (``MemAvailable``), not
its total: what another process holds is not ours to take.
"""

from __future__ import annotations

from tunesmith.core.errors import ConfigError

BYTES = 4


def training_bytes(model_cfg, cfg, vocab_size: int) -> tuple[int, int]:
    """``(weights, activations)`` in bytes for ``model_cfg`` trained with ``cfg`` (a TrainConfig)."""
    units, layers = int(model_cfg.units), int(model_cfg.layers)
    directions = 2 if model_cfg.family == "bilstm" else 1
    width = model_cfg.embedding_dim or vocab_size
    params = vocab_size * model_cfg.embedding_dim
    inputs = width
    for _ in range(layers):
        params += directions * 4 * units * (inputs + units + 1)
        inputs = directions * units
    params += inputs * vocab_size + vocab_size
    positions = int(cfg.batch_size) * int(cfg.window)
    activations = positions * (10 * units * layers * directions + 3 * vocab_size)
    return 6 * params * BYTES, activations * BYTES


def available_bytes() -> int | None:
    """``MemAvailable`` of /proc/meminfo, or None where the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_training_memory(model_cfg, cfg, vocab_size: int, key: str = "train.<corpus>",
                          available: int | None = None) -> None:
    """Refuse a run whose estimate exceeds 80% of the available memory, naming the keys that drive it.

    Raises:
        ConfigError: ``key.model.units`` / ``key.batch_size`` ... with the estimate and what is available.
    """
    available = available_bytes() if available is None else available
    if available is None:
        return
    weights, activations = training_bytes(model_cfg, cfg, vocab_size)
    if weights + activations <= 0.8 * available:
        return
    culprit = (f"{key}.model.units / layers / embedding_dim: the weights alone need {_gib(weights)}"
               if weights >= activations else
               f"{key}.batch_size x window ({cfg.batch_size:,} x {cfg.window:,}): the activations need "
               f"{_gib(activations)}")
    raise ConfigError(f"{culprit}, {_gib(weights + activations)} in all, and {_gib(available)} is available: "
                      "lower it")


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"
