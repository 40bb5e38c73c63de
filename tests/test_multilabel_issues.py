"""Multi-label label issues: faithful to cleanlab 2.9, right on known noise, clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import sparse

from labelwise import (
    LabelwiseWarning,
    find_multilabel_issues,
    multilabel_quality_scores,
)
from labelwise.issues.label_issues import METHODS

cl_filter = pytest.importorskip("cleanlab.multilabel_classification.filter")
cl_rank = pytest.importorskip("cleanlab.multilabel_classification.rank")


def multilabel_data(n, k, *, seed=0, dtype=np.float32, rate=0.1):
    """The reference generator (cleanlab.md §3): one tag toggled in 10% of examples."""
    rng = np.random.default_rng(seed)
    given = rng.random((n, k)) < rate
    empty = ~given.any(axis=1)
    given[np.flatnonzero(empty), rng.integers(0, k, empty.sum())] = True
    z = rng.standard_normal((n, k))
    probs = (1 / (1 + np.exp(-1.5 * ((2 * given - 1) * 2.0 + z)))).astype(dtype)
    noisy = np.sort(rng.choice(n, n // 10, replace=False))
    cols = rng.integers(0, k, noisy.size)
    given[noisy, cols] = ~given[noisy, cols]
    return given, probs, noisy, cols


def as_lists(indicator):
    return [np.flatnonzero(row).tolist() for row in indicator]


def cleanlab_mask(given, probs, method, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cl_filter.find_label_issues(
            as_lists(given), probs, filter_by=method, n_jobs=1, **kwargs
        )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n", "k"), [(2000, 5), (3000, 20), (800, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_to_cleanlab(method, n, k, dtype):
    for seed in range(2):
        given, probs, _, _ = multilabel_data(n, k, seed=seed, dtype=dtype)
        ours = find_multilabel_issues(given, probs, method=method).is_issue
        np.testing.assert_array_equal(
            ours, cleanlab_mask(given, probs, method), err_msg=f"seed {seed}"
        )


@pytest.mark.parametrize(("frac_noise", "min_examples"), [(0.5, 1), (1.0, 30)])
def test_identical_to_cleanlab_with_options(frac_noise, min_examples):
    given, probs, _, _ = multilabel_data(3000, 8, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LabelwiseWarning)
        ours = find_multilabel_issues(
            given, probs, frac_noise=frac_noise, min_examples_per_class=min_examples
        ).is_issue
    theirs = cleanlab_mask(
        given,
        probs,
        "prune_by_noise_rate",
        frac_noise=frac_noise,
        min_examples_per_class=min_examples,
    )
    np.testing.assert_array_equal(ours, theirs)


def test_per_class_flags_equal_cleanlab():
    given, probs, _, _ = multilabel_data(3000, 12, seed=2)
    ours = find_multilabel_issues(given, probs).per_class_issue
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = cl_filter.find_multilabel_issues_per_class(as_lists(given), probs, n_jobs=1)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "method", ["self_confidence", "normalized_margin", "confidence_weighted_entropy"]
)
@pytest.mark.parametrize("aggregator", ["exponential_moving_average", "softmin"])
def test_scores_equal_cleanlab(method, aggregator):
    given, probs, _, _ = multilabel_data(2000, 15, seed=3)
    ours = multilabel_quality_scores(given, probs, method=method, aggregator=aggregator)
    kwargs = (
        {"method": aggregator, "alpha": 0.8} if aggregator != "softmin" else {"method": "softmin"}
    )
    theirs = cl_rank.get_label_quality_scores(
        as_lists(given), probs, method=method, aggregator_kwargs=kwargs
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_adjusted_scores_equal_cleanlab():
    given, probs, _, _ = multilabel_data(2000, 6, seed=5, dtype=np.float64)
    ours = multilabel_quality_scores(given, probs, adjust_pred_probs=True)
    theirs = cl_rank.get_label_quality_scores(as_lists(given), probs, adjust_pred_probs=True)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_ema_score_is_exact_for_many_classes():
    # K above any shortcut depth: the EMA must still match the full sorted computation.
    given, probs, _, _ = multilabel_data(500, 120, seed=6)
    ours = multilabel_quality_scores(given, probs)
    theirs = cl_rank.get_label_quality_scores(as_lists(given), probs)
    np.testing.assert_array_equal(ours, np.clip(theirs, 0, 1))


def test_input_formats_agree():
    given, probs, _, _ = multilabel_data(1500, 6, seed=7)
    dense = find_multilabel_issues(given, probs)
    for labels in (
        given.astype(np.uint8),
        sparse.csr_matrix(given),
        sparse.coo_array(given),
        as_lists(given),
    ):
        np.testing.assert_array_equal(
            find_multilabel_issues(labels, probs).per_class_issue, dense.per_class_issue
        )


def test_finds_toggled_tags_over_many_seeds():
    precision, recall, right_class = [], [], []
    for seed in range(12):
        given, probs, noisy, cols = multilabel_data(4000, 10, seed=seed)
        result = find_multilabel_issues(given, probs)
        truth = np.zeros(given.shape[0], bool)
        truth[noisy] = True
        precision.append((result.is_issue & truth).sum() / result.is_issue.sum())
        recall.append((result.is_issue & truth).sum() / truth.sum())
        found = result.is_issue[noisy]
        right_class.append(result.per_class_issue[noisy[found], cols[found]].mean())
    # Reference figures at 1e5 x 20: P 0.82, R 0.86; the bounds sit well below the means.
    assert np.mean(precision) > 0.7 and np.mean(recall) > 0.8
    assert min(right_class) > 0.95  # a flagged noisy example is flagged at the toggled tag


def test_result_structure():
    given, probs, _, _ = multilabel_data(1000, 5, seed=8)
    names = ["a", "b", "c", "d", "e"]
    lists = [[names[c] for c in np.flatnonzero(row)] for row in given]
    result = find_multilabel_issues(lists, probs, classes=names)
    assert result.classes == tuple(names)
    assert np.all(np.diff(result.score[result.ranking]) >= 0)
    np.testing.assert_array_equal(result.is_issue, result.per_class_issue.any(axis=1))
    np.testing.assert_array_equal(result.given, given)
    frame = result.to_frame(only_issues=True)
    assert list(frame.columns) == [
        "index",
        "given_labels",
        "likely_extra",
        "likely_missing",
        "label_quality",
        "is_label_issue",
    ]
    first = frame.iloc[0]
    suspects = set(first["likely_extra"]) | set(first["likely_missing"])
    assert suspects and suspects <= set(names)
    assert set(first["likely_extra"]) <= set(first["given_labels"])
    with pytest.raises(ValueError, match="read-only"):
        result.per_class_issue[0, 0] = True


def test_absent_class_is_handled_like_cleanlab():
    given, probs, _, _ = multilabel_data(1000, 4, seed=9)
    given[:, 2] = False  # nobody has tag 2
    with pytest.warns(LabelwiseWarning, match=r"classes \[2\] have a binary side"):
        ours = find_multilabel_issues(given, probs).is_issue
    np.testing.assert_array_equal(ours, cleanlab_mask(given, probs, "prune_by_noise_rate"))


@pytest.mark.parametrize(
    ("labels", "kind", "message"),
    [
        (
            np.array([[0, 2], [1, 0]]),
            ValueError,
            r"`labels` must be binary \(0/1\) indicators; got 1 other value\(s\), first 2 at \(0, 1\)",
        ),
        (
            np.array([[0, 1, 0], [1, 0, 0]]),
            ValueError,
            r"`labels` must be an indicator matrix of shape \(2, 2\); got shape \(2, 3\)",
        ),
        (
            sparse.csr_matrix(np.array([[0, 3], [1, 0]])),
            ValueError,
            r"`labels` must be binary \(0/1\) indicators; got stored value\(s\) 3",
        ),
        (
            [[0], [5]],
            ValueError,
            r"`labels` must be class ids in 0..1; got 1 out of range, first 5",
        ),
        (
            [[0]],
            ValueError,
            r"`labels` must be one entry per row of pred_probs \(2\); got 1 entries",
        ),
        (
            [[0], "b"],
            TypeError,
            r"`labels` must be a list of classes for every row; got 'b' at row 1",
        ),
        (
            [[0.5], [1]],
            TypeError,
            r"`labels` must be lists of integer class ids \(or pass `classes`\); got 0.5",
        ),
    ],
)
def test_bad_labels(labels, kind, message):
    with pytest.raises(kind, match=message):
        find_multilabel_issues(labels, np.array([[0.2, 0.9], [0.8, 0.1]]))


@pytest.mark.parametrize(
    ("value", "what"),
    [(np.nan, r"non-finite \(NaN or inf\)"), (-0.2, "negative"), (1.5, "above 1")],
)
@pytest.mark.parametrize("func", [find_multilabel_issues, multilabel_quality_scores])
def test_bad_probabilities(func, value, what):
    given, probs, _, _ = multilabel_data(300, 4, seed=1, dtype=np.float64)
    probs[123, 2] = value
    with pytest.raises(
        ValueError,
        match=rf"`pred_probs` must be independent per-class probabilities in \[0, 1\]; got 1 row\(s\) with {what} values, first at row 123",
    ):
        func(given, probs)


def test_bad_options():
    given, probs, _, _ = multilabel_data(200, 3)
    with pytest.raises(
        ValueError,
        match=r"`aggregator` must be one of 'exponential_moving_average', 'softmin', 'mean', 'min'; got 'max'",
    ):
        multilabel_quality_scores(given, probs, aggregator="max")
    with pytest.raises(ValueError, match=r"`alpha` must be a number in \(0, 1\]; got 1.5"):
        multilabel_quality_scores(given, probs, alpha=1.5)
    with pytest.raises(ValueError, match=r"`temperature` must be a number > 0; got 0"):
        multilabel_quality_scores(given, probs, aggregator="softmin", temperature=0)
    with pytest.raises(ValueError, match=r"`method` must be one of 'prune_by_noise_rate'"):
        find_multilabel_issues(given, probs, method="magic")
