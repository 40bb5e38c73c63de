"""audit(): every check the inputs allow, one consistent result, JSON-ready."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labelwise import (
    AuditResult,
    audit,
    estimate_noise,
    find_label_issues,
    find_multilabel_issues,
    find_regression_issues,
)

SUMMARY_KEYS = {
    "task",
    "n_examples",
    "n_classes",
    "n_label_issues",
    "label_issue_rate",
    "estimated_noise_rate",
    "n_outliers",
    "n_near_duplicate_groups",
    "n_near_duplicate_rows",
    "n_conflicting_duplicate_groups",
    "checks_skipped",
}


@pytest.fixture
def classification(synthetic):
    labels, probs, _, flipped = synthetic(1500, 4, margin=2.5, seed=3)
    rng = np.random.default_rng(3)
    features = rng.normal(size=(1500, 6)) + 4 * np.eye(4, 6)[labels]
    features[10] = features[20]  # one duplicated row
    return labels, probs, features, flipped


def test_multiclass_runs_everything_and_agrees_with_the_parts(classification):
    labels, probs, features, _ = classification
    result = audit(labels, pred_probs=probs, features=features)
    assert isinstance(result, AuditResult) and result.skipped == ()
    np.testing.assert_array_equal(
        result.label_issues.is_issue, find_label_issues(labels, probs).is_issue
    )
    np.testing.assert_allclose(
        result.noise.noise_matrix, estimate_noise(labels, probs).noise_matrix
    )
    assert result.near_duplicates.group[10] == result.near_duplicates.group[20] >= 0
    table = result.examples
    assert len(table) == 1500 and table["index"].tolist() == list(range(1500))
    for column in (
        "given_label",
        "suggested_label",
        "label_quality",
        "is_label_issue",
        "outlier_score",
        "is_outlier",
        "near_duplicate_group",
        "duplicate_label_conflict",
    ):
        assert column in table, column
    assert table["is_label_issue"].sum() == result.label_issues.n_issues
    summary = result.summary()
    assert set(summary) == SUMMARY_KEYS
    assert summary["n_label_issues"] == result.label_issues.n_issues and summary["n_classes"] == 4
    assert list(result.class_summary["count"]) == np.bincount(labels).tolist()
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["summary"]["n_examples"] == 1500
    assert len(as_json["examples"]["label_quality"]) == 1500
    assert np.allclose(as_json["noise_matrix"], result.noise.noise_matrix)


def test_what_cannot_run_is_listed_with_the_reason(classification):
    labels, _, features, _ = classification
    only_labels = audit(labels)
    assert [check for check, _ in only_labels.skipped] == [
        "label issues",
        "outliers",
        "near-duplicates",
    ]
    assert only_labels.label_issues is None and only_labels.outliers is None
    assert (
        set(only_labels.summary()) == SUMMARY_KEYS
        and only_labels.summary()["n_label_issues"] is None
    )
    assert list(only_labels.examples.columns) == ["index"]
    json.dumps(only_labels.to_dict())
    with_features = audit(labels, features=features)
    assert [check for check, _ in with_features.skipped] == ["label issues"]
    assert with_features.outliers is not None and with_features.near_duplicates is not None


def test_multilabel_and_regression():
    rng = np.random.default_rng(0)
    tags = rng.random((800, 5)) < 0.3
    probs = np.clip(np.where(tags, 0.9, 0.05) + rng.normal(0, 0.03, tags.shape), 0, 1)
    tags[:15, 1] = ~tags[:15, 1]
    features = rng.normal(size=(800, 3))
    result = audit(tags, pred_probs=probs, features=features, task="multilabel")
    np.testing.assert_array_equal(
        result.label_issues.per_class_issue, find_multilabel_issues(tags, probs).per_class_issue
    )
    assert result.noise is None and result.classes == (0, 1, 2, 3, 4)
    assert "likely_missing" in result.examples and result.near_duplicates.conflicting is None

    truth = rng.normal(size=1000)
    y = truth + rng.normal(0, 0.1, 1000)
    y[:10] += 3
    reg = audit(y, predictions=truth, task="regression")
    np.testing.assert_array_equal(
        reg.label_issues.is_issue, find_regression_issues(y, truth).is_issue
    )
    assert reg.classes is None and reg.class_summary is None
    assert "suggested_value" in reg.examples


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"task": "ranking"},
            r"`task` must be one of 'multiclass', 'multilabel', 'regression'; got 'ranking'",
        ),
        (
            {"task": "regression", "pred_probs": np.ones((3, 2)) / 2},
            r"`pred_probs` must be None for task='regression' \(pass `predictions`\)",
        ),
        (
            {"predictions": np.zeros(3)},
            r"`predictions` must be None for task='multiclass' \(pass `pred_probs`\)",
        ),
    ],
)
def test_bad_calls(kwargs, message):
    with pytest.raises(ValueError, match=message):
        audit(np.array([0, 1, 0]), **kwargs)
