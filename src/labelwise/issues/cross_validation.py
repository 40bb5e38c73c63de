"""Out-of-sample predicted probabilities from any scikit-learn classifier.

Label auditing needs ``pred_probs`` that the model produced for examples it did not train on;
otherwise it has memorised the very labels being audited.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold
from tqdm.auto import tqdm

from labelwise._validation import check_int, check_labels, fail


def cross_val_pred_probs(
    estimator: Any,
    X: Any,
    labels: Any,
    *,
    cv: int = 5,
    random_state: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Cross-validated (out-of-fold) class probabilities for every example.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Any estimator with ``fit`` and ``predict_proba``; cloned for each fold, never modified.
    X : array-like of shape (n, d)
        Features.
    labels : array-like of shape (n,)
        Integer class ids ``0..K-1``; every class must have at least two examples so that
        each training fold sees every class.
    cv : int, default=5
        Number of stratified folds.
    random_state : int, optional
        Seed for shuffling the folds.
    progress : bool, default=True
        Show a progress bar over the folds.

    Returns
    -------
    ndarray of shape (n, K), float64
        Row ``i`` is the prediction of the model trained on the folds not containing ``i``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from labelwise import cross_val_pred_probs
    >>> X, y = load_iris(return_X_y=True)
    >>> probs = cross_val_pred_probs(LogisticRegression(max_iter=500), X, y, random_state=0,
    ...                              progress=False)
    >>> probs.shape
    (150, 3)
    """
    cv = check_int(cv, "cv", minimum=2)
    _check_classifier(estimator)
    n = len(X)
    raw = np.asarray(labels)
    n_classes = int(raw.max()) + 1 if raw.dtype.kind in "iu" and raw.size else len(np.unique(raw))
    y = check_labels(raw, n_classes=max(n_classes, 2), n_examples=n).labels
    counts = np.bincount(y, minlength=n_classes)
    thin = np.flatnonzero(counts < 2)
    if thin.size:
        fail(
            "labels",
            "at least 2 examples of every class 0..K-1, so each training fold sees every class",
            f"class {int(thin[0])} with {int(counts[thin[0]])} example(s)",
        )
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    out = np.empty((n, n_classes), dtype=np.float64)
    splits = list(folds.split(np.zeros(n), y))
    for train, test in tqdm(splits, desc="cross-validating", disable=not progress, leave=False):
        missing = np.setdiff1d(np.arange(n_classes), y[train])
        if missing.size:  # pragma: no cover - stratification with >= 2 per class prevents it
            fail("labels", "every class in every training fold", f"class {int(missing[0])} missing")
        model = clone(estimator).fit(_rows(X, train), y[train])
        probs = model.predict_proba(_rows(X, test))
        columns = np.asarray(getattr(model, "classes_", np.arange(n_classes)), dtype=np.int64)
        out[test] = 0.0
        out[np.ix_(test, columns)] = probs
    return out


def _check_classifier(estimator: Any) -> None:
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict_proba")):
        fail(
            "estimator",
            "a classifier with fit and predict_proba",
            type(estimator).__name__,
            kind=TypeError,
        )


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def cross_val_multilabel_pred_probs(
    estimator: Any,
    X: Any,
    labels: Any,
    *,
    cv: int = 5,
    random_state: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Cross-validated (out-of-fold) per-class probabilities for multi-label data.

    Parameters
    ----------
    estimator : scikit-learn classifier
        A multi-label classifier whose ``predict_proba`` returns an (n, K) array of per-class
        probabilities, e.g. ``OneVsRestClassifier(LogisticRegression())``; cloned per fold.
    X : array-like of shape (n, d)
    labels : array-like of shape (n, K)
        0/1 indicator matrix.
    cv : int, default=5
        Number of (shuffled) folds.
    random_state : int, optional
    progress : bool, default=True

    Returns
    -------
    ndarray of shape (n, K), float64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.multiclass import OneVsRestClassifier
    >>> from labelwise import cross_val_multilabel_pred_probs
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0.5]).astype(int)
    >>> probs = cross_val_multilabel_pred_probs(OneVsRestClassifier(LogisticRegression()), X, Y,
    ...                                         random_state=0, progress=False)
    >>> probs.shape
    (200, 2)
    """
    cv = check_int(cv, "cv", minimum=2)
    _check_classifier(estimator)
    n = len(X)
    indicator = np.asarray(labels)
    if indicator.ndim != 2 or indicator.shape[0] != n:
        fail("labels", f"an indicator matrix with {n} rows", f"shape {indicator.shape}")
    if not np.isin(indicator, (0, 1)).all():
        fail("labels", "binary (0/1) indicators", "other values")
    folds = KFold(n_splits=cv, shuffle=True, random_state=random_state)
    out = np.empty(indicator.shape, dtype=np.float64)
    splits = list(folds.split(np.zeros(n)))
    for train, test in tqdm(splits, desc="cross-validating", disable=not progress, leave=False):
        constant = np.flatnonzero(indicator[train].min(axis=0) == indicator[train].max(axis=0))
        if constant.size:
            fail(
                "labels",
                "classes that are present and absent in every training fold",
                f"class {int(constant[0])} constant in a training fold "
                f"({int(indicator[:, constant[0]].sum())} positives in all)",
            )
        model = clone(estimator).fit(_rows(X, train), indicator[train])
        out[test] = np.asarray(model.predict_proba(_rows(X, test)), dtype=np.float64)
    return out
