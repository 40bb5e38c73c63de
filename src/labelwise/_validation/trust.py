"""Checks for the trust stage: logits, levels, weights, staged procedures, multi-label inputs."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.exceptions import NotFittedError

from labelwise._numerics import ROW_ABOVE_ONE, ROW_NEGATIVE, ROW_NONFINITE, ROW_OK
from labelwise._validation._base import _first, fail, preview
from labelwise._validation.classification import check_pred_probs_array
from labelwise._validation.multilabel import check_multilabel_labels, check_unit_interval_rows


def check_level(value: object, name: str) -> float:
    """Check a probability strictly between 0 and 1 (a confidence level, a risk target)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(name, "a number in (0, 1)", f"{type(value).__name__} {value!r}", kind=TypeError)
    number = float(value)
    if not 0.0 < number < 1.0:
        fail(name, "a number in (0, 1)", repr(value))
    return number


def check_stage(done: bool, estimator: object, first: str, then: str) -> None:
    """Refuse ``then`` before ``first`` on a staged estimator, naming both steps."""
    if not done:
        name = type(estimator).__name__
        fail(
            f"{name}.{then}",
            f"called after {name}.{first}(...)",
            f"a call to .{then}(...) before .{first}(...)",
            kind=NotFittedError,
        )


def check_logits(logits: object, *, name: str = "logits", min_columns: int = 2) -> np.ndarray:
    """Return ``logits`` as a finite 2-D float32/float64 array (no copy for those dtypes)."""
    if hasattr(logits, "to_numpy") and not isinstance(logits, np.ndarray):
        logits = logits.to_numpy()
    try:
        array = np.asarray(logits)
    except (ValueError, TypeError):
        fail(name, "a 2-D array of real scores", type(logits).__name__, kind=TypeError)
    if array.dtype.kind not in "fiub":
        fail(name, "a numeric array of real scores", f"dtype {array.dtype}", kind=TypeError)
    if array.ndim != 2:
        fail(name, "a 2-D array of shape (n_examples, n_classes)", f"shape {array.shape}")
    if array.shape[0] == 0:
        fail(name, "non-empty", f"shape {array.shape}")
    if array.shape[1] < min_columns:
        fail(name, f"an array with at least {min_columns} column(s)", f"shape {array.shape}")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float32 if array.dtype == np.float16 else np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        row = _first(~finite.all(axis=1))
        fail(
            name,
            "finite (no NaN or inf)",
            f"{int((~finite).sum())} non-finite value(s), first in row {row}: "
            f"{preview(array[row])}",
        )
    return array


def check_same_width(array: np.ndarray, width: int, name: str, fitted: str) -> None:
    """Fail unless ``array`` has the ``width`` columns the estimator was fitted with."""
    if array.shape[1] != width:
        fail(name, f"{width} columns, as in {fitted}", f"shape {array.shape}")


def check_weights(value: object, n_classes: int, name: str) -> np.ndarray:
    """Per-class positive finite weights; None means all ones."""
    if value is None:
        return np.ones(n_classes)
    array = np.asarray(value, dtype=np.float64) if not isinstance(value, str) else None
    if array is None or array.shape != (n_classes,):
        shape = "a string" if array is None else f"shape {array.shape}"
        fail(name, f"None or {n_classes} positive weights, one per class", shape)
    bad = ~np.isfinite(array) | (array <= 0)
    if bad.any():
        i = _first(bad)
        fail(name, "finite weights > 0", f"{float(array[i])!r} at class {i}")
    return array


def check_thresholds(value: object, name: str = "thresholds") -> np.ndarray:
    """A non-empty increasing grid of thresholds in [0, 1]."""
    array = np.asarray(value, dtype=np.float64).ravel()
    if array.size == 0:
        fail(name, "a non-empty grid of thresholds in [0, 1]", "an empty grid")
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        fail(
            name,
            "thresholds in [0, 1]",
            f"values from {float(array.min())!r} to {float(array.max())!r}",
        )
    if np.any(np.diff(array) <= 0):
        fail(name, "strictly increasing thresholds", preview(array))
    return array


def multilabel_probs(pred_probs: object, *, name: str = "pred_probs") -> np.ndarray:
    """Independent per-class probabilities (n, K), every value checked to lie in [0, 1]."""
    array = check_pred_probs_array(pred_probs, name=name)
    check_unit_interval_rows(array, range_defects(array), name=name)
    return array


def range_defects(array: np.ndarray) -> np.ndarray:
    """One defect code per row of independent probabilities (vectorised, per row)."""
    codes = np.full(array.shape[0], ROW_OK, dtype=np.uint8)
    nonfinite = ~np.isfinite(array).all(axis=1)
    codes[(array > 1).any(axis=1)] = ROW_ABOVE_ONE
    codes[(array < 0).any(axis=1)] = ROW_NEGATIVE
    codes[nonfinite] = ROW_NONFINITE
    return codes


def multilabel_indicator(
    labels: object, n_examples: int, n_classes: int, *, name: str = "labels"
) -> np.ndarray:
    """Multi-label targets in any accepted format as a dense bool matrix (n, K)."""
    indptr, indices = check_multilabel_labels(
        labels, n_examples=n_examples, n_classes=n_classes, name=name
    )
    dense = np.zeros((n_examples, n_classes), dtype=bool)
    rows = np.repeat(np.arange(n_examples), np.diff(indptr))
    dense[rows, indices] = True
    return dense
