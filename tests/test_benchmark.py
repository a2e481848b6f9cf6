"""The benchmark tracks: .mat loading and the published split, frame NLLs, the frame-wise
Bernoulli model, Kneser-Ney order selection and the table. Every .mat file is written here."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import scipy.io

from tunesmith.benchmark import data, pipeline, published, scoring
from tunesmith.benchmark.frame import bernoulli_frame_nll, score_frames
from tunesmith.core.errors import FetchError, MusicInputError
from tunesmith.evaluation.full_context import frame_nll, score_pieces
from tunesmith.tracks.piano import notes_per_frame as npf


def random_rolls(rng, n, low=3, high=9):
    return [(rng.random((int(rng.integers(low, high)), 88)) < 0.05).astype(np.uint8) for _ in range(n)]


def cells(rolls):
    out = np.empty((1, len(rolls)), dtype=object)
    for i, r in enumerate(rolls):
        out[0, i] = r
    return out


@pytest.fixture
def mat_file(tmp_path):
    rng = np.random.default_rng(0)
    splits = {"train": random_rolls(rng, 5), "validation": random_rolls(rng, 3), "test": random_rolls(rng, 2)}
    path = tmp_path / "JSB_Chorales.mat"
    scipy.io.savemat(path, {key: cells(splits[s]) for s, key in data.MAT_KEYS.items()})
    return path, splits


def test_loader_keeps_the_published_split_and_order(mat_file):
    path, splits = mat_file
    loaded = data.load_mat(path)
    assert list(loaded) == ["train", "validation", "test"]
    for split, rolls in splits.items():
        assert len(loaded[split]) == len(rolls)
        for got, want in zip(loaded[split], rolls, strict=True):
            assert got.dtype == bool and np.array_equal(got, want.astype(bool))


def test_encode_stage_writes_each_split_exactly(mat_file, tmp_path):
    path, splits = mat_file
    out = tmp_path / "encoded"
    stats = pipeline.encode("bl_jsb", path, out)
    assert stats["pieces"] == {"train": 5, "validation": 3, "test": 2}
    for split, rolls in splits.items():
        ids, frames, bounds = pipeline.load_split(out, split)
        # the flat id array holds the split's pieces, in file order, and nothing else
        spans = [ids[a + 1 : b] for a, b in zip(np.flatnonzero(ids == 0)[:-1], np.flatnonzero(ids == 0)[1:],
                                                  strict=True)]
        assert len(spans) == len(rolls)
        for span, roll, piece in zip(spans, rolls, data.pieces_of(frames, bounds), strict=True):
            assert np.array_equal(npf.decode_ids(span), roll.astype(bool))
            assert np.array_equal(piece, roll)
    assert pipeline.load_split(out, "train")[0].dtype == np.uint8


def test_loader_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"traindata": cells([np.zeros((2, 88), np.uint8)]),
                            "validdata": cells([np.zeros((2, 88), np.uint8)])})
    with pytest.raises(MusicInputError, match=r"x\.mat: no 'testdata'"):
        data.load_mat(path)
    scipy.io.savemat(path, {"traindata": cells([np.zeros((2, 88), np.uint8)]),
                            "validdata": cells([np.zeros((2, 60), np.uint8)]),
                            "testdata": cells([np.zeros((2, 88), np.uint8)])})
    with pytest.raises(MusicInputError, match=r"validdata\[0\]: a piano roll is frames x 88"):
        data.load_mat(path)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file")
    with pytest.raises(MusicInputError, match="not a readable MATLAB"):
        data.load_mat(tmp_path / "junk.mat")


def test_fetch_local_finds_the_file_and_checks_its_digest(mat_file, tmp_path, monkeypatch):
    path, _ = mat_file
    with pytest.raises(FetchError, match=r"bl_jsb: JSB_Chorales\.mat not found in .*fetch\.bl_jsb\.local_dir"):
        data.fetch_local("bl_jsb", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(FetchError, match=r"is not the published JSB_Chorales\.mat"):
        data.fetch_local("bl_jsb", path.parent, tmp_path / "out")
    # the pinned digest accepts it, found by its path in the publishing repository too
    nested = tmp_path / "mirror" / "TCN" / "poly_music" / "mdata"
    nested.mkdir(parents=True)
    (nested / "JSB_Chorales.mat").write_bytes(path.read_bytes())
    pinned = data.MANIFEST["bl_jsb"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(data.MANIFEST, "bl_jsb", data.PinnedFile(pinned.path, digest, 0, pinned.pieces))
    copy = data.fetch_local("bl_jsb", tmp_path / "mirror", tmp_path / "out")
    assert copy.read_bytes() == path.read_bytes()


def test_transpositions_add_only_pieces_that_stay_in_range():
    low = np.zeros((2, 88), np.uint8)
    low[0, 2] = 1    # MIDI 23: two semitones of room below
    high = np.zeros((1, 88), np.uint8)
    high[0, 80] = 1  # MIDI 101: seven above
    out = data.transpositions([low, high], -5, 6)
    assert len(out) == 9 + 12  # low: -2..+6; high: -5..+6 (none pushed past 108)


class Bigram:
    """A hand-made model: p(next | previous token) from a fixed table, as logits."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.p = rng.dirichlet(np.ones(npf.N_PITCHES + 2), size=npf.N_PITCHES + 2)

    def __call__(self, x):
        return np.log(self.p[x])


