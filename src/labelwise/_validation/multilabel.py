"""Checks of multi-label inputs: 0/1 tags in any format, independent probabilities."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from scipy import sparse

from labelwise._numerics import (
    ROW_ABOVE_ONE,
    ROW_NEGATIVE,
    ROW_NONFINITE,
)
from labelwise._validation._base import (
    _first,
    fail,
    preview,
)
from labelwise._validation.classification import check_pred_probs_array


@dataclass(frozen=True)
class MultilabelInput:
    """Validated multi-label inputs: positives as CSR (sorted, unique) and the probabilities."""

    indptr: np.ndarray  # (n + 1,) int64
    indices: np.ndarray  # (nnz,) int64, the positive classes of each row, ascending
    pred_probs: np.ndarray  # (n, K) float32/float64, values checked by the caller's pass
    classes: tuple[Any, ...] | None


def check_unit_interval_rows(
    array: np.ndarray, defects: np.ndarray, *, name: str = "pred_probs"
) -> None:
    """Fail unless every value is a finite probability in [0, 1] (independent per class)."""
    if not defects.any():
        return
    summary: dict[int, tuple[int, int, np.ndarray]] = {}
    for code in (ROW_NONFINITE, ROW_NEGATIVE, ROW_ABOVE_ONE):
        mask = defects == code
        if mask.any():
            row = _first(mask)
            summary[code] = (int(mask.sum()), row, array[row])
    check_unit_interval_summary(summary, name=name)


def check_unit_interval_summary(
    summary: dict[int, tuple[int, int, np.ndarray]], *, name: str = "pred_probs"
) -> None:
    """Fail on the worst defect in ``summary``: code -> (count, first row, that row's values).

    The combined form of :func:`check_unit_interval_rows`, for inputs checked block by block.
    """
    for code, what in (
        (ROW_NONFINITE, "non-finite (NaN or inf)"),
        (ROW_NEGATIVE, "negative"),
        (ROW_ABOVE_ONE, "above 1"),
    ):
        if code in summary:
            count, row, values = summary[code]
            fail(
                name,
                "independent per-class probabilities in [0, 1]",
                f"{count} row(s) with {what} values, first at row {row}: {preview(values)}",
            )


def check_indicator_summary(
    n_bad: int, row: int, col: int, value: object, *, name: str = "labels"
) -> None:
    """Fail when ``n_bad`` entries of a dense indicator matrix are not 0/1 (the first,
    ``value``, at ``(row, col)``); also the combined form for matrices checked in blocks."""
    if n_bad:
        fail(
            name,
            "binary (0/1) indicators",
            f"{n_bad} other value(s), first {value!r} at ({row}, {col})",
        )


def check_multilabel_labels(
    labels: object,
    *,
    n_examples: int,
    n_classes: int,
    classes: Sequence[Any] | None = None,
    name: str = "labels",
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-label targets as CSR ``(indptr, indices)`` of the positive classes of each row.

    Accepts a 0/1 indicator matrix ``(n, K)`` (dense: bool, integer or whole floats;
    scipy.sparse with stored values 1), or a list of lists of class ids (class names when
    ``classes`` names the columns). Anything else non-binary is refused.
    """
    if sparse.issparse(labels):
        matrix = sparse.csr_matrix(labels)
        if matrix.shape != (n_examples, n_classes):
            fail(
                name,
                f"an indicator matrix of shape ({n_examples}, {n_classes})",
                f"shape {matrix.shape}",
            )
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        if matrix.nnz and not np.all(matrix.data == 1):
            bad = matrix.data[matrix.data != 1]
            fail(name, "binary (0/1) indicators", f"stored value(s) {preview(np.unique(bad))}")
        matrix.sort_indices()
        return matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64)
    if hasattr(labels, "to_numpy") and not isinstance(labels, np.ndarray):
        labels = labels.to_numpy()
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        if labels.shape != (n_examples, n_classes):
            fail(
                name,
                f"an indicator matrix of shape ({n_examples}, {n_classes})",
                f"shape {labels.shape}",
            )
        if labels.dtype.kind not in "biuf":
            fail(name, "a numeric 0/1 indicator matrix", f"dtype {labels.dtype}", kind=TypeError)
        if labels.dtype.kind != "b":
            bad = (labels != 0) & (labels != 1)
            if bad.any():
                row, col = (int(v[0]) for v in np.nonzero(bad))
                check_indicator_summary(
                    int(bad.sum()), row, col, labels[row, col].item(), name=name
                )
        rows, cols = np.nonzero(labels)
        indptr = np.zeros(n_examples + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_examples), out=indptr[1:])
        return indptr, cols.astype(np.int64)
    return _label_lists_to_csr(labels, n_examples, n_classes, classes, name)


