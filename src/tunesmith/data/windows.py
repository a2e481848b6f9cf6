"""Token ids -> lazily built tf.data windows for training.

The corpus lives on disk as one 1-D integer array per split
(``data/vocab/<corpus>/{train,validation,test}.npy``). Windows are never
materialised: the dataset holds only the window start offsets (one int64 per
window) and gathers each batch of windows from the id array on the fly, and
targets stay integer ids for sparse cross-entropy. Vasudeva's way (every
sliding window one-hot encoded up front) needs ``n_windows x window x V``
floats, which for a real corpus is gigabytes; see bench/bench_train_memory.py.

Two kinds of target:

- ``"all"``: ``x = ids[i : i + window]``, ``y = ids[i + 1 : i + window + 1]``;
  every position predicts its next token (char-rnn, Reitman & Cho). Default stride
  ``window``: non-overlapping chunks, so each token is a target once per epoch.
- ``"last"``: ``x = ids[i : i + window]``, ``y = ids[i + window]``; only the
  token after the window is predicted (Vasudeva). Default stride 1: every
  sliding window, as the seed does.

Windows start every model input from a zero state. :func:`carried_chunks`
instead cuts the split into ``batch_size`` streams of whole pieces and feeds
them chunk after chunk, so a stateful model carries its state through each
piece (``train.<corpus>.context: carried``).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tunesmith.config.stages import SPLITS

log = logging.getLogger(__name__)

TARGETS = ("all", "last")


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
    return _one_thread(ds.prefetch(tf.data.AUTOTUNE))


def load_split(vocab_dir: Path | str, split: str) -> np.ndarray:
    """Memory-map ``<vocab_dir>/<split>.npy``: a 1-D integer array of token ids.

    Raises:
        ValueError: unknown split name.
        ArtifactError: the file is not a readable 1-D integer ``.npy`` array (a ValueError too).
        MissingArtifactError: the file does not exist (the message names it; a FileNotFoundError too).
    """
    from tunesmith.core.errors import ArtifactError, MissingArtifactError

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


# --------------------------------------------------------------------------- carried state


@dataclass(frozen=True)
class CarriedChunks:
    """Consecutive chunks of ``batch_size`` streams of whole pieces (see :func:`carried_chunks`).

    Attributes:
        x: int32 ``(chunks, B, T)``: chunk ``k`` of row ``r`` is ``x[k, r]``, and
            ``x[k + 1, r]`` continues it directly (the stream of row ``r`` is
            ``x[:, r].ravel()``).
        y: int32 ``(chunks, B, T)``: the next token of every position of ``x``.
        weight: float32 ``(chunks, B, T)``: 1 for real targets, 0 for the end-token
            padding after a row's last piece.
        resets: bool ``(chunks, B, T)``: True where a piece starts (``x`` is the end
            token that opens it): the state of everything before is stale there.
        rows: the piece indices (order of ``piece_spans``) each row streams, in order.
    """

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    resets: np.ndarray
    rows: tuple[tuple[int, ...], ...]

    def __len__(self) -> int:
        return int(self.x.shape[0])


def carried_chunks(
    ids: np.ndarray, end_id: int, *, window: int, batch_size: int, seed: int, shuffle: bool = True
) -> CarriedChunks:
    """Cut a split into consecutive chunks for truncated backpropagation through time.

    ``ids`` is a split array ``[END] p1 [END] p2 ... [END]`` (`vocab.Vocab.corpus_ids`).
    Its pieces are visited in an order fixed by ``seed`` (or in file order when
    ``shuffle`` is False) and each goes, whole, to the row whose stream is
    shortest so far (lowest row on a tie), so the ``batch_size`` rows are about
    equally long. A row's stream is ``[END] p_a [END] p_b ... [END]``: its inputs
    are the stream without its last token, its targets the stream shifted by one,
    exactly as in the split array, so every training target of the split appears
    once per epoch. Rows are padded with end tokens (weight 0) to a whole number
    of ``window``-token chunks.

    Training feeds chunk ``k`` of every row as batch ``k`` to a stateful model
    (state reset at the start of the epoch), so the state that ends chunk ``k``
    starts chunk ``k + 1``: context reaches back to the start of the piece
    through every chunk boundary, while gradients stop at it (truncated BPTT, as
    char-rnn and folk-rnn train). At a piece boundary the model reads the end
    token that opens the next piece (``resets``); the state is not zeroed there,
    the end token tells the model a new piece begins.

    With fewer pieces than rows, the rows left over are padding only (weight 0).

    Raises:
        ValueError: not a split array, bad window or batch size.
    """
    from tunesmith.data.pieces import piece_spans

    ids = np.asarray(ids)
    _resolve(window, "all", None)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    spans = piece_spans(ids, end_id)
    if len(spans) < batch_size:
        log.warning("%d pieces for %d carried-state rows: %d rows are only padding (lower batch_size)",
                    len(spans), batch_size, batch_size - len(spans))
    order = np.random.default_rng(seed).permutation(len(spans)) if shuffle else np.arange(len(spans))
    rows: list[list[int]] = [[] for _ in range(batch_size)]
    lengths = np.zeros(batch_size, dtype=np.int64)
    for k in order:
        r = int(np.argmin(lengths))  # first row among the shortest
        rows[r].append(int(k))
        a, b = spans[k]
        lengths[r] += b - a
    chunks = -(-int(lengths.max()) // window)
    width = chunks * window
    x = np.full((batch_size, width), end_id, dtype=np.int32)
    y = np.full((batch_size, width), end_id, dtype=np.int32)
    weight = np.zeros((batch_size, width), dtype=np.float32)
    resets = np.zeros((batch_size, width), dtype=bool)
    for r, pieces in enumerate(rows):
        pos = 0
        for k in pieces:
            a, b = spans[k]
            n = b - a
            x[r, pos : pos + n] = ids[a:b]
            y[r, pos : pos + n] = ids[a + 1 : b + 1]
            weight[r, pos : pos + n] = 1.0
            resets[r, pos] = True
            pos += n

    def cut(arr: np.ndarray) -> np.ndarray:  # (B, chunks * T) -> (chunks, B, T)
        return np.ascontiguousarray(arr.reshape(batch_size, chunks, window).transpose(1, 0, 2))

    return CarriedChunks(cut(x), cut(y), cut(weight), cut(resets), tuple(tuple(p) for p in rows))


def _row_lengths(spans: Sequence[tuple[int, int]], order: np.ndarray, rows: int) -> np.ndarray:
    """Each row's stream length when ``order``'s pieces go, whole, to the shortest row (lowest on a tie)."""
    heap = [(0, r) for r in range(rows)]
    for k in order:
        length, r = heap[0]
        a, b = spans[k]
        heapq.heapreplace(heap, (length + b - a, r))
    lengths = np.zeros(rows, dtype=np.int64)
    for length, r in heap:
        lengths[r] = length
    return lengths


def padding_share(lengths: np.ndarray, window: int) -> float:
    """The share of training positions that are padding when rows of ``lengths`` tokens are
    padded to a whole number of ``window``-token chunks of the longest."""
    width = -(-int(lengths.max()) // window) * window
    return 1.0 - float(lengths.sum()) / (width * len(lengths)) if width else 1.0


def carried_rows(
    ids: np.ndarray, end_id: int, *, window: int, batch_size: int, max_padding: float, seed: int = 0,
    shuffle: bool = True, multiple_of: int = 1,
) -> tuple[int, float]:
    """The most carried-state rows, at most ``batch_size``, whose padding is at most ``max_padding``.

    Pieces are dealt to rows as :func:`carried_chunks` deals them (the order of ``seed``);
    rows are padded to the longest, so few long pieces over many rows leave many
    rows mostly padding (207 Essen songs over 64 rows: 44%). Fewer rows mean more,
    fuller steps per epoch: a small corpus also gets more updates. Returns the rows
    and their padding share (with the fewest rows, the share they have).

    ``multiple_of``: only multiples of it are rows (the replicas of a distributed run each
    take as many rows); when ``batch_size`` is smaller, ``multiple_of`` rows (one each).
    """
    from tunesmith.data.pieces import piece_spans

    spans = piece_spans(np.asarray(ids), end_id)
    order = np.random.default_rng(seed).permutation(len(spans)) if shuffle else np.arange(len(spans))
    top = max(batch_size - batch_size % multiple_of, multiple_of)
    for rows in range(top, 0, -multiple_of):
        share = padding_share(_row_lengths(spans, order, rows), window)
        if share <= max_padding or rows == multiple_of:
            return rows, share
    raise AssertionError("unreachable")


def replica_rows(arr: np.ndarray, replicas: int, pipeline: int = 0, pipelines: int = 1) -> np.ndarray:
    """The per-replica batches one input pipeline feeds, in the order it feeds them.

    ``arr`` is ``(chunks, B, ...)`` (:class:`CarriedChunks`); replica ``j`` of ``replicas``
    always holds rows ``j * B / replicas`` to ``(j + 1) * B / replicas - 1``, so its
    carried state continues its own rows. Pipeline ``pipeline`` of ``pipelines`` (one per
    worker) serves ``replicas / pipelines`` local replicas, round-robin as
    ``tf.distribute`` hands a pipeline's elements to them: chunk ``k`` of its local replica
    ``l`` is element ``k * local + l`` of the result, ``(chunks * local, B / replicas, ...)``.

    Raises:
        ValueError: ``B`` not a multiple of ``replicas``, or ``replicas`` of ``pipelines``.
    """
    chunks, rows = arr.shape[:2]
    if rows % replicas or replicas % pipelines:
        raise ValueError(f"{rows} carried-state rows over {replicas} replicas in {pipelines} input pipelines: "
                         "each replica needs as many rows")
    per, local = rows // replicas, replicas // pipelines
    part = arr[:, pipeline * local * per : (pipeline + 1) * local * per]
    return np.ascontiguousarray(part.reshape(chunks * local, per, *arr.shape[2:]))


def make_carried_batches(
    ids: np.ndarray, end_id: int, *, window: int, batch_size: int, seed: int, shuffle: bool = True
) -> tf.data.Dataset:
    """:func:`carried_chunks` as a dataset of ``(x, y, weight)`` batches, chunk 0 first.

    Each element is int32 ``(B, T)``, int32 ``(B, T)``, float32 ``(B, T)``; keep the
    order (no shuffling, no parallel reordering): batch ``k + 1`` continues batch ``k``.
    """
    c = carried_chunks(ids, end_id, window=window, batch_size=batch_size, seed=seed, shuffle=shuffle)
    return carried_dataset(c)


def carried_dataset(c: CarriedChunks, replicas: int = 1, pipeline: int = 0, pipelines: int = 1) -> tf.data.Dataset:
    """``c`` as a dataset of ``(x, y, weight)`` batches (:func:`make_carried_batches`); with
    ``replicas`` > 1, the per-replica batches of one input pipeline (:func:`replica_rows`),
    ``B / replicas`` rows each, for ``tf.distribute.Strategy.distribute_datasets_from_function``."""
    arrays = (c.x, c.y, c.weight)
    if replicas > 1:
        arrays = tuple(replica_rows(a, replicas, pipeline, pipelines) for a in arrays)
    return _one_thread(tf.data.Dataset.from_tensor_slices(arrays).prefetch(2))


def _one_thread(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` read by one thread of its own, without tf.data's autotuner.

    By default a dataset gets a thread pool as large as the machine and an autotuning thread that
    resizes its buffers as it goes: beside a training step that uses one core (``repro.threads``),
    those threads take turns with the step, worst when two trainings share two cores (`make repro`,
    `make noise`). Batches are a few kilobytes gathered from memory, so one thread keeps well ahead.
    The batches and their order are unchanged: the models trained are the same bytes. Measured on
    the development machine (4 to 8 epochs, `docs/experiments.md`): classical alone 78.1 s -> 67.0 s;
    beside nottingham's training, classical 97.8 s -> 76.8 s and essen 80.9 s -> 68.6 s."""
    opts = tf.data.Options()
    opts.threading.private_threadpool_size = 1
    opts.autotune.enabled = False
    return ds.with_options(opts)
