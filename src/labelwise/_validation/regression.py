"""Checks of regression inputs: numeric targets, predictions and uncertainties."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np

from labelwise._validation._base import (
    _first,
    fail,
    preview,
)


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