def _label_lists_to_csr(
    labels: object, n_examples: int, n_classes: int, classes: Sequence[Any] | None, name: str
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        fail(
            name,
            "an indicator matrix or a list of lists of classes",
            type(labels).__name__,
            kind=TypeError,
        )
    rows = list(labels)
    if len(rows) != n_examples:
        fail(name, f"one entry per row of pred_probs ({n_examples})", f"{len(rows)} entries")
    lengths = np.empty(n_examples, dtype=np.int64)
    for i, row in enumerate(rows):  # one len() per row: the lists themselves are Python objects
        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
            fail(name, "a list of classes for every row", f"{row!r} at row {i}", kind=TypeError)
        lengths[i] = len(row)  # type: ignore[arg-type]
    flat = np.array([c for row in rows for c in row], dtype=object)
    if classes is not None:
        lookup = {c: k for k, c in enumerate(classes)}
        unknown = [c for c in dict.fromkeys(flat.tolist()) if c not in lookup]
        if unknown:
            fail(name, f"classes among {preview(list(classes))}", f"unknown {preview(unknown)}")
        codes = np.array([lookup[c] for c in flat.tolist()], dtype=np.int64)
    else:
        if flat.size and not all(isinstance(c, Integral) and not isinstance(c, bool) for c in flat):
            odd = next(c for c in flat if not isinstance(c, Integral) or isinstance(c, bool))
            fail(name, "lists of integer class ids (or pass `classes`)", f"{odd!r}", kind=TypeError)
        codes = flat.astype(np.int64) if flat.size else np.empty(0, dtype=np.int64)
    out = (codes < 0) | (codes >= n_classes)
    if out.any():
        fail(
            name,
            f"class ids in 0..{n_classes - 1}",
            f"{int(out.sum())} out of range, first {codes[out][0]}",
        )
    row_ids = np.repeat(np.arange(n_examples), lengths)
    # Sort each row's classes and drop repeats: one positive per (row, class).
    order = np.lexsort((codes, row_ids))
    row_ids, codes = row_ids[order], codes[order]
    keep = np.ones(codes.size, dtype=bool)
    keep[1:] = (row_ids[1:] != row_ids[:-1]) | (codes[1:] != codes[:-1])
    row_ids, codes = row_ids[keep], codes[keep]
    indptr = np.zeros(n_examples + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_ids, minlength=n_examples), out=indptr[1:])
    return indptr, codes


def check_multilabel(
    labels: object, pred_probs: object, *, classes: Sequence[Any] | None = None
) -> MultilabelInput:
    """Validate multi-label (labels, pred_probs); the probability values are checked later.

    The caller's first pass over ``pred_probs`` computes row defect codes and hands them to
    :func:`check_unit_interval_rows`, so the data is read once.
    """
    probs = check_pred_probs_array(pred_probs)
    n, k = probs.shape
    if classes is not None and len(classes) != k:
        fail("classes", f"{k} names, one per column of pred_probs", f"{len(classes)} names")
    indptr, indices = check_multilabel_labels(labels, n_examples=n, n_classes=k, classes=classes)
    return MultilabelInput(indptr, indices, probs, tuple(classes) if classes is not None else None)