def test_frame_nll_is_the_sum_of_its_token_nlls():
    model = Bigram()
    rolls = [npf.notes_to_roll(np.array([[60, 0, 2], [64, 1, 2]]), 3), npf.notes_to_roll(np.array([[21, 1, 2]]))]
    ids = data.corpus_ids(rolls).astype(np.int64)
    scores = score_pieces(model, ids, npf.PIECE_END_ID, len(npf.SYMBOLS))
    per_frame = frame_nll(scores.nll, ids[1:], npf.FRAME_END_ID, npf.PIECE_END_ID)
    # piece 1: [60 |] [60 64 |] [|]; piece 2: [|] [21 |]; every token after the one before it
    p = model.p
    s60, s64, s21, fe, end = 60 - 19, 64 - 19, 2, 1, 0
    want = [
        -math.log(p[end, s60]) - math.log(p[s60, fe]),
        -math.log(p[fe, s60]) - math.log(p[s60, s64]) - math.log(p[s64, fe]),
        -math.log(p[fe, fe]),
        -math.log(p[end, fe]),
        -math.log(p[fe, s21]) - math.log(p[s21, fe]),
    ]
    np.testing.assert_allclose(per_frame, want, rtol=1e-9)
    metrics = scoring.summarise(scores.nll, scores.correct, ids)
    assert metrics["frames"] == 5 and metrics["tokens"] == ids.size - 1
    np.testing.assert_allclose(metrics["nll_per_frame"], np.mean(want))


def test_frame_accuracy_needs_every_token_of_the_frame():
    targets = np.array([41, 1, 41, 45, 1, 1, 0])
    correct = np.array([True, True, True, False, True, True, True])
    assert scoring.frame_correct(correct, targets).tolist() == [True, False, True]


def test_bernoulli_frame_nll_by_hand():
    frames = np.zeros((2, 88))
    frames[1, [10, 20]] = 1
    np.testing.assert_allclose(bernoulli_frame_nll(np.zeros((2, 88)), frames), [88 * math.log(2)] * 2)
    logits = np.full((1, 88), -math.log(3.0))  # p(on) = 1/4 for every key
    want = 2 * -math.log(0.25) + 86 * -math.log(0.75)
    np.testing.assert_allclose(bernoulli_frame_nll(logits, frames[1:]), [want])


def test_score_frames_predicts_each_frame_from_the_frames_before_it():
    rng = np.random.default_rng(1)
    rolls = random_rolls(rng, 3, 2, 6)
    frames, bounds = data.split_arrays(rolls)

    def copy_previous(x):  # p(on) = 0.9 where the previous frame had the key, else 0.1
        return np.where(x > 0, math.log(9), -math.log(9))

    nll, exact = score_frames(copy_previous, frames, bounds, budget_frames=7)
    for piece in rolls:
        prev = np.vstack([np.zeros((1, 88)), piece[:-1]])  # the first frame is read after silence
        p = np.where(prev > 0, 0.9, 0.1)
        want = -(piece * np.log(p) + (1 - piece) * np.log(1 - p)).sum(axis=1)
        got = nll[: len(piece)]
        nll, exact_piece, exact = nll[len(piece):], exact[: len(piece)], exact[len(piece):]
        np.testing.assert_allclose(got, want)
        assert exact_piece.tolist() == (prev == piece).all(axis=1).tolist()


