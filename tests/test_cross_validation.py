"""cross_val_pred_probs: out-of-sample, every class in every fold, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

from labelwise import cross_val_pred_probs


@pytest.fixture
def data():
    return make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0
    )


def test_probabilities_are_out_of_sample(data):
    X, y = data
    noisy = y.copy()
    noisy[:30] = (noisy[:30] + 1) % 3
    model = KNeighborsClassifier(n_neighbors=1)
    probs = cross_val_pred_probs(model, X, noisy, random_state=0, progress=False)
    in_sample = model.fit(X, noisy).predict_proba(X)
    assert probs.shape == (300, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    # A 1-NN model reproduces every training label in-sample; out of sample it cannot.
    assert (in_sample.argmax(axis=1) == noisy).all()
    assert (probs.argmax(axis=1) != noisy).sum() >= 30


def test_reproducible_and_accepts_dataframes(data):
    X, y = data
    a = cross_val_pred_probs(
        LogisticRegression(), pd.DataFrame(X), y, random_state=3, progress=False
    )
    b = cross_val_pred_probs(LogisticRegression(), X, y, random_state=3, progress=False)
    np.testing.assert_allclose(a, b)


def test_estimator_is_not_fitted_in_place(data):
    X, y = data
    model = LogisticRegression()
    cross_val_pred_probs(model, X, y, progress=False)
    assert not hasattr(model, "coef_")


def test_class_with_one_example_is_refused(data):
    X, y = data
    y = y.copy()
    y[0] = 3
    with pytest.raises(
        ValueError,
        match=r"`labels` must be at least 2 examples of every class 0..K-1, so each training fold sees every class; got class 3 with 1 example\(s\)",
    ):
        cross_val_pred_probs(LogisticRegression(), X, y, progress=False)


def test_missing_class_id_is_refused(data):
    X, y = data
    y = np.where(y == 1, 3, y)  # ids 0, 2, 3: class 1 has no example
    with pytest.raises(ValueError, match=r"got class 1 with 0 example\(s\)"):
        cross_val_pred_probs(LogisticRegression(), X, y, progress=False)


def test_classifier_without_probabilities_is_refused(data):
    X, y = data
    with pytest.raises(
        TypeError,
        match=r"`estimator` must be a classifier with fit and predict_proba; got LinearSVC",
    ):
        cross_val_pred_probs(LinearSVC(), X, y)


def test_cv_must_be_at_least_two(data):
    X, y = data
    with pytest.raises(ValueError, match=r"`cv` must be an integer >= 2; got 1"):
        cross_val_pred_probs(LogisticRegression(), X, y, cv=1)
