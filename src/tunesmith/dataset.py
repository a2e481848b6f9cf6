"""Token ids -> lazily built tf.data windows for training.

The corpus lives on disk as one 1-D integer array per split
(``data/vocab/<corpus>/{train,validation,test}.npy``). Windows are never
materialised: the dataset holds only the window start offsets (one int64 per
window) and gathers each batch of windows from the id array on the fly, and
targets stay integer ids for sparse cross-entropy. Seed 002's way (every
sliding window one-hot encoded up front) needs ``n_windows x window x V``
floats, which for a real corpus is gigabytes; see bench/bench_train_memory.py.

Two kinds of target:

- ``"all"``: ``x = ids[i : i + window]``, ``y = ids[i + 1 : i + window + 1]``;
  every position predicts its next token (char-rnn, seed 003). Default stride
  ``window``: non-overlapping chunks, so each token is a target once per epoch.
- ``"last"``: ``x = ids[i : i + window]``, ``y = ids[i + window]``; only the
  token after the window is predicted (seed 002). Default stride 1: every
  sliding window, as the seed does.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)

TARGETS = ("all", "last")
SPLITS = ("train", "validation", "test")


def default_stride(window: int, target: str) -> int:
    """Stride used when none is given: ``window`` for ``"all"``, 1 for ``"last"``."""
    _check_target(target)
    return window if target == "all" else 1


def count_windows(
    n_tokens: int | np.ndarray,
    *,
    window: int,
    target: str = "all",
    stride: int | None = None,
) -> int:
    """Number of windows ``make_windows`` yields from ``n_tokens`` ids (or an id array).

    A window starting at ``i`` needs ``ids[i + window]`` (its last target), so
    starts run over ``0, stride, 2 * stride, ... <= n_tokens - window - 1``; no
    window crosses the end of the array. Both targets need the same span, so the
    count depends on ``target`` only through the default stride.
    """
    n = int(n_tokens.shape[0]) if isinstance(n_tokens, np.ndarray) else int(n_tokens)
    stride = _resolve(window, target, stride)
    last_start = n - window - 1
    if last_start < 0:
        return 0
    return last_start // stride + 1


def make_windows(
    ids: np.ndarray,
    *,
    window: int,
    batch_size: int,
    target: str = "all",
    stride: int | None = None,
    shuffle: bool,
    seed: int,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches of ``(x, y)`` windows over a 1-D id array, built lazily.

    Args:
        ids: 1-D integer array of token ids (any int dtype; may be memory-mapped).
        window: input length ``T`` (>= 1).
        batch_size: windows per batch ``B`` (>= 1).
        target: ``"all"`` or ``"last"`` (see the module docstring).
        stride: distance between window starts; ``None`` for the target's default.
        shuffle: visit windows in a random order fixed by ``seed`` (one pass; the
            same seed gives the same order, a different seed another).
        seed: the shuffle seed (ignored when ``shuffle`` is False).
        drop_remainder: drop a last, smaller batch.

    Returns:
        A finite dataset of ``x``: int32 ``(B, T)`` and ``y``: int32 ``(B, T)``
        for ``"all"`` or ``(B,)`` for ``"last"``.

    Raises:
        ValueError: bad ``ids`` shape, window, batch size, stride or target, or
            an array too short for one window.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"ids must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    stride = _resolve(window, target, stride)
    n_windows = count_windows(ids.shape[0], window=window, target=target, stride=stride)
    if n_windows == 0:
        raise ValueError(
            f"{ids.shape[0]} tokens are too few for one window of {window} (+1 target)"
        )

    starts = np.arange(n_windows, dtype=np.int64) * stride
    if shuffle:
        # A numpy permutation (8 bytes a window) rather than tf's shuffle buffer:
        # the order is then a pure function of the seed, across TF versions too.
        starts = np.random.default_rng(seed).permutation(starts)

    # int32 ids: 4 bytes a token, the only copy of the corpus the pipeline holds.
    id_tensor = tf.convert_to_tensor(ids.astype(np.int32, copy=False))
    offsets = tf.range(window + 1, dtype=tf.int64)

    def gather(batch_starts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        block = tf.gather(id_tensor, batch_starts[:, None] + offsets[None, :])  # (B, T + 1)
        x = block[:, :-1]
        y = block[:, 1:] if target == "all" else block[:, -1]
        return x, y

    ds = tf.data.Dataset.from_tensor_slices(starts)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_split(vocab_dir: Path | str, split: str) -> np.ndarray:
    """Memory-map ``<vocab_dir>/<split>.npy``: a 1-D integer array of token ids.

    Raises:
        ValueError: unknown split name.
        ArtifactError: the file is not a readable 1-D integer ``.npy`` array (a ValueError too).
        MissingArtifactError: the file does not exist (the message names it; a FileNotFoundError too).
    """
    from tunesmith.errors import ArtifactError, MissingArtifactError

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(vocab_dir) / f"{split}.npy"
    if not path.is_file():
        raise MissingArtifactError(f"no token ids for split {split!r}: {path} does not exist")
    try:
        ids = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ArtifactError(f"{path} is not a readable .npy array (truncated?): {exc}") from exc
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ArtifactError(
            f"{path} must hold a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}"
        )
    return ids


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")


def _resolve(window: int, target: str, stride: int | None) -> int:
    _check_target(target)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    if stride is None:
        return default_stride(window, target)
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    return int(stride)
