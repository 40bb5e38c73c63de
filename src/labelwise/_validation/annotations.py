"""Checks of annotation tables: columns, missing values, repeated (item, source) pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from labelwise._numerics import (
    dense_to_long,
    group_by_item,
    last_of_each_pair,
    last_of_each_pair_if_grouped,
)
from labelwise._validation._base import _first, fail, preview

DUPLICATE_POLICIES = ("error", "keep", "last")


def check_columns(frame: object, columns: Sequence[str], *, name: str = "df") -> pd.DataFrame:
    """A DataFrame holding ``columns``; the error names the missing and the present columns."""
    if not isinstance(frame, pd.DataFrame):
        fail(name, "a pandas DataFrame", type(frame).__name__, kind=TypeError)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        fail(
            name,
            f"a table with the columns {preview(columns, 10)}",
            f"no column(s) {preview(missing, 10)}; it has {preview(list(frame.columns), 20)}",
        )
    if len(frame) == 0:
        fail(name, "a table with at least one annotation", "0 rows")
    for column in columns:
        dtype = frame[column].dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iub":  # these cannot hold NA
            continue
        empty = frame[column].isna().to_numpy()
        if empty.any():
            row = _first(empty)
            fail(
                name,
                f"a value in every row of column {column!r}",
                f"{int(empty.sum())} missing, first at row {row}",
            )
    return frame


def check_duplicate_pairs(item: np.ndarray, source: np.ndarray, policy: str) -> np.ndarray:
    """Row mask to keep under ``policy`` for repeated (item, source) pairs (codes >= 0)."""
    if policy == "keep" or item.size == 0:
        return np.ones(item.size, dtype=bool)
    n_sources = int(source.max()) + 1
    grouped, keep, n_dropped = last_of_each_pair_if_grouped(item, source, n_sources)
    if not grouped:
        indptr, order = group_by_item(item, int(item.max()) + 1)
        keep = last_of_each_pair(indptr, order, source, n_sources)
        n_dropped = int(keep.size - np.count_nonzero(keep))
    if policy == "error" and n_dropped:
        row = _first(~keep)  # an earlier copy of a pair that appears again later
        fail(
            "duplicates",
            "'keep' or 'last' when a source labels an item more than once "
            "(or a table without repeated (item, source) pairs)",
            f"{n_dropped} repeated pair(s), first at row {row}",
        )
    return keep


def check_known_classes(
    values: np.ndarray, known: Sequence[Any], *, name: str = "label", what: str = "classes"
) -> np.ndarray:
    """Codes of ``values`` in ``known`` (the given ``what``); fail naming unknown values."""
    lookup = {c: k for k, c in enumerate(known)}
    if len(lookup) != len(known):
        fail(what, "distinct ids", preview(list(known), 10))
    inverse, uniques = pd.factorize(values)
    unknown = [u for u in uniques.tolist() if u not in lookup]
    if unknown:
        fail(
            name,
            f"one of the given {what} {preview(list(known), 10)}",
            f"unknown {preview(unknown)}",
        )
    codes = np.array([lookup[u] for u in uniques.tolist()], dtype=np.int64)
    return codes[np.asarray(inverse, dtype=np.int64)]


def check_label_matrix(matrix: object, *, missing: int, name: str = "M") -> np.ndarray:
    """A 2-D integer (items x sources) matrix of class ids, ``missing`` where unanswered."""
    array = np.asarray(matrix)
    if array.ndim != 2:
        fail(name, "a 2-D (items x sources) matrix", f"shape {array.shape}")
    if array.size == 0:
        fail(name, "non-empty", f"shape {array.shape}")
    if array.dtype.kind == "f":
        if np.isnan(array).any():
            fail(name, f"integer class ids with {missing} for missing (not NaN)", "NaN values")
        if (array != np.round(array)).any():
            fail(name, "integer class ids", "non-integer values")
        array = array.astype(np.int64)
    if array.dtype.kind not in "iub":
        fail(name, "an integer matrix of class ids", f"dtype {array.dtype}", kind=TypeError)
    return array


def label_matrix_to_long(
    array: np.ndarray, *, missing: int, name: str = "M"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item, source, label) int64 of the answered cells of a checked label matrix, row-major;
    fails naming the negative class ids other than ``missing``."""
    if array.dtype.kind == "b":
        array = array.astype(np.int8)
    rows, cols, values, n_negative = dense_to_long(np.ascontiguousarray(array), missing)
    if n_negative:
        bad = np.unique(values[values < 0])
        fail(name, f"class ids >= 0, or {missing} for missing", f"value(s) {preview(bad)}")
    return rows, cols, values


def check_tag_lists(column: pd.Series, *, name: str) -> list[Any]:
    """Each row's tags as a list; a row must hold a list, tuple or set (possibly empty)."""
    values = column.tolist()
    for row, tags in enumerate(values):
        if not isinstance(tags, (list, tuple, set, frozenset, np.ndarray)):
            fail(
                name,
                "a list (or tuple, set) of tags in every row, empty for none",
                f"{tags!r} at row {row}",
                kind=TypeError,
            )
    return [list(tags) for tags in values]
