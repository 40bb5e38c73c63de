"""Run labeling functions over a table and collect their votes as ``Annotations``."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from labelwise._validation import check_bool, check_int
from labelwise._validation.weak import (
    LabelingFunctionError,
    check_class_list,
    check_data,
    check_lf_list,
    check_lf_output,
    fail_no_votes,
    fail_unhashable,
    fail_unknown_vote,
    raise_lf_failure,
)
from labelwise.annotations import Annotations
from labelwise.weak._lf import ABSTAIN, LabelingFunction, Row


def _item(items: np.ndarray, position: int) -> Any:
    """The id of the item at ``position``, as a plain Python value (for messages)."""
    value = items[position]
    return value.item() if isinstance(value, np.generic) else value


def abstain_mask(values: np.ndarray) -> np.ndarray:
    """Where ``values`` (one vote per row) abstain: ``ABSTAIN``, None or NaN.

    In a NumPy string array the string ``"-1"`` abstains too: ``np.where(mask, "spam",
    ABSTAIN)`` turns ``ABSTAIN`` into that string.
    """
    kind = values.dtype.kind
    if kind in "iu":
        return values == ABSTAIN
    if kind == "f":
        return np.isnan(values) | (values == ABSTAIN)
    if kind in "US":
        return values == (str(ABSTAIN) if kind == "U" else str(ABSTAIN).encode())
    if kind == "O":
        return np.asarray(pd.isna(values), dtype=bool) | np.asarray(values == ABSTAIN, dtype=bool)
    return np.zeros(values.shape, dtype=bool)


class _Table:
    """The data in both shapes the labeling functions take, each built once, on demand."""

    def __init__(self, frame: pd.DataFrame | None, records: list[Any] | None) -> None:
        self._frame = frame
        self._records = records
        self._rows: list[Row] | None = None

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            assert self._records is not None
            self._frame = pd.DataFrame.from_records(self._records)
        return self._frame

    @property
    def rows(self) -> list[Row]:
        if self._rows is None:
            source = self._records if self._records is not None else self.frame.to_dict("records")
            self._rows = [Row(record) for record in source]
        return self._rows


def _run_lf(lf: LabelingFunction, table: _Table, items: np.ndarray, progress: bool) -> np.ndarray:
    """One labeling function's raw votes, one per row; its errors name it and the row."""
    n = items.size
    if lf.vectorized:
        try:
            raw = lf(table.frame)
        except LabelingFunctionError:  # it already names itself and the row
            raise
        except Exception as error:
            raise_lf_failure(lf.name, "the whole table (vectorized)", error)
        return check_lf_output(raw, n, lf.name)
    votes = np.empty(n, dtype=object)
    rows = tqdm(table.rows, desc=lf.name, leave=False, disable=not progress)
    for position, row in enumerate(rows):
        try:
            votes[position] = lf(row)
        except Exception as error:
            raise_lf_failure(lf.name, f"row {_item(items, position)!r}", error)
    return votes


def _fail_first_unhashable(
    values: np.ndarray, voted: np.ndarray, lf_name: str, items: np.ndarray
) -> None:
    """Name the first vote that cannot be a class label (the error path only)."""
    for position in voted:
        try:
            hash(values[position])
        except TypeError:
            fail_unhashable(lf_name, values[position], _item(items, position))


def _distinct_votes(
    raw: list[np.ndarray], masks: list[np.ndarray], names: list[str], items: np.ndarray
) -> list[Hashable]:
    """Sorted distinct votes of all labeling functions (first-seen order if not sortable)."""
    seen: dict[Any, None] = {}
    for values, mask, name in zip(raw, masks, names, strict=True):
        voted = values[~mask]
        try:
            distinct = pd.unique(voted)
        except TypeError:
            _fail_first_unhashable(values, np.flatnonzero(~mask), name, items)
            raise
        for value in distinct.tolist():
            seen.setdefault(value, None)
    found = list(seen)
    try:
        return sorted(found)
    except TypeError:
        return found


def _codes(
    values: np.ndarray,
    mask: np.ndarray,
    lookup: pd.Index,
    classes: Sequence[Any],
    lf_name: str,
    items: np.ndarray,
) -> np.ndarray:
    """Class codes of one labeling function's votes, -1 where it abstains."""
    codes = np.full(values.shape[0], -1, dtype=np.int64)
    voted = np.flatnonzero(~mask)
    if not voted.size:
        return codes
    try:
        found = lookup.get_indexer(pd.Index(values[voted]))
    except TypeError:
        _fail_first_unhashable(values, voted, lf_name, items)
        raise
    unknown = found < 0
    if unknown.any():
        position = voted[np.argmax(unknown)]
        fail_unknown_vote(lf_name, values[position], _item(items, position), classes)
    codes[voted] = found
    return codes


