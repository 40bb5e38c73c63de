"""summary() and dataset_summary(): snorkel LFAnalysis definitions, by hand and by brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelwise import Annotations
from labelwise.weak import (
    ABSTAIN,
    DatasetSummary,
    apply,
    dataset_summary,
    labeling_function,
    summary,
)

# Hand-made: 5 items x 3 LFs, -1 = abstain.
L = np.array(
    [
        [0, 0, -1],  # LF0 and LF1 agree
        [0, 1, -1],  # LF0 and LF1 conflict
        [-1, -1, 1],  # LF2 alone
        [-1, -1, -1],  # nobody
        [1, -1, 1],  # LF0 and LF2 agree
    ]
)


def test_hand_computed_lf_analysis():
    table = summary(Annotations.from_matrix(L, classes=["neg", "pos"]))
    assert list(table.index) == [0, 1, 2] and table.index.name == "lf"
    assert list(table.columns) == [
        "polarity",
        "coverage",
        "overlaps",
        "conflicts",
        "n_votes",
        "correlated",
    ]
    assert table["polarity"].tolist() == [("neg", "pos"), ("neg", "pos"), ("pos",)]
    # coverage: LF0 votes on items 0, 1, 4; LF1 on 0, 1; LF2 on 2, 4.
    np.testing.assert_allclose(table["coverage"], [3 / 5, 2 / 5, 2 / 5])
    # overlaps: LF0 shares items 0, 1 (LF1) and 4 (LF2); LF1 items 0, 1; LF2 item 4.
    np.testing.assert_allclose(table["overlaps"], [3 / 5, 2 / 5, 1 / 5])
    # conflicts: only item 1 has disagreeing votes (LF0 and LF1).
    np.testing.assert_allclose(table["conflicts"], [1 / 5, 1 / 5, 0.0])
    assert table["n_votes"].tolist() == [3, 2, 2]
    assert table["correlated"].tolist() == [(), (), ()]
    assert table.attrs == {"coverage": 4 / 5, "overlap": 3 / 5, "conflict": 1 / 5}
    assert dataset_summary(Annotations.from_matrix(L)) == DatasetSummary(
        n_items=5, n_sources=3, n_votes=7, coverage=0.8, overlap=0.6, conflict=0.2
    )


def test_three_way_item_conflicts_for_every_voter():
    # A votes 0, B votes 0, C votes 2: A conflicts with C, so all three count the item.
    matrix = np.array([[0, 0, 2], [1, 1, 1]])
    table = summary(Annotations.from_matrix(matrix))
    np.testing.assert_allclose(table["conflicts"], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(table["overlaps"], [1.0, 1.0, 1.0])
    assert dataset_summary(Annotations.from_matrix(matrix)).conflict == 0.5


def brute_force(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """snorkel's LFAnalysis definitions, item by item."""
    n, m = matrix.shape
    coverage, overlaps, conflicts = np.zeros(m), np.zeros(m), np.zeros(m)
    for i in range(n):
        votes = matrix[i][matrix[i] >= 0]
        for j in range(m):
            if matrix[i, j] < 0:
                continue
            coverage[j] += 1
            overlaps[j] += len(votes) > 1
            conflicts[j] += any(v != matrix[i, j] for v in votes)
    return coverage / n, overlaps / n, conflicts / n


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_definitions_on_random_votes(seed):
    rng = np.random.default_rng(seed)
    n, m, k = int(rng.integers(1, 60)), int(rng.integers(1, 8)), int(rng.integers(2, 6))
    matrix = np.where(rng.random((n, m)) < 0.6, -1, rng.integers(0, k, (n, m)))
    ann = Annotations.from_matrix(matrix, classes=list(range(k)))
    table = summary(ann)
    coverage, overlaps, conflicts = brute_force(matrix)
    np.testing.assert_allclose(table["coverage"], coverage, atol=1e-15)
    np.testing.assert_allclose(table["overlaps"], overlaps, atol=1e-15)
    np.testing.assert_allclose(table["conflicts"], conflicts, atol=1e-15)
    labelled = (matrix >= 0).sum(axis=1)
    distinct = [len(set(row[row >= 0].tolist())) for row in matrix]
    overall = dataset_summary(ann)
    assert overall.coverage == pytest.approx((labelled > 0).mean())
    assert overall.overlap == pytest.approx((labelled > 1).mean())
    assert overall.conflict == pytest.approx((np.array(distinct) > 1).mean())
    for j in range(m):
        assert table["polarity"].iloc[j] == tuple(
            sorted(set(matrix[:, j][matrix[:, j] >= 0].tolist()))
        )


