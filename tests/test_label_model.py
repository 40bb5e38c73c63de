"""LabelModel, dependent_source_pairs, simulate_labeling_functions, RegressionLabelModel."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise import Annotations
from labelwise.aggregate import DependentPairs, dependent_source_pairs

# ---------------------------------------------------------------------------- dependent pairs


def _votes(n=2000, m=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    votes = np.full((n, m), -1)
    for j in range(m):  # test data: a loop over 5 sources, not items
        fires = rng.random(n) < 0.5
        right = rng.random(n) < 0.75
        wrong = (truth + rng.integers(1, k, n)) % k
        votes[fires, j] = np.where(right, truth, wrong)[fires]
    return votes


def test_dependent_pairs_finds_copies_and_groups():
    votes = _votes()
    votes = np.column_stack([votes, votes[:, 1], votes[:, 1], votes[:, 3]])
    pairs = dependent_source_pairs(Annotations.from_matrix(votes))
    assert isinstance(pairs, DependentPairs)
    found = set(zip(pairs.source_a.tolist(), pairs.source_b.tolist(), strict=True))
    assert found == {(1, 5), (1, 6), (5, 6), (3, 7)}
    np.testing.assert_allclose(pairs.score, 1.0)
    assert len(pairs) == 4
    groups = pairs.groups
    assert groups[1] == groups[5] == groups[6] and groups[3] == groups[7]
    assert np.unique(groups).size == 5
    frame = pairs.to_frame()
    assert list(frame.columns) == ["source_a", "source_b", "score", "n_both"]


def test_dependent_pairs_independent_sources_score_low():
    pairs = dependent_source_pairs(Annotations.from_matrix(_votes(m=8)), threshold=0.2)
    assert len(pairs) == 0


def test_dependent_pairs_near_copy_and_min_overlap():
    votes = _votes(m=3)
    near = votes[:, 0].copy()
    flip = np.flatnonzero(near >= 0)[:20]
    near[flip] = (near[flip] + 1) % 3  # 20 of ~1000 votes differ
    votes = np.column_stack([votes, near])
    pairs = dependent_source_pairs(Annotations.from_matrix(votes))
    assert [(int(a), int(b)) for a, b in zip(pairs.source_a, pairs.source_b, strict=True)] == [
        (0, 3)
    ]
    assert 0.9 < pairs.score[0] < 1.0
    assert len(dependent_source_pairs(Annotations.from_matrix(votes), min_overlap=5000)) == 0


def test_dependent_pairs_sparse_path_matches_dense(monkeypatch):
    from labelwise.aggregate import _pairs

    votes = _votes()
    votes = np.column_stack([votes, votes[:, 2]])
    ann = Annotations.from_matrix(votes)
    dense = _pairs.pair_table(ann)
    monkeypatch.setattr(_pairs, "DENSE_MAX_SOURCES", 1)
    sparse_table = _pairs.pair_table(ann)
    order_d = np.lexsort((dense.b, dense.a))
    order_s = np.lexsort((sparse_table.b, sparse_table.a))
    for name in ("a", "b", "both", "same"):
        np.testing.assert_array_equal(
            getattr(dense, name)[order_d], getattr(sparse_table, name)[order_s]
        )


def test_dependent_pairs_bad_inputs():
    ann = Annotations.from_matrix(_votes(n=50))
    with pytest.raises(ValueError, match=r"`threshold` must be a number in \(0, 1\]; got 1.5\."):
        dependent_source_pairs(ann, threshold=1.5)
    with pytest.raises(ValueError, match=r"`min_overlap` must be an integer >= 1; got 0\."):
        dependent_source_pairs(ann, min_overlap=0)
    with pytest.raises(TypeError, match=r"`annotations` must be a labelwise.Annotations"):
        dependent_source_pairs(np.zeros((3, 3)))
