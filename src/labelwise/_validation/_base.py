"""Wording helpers and the checks of scalar options, shared by every input check."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any, NoReturn

import numpy as np


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


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_bool(value: object, name: str) -> bool:
    """Check a ``True``/``False`` flag (numpy booleans included)."""
    if not isinstance(value, bool | np.bool_):
        fail(name, "True or False", f"{type(value).__name__} {value!r}", kind=TypeError)
    return bool(value)


def check_positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    """Check a finite number > 0 (or >= 0 when ``allow_zero``)."""
    expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(name, expected, f"{type(value).__name__} {value!r}", kind=TypeError)
    number = float(value)
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        fail(name, expected, repr(value))
    return number


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
