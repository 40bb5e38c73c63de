"""class_summary: counts and imbalance as Datalab sees them, noise rates as cleanlab estimates them."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from labelwise import find_label_issues
from labelwise.issues.summary import COLUMNS, class_summary


def test_counts_shares_and_fixed_columns():
    labels = np.array([2, 0, 2, 2, 1, 2])
    summary = class_summary(labels)
    assert list(summary.columns) == list(COLUMNS)
    assert summary.index.name == "class" and summary.index.tolist() == [0, 1, 2]
    assert summary["count"].tolist() == [1, 1, 4]
    np.testing.assert_allclose(summary["share"], [1 / 6, 1 / 6, 4 / 6])
    assert summary["name"].tolist() == [0, 1, 2]
    assert summary[["noise_rate", "inverse_noise_rate", "issue_rate"]].isna().all().all()
    assert summary["n_issues"].isna().all() and summary["n_issues"].dtype == "Int64"


def test_imbalance_rule_flags_every_class_below_the_bar():
    labels = np.repeat([0, 1, 2, 3], [500, 480, 12, 8])  # 0.1 / K = 0.025; shares .012, .008
    summary = class_summary(labels)
    assert summary["is_imbalanced"].tolist() == [False, False, True, True]
    assert class_summary(labels, imbalance_threshold=0.04)["is_imbalanced"].sum() == 1


def test_imbalance_agrees_with_datalab_on_the_rarest_class():
    pytest.importorskip("datasets", reason="Datalab needs cleanlab[datalab] (bench extra)")
    from cleanlab import Datalab

    for counts in ([300, 300, 5], [300, 300, 100], [200, 3, 200, 200]):
        labels = np.repeat(np.arange(len(counts)), counts)
        lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lab.find_issues(issue_types={"class_imbalance": {}})
        theirs = lab.get_issues("class_imbalance")["is_class_imbalance_issue"].to_numpy()
        ours = class_summary(labels)["is_imbalanced"].to_numpy()
        np.testing.assert_array_equal(ours[labels], theirs)  # one rare class: the same rows


def test_noise_rates_equal_cleanlab(synthetic):
    dataset = pytest.importorskip(
        "cleanlab.dataset", reason="anchor cleanlab is in the bench extra"
    )
    labels, probs, _, _ = synthetic(4000, 6, margin=2.0, seed=3)
    ours = class_summary(labels, probs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = dataset.rank_classes_by_label_quality(labels, probs).sort_values("Class Index")
    np.testing.assert_allclose(ours["noise_rate"], theirs["Label Noise"], atol=1e-9)
    np.testing.assert_allclose(ours["inverse_noise_rate"], theirs["Inverse Label Noise"], atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_noise_rates_track_the_planted_noise(synthetic, seed):
    labels, probs, true, _ = synthetic(6000, 4, margin=3.0, noise=0.15, seed=seed)
    summary = class_summary(labels, probs)
    actual = np.array([(true[labels == k] != k).mean() for k in range(4)])
    actual_inverse = np.array([(labels[true == k] != k).mean() for k in range(4)])
    # Measured over seeds 0-2: within 0.014 of the planted per-class rates (0.14-0.16).
    np.testing.assert_allclose(summary["noise_rate"], actual, atol=0.03)
    np.testing.assert_allclose(summary["inverse_noise_rate"], actual_inverse, atol=0.03)


def test_issue_rates_come_from_label_issues(synthetic):
    labels, probs, _, _ = synthetic(1000, 3, seed=4)
    issues = find_label_issues(labels, probs)
    summary = class_summary(labels, probs, issues=issues)
    for k in range(3):
        flagged = int(issues.is_issue[labels == k].sum())
        assert summary.loc[k, "n_issues"] == flagged
        assert summary.loc[k, "issue_rate"] == pytest.approx(flagged / (labels == k).sum())
    assert summary["n_issues"].sum() == issues.n_issues
    # issues alone, without pred_probs, give the same issue columns
    alone = class_summary(labels, issues=issues)
    pd.testing.assert_series_equal(alone["issue_rate"], summary["issue_rate"])


def test_class_names_are_kept(synthetic):
    labels, probs, _, _ = synthetic(600, 3, seed=5)
    names = np.array(["cat", "dog", "emu"])[labels]
    summary = class_summary(names, probs)
    assert summary["name"].tolist() == ["cat", "dog", "emu"]
    pd.testing.assert_series_equal(
        summary["noise_rate"], class_summary(labels, probs)["noise_rate"]
    )
    issues = find_label_issues(names, probs)
    assert class_summary(labels, issues=issues)["name"].tolist() == ["cat", "dog", "emu"]
    order = ["emu", "cat", "dog"]  # explicit classes fix the ids, and keep empty classes
    assert class_summary(names[names != "emu"], classes=order)["count"].tolist()[0] == 0


def test_bad_input_is_refused(synthetic):
    labels, probs, _, _ = synthetic(100, 2, seed=6)
    issues = find_label_issues(labels, probs)
    cases = [
        (
            {"labels": labels, "issues": "x"},
            TypeError,
            "`issues` must be a LabelIssues (from find_label_issues) or None; got str.",
        ),
        (
            {"labels": labels[:90], "issues": issues},
            ValueError,
            "`issues` must be found on these 90 labels; got one for 100 labels.",
        ),
        (
            {"labels": 1 - labels, "issues": issues},
            ValueError,
            "`issues` must be found on these labels; got 100 label(s) that differ, first at index 0.",
        ),
        (
            {"labels": np.r_[labels[:-1], -2]},
            ValueError,
            "`labels` must be class ids >= 0 or class names; got 1 negative, first -2 at index 99.",
        ),
        (
            {"labels": labels, "imbalance_threshold": 0},
            ValueError,
            "`imbalance_threshold` must be a number in (0, 1]; got 0.",
        ),
        (
            {"labels": labels[:50], "pred_probs": probs},
            ValueError,
            "`labels` must be the same length as pred_probs (100 rows); got length 50.",
        ),
        (
            {"labels": np.zeros(100, int), "pred_probs": probs},
            ValueError,
            "`labels` must be at least one example of every class 0..1",
        ),
        (
            {"labels": labels.reshape(50, 2)},
            ValueError,
            "`labels` must be a 1-D array of class labels; got shape (50, 2).",
        ),
    ]
    for kwargs, kind, message in cases:
        with pytest.raises(kind, match=re.escape(message)):
            class_summary(**kwargs)