def test_kneser_ney_order_is_chosen_on_validation():
    rng = np.random.default_rng(0)
    # pieces cycling through 4 chords: the next frame depends on the last two frames, not the last token
    chords = [(60, 64, 67), (62, 65, 69), (60, 64, 67), (59, 62, 67)]
    pieces = [npf.notes_to_roll(np.array([[p, f, f + 1] for f in range(int(rng.integers(8, 16)))
                                          for p in chords[(f + s) % 4]])) for s in range(4) for _ in range(3)]
    train, valid = data.corpus_ids(pieces[:9]), data.corpus_ids(pieces[9:])
    kn, tried = scoring.select_kn(train, valid, 8)
    assert kn.order == min(tried, key=tried.get) and kn.order > 2
    assert tried[kn.order] < tried[1] / 5


def test_table_sets_ours_beside_the_published_figures():
    result = {"benchmark": "bl_jsb", "test": {"lstm": {"nll_per_frame": 4.7012}, "kneser_ney": {"nll_per_frame": 5.6},
                                              "frame_lstm": {"nll_per_frame": 8.3}},
              "kneser_ney_order": 9, "train_seconds": {"lstm": 360.0}}
    table = published.table_markdown({"bl_jsb": result})
    assert "| RNN-NADE | Boulanger-Lewandowski et al. 2012 | 2.31 | 5.19 | 7.05 | 5.60 |" in table
    assert "| **tunesmith LSTM, notes per frame** | this run | — | 4.70 (n=1) | — | — |" in table
    assert "JSB Chorales order 9" in table and "6.0 min" in table
    assert "Boulanger-Lewandowski, Bengio & Vincent" in table and "Bai, Kolter & Koltun" in table


def test_table_shows_every_published_row_the_issue_lists_with_its_paper():
    table = published.table_markdown({})
    rows = {
        "LSTM, notes per frame | Walder 2016": "2.06 | 5.01 | 6.67 | 5.16",
        "LSTM, notes per frame, every training piece in all keys | Walder 2016": "1.66 | 4.34 | 5.43 | 4.46",
        "LSTM, notes per frame, the four training sets pooled | Walder 2016": "1.57 | 4.45 | 4.94 | 4.41",
        "BALSTM (tied parallel networks), best of 5 runs | Johnson 2017": "1.55 | 5.05 | 4.90 | 3.90",
        "BALSTM (tied parallel networks), median of 5 runs | Johnson 2017": "1.62 | 5.86 | 5.00 | 4.41",
    }
    for label, cells in rows.items():
        assert f"| {label} | {cells} |" in table
    assert 'Walder, "Modelling Symbolic Music: Beyond the Piano Roll"' in table
    assert 'Johnson, "Generating Polyphonic Music Using Tied Parallel Networks"' in table


def test_ours_are_the_median_and_range_over_seeds_and_lower_rows_are_named():
    runs = [{"test": {"lstm": {"nll_per_frame": v}}} for v in (2.30, 2.10, 2.20)]
    assert published.seed_cell(published.seed_figures(runs, "lstm")) == "2.20 [2.10–2.30] (n=3)"
    assert published.seed_figures({"seeds": runs}, "lstm") == [2.30, 2.10, 2.20]  # one record carrying its seeds
    lower = published.lower_published({"bl_nottingham": runs})["bl_nottingham"]
    # below a median of 2.20: Walder's three LSTMs and both BALSTM rows (RNN-NADE, 2.31, is not)
    assert [nll for _, nll in lower] == [1.55, 1.57, 1.62, 1.66, 2.06]
    sentence = published.lower_sentences({"bl_nottingham": runs})[0]
    assert sentence.startswith("Nottingham: 5 published rows are lower than tunesmith's LSTM")
    assert "Johnson 2017" in sentence and "Walder 2016" in sentence
    table = published.table_markdown({"bl_nottingham": runs})
    assert "| **tunesmith LSTM, notes per frame** | this run | 2.20 [2.10–2.30] (n=3) | — | — | — |" in table


def test_the_docs_table_shows_every_published_row_as_the_code_holds_it():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    for name, row in published.PUBLISHED.items():
        cells = " | ".join("—" if row["nll"][b] is None else f"{row['nll'][b]:.2f}" for b in published.ORDER)
        assert f"| {name} | {published.CITES[row['source']]} | {cells} |" in page, name
    for source in published.CITES:  # every paper named by its authors and title
        assert " ".join(source.split()) in " ".join(page.split()), source
