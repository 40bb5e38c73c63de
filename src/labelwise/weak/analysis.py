"""How labeling functions vote: coverage, overlaps, conflicts, accuracy, dependencies.

The definitions are snorkel's ``LFAnalysis`` ones (Ratner et al. 2017), over the items:

- coverage: share of items the labeling function votes on;
- overlaps: share of items where it votes and at least one other labeling function votes;
- conflicts: share of items where it votes and some other labeling function votes a different
  class (equivalently: it votes, and the item's votes are not all the same class).

Each is one ``np.bincount`` over the annotation arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labelwise._numerics import group_by_item, last_of_each_pair
from labelwise._validation import check_fraction, fail
from labelwise._validation.weak import check_gold
from labelwise.aggregate.label_model import dependent_source_pairs
from labelwise.annotations import Annotations


@dataclass(frozen=True)
class DatasetSummary:
    """Dataset-level coverage, overlap and conflict of a set of labeling functions.

    Attributes
    ----------
    n_items, n_sources, n_votes : int
    coverage : float
        Share of items with at least one vote.
    overlap : float
        Share of items with votes from at least two labeling functions.
    conflict : float
        Share of items whose votes are not all the same class.
    """

    n_items: int
    n_sources: int
    n_votes: int
    coverage: float
    overlap: float
    conflict: float


def check_annotations_object(annotations: object) -> None:
    if not isinstance(annotations, Annotations):
        fail(
            "annotations",
            "a labelwise.Annotations (from apply, Annotations.from_long or from_matrix)",
            type(annotations).__name__,
            kind=TypeError,
        )


def _distinct_votes(annotations: Annotations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(item, source, label)`` with one vote per (item, source): its last one."""
    item, source, label = annotations.item, annotations.source, annotations.label
    if item.size == 0:
        return item, source, label
    indptr, order = group_by_item(item, annotations.n_items)
    keep = last_of_each_pair(indptr, order, source, annotations.n_sources)
    if keep.all():
        return item, source, label
    return item[keep], source[keep], label[keep]


