"""Checks of feature matrices (outliers, near-duplicates) and of labels without pred_probs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from scipy import sparse

from labelwise._validation._base import (
    _first,
    check_int,
    fail,
    preview,
)
from labelwise._validation.classification import LabelEncoding, check_labels


@dataclass(frozen=True)
class FeatureInput:
    """A validated feature matrix (float32/float64) and the range of each of its columns."""

    features: np.ndarray
    column_min: np.ndarray
    column_max: np.ndarray

    @property
    def constant_columns(self) -> np.ndarray:
        """Indices of the zero-variance columns."""
        return np.flatnonzero(self.column_min == self.column_max)

    @property
    def all_rows_identical(self) -> bool:
        return bool(np.all(self.column_min == self.column_max))


def check_features(features: object, *, name: str = "features", min_rows: int = 2) -> FeatureInput:
    """Return a dense 2-D float feature matrix with finite values, and its column ranges.

    float32 and float64 pass through without a copy (memory-mapped arrays stay mapped); integer
    and bool matrices become float64, float16 becomes float32. The finiteness check reads the
    column minima and maxima (which a NaN or an inf always reaches), so it allocates O(d).
    """
    expected = "a dense 2-D numeric array of shape (n_examples, n_features)"
    if sparse.issparse(features):
        fail(
            name,
            expected + " (call .toarray() on a sparse matrix)",
            "a sparse matrix",
            kind=TypeError,
        )
    if hasattr(features, "to_numpy") and not isinstance(features, np.ndarray):
        features = features.to_numpy()
    try:
        array = np.asarray(features)
    except (ValueError, TypeError):
        fail(name, expected, type(features).__name__, kind=TypeError)
    if array.dtype.kind not in "fiub":
        fail(name, expected, f"dtype {array.dtype}", kind=TypeError)
    if array.ndim != 2:
        fail(name, expected, f"shape {array.shape}")
    if array.shape[0] < min_rows:
        fail(name, f"an array with at least {min_rows} rows", f"shape {array.shape}")
    if array.shape[1] == 0:
        fail(name, "an array with at least 1 column", f"shape {array.shape}")
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    elif array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    column_min, column_max = array.min(axis=0), array.max(axis=0)
    if not (np.isfinite(column_min).all() and np.isfinite(column_max).all()):
        bad = ~np.isfinite(array).all(axis=1)
        row = _first(bad)
        fail(
            name,
            "finite (no NaN or inf)",
            f"{int(bad.sum())} row(s) with non-finite values, first at row {row}: "
            f"{preview(array[row])}",
        )
    return FeatureInput(array, column_min, column_max)


def check_distinct_rows(data: FeatureInput, *, name: str = "features") -> None:
    """Fail when every row is the same (nothing can then be more atypical than anything else)."""
    if data.all_rows_identical:
        fail(
            name,
            "rows that are not all identical (outlier scores compare rows with each other)",
            f"{data.features.shape[0]} identical rows: {preview(data.features[0])}",
        )


def check_nonzero_rows(
    norms: np.ndarray, *, name: str = "features", metric: str = "cosine"
) -> None:
    """Fail naming the all-zero rows, whose direction (and so cosine distance) is undefined."""
    zero = norms == 0
    if zero.any():
        fail(
            name,
            f"rows with a non-zero norm for metric={metric!r} (a zero row has no direction; "
            "drop it or pass metric='euclidean')",
            f"{int(zero.sum())} all-zero row(s), first at row {_first(zero)}",
        )


def check_n_neighbors(value: object, n_rows: int, *, name: str = "n_neighbors") -> int:
    """Check a neighbour count in 1..n_rows-1 (a row is never its own neighbour)."""
    k = check_int(value, name, minimum=1)
    if k >= n_rows:
        fail(name, f"less than the number of rows ({n_rows})", repr(k))
    return k


def check_same_rows(n_rows: int, expected: int, *, name: str, other: str) -> None:
    """Fail unless an input has one row per row of another input."""
    if n_rows != expected:
        fail(name, f"one row per row of {other} ({expected} rows)", f"{n_rows} rows")


def check_labels_only(
    labels: object,
    *,
    n_examples: int | None = None,
    classes: Sequence[Any] | None = None,
    other: str = "features",
    name: str = "labels",
) -> tuple[LabelEncoding, int]:
    """Class ids (and the number of classes) when no ``pred_probs`` fixes the class count.

    The classes are ``classes`` when given; else ``0..max(labels)`` for integer labels, or the
    sorted distinct names for string labels. ``n_examples`` is the row count of ``other``.
    """
    if hasattr(labels, "to_numpy") and not isinstance(labels, np.ndarray):
        labels = labels.to_numpy()
    array = np.asarray(labels)
    if array.ndim != 1:
        fail(name, "a 1-D array of class labels", f"shape {array.shape}")
    if n_examples is not None and array.shape[0] != n_examples:
        fail(name, f"the same length as {other} ({n_examples} rows)", f"length {array.shape[0]}")
    if array.shape[0] == 0:
        fail(name, "non-empty", "length 0")
    if classes is not None:
        n_classes = len(classes)
        return check_labels(array, n_classes=n_classes, classes=classes, name=name), n_classes
    if array.dtype.kind in "OUS" and not all(
        isinstance(v, Integral) and not isinstance(v, bool) for v in array[:1000]
    ):
        n_classes = int(np.unique(array.astype(str) if array.dtype.kind == "O" else array).size)
    elif array.dtype.kind in "iufbO":
        numeric = array.astype(np.float64)
        finite = np.isfinite(numeric)
        negative = finite & (numeric < 0)
        if negative.any():
            index = _first(negative)
            fail(
                name,
                "class ids >= 0 or class names",
                f"{int(negative.sum())} negative, first {preview(array[index : index + 1])} "
                f"at index {index}",
            )
        n_classes = int(numeric[finite].max()) + 1 if finite.any() else 1
    else:
        fail(name, "integer class ids or class names", f"dtype {array.dtype}", kind=TypeError)
    encoded = check_labels(array, n_classes=n_classes, name=name)
    return encoded, n_classes
