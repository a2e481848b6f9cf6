"""How to fit a model: :class:`TrainConfig` (``train.<corpus>`` in params.yaml) and its checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunesmith.config.checks import MAX_SEED, check_count, check_int

OPTIMIZERS = ("adam", "rmsprop", "sgd", "adagrad")
TARGETS = ("all", "last")
CONTEXTS = ("window", "carried")
LR_DECAYS = ("none", "cosine")
COSINE_FLOOR = 0.1
"""``lr_decay: cosine`` ends at this share of ``learning_rate``."""
MAX_EPOCHS = 100_000
"""The most epochs a run may have (also the bound on an epoch read back from a checkpoint)."""
MAX_WINDOW = 1 << 20
"""The longest window, in tokens."""
STATE_FORMAT = 1
"""Version of ``checkpoints/state.json`` and of the bundle's ``config.json``."""


def _check_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TrainConfig:
    """How to fit a model (``train.<corpus>`` in params.yaml; the model under ``train.<corpus>.model``).

    Attributes:
        window: input length in tokens, >= 1 (Vinze et al. and Vasudeva: 64; Reitman & Cho: 100).
        batch_size: windows per batch, >= 1 (Vinze et al.: 16; Vasudeva: 64).
        epochs: maximum number of epochs, >= 1.
        target: ``"all"`` (every position predicts its next token, windows
            don't overlap) or ``"last"`` (only the token after the window,
            sliding windows with stride 1, as Vasudeva). ``bilstm`` always
            trains with ``"last"``.
        optimizer: ``adam``, ``rmsprop``, ``sgd`` or ``adagrad`` (Vinze et al. compares them).
        learning_rate: > 0 (Vinze et al.: 1e-3; Reitman & Cho: 1e-4).
        clipnorm: gradient norm clip, >= 0; 0 switches clipping off.
        patience: epochs without a validation-loss improvement before
            stopping, >= 0 (Reitman & Cho stops after two rises: 2); 0 never stops early.
            The saved model is always the epoch with the lowest validation loss.
        min_delta: the smallest decrease of validation loss that counts as an
            improvement, >= 0.
        steps_per_epoch: batches per epoch, >= 0; 0 = one pass over the train split.
        validation_steps: validation batches per epoch, >= 0; 0 = the whole split.
        mixed_precision: ``mixed_float16`` on a GPU; ignored (with a log line) on a CPU.
        cpu_bfloat16: on a CPU with native bfloat16 arithmetic (the ``avx512_bf16`` or
            ``amx_bf16`` flag of ``/proc/cpuinfo``), train under Keras's ``mixed_bfloat16``
            policy: the weights stay float32, the matrix products run in bfloat16 (1.4-1.7x the
            tokens per second on the development machine, docs/experiments.md "Speed"). Elsewhere
            (another CPU, a GPU) training is float32 (or ``mixed_precision``), with a log line. The
            exported model is float32 either way.
        seed: seeds weights, dropout and data order, >= 0.
        shuffle: shuffle the training windows each epoch.
        context: ``"window"`` (each window starts from a zero state) or
            ``"carried"`` (truncated backpropagation through time: each batch row
            follows its own stream of whole pieces, ``window`` tokens per step,
            and the state passes from one step to the next; see
            `dataset.carried_chunks`). Carried needs a causal family and target
            ``"all"``.
        lr_decay: ``"none"`` (constant learning rate) or ``"cosine"``: from
            ``learning_rate`` down to a tenth of it, so the last epochs average
            out the noise of a high rate.
        decay_epochs: with ``lr_decay: cosine``, the number of final epochs the
            decay spans, >= 0: the rate stays at ``learning_rate`` until then
            (a hold-then-decay schedule); 0, or ``epochs`` or more (a short
            run), = decay over all ``epochs``.
        average_epochs: stochastic weight averaging (Izmailov, Podoprikhin,
            Garipov, Vetrov & Wilson 2018, "Averaging Weights Leads to Wider Optima
            and Better Generalization"), >= 0: the running mean of the weights at
            the end of each of the schedule's last ``average_epochs`` epochs
            (``epochs - average_epochs + 1`` to ``epochs``) is scored on
            validation after training and saved instead of the best single epoch
            when it scores lower; 0 = off. Best with a constant rate
            (``lr_decay: none``): the epochs it averages then differ.
        transpositions: semitone shifts; the training split is extended with its
            pieces shifted by each one that stays in the vocabulary
            (`augment.augment_transpositions`); ``()`` = off. Pitch
            representations only (essen, classical).
        max_padding: with ``context: carried``, the largest share of training
            positions that may be padding, 0 to 1: when the corpus's pieces over
            ``batch_size`` rows would leave more (few or long pieces), the run takes
            the most rows, fewer than ``batch_size``, that leave at most this much
            (`windows.carried_rows`; ``metrics.json`` ``rows`` says what it chose). 1 = always
            ``batch_size`` rows.
        cache: fit the continuous cache over the piece so far (Grave, Joulin & Usunier) on the
            validation split after training (``cache.json``); false: the LSTM alone.

    Validation loss (early stopping, the saved epoch) is the mean NLL of every
    validation token with the full context of its piece (`likelihood.score_pieces`),
    the same way evaluation scores the test split, whatever ``context``; ``bilstm``,
    which cannot be run over a whole piece, is validated on windows.
    """

    window: int = 64
    batch_size: int = 64
    epochs: int = 20
    target: str = "all"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    patience: int = 0
    min_delta: float = 0.0
    steps_per_epoch: int = 0
    validation_steps: int = 0
    mixed_precision: bool = False
    cpu_bfloat16: bool = False
    seed: int = 0
    shuffle: bool = True
    context: str = "carried"
    transpositions: tuple[int, ...] = ()
    lr_decay: str = "none"
    decay_epochs: int = 0
    average_epochs: int = 5
    cache: bool = True
    max_padding: float = 0.1

    def __post_init__(self) -> None:
        check_count("window", self.window, 1, MAX_WINDOW)
        check_int("batch_size", self.batch_size, 1)
        check_count("epochs", self.epochs, 1, MAX_EPOCHS)
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if _check_number("learning_rate", self.learning_rate) <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if _check_number("clipnorm", self.clipnorm) < 0:
            raise ValueError(f"clipnorm must be >= 0 (0 = off), got {self.clipnorm!r}")
        check_count("patience", self.patience, 0, MAX_EPOCHS)
        if _check_number("min_delta", self.min_delta) < 0:
            raise ValueError(f"min_delta must be >= 0, got {self.min_delta!r}")
        check_count("steps_per_epoch", self.steps_per_epoch, 0, 1 << 40)
        check_count("validation_steps", self.validation_steps, 0, 1 << 40)
        if not isinstance(self.mixed_precision, bool):
            raise ValueError(f"mixed_precision must be true or false, got {self.mixed_precision!r}")
        if not isinstance(self.cpu_bfloat16, bool):
            raise ValueError(f"cpu_bfloat16 must be true or false, got {self.cpu_bfloat16!r}")
        check_count("seed", self.seed, 0, MAX_SEED)
        if not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle must be true or false, got {self.shuffle!r}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {self.lr_decay!r}")
        check_count("decay_epochs", self.decay_epochs, 0, MAX_EPOCHS)
        check_count("average_epochs", self.average_epochs, 0, MAX_EPOCHS)
        if not 0 <= _check_number("max_padding", self.max_padding) <= 1:
            raise ValueError(f"max_padding must be a share from 0 to 1 (1 = never fewer rows), "
                             f"got {self.max_padding!r}")
        if self.context not in CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, got {self.context!r}")
        if isinstance(self.transpositions, list):  # as JSON (config.json) gives it back
            object.__setattr__(self, "transpositions", tuple(self.transpositions))
        if not isinstance(self.transpositions, tuple):
            raise ValueError(f"transpositions must be a list of semitone shifts, got {self.transpositions!r}")
        for shift in self.transpositions:
            if isinstance(shift, bool) or not isinstance(shift, int) or not -127 <= shift <= 127:
                raise ValueError(f"transpositions must be whole semitones in [-127, 127], got {shift!r}")
        if self.context == "carried" and self.target != "all":
            raise ValueError(f"context 'carried' trains every position: target must be 'all', got {self.target!r}")
