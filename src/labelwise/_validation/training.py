"""Checks of the targets the trainers take: partial multi-label, PU, candidate sets, bags."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np

from labelwise._validation._base import _first, fail, preview


def _as_array(values: object) -> np.ndarray:
    if hasattr(values, "toarray"):
        values = values.toarray()
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()
    return np.asarray(values)


def check_rows(array: np.ndarray, n_examples: int, name: str, what: str) -> None:
    if array.shape[0] != n_examples:
        fail(name, f"{what} with one row per example ({n_examples})", f"{array.shape[0]} rows")


def check_partial_targets(targets: object, n_examples: int, *, name: str = "targets") -> np.ndarray:
    """int8 (n, L) with 1 observed positive, 0 observed negative, -1 unknown."""
    array = _as_array(targets)
    expected = "an int8 matrix of shape (n_examples, n_classes) with 1 / 0 / -1 (unknown)"
    if array.ndim != 2:
        fail(name, expected, f"shape {array.shape}")
    if array.dtype.kind not in "biuf":
        fail(name, expected, f"dtype {array.dtype}", kind=TypeError)
    check_rows(array, n_examples, name, "a matrix")
    bad = ~np.isin(array, (-1, 0, 1))
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        fail(
            name,
            "values in {1, 0, -1}",
            f"{int(bad.sum())} other value(s), first {array[row, col].item()!r} at ({row}, {col})",
        )
    out = array.astype(np.int8)
    if not (out == 1).any():
        fail(name, "at least one observed positive (1)", "none")
    return out


def check_pu_labels(labels: object, n_examples: int, *, name: str = "labels") -> np.ndarray:
    """int8 (n,): 1 labelled positive, 0 unlabeled; both present."""
    array = _as_array(labels)
    if array.ndim != 1:
        fail(name, "a 1-D array of 1 (labelled positive) / 0 (unlabeled)", f"shape {array.shape}")
    check_rows(array, n_examples, name, "an array")
    if array.dtype.kind not in "biuf" or not np.isin(array, (0, 1)).all():
        values = np.unique(array)
        fail(name, "1 (labelled positive) or 0 (unlabeled)", f"values {preview(values)}")
    out = array.astype(np.int8)
    if out.all() or not out.any():
        fail(name, "both labelled positives (1) and unlabeled examples (0)", f"only {int(out[0])}s")
    return out


def check_candidates(
    candidates: object, n_examples: int, *, name: str = "candidates"
) -> np.ndarray:
    """bool (n, K) candidate sets with at least one candidate per row and K >= 2."""
    array = _as_array(candidates)
    expected = "a bool matrix of shape (n_examples, n_classes)"
    if array.ndim != 2 or array.shape[1] < 2:
        fail(name, expected + " with n_classes >= 2", f"shape {array.shape}")
    check_rows(array, n_examples, name, "a matrix")
    if array.dtype.kind != "b":
        if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
            fail(name, expected + " (True = candidate)", f"dtype {array.dtype}", kind=TypeError)
        array = array.astype(bool)
    empty = np.asarray(~array.any(axis=1))
    if empty.any():
        fail(
            name,
            "at least one candidate per row",
            f"{int(empty.sum())} empty row(s), first at row {_first(empty)}",
        )
    return array


def check_bags(
    bag_ids: object, proportions: object, n_examples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bag ids ``0..n_bags-1`` per example and row-stochastic proportions (n_bags, K)."""
    ids = _as_array(bag_ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        fail(
            "bag_ids",
            "a 1-D integer array of bag ids 0..n_bags-1",
            f"shape {ids.shape}, dtype {ids.dtype}",
        )
    check_rows(ids, n_examples, "bag_ids", "an array")
    props = _as_array(proportions)
    if props.ndim != 2 or props.shape[1] < 2 or props.dtype.kind not in "iuf":
        fail(
            "proportions",
            "a numeric matrix of shape (n_bags, n_classes) with n_classes >= 2",
            f"shape {props.shape}",
        )
    props = props.astype(np.float64)
    if ids.min() < 0 or ids.max() >= props.shape[0]:
        fail(
            "bag_ids",
            f"bag ids in 0..{props.shape[0] - 1} (rows of proportions)",
            f"values from {ids.min()} to {ids.max()}",
        )
    if not np.isfinite(props).all() or (props < 0).any():
        fail("proportions", "finite and non-negative", "negative or non-finite entries")
    sums = props.sum(axis=1)
    off = np.abs(sums - 1) > 1e-3
    if off.any():
        row = _first(off)
        fail("proportions", "rows that sum to 1", f"row {row} sums to {sums[row]:.4g}")
    empty = np.bincount(ids, minlength=props.shape[0]) == 0
    if empty.any():
        fail(
            "bag_ids",
            "every bag (row of proportions) used at least once",
            f"{int(empty.sum())} empty bag(s), first {_first(empty)}",
        )
    return ids.astype(np.int64), props


def check_hidden_layer_sizes(value: object) -> tuple[int, ...]:
    """A tuple of positive layer widths (empty: a linear model)."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence) or not all(
        isinstance(v, Integral) and not isinstance(v, bool) and int(v) > 0 for v in value
    ):
        fail(
            "hidden_layer_sizes",
            "a tuple of positive ints (() for a linear model)",
            repr(value),
            kind=TypeError,
        )
    return tuple(int(v) for v in value)


def check_device_name(device: object, available: Any) -> str:
    """``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``"auto"`` picks CUDA when present."""
    if not isinstance(device, str) or not (
        device in ("auto", "cpu", "cuda", "mps") or device.startswith("cuda:")
    ):
        fail("device", "'auto', 'cpu', 'cuda' or 'cuda:N'", repr(device))
    if device == "auto":
        return "cuda" if available() else "cpu"
    if device.startswith("cuda") and not available():
        fail("device", "'cpu' or 'auto' on a machine without CUDA", repr(device))
    return device
