"""Every check of user input, and the only place that words input errors.

Messages follow one template: ``` `<arg>` must be <expected>; got <actual>. ``` with shapes,
lengths and the allowed set, so a user can fix the call without reading the source.
``ValueError`` is for bad values, ``TypeError`` for bad types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, NoReturn

import numpy as np
from scipy import sparse

from labelwise._numerics import (
    ROW_ABOVE_ONE,
    ROW_NEGATIVE,
    ROW_NONFINITE,
    ROW_SUM_OFF,
    row_defects,
)


class LabelwiseWarning(UserWarning):
    """Something in the input limits what a result can say (e.g. a class too small to prune)."""


#: Rows of ``pred_probs`` may deviate this much from summing to one (float32 softmax over
#: thousands of classes stays well inside it; probabilities rounded to 3 decimals may not).
ROW_SUM_TOLERANCE = 1e-3


def fail(arg: str, expected: str, actual: str, *, kind: type[Exception] = ValueError) -> NoReturn:
    raise kind(f"`{arg}` must be {expected}; got {actual}.")


def preview(values: Iterable[Any], limit: int = 5) -> str:
    items = list(values)
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in items[:limit])
    return shown + (", ..." if len(items) > limit else "")


def check_choice(value: object, name: str, allowed: Sequence[str]) -> str:
    """Check that ``value`` is one of the strings in ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        fail(name, f"one of {preview(allowed, len(allowed))}", repr(value))
    return value


def check_fraction(value: object, name: str, *, allow_zero: bool = False) -> float:
    """Check a number in (0, 1] (or [0, 1] when ``allow_zero``)."""
    low = "[0, 1]" if allow_zero else "(0, 1]"
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(name, f"a number in {low}", f"{type(value).__name__} {value!r}", kind=TypeError)
    number = float(value)
    if not (0.0 <= number <= 1.0) or (number == 0.0 and not allow_zero):
        fail(name, f"a number in {low}", repr(value))
    return number


