"""Windows over token ids: exact content, counts, bounds, shuffling, split loading."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.data.windows import count_windows, load_split, make_windows


def _collect(ds) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_target_all_gives_non_overlapping_chunks_and_next_tokens():
    ids = np.arange(20, dtype=np.uint16)
    ds = make_windows(ids, window=4, batch_size=3, target="all", shuffle=False, seed=0)
    x, y = _collect(ds)
    # starts 0, 4, 8, 12; a window at 16 would need ids[20]
    np.testing.assert_array_equal(x, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]])
    np.testing.assert_array_equal(y, x + 1)
    assert x.dtype == np.int32 and y.dtype == np.int32
    assert count_windows(ids, window=4, target="all") == 4
    assert [b[0].shape[0] for b in ds] == [3, 1]


def test_target_last_gives_sliding_windows_and_the_following_token():
    ids = np.arange(10, dtype=np.int32) * 10
    ds = make_windows(ids, window=3, batch_size=4, target="last", shuffle=False, seed=0)
    x, y = _collect(ds)
    assert x.shape == (7, 3) and y.shape == (7,)
    np.testing.assert_array_equal(x[0], [0, 10, 20])
    np.testing.assert_array_equal(y, [30, 40, 50, 60, 70, 80, 90])
    np.testing.assert_array_equal(x[-1], [60, 70, 80])
    assert count_windows(10, window=3, target="last") == 7


def test_explicit_stride_and_drop_remainder():
    ids = np.arange(30)
    ds = make_windows(
        ids,
        window=5,
        batch_size=2,
        target="all",
        stride=7,
        shuffle=False,
        seed=0,
        drop_remainder=True,
    )
    x, _ = _collect(ds)
    # starts 0, 7, 14, 21 (21 + 5 = 26 <= 29); a start at 28 would cross the end
    np.testing.assert_array_equal(x[:, 0], [0, 7, 14, 21])
    ds = make_windows(
        ids,
        window=5,
        batch_size=3,
        target="all",
        stride=7,
        shuffle=False,
        seed=0,
        drop_remainder=True,
    )
    assert sum(b[0].shape[0] for b in ds) == 3


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 60),
    window=st.integers(1, 12),
    stride=st.integers(1, 9),
    target=st.sampled_from(["all", "last"]),
)
def test_count_matches_yield_and_no_window_crosses_the_end(n, window, stride, target):
    ids = np.arange(n)
    expected = count_windows(ids, window=window, target=target, stride=stride)
    if expected == 0:
        with pytest.raises(ValueError, match="too few"):
            make_windows(
                ids,
                window=window,
                batch_size=4,
                target=target,
                stride=stride,
                shuffle=False,
                seed=0,
            )
        assert n < window + 1
        return
    x, y = _collect(
        make_windows(
            ids, window=window, batch_size=4, target=target, stride=stride, shuffle=False, seed=0
        )
    )
    assert x.shape[0] == expected
    assert y.max() <= n - 1
    starts = x[:, 0]
    np.testing.assert_array_equal(starts, np.arange(expected) * stride)
    # the next start would need a target beyond the array
    assert (expected * stride) + window > n - 1


def test_shuffle_is_a_seeded_permutation():
    ids = np.arange(200)

    def starts(seed):
        x, _ = _collect(
            make_windows(ids, window=8, batch_size=5, target="all", shuffle=True, seed=seed)
        )
        return x[:, 0]

    a, b, c = starts(1), starts(1), starts(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    plain = np.arange(count_windows(ids, window=8, target="all")) * 8
    assert not np.array_equal(a, plain)
    np.testing.assert_array_equal(np.sort(a), plain)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 0}, "window must be an integer >= 1, got 0"),
        ({"stride": 0}, "stride must be an integer >= 1, got 0"),
        ({"target": "middle"}, "target must be one of"),
        ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    args = {"window": 4, "batch_size": 2, "target": "all", "shuffle": False, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_windows(np.arange(50), **args)


def test_rejects_non_integer_or_2d_ids():
    with pytest.raises(ValueError, match="1-D integer array"):
        make_windows(
            np.zeros((4, 4), dtype=np.int32), window=2, batch_size=1, shuffle=False, seed=0
        )
    with pytest.raises(ValueError, match="1-D integer array"):
        make_windows(np.zeros(40, dtype=np.float32), window=2, batch_size=1, shuffle=False, seed=0)


def test_load_split_memory_maps_and_names_missing_files(tmp_path):
    ids = np.array([0, 3, 1, 2, 0], dtype=np.uint16)
    np.save(tmp_path / "train.npy", ids, allow_pickle=False)
    loaded = load_split(tmp_path, "train")
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, ids)
    with pytest.raises(FileNotFoundError, match=r"validation\.npy"):
        load_split(tmp_path, "validation")
    with pytest.raises(ValueError, match="split must be one of"):
        load_split(tmp_path, "dev")
    np.save(tmp_path / "test.npy", np.zeros((2, 2), dtype=np.int32), allow_pickle=False)
    with pytest.raises(ValueError, match=r"test\.npy must hold a 1-D integer array"):
        load_split(tmp_path, "test")


# --------------------------------------------------------------------------- carried rows per replica


def test_each_replica_always_gets_the_same_rows_in_the_order_distribution_hands_them():
    from tunesmith.data.windows import replica_rows

    arr = np.arange(3 * 4 * 2).reshape(3, 4, 2)  # 3 chunks of 4 rows of 2 tokens
    one_pipeline = replica_rows(arr, replicas=2)
    # element 2k goes to replica 0 (rows 0-1 of chunk k), element 2k + 1 to replica 1 (rows 2-3)
    assert one_pipeline.shape == (6, 2, 2)
    for k in range(3):
        assert np.array_equal(one_pipeline[2 * k], arr[k, :2]) and np.array_equal(one_pipeline[2 * k + 1], arr[k, 2:])
    # two workers of one replica each: worker 1 streams rows 2-3, chunk after chunk
    assert np.array_equal(replica_rows(arr, replicas=2, pipeline=1, pipelines=2), arr[:, 2:])
    assert np.array_equal(replica_rows(arr, replicas=1), arr)
    with pytest.raises(ValueError, match="4 carried-state rows over 3 replicas"):
        replica_rows(arr, replicas=3)


def test_carried_rows_are_a_multiple_of_the_replicas():
    from tunesmith.data.windows import carried_rows

    ids = np.array([0] + [t for k in range(9) for t in ([2] * (3 + 5 * k) + [0])], dtype=np.uint16)
    for replicas in (1, 2, 3):
        rows, _ = carried_rows(ids, 0, window=4, batch_size=8, max_padding=0.2, multiple_of=replicas)
        assert rows % replicas == 0 and 0 < rows <= 8
    assert carried_rows(ids, 0, window=4, batch_size=8, max_padding=1.0, multiple_of=3)[0] == 6
    assert carried_rows(ids, 0, window=4, batch_size=1, max_padding=1.0, multiple_of=2)[0] == 2  # one each


def test_training_batches_are_read_by_one_thread_without_the_autotuner():
    """Beside a one-core training step, tf.data's machine-wide pool and autotuner took turns with it
    (docs/experiments.md): both kinds of training datasets run on one thread of their own."""
    from tunesmith.data.windows import make_carried_batches

    ids = np.array([0, 1, 2, 3, 1, 2, 0, 3, 3, 1, 2, 0], dtype=np.uint16)
    for ds in (make_windows(ids, window=3, batch_size=2, target="all", shuffle=True, seed=0),
               make_carried_batches(ids, 0, window=3, batch_size=2, seed=0, shuffle=True)):
        opts = ds.options()
        assert opts.threading.private_threadpool_size == 1 and opts.autotune.enabled is False
