"""Bad input gets a clear error, never a wrong answer: every message is pinned here."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from labelwise import (
    confident_joint,
    estimate_noise,
    find_label_issues,
    label_quality_scores,
)

ENTRY_POINTS = [find_label_issues, confident_joint, estimate_noise]


def _probs(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


GOOD = _probs([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
LABELS = np.array([0, 1, 0, 1])


@pytest.mark.parametrize("func", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            np.nan,
            r"`pred_probs` must be finite and non-negative; got 1 row\(s\) with non-finite \(NaN or inf\) values, first at row 2",
        ),
        (np.inf, r"`pred_probs` must be finite and non-negative; got 1 row\(s\) with non-finite"),
        (
            -0.1,
            r"`pred_probs` must be finite and non-negative; got 1 row\(s\) with negative values, first at row 2",
        ),
    ],
)
def test_bad_probability_values(func, value, message):
    probs = GOOD.copy()
    probs[2, 0] = value
    with pytest.raises(ValueError, match=message):
        func(LABELS, probs)


@pytest.mark.parametrize("func", [*ENTRY_POINTS, label_quality_scores])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("column", range(5))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_values_are_caught_in_any_column(func, value, column, dtype):
    # The compiled passes must never let a NaN slip through their vectorised reductions.
    rng = np.random.default_rng(column)
    probs = rng.dirichlet(np.ones(5), size=40).astype(dtype)
    labels = np.arange(40) % 5
    probs[17, column] = value
    with pytest.raises(ValueError, match=r"non-finite \(NaN or inf\) values, first at row 17"):
        func(labels, probs)


@pytest.mark.parametrize("func", [*ENTRY_POINTS, label_quality_scores])
def test_rows_must_sum_to_one(func):
    probs = GOOD.copy()
    probs[1] = [0.5, 0.6]
    with pytest.raises(
        ValueError,
        match=r"`pred_probs` must be rows that sum to 1 \(within 0.001\); normalise them first; "
        r"got 1 row\(s\) off, first at row 1 summing to 1.1",
    ):
        func(LABELS, probs)


def test_row_sum_tolerance_accepts_float32_rounding():
    probs = (GOOD + 4e-4 * np.array([1.0, 0.0])).astype(np.float32)
    assert find_label_issues(LABELS, probs).is_issue.shape == (4,)


def test_label_quality_scores_checks_nan():
    probs = GOOD.copy()
    probs[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite \(NaN or inf\) values, first at row 0"):
        label_quality_scores(LABELS, probs)


@pytest.mark.parametrize(
    ("probs", "kind", "message"),
    [
        (
            np.array([0.5, 0.5]),
            ValueError,
            r"`pred_probs` must be a 2-D array of shape \(n_examples, n_classes\); got shape \(2,\)",
        ),
        (
            np.ones((4, 1)),
            ValueError,
            r"`pred_probs` must be an array with at least 2 columns \(classes\); got shape \(4, 1\)",
        ),
        (np.empty((0, 3)), ValueError, r"`pred_probs` must be non-empty; got shape \(0, 3\)"),
        (
            np.array([["a", "b"]] * 4),
            TypeError,
            r"`pred_probs` must be a numeric array of probabilities; got dtype <U1",
        ),
    ],
)
def test_bad_pred_probs_shape_and_type(probs, kind, message):
    with pytest.raises(kind, match=message):
        find_label_issues(LABELS, probs)


def test_k_equals_one_is_refused_everywhere():
    for func in [*ENTRY_POINTS, label_quality_scores]:
        with pytest.raises(ValueError, match="at least 2 columns"):
            func(np.zeros(3, int), np.ones((3, 1)))


@pytest.mark.parametrize(
    ("labels", "kind", "message"),
    [
        (
            np.array([0, 1, 2, 1]),
            ValueError,
            r"`labels` must be class ids in 0..1 \(pred_probs has 2 columns\); got 1 out of range, first 2 at index 2",
        ),
        (np.array([0, -1, 0, 1]), ValueError, r"got 1 out of range, first -1 at index 1"),
        (
            np.array([0, 1, 0]),
            ValueError,
            r"`labels` must be the same length as pred_probs \(4 rows\); got length 3",
        ),
        (
            np.array([0.0, 1.0, 0.5, 1.0]),
            ValueError,
            r"`labels` must be integer class ids; got non-integer value 0.5 at index 2",
        ),
        (
            np.array([0.0, 1.0, np.nan, 1.0]),
            ValueError,
            r"`labels` must be integer class ids; got non-finite values \(first at index 2\)",
        ),
        (
            np.array([[0, 1], [0, 1]]),
            ValueError,
            r"`labels` must be a 1-D array of class labels; got shape \(2, 2\)",
        ),
        (
            np.array([0, 0, 0, 0]),
            ValueError,
            r"`labels` must be at least one example of every class 0..1 .*; got no examples of class\(es\) 1",
        ),
        (
            np.array(["a", "b", "c", "a"]),
            ValueError,
            r"`labels` must be class names covering all 2 columns of pred_probs, or pass `classes` .*; got 3 distinct names: 'a', 'b', 'c'",
        ),
        (
            np.array([1 + 2j, 0, 1, 0]),
            TypeError,
            r"`labels` must be integer class ids or class names; got dtype complex128",
        ),
    ],
)
def test_bad_labels(labels, kind, message):
    with pytest.raises(kind, match=message):
        find_label_issues(labels, GOOD)


def test_whole_float_labels_are_accepted():
    as_float = find_label_issues(LABELS.astype(float), GOOD)
    as_int = find_label_issues(LABELS, GOOD)
    np.testing.assert_array_equal(as_float.is_issue, as_int.is_issue)


def test_string_labels_are_mapped_and_the_mapping_kept(synthetic):
    labels, probs, _, _ = synthetic(400, 3, seed=1)
    names = np.array(["bird", "cat", "dog"])[labels]
    by_name = find_label_issues(names, probs)
    by_id = find_label_issues(labels, probs)
    np.testing.assert_array_equal(by_name.is_issue, by_id.is_issue)
    assert by_name.classes == ("bird", "cat", "dog")
    frame = by_name.to_frame(only_issues=True)
    assert set(frame["given_label"]) <= {"bird", "cat", "dog"}
    assert (frame["given_label"].to_numpy() == names[by_name.ranking]).all()


def test_explicit_classes_set_the_column_order(synthetic):
    labels, probs, _, _ = synthetic(300, 3, seed=2)
    order = ["zebra", "ant", "moose"]  # column order, deliberately not sorted
    names = np.array(order, dtype=object)[labels]
    result = find_label_issues(pd.Series(names), probs, classes=order)
    np.testing.assert_array_equal(result.is_issue, find_label_issues(labels, probs).is_issue)
    assert result.classes == tuple(order)


def test_unknown_class_name_is_named():
    with pytest.raises(
        ValueError, match=r"`labels` must be one of the classes 'x', 'y'; got unknown 'z'"
    ):
        find_label_issues(np.array(["x", "y", "z", "x"]), GOOD, classes=["x", "y"])


def test_classes_must_match_columns():
    with pytest.raises(
        ValueError, match=r"`classes` must be 2 names, one per column of pred_probs; got 3 names"
    ):
        find_label_issues(np.array(["x", "y", "x", "y"]), GOOD, classes=["x", "y", "z"])
    with pytest.raises(ValueError, match=r"`classes` must be distinct names; got 'x', 'x'"):
        find_label_issues(np.array(["x", "x", "x", "x"]), GOOD, classes=["x", "x"])


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        (
            {"method": "magic"},
            ValueError,
            r"`method` must be one of 'prune_by_noise_rate', .*'low_normalized_margin'; got 'magic'",
        ),
        (
            {"rank_by": "entropy"},
            ValueError,
            r"`rank_by` must be one of 'self_confidence', 'normalized_margin', 'confidence_weighted_entropy'; got 'entropy'",
        ),
        ({"frac_noise": 0.0}, ValueError, r"`frac_noise` must be a number in \(0, 1\]; got 0.0"),
        ({"frac_noise": 1.5}, ValueError, r"`frac_noise` must be a number in \(0, 1\]; got 1.5"),
        (
            {"frac_noise": "half"},
            TypeError,
            r"`frac_noise` must be a number in \(0, 1\]; got str 'half'",
        ),
        (
            {"min_examples_per_class": -1},
            ValueError,
            r"`min_examples_per_class` must be an integer >= 0; got -1",
        ),
        (
            {"min_examples_per_class": 2.5},
            TypeError,
            r"`min_examples_per_class` must be an integer >= 0; got float 2.5",
        ),
        (
            {"method": "confident_learning", "frac_noise": 0.5},
            ValueError,
            r"`frac_noise` must be 1.0 unless method is one of prune_by_noise_rate, prune_by_class, both; got 0.5 with method='confident_learning'",
        ),
    ],
)
def test_bad_options(kwargs, kind, message):
    with pytest.raises(kind, match=message):
        find_label_issues(LABELS, GOOD, **kwargs)


def test_score_options():
    with pytest.raises(ValueError, match=r"`method` must be one of 'self_confidence'"):
        label_quality_scores(LABELS, GOOD, method="margin")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`adjust_pred_probs` must be False when method='confidence_weighted_entropy'; got True."
        ),
    ):
        label_quality_scores(
            LABELS, GOOD, method="confidence_weighted_entropy", adjust_pred_probs=True
        )


def test_scores_allow_a_missing_class_unless_adjusting():
    probs = _probs([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1, 0])
    assert label_quality_scores(labels, probs).shape == (3,)
    with pytest.raises(ValueError, match=r"no examples of class\(es\) 2"):
        label_quality_scores(labels, probs, adjust_pred_probs=True)


def test_inputs_are_never_modified(synthetic):
    labels, probs, _, _ = synthetic(500, 4, seed=3)
    labels_before, probs_before = labels.copy(), probs.copy()
    for method in ("prune_by_noise_rate", "both", "low_normalized_margin"):
        find_label_issues(labels, probs, method=method, rank_by="normalized_margin")
    label_quality_scores(labels, probs, adjust_pred_probs=True)
    estimate_noise(labels, probs)
    np.testing.assert_array_equal(labels, labels_before)
    np.testing.assert_array_equal(probs, probs_before)
    assert labels.flags.writeable and probs.flags.writeable


def test_memory_mapped_input_is_used_in_place(tmp_path, synthetic):
    labels, probs, _, _ = synthetic(2000, 5, seed=4)
    np.save(tmp_path / "p.npy", probs)
    mapped = np.load(tmp_path / "p.npy", mmap_mode="r")
    result = find_label_issues(labels, mapped)
    np.testing.assert_array_equal(result.is_issue, find_label_issues(labels, probs).is_issue)


def test_other_numeric_dtypes_are_converted():
    as_half = find_label_issues(LABELS, GOOD.astype(np.float16))
    one_hot = find_label_issues(LABELS, np.eye(2, dtype=np.int64)[LABELS])
    assert as_half.is_issue.shape == (4,)
    assert not one_hot.is_issue.any()
