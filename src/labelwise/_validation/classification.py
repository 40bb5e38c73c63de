"""Checks of multi-class inputs: probability rows and class labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from labelwise._numerics import (
    ROW_NEGATIVE,
    ROW_NONFINITE,
    ROW_SUM_OFF,
    row_defects,
)
from labelwise._validation._base import (
    ROW_SUM_TOLERANCE,
    _first,
    fail,
    preview,
)


def check_pred_probs_array(pred_probs: object, *, name: str = "pred_probs") -> np.ndarray:
    """Return ``pred_probs`` as a 2-D float32/float64 array, checking type and shape only.

    float32 and float64 pass through without a copy (memory-mapped arrays stay mapped); other
    numeric types are converted to float64 (float16 to float32). The values are checked by
    :func:`check_probability_rows`, from row statistics that a kernel's own pass can supply.
    """
    if hasattr(pred_probs, "to_numpy") and not isinstance(pred_probs, np.ndarray):
        pred_probs = pred_probs.to_numpy()
    if not isinstance(pred_probs, np.ndarray):
        try:
            pred_probs = np.asarray(pred_probs)
        except (ValueError, TypeError):
            fail(name, "a 2-D array of probabilities", type(pred_probs).__name__, kind=TypeError)
    array: np.ndarray = pred_probs
    if array.dtype.kind not in "fiub":
        fail(name, "a numeric array of probabilities", f"dtype {array.dtype}", kind=TypeError)
    if array.ndim != 2:
        fail(name, "a 2-D array of shape (n_examples, n_classes)", f"shape {array.shape}")
    if array.shape[0] == 0:
        fail(name, "non-empty", f"shape {array.shape}")
    if array.shape[1] < 2:
        fail(name, "an array with at least 2 columns (classes)", f"shape {array.shape}")
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if array.dtype not in (np.float32, np.float64):
        return array.astype(np.float64)
    return array


def check_probability_rows(
    array: np.ndarray, defects: np.ndarray, *, name: str = "pred_probs"
) -> None:
    """Fail unless every row is finite, non-negative and sums to one (within tolerance).

    ``defects`` holds one code per row (see :func:`labelwise._numerics.classify_row`), computed
    by :func:`labelwise._numerics.row_defects` or during a kernel's own pass over the data.
    """
    if not defects.any():
        return
    summary = {}
    for code in (ROW_NONFINITE, ROW_NEGATIVE, ROW_SUM_OFF):
        mask = defects == code
        if mask.any():
            row = _first(mask)
            summary[code] = (int(mask.sum()), row, np.asarray(array[row]))
    check_row_defect_summary(summary, name=name)


def check_row_defect_summary(
    summary: dict[int, tuple[int, int, np.ndarray]], *, name: str = "pred_probs"
) -> None:
    """Fail on the worst kind of row defect in ``summary``: code -> (count, first row, row).

    The combined form of :func:`check_probability_rows`, for inputs checked chunk by chunk.
    """
    for code, what in ((ROW_NONFINITE, "non-finite (NaN or inf)"), (ROW_NEGATIVE, "negative")):
        if code in summary:
            count, row, values = summary[code]
            fail(
                name,
                "finite and non-negative",
                f"{count} row(s) with {what} values, first at row {row}: {preview(values)}",
            )
    if ROW_SUM_OFF in summary:
        count, row, values = summary[ROW_SUM_OFF]
        fail(
            name,
            f"rows that sum to 1 (within {ROW_SUM_TOLERANCE:g}); normalise them first",
            f"{count} row(s) off, first at row {row} summing to "
            f"{float(np.sum(values, dtype=np.float64)):.6g}",
        )


def check_pred_probs(pred_probs: object, *, name: str = "pred_probs") -> np.ndarray:
    """Return ``pred_probs`` as a 2-D float array of probability rows, fully checked.

    One streaming pass: finite, non-negative, rows summing to one within
    ``ROW_SUM_TOLERANCE``; float32/float64 inputs are not copied.
    """
    array = check_pred_probs_array(pred_probs, name=name)
    check_probability_rows(array, row_defects(array, ROW_SUM_TOLERANCE), name=name)
    return array


@dataclass(frozen=True)
class LabelEncoding:
    """Integer labels plus the class names they came from (``None`` when given as ints)."""

    labels: np.ndarray
    classes: tuple[Any, ...] | None


def check_labels(
    labels: object,
    *,
    n_classes: int,
    n_examples: int | None = None,
    classes: Sequence[Any] | None = None,
    name: str = "labels",
) -> LabelEncoding:
    """Return labels as int64 class ids ``0..n_classes-1``.

    Integer labels are range-checked. String (or other non-numeric) labels are class names:
    mapped through ``classes`` (the names of the ``pred_probs`` columns, in order) or, when
    ``classes`` is None, through their sorted distinct values, which must then number exactly
    ``n_classes``. Floats are accepted only when every value is a whole number.
    """
    if hasattr(labels, "to_numpy") and not isinstance(labels, np.ndarray):
        labels = labels.to_numpy()
    array = np.asarray(labels)
    if array.ndim != 1:
        fail(name, "a 1-D array of class labels", f"shape {array.shape}")
    if n_examples is not None and array.shape[0] != n_examples:
        fail(
            name,
            f"the same length as pred_probs ({n_examples} rows)",
            f"length {array.shape[0]}",
        )
    if array.shape[0] == 0:
        fail(name, "non-empty", "length 0")
    if classes is not None:
        return _encode_names(array, list(classes), n_classes, name)
    if array.dtype.kind in "OUS":
        if all(isinstance(v, Integral) and not isinstance(v, bool) for v in array[:1000]):
            array = array.astype(np.int64)
        else:
            names = np.unique(array.astype(str) if array.dtype.kind == "O" else array)
            if names.size != n_classes:
                fail(
                    name,
                    f"class names covering all {n_classes} columns of pred_probs, or pass "
                    "`classes` to say which name each column is",
                    f"{names.size} distinct names: {preview(names)}",
                )
            return _encode_names(array, names.tolist(), n_classes, name)
    if array.dtype.kind == "b":
        array = array.astype(np.int64)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            fail(
                name,
                "integer class ids",
                f"non-finite values (first at index {_first(~np.isfinite(array))})",
            )
        fractional = array != np.round(array)
        if fractional.any():
            i = _first(fractional)
            fail(name, "integer class ids", f"non-integer value {array[i].item()!r} at index {i}")
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        fail(name, "integer class ids or class names", f"dtype {array.dtype}", kind=TypeError)
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= n_classes:
        bad = (array < 0) | (array >= n_classes)
        i = _first(bad)
        check_label_range_summary(int(bad.sum()), i, array[i], n_classes, name=name)
    return LabelEncoding(np.ascontiguousarray(array, dtype=np.int64), None)


def check_label_range_summary(
    n_bad: int, first: int, value: object, n_classes: int, *, name: str = "labels"
) -> None:
    """Fail when ``n_bad`` labels lie outside ``0..n_classes-1`` (the first, ``value``, at
    index ``first``); the combined form of the range check, for labels checked in chunks."""
    if n_bad:
        fail(
            name,
            f"class ids in 0..{n_classes - 1} (pred_probs has {n_classes} columns)",
            f"{n_bad} out of range, first {value} at index {first}",
        )


def _encode_names(array: np.ndarray, names: list[Any], n_classes: int, name: str) -> LabelEncoding:
    if len(names) != n_classes:
        fail("classes", f"{n_classes} names, one per column of pred_probs", f"{len(names)} names")
    if len(set(names)) != len(names):
        fail("classes", "distinct names", preview(names, len(names)))
    lookup = {value: i for i, value in enumerate(names)}
    uniques, inverse = np.unique(array, return_inverse=True)
    unknown = [u for u in uniques.tolist() if u not in lookup]
    if unknown:
        fail(name, f"one of the classes {preview(names)}", f"unknown {preview(unknown)}")
    codes = np.array([lookup[u] for u in uniques.tolist()], dtype=np.int64)
    return LabelEncoding(codes[inverse.reshape(-1)], tuple(names))


def check_every_class_present(
    labels: np.ndarray, n_classes: int, *, name: str = "labels"
) -> np.ndarray:
    """Return per-class counts; fail naming the classes that have no example."""
    return check_class_counts(np.bincount(labels, minlength=n_classes), name=name)


def check_class_counts(counts: np.ndarray, *, name: str = "labels") -> np.ndarray:
    """Return ``counts`` (examples per class); fail naming the classes that have none."""
    n_classes = counts.size
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        fail(
            name,
            f"at least one example of every class 0..{n_classes - 1} (one per pred_probs column); "
            "drop the unused columns or audit data that contains them",
            f"no examples of class(es) {preview(empty, 10)}",
        )
    return counts


@dataclass(frozen=True)
class ClassificationInput:
    """Validated multi-class inputs: int64 labels, probability rows, class names if any."""

    labels: np.ndarray
    pred_probs: np.ndarray
    classes: tuple[Any, ...] | None
    class_counts: np.ndarray


def check_classification(
    labels: object,
    pred_probs: object,
    *,
    classes: Sequence[Any] | None = None,
    require_all_classes: bool = True,
    check_rows: bool = True,
) -> ClassificationInput:
    """Validate a (labels, pred_probs) pair for multi-class label-quality work.

    Confident learning needs an example of every class (its thresholds are class means), so
    ``require_all_classes`` is on unless the caller only needs per-example quantities.
    ``check_rows=False`` leaves the value checks to the caller, whose kernel computes the row
    statistics during its own pass and hands them to :func:`check_probability_rows`.
    """
    probs = check_pred_probs(pred_probs) if check_rows else check_pred_probs_array(pred_probs)
    encoded = check_labels(
        labels, n_classes=probs.shape[1], n_examples=probs.shape[0], classes=classes
    )
    if require_all_classes:
        counts = check_every_class_present(encoded.labels, probs.shape[1])
    else:
        counts = np.bincount(encoded.labels, minlength=probs.shape[1])
    return ClassificationInput(encoded.labels, probs, encoded.classes, counts)
