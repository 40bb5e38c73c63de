"""The one container for "several sources labelled some items": people, rules, models.

Stored as three parallel int64 arrays (item, source, label), one entry per annotation, plus the
original ids of items, sources and classes. Every aggregator takes it, and its sparse views
(vote counts, the one-hot annotation matrix) are what their vectorised math runs on.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from labelwise._numerics import (
    count_votes,
    dense_int_codes,
    group_by_item,
    is_non_decreasing,
    sorted_indptr,
)
from labelwise._validation import check_choice, fail, preview
from labelwise._validation.annotations import (
    DUPLICATE_POLICIES,
    check_columns,
    check_duplicate_pairs,
    check_known_classes,
    check_label_matrix,
    label_matrix_to_long,
)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _codes(
    values: np.ndarray, known: Sequence[Hashable] | None, name: str, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and the id of each code: ``known`` order when given, else sorted ids
    (order of first appearance when the ids cannot be sorted)."""
    if known is not None:
        ids = np.asarray(list(known), dtype=object)
        return check_known_classes(values, list(known), name=name, what=what), ids
    # (uint64 is left to pandas: its values need not fit the int64 table offsets.)
    fits_int64 = values.dtype.kind == "i" or (values.dtype.kind == "u" and values.itemsize < 8)
    if fits_int64 and values.size:
        low, high = int(values.min()), int(values.max())
        # Dense-enough integer ids: a presence table gives the sorted ids and the codes in two
        # linear passes, several times faster than hashing.
        if high - low <= 4 * values.size + 1024:
            return dense_int_codes(values, low, high)
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed types that do not compare
        codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64), np.asarray(uniques)