def check_int(value: object, name: str, *, minimum: int) -> int:
    """Check an integer that is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        fail(name, f"an integer >= {minimum}", f"{type(value).__name__} {value!r}", kind=TypeError)
    if int(value) < minimum:
        fail(name, f"an integer >= {minimum}", repr(value))
    return int(value)


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
    for code, what in ((ROW_NONFINITE, "non-finite (NaN or inf)"), (ROW_NEGATIVE, "negative")):
        mask = defects == code
        if mask.any():
            row = _first(mask)
            fail(
                name,
                "finite and non-negative",
                f"{int(mask.sum())} row(s) with {what} values, first at row {row}: "
                f"{preview(array[row])}",
            )
    off = defects == ROW_SUM_OFF
    row = _first(off)
    fail(
        name,
        f"rows that sum to 1 (within {ROW_SUM_TOLERANCE:g}); normalise them first",
        f"{int(off.sum())} row(s) off, first at row {row} summing to "
        f"{float(np.sum(array[row], dtype=np.float64)):.6g}",
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
        fail(
            name,
            f"class ids in 0..{n_classes - 1} (pred_probs has {n_classes} columns)",
            f"{int(bad.sum())} out of range, first {array[i]} at index {i}",
        )
    return LabelEncoding(np.ascontiguousarray(array, dtype=np.int64), None)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


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
    counts = np.bincount(labels, minlength=n_classes)
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


# --------------------------------------------------------------------------- multi-label


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
    for code, what in (
        (ROW_NONFINITE, "non-finite (NaN or inf)"),
        (ROW_NEGATIVE, "negative"),
        (ROW_ABOVE_ONE, "above 1"),
    ):
        mask = defects == code
        if mask.any():
            row = _first(mask)
            fail(
                name,
                "independent per-class probabilities in [0, 1]",
                f"{int(mask.sum())} row(s) with {what} values, first at row {row}: "
                f"{preview(array[row])}",
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
                fail(
                    name,
                    "binary (0/1) indicators",
                    f"{int(bad.sum())} other value(s), "
                    f"first {labels[row, col].item()!r} at ({row}, {col})",
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


# --------------------------------------------------------------------------- regression inputs


def check_bool(value: object, name: str) -> bool:
    """Check a ``True``/``False`` flag (numpy booleans included)."""
    if not isinstance(value, bool | np.bool_):
        fail(name, "True or False", f"{type(value).__name__} {value!r}", kind=TypeError)
    return bool(value)


def check_real_vector(
    values: object, name: str, *, length: int | None = None, length_of: str = "y"
) -> np.ndarray:
    """Return ``values`` as a 1-D float64 array of finite real numbers.

    Integer and float dtypes are converted (float32 is widened: regression inputs are 1-D, so
    the copy is small); object arrays are accepted only when every element is a real number;
    bool, complex, string and other dtypes are refused. ``length`` (the length of the array
    named ``length_of``) is checked before anything else about the values.
    """
    expected = "a 1-D array of real numbers"
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        fail(name, expected, type(values).__name__, kind=TypeError)
    if array.ndim != 1:
        fail(
            name,
            "a 1-D array of shape (n,) (flatten a single column with .ravel())",
            f"shape {array.shape}",
        )
    if length is not None and array.shape[0] != length:
        fail(name, f"the same length as {length_of} ({length})", f"length {array.shape[0]}")
    if array.shape[0] == 0:
        fail(name, "non-empty", "length 0")
    if array.dtype.kind == "O":
        for index, item in enumerate(array.tolist()):  # object arrays hold Python objects
            if isinstance(item, bool) or not isinstance(item, Real):
                fail(
                    name,
                    expected,
                    f"non-numeric value {item!r} ({type(item).__name__}) at index {index}",
                    kind=TypeError,
                )
    elif array.dtype.kind not in "iuf":
        fail(name, expected, f"dtype {array.dtype}", kind=TypeError)
    array = np.ascontiguousarray(array, dtype=np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        index = _first(~finite)
        fail(
            name,
            "finite (no NaN or inf)",
            f"{int(array.size - finite.sum())} non-finite value(s), first at index {index}: "
            f"{preview(array[index : index + 1])}",
        )
    return array


def check_positive_vector(
    values: object, name: str, *, length: int | None = None, length_of: str = "y"
) -> np.ndarray:
    """Like :func:`check_real_vector`, and every value must be > 0 (e.g. standard deviations)."""
    array = check_real_vector(values, name, length=length, length_of=length_of)
    bad = array <= 0
    if bad.any():
        index = _first(bad)
        fail(
            name,
            "positive (standard deviations > 0)",
            f"{int(bad.sum())} value(s) <= 0, first at index {index}: "
            f"{preview(array[index : index + 1])}",
        )
    return array


@dataclass(frozen=True)
class RegressionInput:
    """Validated regression inputs: float64 targets, predictions and (optional) uncertainty."""

    y: np.ndarray
    y_pred: np.ndarray
    uncertainty: np.ndarray | None


def check_regression(y: object, y_pred: object, uncertainty: object = None) -> RegressionInput:
    """Validate ``y`` (given targets), ``y_pred`` (predictions) and optional ``uncertainty``."""
    target = check_real_vector(y, "y")
    prediction = check_real_vector(y_pred, "y_pred", length=target.size)
    spread = (
        None
        if uncertainty is None
        else check_positive_vector(uncertainty, "uncertainty", length=target.size)
    )
    return RegressionInput(target, prediction, spread)


def check_residual_spread(
    spread: float, residual: np.ndarray, *, centre: float, side: str | None = None
) -> None:
    """Fail when the residuals' fitted spread is zero, saying why and what to do.

    ``side`` ("above" or "below"): the spread was measured only on the residuals on that side
    of ``centre`` (the side that corruptions never reach); None: on all of them.
    """
    if spread > 0:
        return
    expected = (
        "residuals that vary, so that their spread can standardise them; pass out-of-sample "
        "predictions "
        "(not a fit to y itself), or `uncertainty` with calibrate_uncertainty=False"
    )
    if side is None or residual.min() == residual.max():
        # A two-sided spread (median, then mean absolute deviation) is zero only then.
        actual = f"every residual equal to {preview(residual[:1])}"
    else:
        actual = (
            f"every residual at or {side} their centre {preview([centre])} equal to it, "
            "so nothing measures the noise on the side that corruptions never reach"
        )
    fail("y - y_pred", expected, actual)


# --------------------------------------------------------------------------- feature matrices
# (outliers, near-duplicates, class summaries)


def check_positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    """Check a finite number > 0 (or >= 0 when ``allow_zero``)."""
    expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(name, expected, f"{type(value).__name__} {value!r}", kind=TypeError)
    number = float(value)
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        fail(name, expected, repr(value))
    return number


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


def check_pruning_options(
    method: object,
    frac_noise: object,
    min_examples_per_class: object,
    *,
    methods: Sequence[str],
    pruning: Sequence[str],
) -> tuple[str, float, int]:
    """Check a confident-learning method with its ``frac_noise`` and ``min_examples_per_class``.

    ``frac_noise`` other than 1.0 only means something for the ``pruning`` methods.
    """
    checked = check_choice(method, "method", methods)
    fraction = check_fraction(frac_noise, "frac_noise")
    minimum = check_int(min_examples_per_class, "min_examples_per_class", minimum=0)
    if fraction != 1.0 and checked not in pruning:
        fail(
            "frac_noise",
            f"1.0 unless method is one of {', '.join(pruning)}",
            f"{fraction} with method={checked!r}",
        )
    return checked, fraction, minimum
