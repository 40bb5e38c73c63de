"""Near-duplicate groups: Datalab's flags, planted copies found, label conflicts, bad input."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from _embeddings import embeddings_with_issues

from labelwise import LabelwiseWarning
from labelwise.issues import _neighbors
from labelwise.issues.duplicates import NearDuplicates, find_near_duplicates


def datalab_near_duplicates(features, labels, **kwargs):
    pytest.importorskip("datasets", reason="Datalab needs cleanlab[datalab] (bench extra)")
    from cleanlab import Datalab

    lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(features=features, issue_types={"near_duplicate": kwargs})
    return lab.get_issues("near_duplicate"), lab.get_info("near_duplicate")


def pairs_found(found: NearDuplicates, pairs: np.ndarray) -> np.ndarray:
    a, b = found.group[pairs[:, 0]], found.group[pairs[:, 1]]
    return (a >= 0) & (a == b)


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize(
    ("n", "d", "threshold"), [(2000, 16, 0.13), (1500, 64, 0.13), (1500, 32, 0.5), (400, 3, 0.13)]
)
def test_flags_equal_datalab(n, d, threshold):
    features, labels, _, _ = embeddings_with_issues(n, d, seed=d, duplicate_frac=0.02)
    issues, info = datalab_near_duplicates(features, labels, threshold=threshold)
    ours = find_near_duplicates(features, threshold=threshold)
    np.testing.assert_array_equal(ours.is_near_duplicate, issues["is_near_duplicate_issue"])
    assert ours.radius == pytest.approx(
        threshold * info["median_distance_to_nearest_neighbor"], 1e-5
    )
    # Datalab's score: 1 - exp(-d / median d), from float32 distances (measured: <= 3e-6 off).
    np.testing.assert_allclose(ours.score, issues["near_duplicate_score"], atol=1e-5)
    # Each of Datalab's per-row sets lies inside that row's group.
    for row, members in enumerate(info["near_duplicate_sets"]):
        if len(members):
            assert set(members.tolist()) <= set(ours.groups[ours.group[row]].tolist())


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("d", [16, 128])
def test_planted_copies_are_found(seed, d):
    features, _, _, pairs = embeddings_with_issues(3000, d, seed=seed, duplicate_frac=0.02)
    found = find_near_duplicates(features)
    assert pairs_found(found, pairs).all()
    # Every flagged row is a planted source or copy (measured: no natural near pair at these
    # sizes), and no group joins two planted pairs.
    planted = np.zeros(3000, dtype=bool)
    planted[pairs.ravel()] = True
    np.testing.assert_array_equal(found.is_near_duplicate, planted)
    assert found.n_groups == pairs.shape[0]


def test_more_copies_than_neighbours_form_one_group():
    features, *_ = embeddings_with_issues(500, 8, seed=1, duplicate_frac=0)
    copies = np.arange(100, 140)  # 40 exact copies, k = 5
    features[copies] = features[100]
    found = find_near_duplicates(features, n_neighbors=5)
    np.testing.assert_array_equal(found.groups[found.group[100]], copies)
    np.testing.assert_array_equal(found.score[copies], 0.0)
    np.testing.assert_array_equal(found.nearest_distance[copies], 0.0)


def test_all_rows_identical_is_one_group():
    found = find_near_duplicates(np.ones((30, 4)), n_neighbors=3)
    assert found.n_groups == 1 and found.is_near_duplicate.all()


def test_label_conflicts():
    features, labels, _, pairs = embeddings_with_issues(1000, 16, seed=2, duplicate_frac=0.02)
    bad = pairs[::4]
    labels[bad[:, 1]] = (labels[bad[:, 0]] + 1) % 10
    found = find_near_duplicates(features, labels=labels)
    conflicted = found.conflicting[found.group[bad[:, 0]]]
    assert conflicted.all() and found.conflicting.sum() == bad.shape[0]
    np.testing.assert_array_equal(found.conflicting_rows, np.sort(bad.ravel()))
    frame = found.to_frame(only_duplicates=True)
    assert set(frame.loc[frame["label_conflict"], "index"]) == set(bad.ravel())
    names = np.array([f"c{k}" for k in range(10)])[labels]
    by_name = find_near_duplicates(features, labels=names)
    np.testing.assert_array_equal(by_name.conflicting, found.conflicting)
    assert find_near_duplicates(features).conflicting is None
    assert find_near_duplicates(features).conflicting_rows.size == 0


def test_groups_are_numbered_by_first_row_and_sorted():
    features, *_ = embeddings_with_issues(800, 16, seed=3, duplicate_frac=0.03)
    found = find_near_duplicates(features)
    firsts = [int(g[0]) for g in found.groups]
    assert firsts == sorted(firsts)
    for gid, rows in enumerate(found.groups):
        assert np.all(np.diff(rows) > 0) and rows.size >= 2
        np.testing.assert_array_equal(found.group[rows], gid)
    assert (found.group >= 0).sum() == sum(g.size for g in found.groups)
    assert found.score.min() >= 0 and found.score.max() <= 1
    frame = found.to_frame()
    assert list(frame.columns) == [
        "index",
        "group",
        "score",
        "nearest_neighbor",
        "nearest_distance",
    ]
    with pytest.raises(ValueError, match="read-only"):
        found.group[0] = 3


def test_a_larger_threshold_only_merges_groups():
    features, *_ = embeddings_with_issues(1500, 16, seed=4, duplicate_frac=0.02)
    small = find_near_duplicates(features, threshold=0.13)
    large = find_near_duplicates(features, threshold=0.6)
    assert large.is_near_duplicate.sum() > small.is_near_duplicate.sum()
    for rows in small.groups:  # rows grouped at the small radius stay together
        assert np.unique(large.group[rows]).size == 1 and large.group[rows[0]] >= 0


def test_chunked_search_gives_the_same_groups(monkeypatch):
    features, *_ = embeddings_with_issues(1000, 24, seed=5, duplicate_frac=0.03)
    whole = find_near_duplicates(features)
    monkeypatch.setattr(_neighbors, "SEARCH_ROWS", 128)
    monkeypatch.setattr(_neighbors, "CHUNK_BYTES", 1)
    chunked = find_near_duplicates(features)
    np.testing.assert_array_equal(chunked.group, whole.group)
    np.testing.assert_array_equal(chunked.score, whole.score)


def test_euclidean_metric_uses_absolute_distances():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 2))
    features[5] = features[6] + 1e-9
    found = find_near_duplicates(features)
    assert found.metric == "euclidean"
    assert found.group[5] == found.group[6] >= 0
    assert found.nearest_distance[5] == pytest.approx(np.hypot(*(features[5] - features[6])))


# --------------------------------------------------------------------------- bad input

X = np.random.default_rng(0).normal(size=(20, 5))


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        ({"threshold": 0}, ValueError, "`threshold` must be a finite number > 0; got 0."),
        ({"threshold": np.inf}, ValueError, "`threshold` must be a finite number > 0; got inf."),
        (
            {"threshold": None},
            TypeError,
            "`threshold` must be a finite number > 0; got NoneType None.",
        ),
        (
            {"n_neighbors": 25},
            ValueError,
            "`n_neighbors` must be less than the number of rows (20); got 25.",
        ),
        (
            {"labels": np.zeros(19)},
            ValueError,
            "`labels` must be the same length as features (20 rows); got length 19.",
        ),
        (
            {"labels": np.r_[np.zeros(19), -1]},
            ValueError,
            "`labels` must be class ids >= 0 or class names; got 1 negative, first -1.0 at index 19.",
        ),
        (
            {"labels": np.r_[np.zeros(19), 0.5]},
            ValueError,
            "`labels` must be integer class ids; got non-integer value 0.5 at index 19.",
        ),
        (
            {"metric": "l1"},
            ValueError,
            "`metric` must be one of 'auto', 'cosine', 'euclidean'; got 'l1'.",
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs, kind, message):
    with pytest.raises(kind, match=re.escape(message)):
        find_near_duplicates(X, **kwargs)


def test_bad_features_are_refused():
    bad = X.copy()
    bad[2, 3] = np.nan
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`features` must be finite (no NaN or inf); got 1 row(s) with non-finite values, first at row 2:"
        ),
    ):
        find_near_duplicates(bad)
    zero = X.copy()
    zero[[6, 9]] = 0.0
    with pytest.raises(ValueError, match=re.escape("got 2 all-zero row(s), first at row 6.")):
        find_near_duplicates(zero)
    assert find_near_duplicates(zero, metric="euclidean").group[6] == 0  # rows 6 and 9 coincide


def test_constant_offset_column_warns_under_cosine():
    shifted = X.copy()
    shifted[:, [0, 2]] = 7.0
    with pytest.warns(
        LabelwiseWarning, match=re.escape("features has 2 constant non-zero column(s) (0, 2)")
    ):
        find_near_duplicates(shifted)