@dataclass(frozen=True)
class Annotations:
    """Who labelled what, and how.

    Attributes
    ----------
    item, source, label : ndarray of shape (n_annotations,), int64
        Codes into ``items``, ``sources`` and ``classes``.
    items, sources, classes : ndarray
        The original ids (any hashable values) in code order.

    Examples
    --------
    >>> import pandas as pd
    >>> from labelwise import Annotations
    >>> table = pd.DataFrame({"item": ["a", "a", "b", "b", "b"],
    ...                       "source": ["ann", "bob", "ann", "bob", "cy"],
    ...                       "label": ["cat", "cat", "dog", "cat", "dog"]})
    >>> ann = Annotations.from_long(table)
    >>> ann.n_items, ann.n_sources, ann.n_classes, ann.n_annotations
    (2, 3, 2, 5)
    >>> ann.vote_counts().toarray()
    array([[2, 0],
           [1, 2]])
    >>> ann.to_matrix()
    array([[ 0,  0, -1],
           [ 1,  0,  1]])
    """

    item: np.ndarray
    source: np.ndarray
    label: np.ndarray
    items: np.ndarray
    sources: np.ndarray
    classes: np.ndarray

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_long(
        cls,
        df: pd.DataFrame,
        *,
        item: str = "item",
        source: str = "source",
        label: str = "label",
        classes: Sequence[Hashable] | None = None,
        items: Sequence[Hashable] | None = None,
        sources: Sequence[Hashable] | None = None,
        duplicates: str = "error",
    ) -> Annotations:
        """Build from a long table with one row per annotation.

        Parameters
        ----------
        df : pandas.DataFrame
        item, source, label : str
            Column names.
        classes : sequence, optional
            All classes, in the order that defines their ids (a class nobody chose keeps its
            place). Default: the sorted distinct labels.
        items, sources : sequence, optional
            All item / source ids, including ones without annotations (kept with zero counts).
            Default: those in the table, sorted.
        duplicates : {"error", "keep", "last"}, default="error"
            When one source labels one item more than once: refuse, keep every answer (each
            counts), or keep the last one in table order.
        """
        check_choice(duplicates, "duplicates", DUPLICATE_POLICIES)
        frame = check_columns(df, [item, source, label])
        item_codes, item_ids = _codes(frame[item].to_numpy(), items, item, "items")
        source_codes, source_ids = _codes(frame[source].to_numpy(), sources, source, "sources")
        label_codes, class_ids = _codes(frame[label].to_numpy(), classes, label, "classes")
        keep = check_duplicate_pairs(item_codes, source_codes, duplicates)
        if not keep.all():
            item_codes, source_codes, label_codes = (
                item_codes[keep],
                source_codes[keep],
                label_codes[keep],
            )
        return cls(
            _frozen(item_codes),
            _frozen(source_codes),
            _frozen(label_codes),
            _frozen(item_ids),
            _frozen(source_ids),
            _frozen(class_ids),
        )

    @classmethod
    def from_matrix(
        cls,
        matrix: Any,
        *,
        missing: int = -1,
        classes: Sequence[Hashable] | None = None,
    ) -> Annotations:
        """Build from a dense (items x sources) matrix of class ids, ``missing`` = no answer.

        Rows are items ``0..n-1`` and columns sources ``0..m-1`` (kept even when empty).
        ``classes`` names the class ids ``0..K-1``; by default K is the largest id plus one.
        """
        array = check_label_matrix(matrix, missing=missing)
        rows, cols, values = label_matrix_to_long(array, missing=missing)
        n_classes = len(classes) if classes is not None else int(values.max(initial=-1)) + 1
        if values.size and values.max() >= n_classes:
            fail(
                "M",
                f"class ids in 0..{n_classes - 1} (`classes` names {n_classes})",
                f"value(s) {preview(np.unique(values[values >= n_classes]))}",
            )
        class_ids = np.asarray(
            list(classes) if classes is not None else range(n_classes), dtype=object
        )
        return cls(
            _frozen(rows),
            _frozen(cols),
            _frozen(values),
            _frozen(np.arange(array.shape[0])),
            _frozen(np.arange(array.shape[1])),
            _frozen(class_ids),
        )

    # ------------------------------------------------------------------ sizes and counts

    @property
    def n_items(self) -> int:
        return int(self.items.size)

    @property
    def n_sources(self) -> int:
        return int(self.sources.size)

    @property
    def n_classes(self) -> int:
        return int(self.classes.size)

    @property
    def n_annotations(self) -> int:
        return int(self.item.size)

    def item_counts(self) -> np.ndarray:
        """Annotations per item (0 for items nobody labelled)."""
        return np.bincount(self.item, minlength=self.n_items)

    def source_counts(self) -> np.ndarray:
        """Annotations per source (0 for sources that never answered)."""
        return np.bincount(self.source, minlength=self.n_sources)

    def class_counts(self) -> np.ndarray:
        """Annotations per class (0 for a class nobody chose)."""
        return np.bincount(self.label, minlength=self.n_classes)

    # ------------------------------------------------------------------ views

    def vote_counts(self) -> sparse.csr_matrix:
        """(n_items, K) sparse counts of each class's votes per item."""
        ones = np.ones(self.n_annotations, dtype=np.int64)
        return sparse.csr_matrix(
            (ones, (self.item, self.label)), shape=(self.n_items, self.n_classes)
        )

    def dense_vote_counts(self) -> np.ndarray:
        """(n_items, K) float64 counts of each class's votes per item, as a dense array.

        The same numbers as ``vote_counts().toarray()``, by one compiled pass (no sort).
        """
        counts, _, _ = count_votes(
            self.item, self.label, self.source, self.n_items, self.n_classes, self.n_sources
        )
        return counts

    def item_groups(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(indptr, order)`` grouping the annotations by item, computed once and cached.

        Item ``i``'s annotations are ``order[indptr[i]:indptr[i + 1]]`` (in table order), or
        ``indptr[i]:indptr[i + 1]`` themselves when ``order`` is None: the annotations are
        already grouped (item codes non-decreasing, as in a table written item by item), so
        no reordering is needed.
        """
        cached = self.__dict__.get("_item_groups")
        if cached is None:
            if is_non_decreasing(self.item):
                cached = (sorted_indptr(self.item, self.n_items), None)
            else:
                cached = group_by_item(self.item, self.n_items)
            for array in cached:
                if array is not None:
                    _frozen(array)
            # A frozen dataclass: the cache is not a field, so it bypasses the freeze.
            object.__setattr__(self, "_item_groups", cached)
        return cached

    def one_hot(self) -> sparse.csr_matrix:
        """(n_annotations, K) sparse one-hot of the labels, for EM sufficient statistics."""
        return sparse.csr_matrix(
            (np.ones(self.n_annotations), (np.arange(self.n_annotations), self.label)),
            shape=(self.n_annotations, self.n_classes),
        )

    def to_matrix(self) -> np.ndarray:
        """Dense (items x sources) matrix of class codes, -1 where missing.

        With repeated (item, source) pairs (``duplicates="keep"``) the last one is shown.
        """
        dense = np.full((self.n_items, self.n_sources), -1, dtype=np.int64)
        dense[self.item, self.source] = self.label
        return dense

    def to_long(self) -> pd.DataFrame:
        """The annotations as a long table with the original ids and class names."""
        return pd.DataFrame(
            {
                "item": self.items[self.item],
                "source": self.sources[self.source],
                "label": self.classes[self.label],
            }
        )
