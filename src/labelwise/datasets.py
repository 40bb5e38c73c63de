"""Loaders for the built-in example and for the real benchmark data.

The real datasets are made by others and are never packaged: they live in a data folder found
through the ``LABELWISE_DATA`` environment variable (default ``../shared/data``, relative to the
working directory). :func:`data_dir` returns None when the folder is absent, so tests and
benchmarks can skip cleanly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labelwise._validation import check_choice, check_fraction
from labelwise.issues.cross_validation import cross_val_pred_probs

#: The real label-error sets (Northcutt, Athalye & Mueller, NeurIPS 2021 Datasets & Benchmarks).
LABEL_ERROR_SETS = ("mnist", "cifar10", "cifar100", "caltech256", "imagenet", "imdb", "audioset")


def data_dir() -> Path | None:
    """The folder holding the real datasets, or None when it does not exist."""
    path = Path(os.environ.get("LABELWISE_DATA", "../shared/data")).expanduser()
    return path if path.is_dir() else None


@dataclass(frozen=True)
class LabelErrorSet:
    """A test set with given labels, out-of-sample ``pred_probs`` and human-checked errors.

    Attributes
    ----------
    name : str
    labels : ndarray of shape (n,), int64
        The dataset's given (possibly wrong) labels.
    pred_probs : ndarray of shape (n, K)
        Cross-validated predicted probabilities from the source.
    checked : ndarray of shape (m,), int64
        Rows that people checked (the candidates confident learning flagged in the source).
    is_error : ndarray of shape (m,), bool
        For each checked row: fewer than 3 of 5 workers agreed with the given label.
    """

    name: str
    labels: np.ndarray
    pred_probs: np.ndarray
    checked: np.ndarray
    is_error: np.ndarray

    @property
    def errors(self) -> np.ndarray:
        """Rows verified as label errors."""
        return self.checked[self.is_error]


def load_label_errors(name: str) -> LabelErrorSet | None:
    """Load ``label_errors_<name>`` from :func:`data_dir`, or None when it is absent.

    Examples
    --------
    >>> from labelwise.datasets import load_label_errors
    >>> data = load_label_errors("mnist")
    >>> data is None or data.pred_probs.shape == (10000, 10)
    True
    """
    check_choice(name, "name", LABEL_ERROR_SETS)
    root = data_dir()
    folder = root / f"label_errors_{name}" if root else None
    if folder is None or not (folder / "pred_probs.npy").exists():
        return None
    checks = pd.read_csv(folder / "mturk_validation.csv")
    return LabelErrorSet(
        name=name,
        labels=np.load(folder / "given_labels.npy").astype(np.int64),
        pred_probs=np.load(folder / "pred_probs.npy"),
        checked=checks["index"].to_numpy(dtype=np.int64),
        is_error=checks["is_label_error"].to_numpy().astype(bool),
    )


@dataclass(frozen=True)
class DigitsExample:
    """The built-in example: scikit-learn's bundled 8x8 digits with cross-validated probabilities.

    Attributes
    ----------
    images : ndarray of shape (n, 8, 8)
    features : ndarray of shape (n, 64)
    true_labels : ndarray of shape (n,)
        The labels as shipped with the data.
    labels : ndarray of shape (n,)
        The labels to audit: ``true_labels`` with ``flipped`` rows changed to another class.
    flipped : ndarray, int64
        Rows whose label was deliberately changed (empty when ``noise=0``).
    pred_probs : ndarray of shape (n, 10)
        Out-of-sample probabilities of a standard classifier trained on ``labels``.
    """

    images: np.ndarray
    features: np.ndarray
    true_labels: np.ndarray
    labels: np.ndarray
    flipped: np.ndarray
    pred_probs: np.ndarray


def flip_labels(
    labels: np.ndarray, n_classes: int, rate: float, random_state: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Change a ``rate`` fraction of labels to a different class chosen uniformly at random.

    Returns the noisy labels and the sorted indices of the changed rows.
    """
    rate = check_fraction(rate, "noise", allow_zero=True)
    rng = np.random.default_rng(random_state)
    n_flip = round(rate * labels.size)
    flipped = np.sort(rng.choice(labels.size, size=n_flip, replace=False))
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, n_classes, size=n_flip)) % n_classes
    return noisy, flipped.astype(np.int64)


def load_digits_example(
    *,
    noise: float = 0.0,
    model: str = "logistic",
    random_state: int | None = 0,
    progress: bool = False,
) -> DigitsExample:
    """The digits data with optional injected label noise and out-of-sample probabilities.

    Parameters
    ----------
    noise : float in [0, 1], default=0.0
        Fraction of labels to change to another class, so recall can be measured.
    model : {"logistic", "forest"}, default="logistic"
        The classifier that produces the cross-validated probabilities.
    random_state : int, optional
        Seed for the noise and the folds.
    progress : bool, default=False
        Show a progress bar while cross-validating.

    Examples
    --------
    >>> from labelwise.datasets import load_digits_example
    >>> ex = load_digits_example(noise=0.05)
    >>> ex.pred_probs.shape, ex.flipped.size
    ((1797, 10), 90)
    """
    check_choice(model, "model", ("logistic", "forest"))
    digits = load_digits()
    true_labels = digits.target.astype(np.int64)
    labels, flipped = flip_labels(true_labels, 10, noise, random_state)
    estimator = (
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
        if model == "logistic"
        else RandomForestClassifier(n_estimators=200, random_state=random_state)
    )
    pred_probs = cross_val_pred_probs(
        estimator, digits.data, labels, cv=5, random_state=random_state, progress=progress
    )
    return DigitsExample(digits.images, digits.data, true_labels, labels, flipped, pred_probs)