def apply(
    lfs: Sequence[LabelingFunction] | LabelingFunction,
    data: pd.DataFrame | Sequence[Any],
    *,
    classes: Sequence[Hashable] | None = None,
    progress: bool = True,
    n_jobs: int = 1,
) -> Annotations:
    """Run labeling functions over every row and collect their votes.

    Parameters
    ----------
    lfs : list of LabelingFunction
        With distinct names (the names become the sources).
    data : pandas.DataFrame or list of dict
        One row per item. Items are the DataFrame's index values (``0..n-1`` for a list of
        records). Row labeling functions get each row as a :class:`Row`; vectorized ones get
        the DataFrame (a list of records is made into one).
    classes : sequence, optional
        Every class the labeling functions may vote, in the order that defines the class ids.
        Default: the sorted distinct votes.
    progress : bool, default=True
        Show a progress bar over the labeling functions (and over the rows of each row one).
    n_jobs : int, default=1
        Labeling functions run at once, on threads (useful when they release the GIL: NumPy,
        pandas, I/O, remote models). The result is the same for every value.

    Returns
    -------
    Annotations
        Every item and every labeling function, including those that never vote.

    Raises
    ------
    LabelingFunctionError
        When a labeling function raises; the message names it and the row, and the original
        exception is chained (``__cause__``).
    ValueError
        For a vote not in ``classes``, or a vectorized function returning the wrong length.

    Examples
    --------
    >>> from labelwise.weak import ABSTAIN, apply, labeling_function
    >>> @labeling_function()
    ... def has_link(row):
    ...     return "spam" if "http" in row["text"] else ABSTAIN
    >>> @labeling_function()
    ... def polite(row):
    ...     return "ham" if "thanks" in row["text"] else None
    >>> records = [{"text": "thanks!"}, {"text": "go to http://x"}, {"text": "hi"}]
    >>> ann = apply([has_link, polite], records, classes=["ham", "spam"], progress=False)
    >>> ann.to_matrix()
    array([[-1,  0],
           [ 1, -1],
           [-1, -1]])
    """
    checked = check_lf_list(lfs, LabelingFunction)
    frame, records, items = check_data(data)
    known = check_class_list(classes) if classes is not None else None
    show = check_bool(progress, "progress")
    workers = check_int(n_jobs, "n_jobs", minimum=1)
    table = _Table(frame, records)
    if any(not lf.vectorized for lf in checked):
        _ = table.rows  # built once, before any thread reads it
    if any(lf.vectorized for lf in checked):
        _ = table.frame

    bar = tqdm(total=len(checked), desc="labeling functions", unit="LF", disable=not show)
    with bar:
        if workers == 1:
            raw = []
            for lf in checked:
                raw.append(_run_lf(lf, table, items, show))
                bar.update()
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_run_lf, lf, table, items, False) for lf in checked]
                for future in futures:
                    future.add_done_callback(lambda _: bar.update())
                try:
                    raw = [future.result() for future in futures]  # the first error in LF order
                finally:
                    pool.shutdown(cancel_futures=True)

    masks = [abstain_mask(values) for values in raw]
    if known is None:
        known = _distinct_votes(raw, masks, [lf.name for lf in checked], items)
        if not known:
            fail_no_votes()
    lookup = pd.Index(known)
    width = np.int8 if len(known) < 127 else np.int16 if len(known) < 32767 else np.int32
    matrix = np.empty((items.size, len(checked)), dtype=width)
    for column, (lf, values, mask) in enumerate(zip(checked, raw, masks, strict=True)):
        matrix[:, column] = _codes(values, mask, lookup, known, lf.name, items)
    rows, cols = np.nonzero(matrix >= 0)
    class_ids = pd.Index(known).to_numpy()
    if class_ids.dtype.kind not in "iufb":
        class_ids = np.asarray([*known, None], dtype=object)[:-1]  # keeps tuples as scalars
    arrays = (
        rows.astype(np.int64),
        cols.astype(np.int64),
        matrix[rows, cols].astype(np.int64),
        np.asarray(items).copy(),
        np.asarray([lf.name for lf in checked], dtype=object),
        class_ids.copy(),
    )
    for array in arrays:
        array.flags.writeable = False
    return Annotations(*arrays)