def _item_state(item: np.ndarray, label: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Votes per item, and whether each item's votes disagree.

    The votes of an item are all one class exactly when ``count · Σ label² = (Σ label)²``
    (Cauchy-Schwarz), which three bincounts give without sorting.
    """
    count = np.bincount(item, minlength=n_items)
    values = label.astype(np.float64)
    total = np.rint(np.bincount(item, weights=values, minlength=n_items)).astype(np.int64)
    squares = np.rint(np.bincount(item, weights=values * values, minlength=n_items))
    conflicted = count * squares.astype(np.int64) != total * total
    return count, conflicted


def dataset_summary(annotations: Annotations) -> DatasetSummary:
    """Coverage, overlap and conflict of the labeling functions' votes over all items.

    A labeling function that voted on an item more than once counts once (its last vote).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.weak import dataset_summary
    >>> L = np.array([[0, 0, -1], [0, 1, -1], [-1, -1, 1], [-1, -1, -1]])
    >>> dataset_summary(Annotations.from_matrix(L))
    DatasetSummary(n_items=4, n_sources=3, n_votes=5, coverage=0.75, overlap=0.5, conflict=0.25)
    """
    check_annotations_object(annotations)
    item, _, label = _distinct_votes(annotations)
    count, conflicted = _item_state(item, label, annotations.n_items)
    return _dataset(annotations.n_sources, count, conflicted)


def _dataset(n_sources: int, count: np.ndarray, conflicted: np.ndarray) -> DatasetSummary:
    n = max(count.size, 1)
    return DatasetSummary(
        n_items=int(count.size),
        n_sources=n_sources,
        n_votes=int(count.sum()),
        coverage=float(np.count_nonzero(count) / n),
        overlap=float(np.count_nonzero(count > 1) / n),
        conflict=float(np.count_nonzero(conflicted) / n),
    )


def summary(
    annotations: Annotations, *, gold: Any = None, dependency_threshold: float = 0.9
) -> pd.DataFrame:
    """One row per labeling function: what it votes, how often, with whom it agrees.

    Parameters
    ----------
    annotations : Annotations
        The votes, e.g. from :func:`labelwise.weak.apply`.
    gold : array-like of shape (n_items,), optional
        True labels (class names of ``annotations.classes``), aligned with
        ``annotations.items``; ``-1``, ``None`` or NaN where unknown.
    dependency_threshold : float in (0, 1], default=0.9
        Vote overlap from which two labeling functions count as dependent (the ``correlated``
        column; see :func:`labelwise.aggregate.dependent_source_pairs`).

    Returns
    -------
    pandas.DataFrame
        Indexed by labeling function (``annotations.sources``), with the columns

        - ``polarity``: tuple of the classes it votes;
        - ``coverage``, ``overlaps``, ``conflicts``: shares of all items, as defined in the
          module docstring (snorkel's ``LFAnalysis``);
        - ``n_votes``: items it votes on;
        - ``correlated``: tuple of the other labeling functions it is highly dependent with;
        - with ``gold``: ``n_correct``, ``n_incorrect`` (its votes on items with a known gold
          label) and ``empirical_accuracy`` (NaN when it voted on none of them).

        ``attrs`` holds the dataset's ``coverage``, ``overlap`` and ``conflict`` (see
        :func:`dataset_summary`). A labeling function that voted on an item more than once
        counts once (its last vote).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.weak import summary
    >>> L = np.array([[0, 0, -1], [0, 1, -1], [-1, -1, 1], [-1, -1, -1]])
    >>> table = summary(Annotations.from_matrix(L, classes=["ham", "spam"]),
    ...                 gold=["ham", "ham", None, "spam"])
    >>> table[["polarity", "coverage", "overlaps", "conflicts", "empirical_accuracy"]]
    ... # doctest: +NORMALIZE_WHITESPACE
           polarity  coverage  overlaps  conflicts  empirical_accuracy
    lf
    0        (ham,)      0.50       0.5       0.25                 1.0
    1   (ham, spam)      0.50       0.5       0.25                 0.5
    2       (spam,)      0.25       0.0       0.00                 NaN
    >>> table.attrs
    {'coverage': 0.75, 'overlap': 0.5, 'conflict': 0.25}
    """
    check_annotations_object(annotations)
    threshold = check_fraction(dependency_threshold, "dependency_threshold")
    n, m, k = annotations.n_items, annotations.n_sources, annotations.n_classes
    codes = None if gold is None else check_gold(gold, n, annotations.classes)
    item, source, label = _distinct_votes(annotations)
    count, conflicted = _item_state(item, label, n)
    per_item = max(n, 1)
    n_votes = np.bincount(source, minlength=m)
    overlaps = np.bincount(source, weights=count[item] > 1, minlength=m)
    conflicts = np.bincount(source, weights=conflicted[item], minlength=m)
    voted = np.bincount(source * k + label, minlength=m * k).reshape(m, k) > 0
    classes = annotations.classes.tolist()
    table = pd.DataFrame(
        {
            "polarity": [tuple(classes[c] for c in np.flatnonzero(row)) for row in voted],
            "coverage": n_votes / per_item,
            "overlaps": overlaps / per_item,
            "conflicts": conflicts / per_item,
            "n_votes": n_votes.astype(np.int64),
            "correlated": _correlated(annotations, threshold),
        },
        index=pd.Index(annotations.sources, name="lf"),
    )
    if codes is not None:
        judged = codes[item] >= 0
        correct = judged & (codes[item] == label)
        n_correct = np.bincount(source, weights=correct, minlength=m).astype(np.int64)
        n_judged = np.bincount(source, weights=judged, minlength=m).astype(np.int64)
        table["n_correct"] = n_correct
        table["n_incorrect"] = n_judged - n_correct
        table["empirical_accuracy"] = np.divide(
            n_correct, n_judged, out=np.full(m, np.nan), where=n_judged > 0
        )
    overall = _dataset(m, count, conflicted)
    table.attrs = {
        "coverage": overall.coverage,
        "overlap": overall.overlap,
        "conflict": overall.conflict,
    }
    return table


def _correlated(annotations: Annotations, threshold: float) -> list[tuple[Any, ...]]:
    """Per source, the other sources it forms a dependent pair with."""
    partners: list[list[int]] = [[] for _ in range(annotations.n_sources)]
    if annotations.n_annotations and annotations.n_classes >= 2:
        pairs = dependent_source_pairs(annotations, threshold=threshold)
        for a, b in zip(pairs.source_a.tolist(), pairs.source_b.tolist(), strict=True):
            partners[a].append(b)
            partners[b].append(a)
    names = annotations.sources.tolist()
    return [tuple(names[p] for p in sorted(found)) for found in partners]