def test_a_repeated_vote_counts_once():
    table = pd.DataFrame(
        {
            "item": ["a", "a", "a", "b"],
            "source": ["lf1", "lf1", "lf2", "lf1"],
            "label": ["x", "y", "y", "x"],
        }
    )
    ann = Annotations.from_long(table, duplicates="keep")
    result = summary(ann)
    # lf1's last vote on "a" is "y", which agrees with lf2: no conflict, one vote per item.
    assert result["n_votes"].tolist() == [2, 1]
    np.testing.assert_allclose(result["coverage"], [1.0, 0.5])
    np.testing.assert_allclose(result["conflicts"], [0.0, 0.0])
    assert result["polarity"].tolist() == [("x", "y"), ("y",)]
    assert dataset_summary(ann).n_votes == 3


def test_empirical_accuracy_against_partial_gold():
    ann = Annotations.from_matrix(L, classes=["neg", "pos"])
    table = summary(ann, gold=np.array(["neg", "pos", None, "neg", -1], dtype=object))
    # LF0 judged on items 0 (right), 1 (wrong); LF1 on 0 (right), 1 (right); LF2 on none.
    assert table["n_correct"].tolist() == [1, 2, 0]
    assert table["n_incorrect"].tolist() == [1, 0, 0]
    np.testing.assert_array_equal(table["empirical_accuracy"], [0.5, 1.0, np.nan])
    codes = summary(Annotations.from_matrix(L), gold=pd.Series([0, 1, np.nan, 0, 1]))
    np.testing.assert_array_equal(codes["empirical_accuracy"], [2 / 3, 1.0, 1.0])
    with pytest.raises(
        ValueError,
        match=r"^`gold` must be a 1-D array with one label per item \(5\); got shape \(4,\)\.$",
    ):
        summary(ann, gold=["neg"] * 4)
    with pytest.raises(
        ValueError,
        match=r"^`gold` must be labels among the annotations' classes 'neg', 'pos' \(or -1 / None\); got unknown 'maybe'\.$",
    ):
        summary(ann, gold=["neg", "maybe", None, None, None])


def test_correlated_lfs_name_each_other():
    rng = np.random.default_rng(0)
    matrix = np.where(rng.random((300, 4)) < 0.5, -1, rng.integers(0, 2, (300, 4)))
    matrix[:, 3] = matrix[:, 0]  # LF "copy" repeats LF "a"
    ann = Annotations.from_matrix(matrix)
    ann = Annotations(
        ann.item,
        ann.source,
        ann.label,
        ann.items,
        np.array(["a", "b", "c", "copy"], dtype=object),
        ann.classes,
    )
    table = summary(ann)
    assert table["correlated"].tolist() == [("copy",), (), (), ("a",)]
    # With a threshold low enough, independent rules that overlap by chance are listed too.
    loose = summary(ann, dependency_threshold=0.01)
    assert all(len(found) == 3 for found in loose["correlated"])


def test_on_applied_lfs_and_with_no_votes():
    frame = pd.DataFrame({"text": ["buy now", "hello", "buy buy"]}, index=["x", "y", "z"])

    @labeling_function()
    def buy(row):
        return "spam" if "buy" in row.text else ABSTAIN

    @labeling_function()
    def silent(row):
        return ABSTAIN

    table = summary(apply([buy, silent], frame, progress=False))
    assert list(table.index) == ["buy", "silent"]
    assert table.loc["silent", "polarity"] == () and table.loc["silent", "coverage"] == 0.0
    assert table.loc["buy", "coverage"] == pytest.approx(2 / 3)
    empty = summary(apply([silent], frame, classes=["ham", "spam"], progress=False))
    assert empty["n_votes"].tolist() == [0] and empty.attrs["coverage"] == 0.0


def test_argument_errors():
    with pytest.raises(
        TypeError,
        match=r"^`annotations` must be a labelwise.Annotations \(from apply, Annotations.from_long or from_matrix\); got ndarray\.$",
    ):
        summary(L)
    with pytest.raises(TypeError, match=r"^`annotations` must be a labelwise.Annotations"):
        dataset_summary(L)
    with pytest.raises(
        ValueError, match=r"^`dependency_threshold` must be a number in \(0, 1\]; got 0\.$"
    ):
        summary(Annotations.from_matrix(L), dependency_threshold=0)
