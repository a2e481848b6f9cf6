"""Typed params of the benchmark tracks, ``benchmark.<bl_*>`` (``fetch.<bl_*>``: ``data.BenchFetchConfig``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tunesmith.benchmark.frame import FrameModelConfig, FrameTrainConfig
from tunesmith.config.model import ModelConfig
from tunesmith.config.train import TrainConfig


@dataclass(frozen=True)
class BenchEvaluateConfig:
    """``benchmark.<bl_*>.evaluate``: the n-gram search and the samples."""

    max_ngram_order: int = 12
    num_samples: int = 4
    sample_frames: int = 64
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.max_ngram_order <= 20:
            raise ValueError(f"max_ngram_order must be in 1-20, got {self.max_ngram_order}")
        if self.num_samples < 0 or self.sample_frames < 1:
            raise ValueError(f"num_samples must be >= 0 and sample_frames >= 1, got {self.num_samples}, "
                             f"{self.sample_frames}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


@dataclass(frozen=True)
class BenchmarkConfig:
    """``benchmark.<bl_*>``.

    transpose: ``[low, high]`` semitones: every training piece is added shifted by each of
      ``low..high`` where it stays in 21-108 (Walder's augmentation); ``[0, 0]`` is off.
      Validation and test are never transposed.
    random_shift: ``[low, high]`` semitones: each epoch every training piece is moved by its own
      random shift in ``low..high``, clipped by the piece's lowest and highest notes so it stays
      in 21-108 (`tunesmith.benchmark.augment`): one copy an epoch, every key over many epochs;
      the shifts are a function of the training seed and the epoch. ``[0, 0]`` is off; not with
      ``transpose``.
    frames_per_beat: frames per quarter note when samples are written as MIDI (playback only).
    """

    transpose: tuple[int, ...] = (0, 0)
    random_shift: tuple[int, ...] = (0, 0)
    frames_per_beat: int = 2
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    frame_model: FrameModelConfig = field(default_factory=FrameModelConfig)
    frame_train: FrameTrainConfig = field(default_factory=FrameTrainConfig)
    evaluate: BenchEvaluateConfig = field(default_factory=BenchEvaluateConfig)

    def __post_init__(self) -> None:
        if len(self.transpose) != 2 or not -12 <= self.transpose[0] <= 0 <= self.transpose[1] <= 12:
            raise ValueError(f"transpose must be [low, high] with -12 <= low <= 0 <= high <= 12, got "
                             f"{list(self.transpose)}")
        if len(self.random_shift) != 2 or not -12 <= self.random_shift[0] <= 0 <= self.random_shift[1] <= 12:
            raise ValueError(f"random_shift must be [low, high] with -12 <= low <= 0 <= high <= 12, got "
                             f"{list(self.random_shift)}")
        if tuple(self.random_shift) != (0, 0) and tuple(self.transpose) != (0, 0):
            raise ValueError(f"transpose and random_shift cannot both be on (got {list(self.transpose)} and "
                             f"{list(self.random_shift)}); set one to [0, 0]")
        if self.frames_per_beat < 1:
            raise ValueError(f"frames_per_beat must be >= 1, got {self.frames_per_beat}")


@dataclass(frozen=True)
class PooledConfig:
    """``benchmark.pooled``: one token LSTM trained on the four training sets together (Walder's
    pooled rows), selected on the four validation sets together, scored on each set's own test set.

    enabled: false (the default) makes ``bl_pooled`` write a record saying it did not run, in a
      second, so the stage is in the lock without hours of training; true trains.
    random_shift: as ``benchmark.<set>.random_shift``, on the pooled pieces.
    """

    enabled: bool = False
    random_shift: tuple[int, ...] = (0, 0)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if len(self.random_shift) != 2 or not -12 <= self.random_shift[0] <= 0 <= self.random_shift[1] <= 12:
            raise ValueError(f"random_shift must be [low, high] with -12 <= low <= 0 <= high <= 12, got "
                             f"{list(self.random_shift)}")
