"""Near-duplicate examples: groups of rows that are (almost) the same point.

The rule of cleanlab 2.9's Datalab ``near_duplicate`` check, with its sets merged into groups:
each row is linked to those of its ``k`` nearest other rows that are closer than the radius
``r = threshold * max(m, 1e-6)``, where ``m`` is the median distance from a row to its nearest
neighbour (so the radius adapts to how dense the data are). Groups are the connected
components of these links (``scipy.sparse.csgraph.connected_components``). A row is a near
duplicate exactly when Datalab flags it: when its nearest neighbour is closer than ``r``.

Restricting links to the ``k`` nearest neighbours keeps memory at O(n k) however large a group
is; a cluster of more than ``k + 1`` copies still forms one group through the links among its
members.

Duplicates inflate test scores when they straddle a train/test split and over-weight what they
repeat; copies that carry different labels are label errors as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from labelwise._validation import (
    check_choice,
    check_features,
    check_labels_only,
    check_n_neighbors,
    check_positive,
)
from labelwise.issues._neighbors import (
    METRICS,
    nearest_neighbors,
    resolve_metric,
    warn_constant_columns,
)

#: Datalab's default: rows closer than 0.13 median nearest-neighbour distances are near copies.
DEFAULT_THRESHOLD = 0.13
#: The median nearest-neighbour distance never falls below this (cleanlab's ``EPSILON``).
MIN_SCALE = 1e-6


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class NearDuplicates:
    """Groups of near-identical rows.

    Attributes
    ----------
    group : ndarray of shape (n,), int64
        Group id of each row, ``0..n_groups-1`` numbered by each group's first row, or -1
        for a row with no near copy.
    groups : tuple of ndarray
        The rows of each group (int64, ascending), in group-id order.
    is_near_duplicate : ndarray of shape (n,), bool
        ``group >= 0``: the row has at least one near copy.
    score : ndarray of shape (n,), float64
        ``1 - exp(-d / m)`` with ``d`` the distance to the nearest other row and ``m`` the median
        of ``d`` (Datalab's near-duplicate score): in [0, 1], 0 for an exact copy; lower means
        more likely a duplicate.
    nearest_neighbor : ndarray of shape (n,), int64
        The nearest other row.
    nearest_distance : ndarray of shape (n,), float64
        The distance to it.
    radius : float
        The distance below which two rows count as near copies.
    metric : str
        "cosine" (1 - cosine similarity) or "euclidean".
    conflicting : ndarray of shape (n_groups,), bool, or None
        Whether the rows of each group carry more than one label (None when no labels were
        given). Such rows are label issues as well: near copies should share a label.
    """

    group: np.ndarray
    groups: tuple[np.ndarray, ...]
    is_near_duplicate: np.ndarray
    score: np.ndarray
    nearest_neighbor: np.ndarray
    nearest_distance: np.ndarray
    radius: float
    metric: str
    conflicting: np.ndarray | None = None

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.groups)

    @property
    def conflicting_rows(self) -> np.ndarray:
        """Rows of the groups with conflicting labels (int64, ascending; empty without labels)."""
        if self.conflicting is None:
            return np.zeros(0, dtype=np.int64)
        rows = np.flatnonzero(self.group >= 0)
        return rows[self.conflicting[self.group[rows]]]

    def to_frame(self, *, only_duplicates: bool = False) -> pd.DataFrame:
        """One row per example (or per near duplicate, grouped), with its group and score."""
        if only_duplicates:
            rows = np.flatnonzero(self.is_near_duplicate)
            rows = rows[np.argsort(self.group[rows], kind="stable")]
        else:
            rows = np.arange(self.group.size)
        columns: dict[str, np.ndarray] = {
            "index": rows,
            "group": self.group[rows],
            "score": self.score[rows],
            "nearest_neighbor": self.nearest_neighbor[rows],
            "nearest_distance": self.nearest_distance[rows],
        }
        if self.conflicting is not None:
            in_group = self.group[rows] >= 0
            conflict = np.zeros(rows.size, dtype=bool)
            conflict[in_group] = self.conflicting[self.group[rows][in_group]]
            columns["label_conflict"] = conflict
        return pd.DataFrame(columns)


def link_groups(index: np.ndarray, linked: np.ndarray) -> np.ndarray:
    """Group id per row from the kNN links ``(i, index[i, j])`` where ``linked[i, j]``.

    Rows without a link get -1; groups are numbered by their smallest row.
    """
    n = index.shape[0]
    rows = np.repeat(np.arange(n), linked.sum(axis=1))
    graph = sparse.coo_matrix(
        (np.ones(rows.size, dtype=np.int8), (rows, index[linked])), shape=(n, n)
    ).tocsr()
    _, component = connected_components(graph, directed=True, connection="weak")
    sizes = np.bincount(component)
    # Components are labelled in order of their smallest row, so ranking the labels of the
    # multi-row components keeps that order.
    multi = sizes > 1
    new_id = np.where(multi, np.cumsum(multi) - 1, -1)
    return new_id[component].astype(np.int64)


def split_groups(group: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rows of each group id ``0..max(group)``, ascending."""
    rows = np.flatnonzero(group >= 0)
    rows = rows[np.argsort(group[rows], kind="stable")]
    bounds = np.flatnonzero(np.diff(group[rows])) + 1
    return tuple(_frozen(part) for part in np.split(rows, bounds)) if rows.size else ()


def label_conflicts(group: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Whether each group holds more than one distinct label, (n_groups,) bool."""
    rows = np.flatnonzero(group >= 0)
    if not rows.size:
        return np.zeros(0, dtype=bool)
    rows = rows[np.argsort(group[rows], kind="stable")]
    starts = np.r_[0, np.flatnonzero(np.diff(group[rows])) + 1]
    values = labels[rows]
    return np.minimum.reduceat(values, starts) != np.maximum.reduceat(values, starts)


def find_near_duplicates(
    features: Any,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    labels: Any = None,
    n_neighbors: int = 10,
    metric: str = "auto",
    classes: Sequence[Any] | None = None,
) -> NearDuplicates:
    """Find groups of (near) duplicate rows, and the groups whose copies disagree on the label.

    Parameters
    ----------
    features : array-like of shape (n, d)
        Numeric feature vectors, typically embeddings. float32 and float64 are used without a
        copy (a cosine search makes one unit-length copy).
    threshold : float > 0, default=0.13
        Radius in units of the median nearest-neighbour distance (Datalab's default).
    labels : array-like of shape (n,), optional
        Given labels (class ids or names). Then ``conflicting`` says which groups mix labels.
    n_neighbors : int, default=10
        ``k``: each row is linked to near copies among its ``k`` nearest other rows.
    metric : {"auto", "cosine", "euclidean"}, default="auto"
        ``"auto"`` is cosine distance for more than 3 columns and euclidean otherwise.
    classes : sequence, optional
        All class names, in id order, when ``labels`` holds names.

    Returns
    -------
    NearDuplicates

    Warns
    -----
    LabelwiseWarning
        Under the cosine metric, when some columns are constant and non-zero.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.issues.duplicates import find_near_duplicates
    >>> rng = np.random.default_rng(0)
    >>> features = rng.normal(size=(100, 16))
    >>> features[50] = features[7] + 1e-4             # a near copy of row 7
    >>> features[80] = features[7]                    # an exact copy of row 7
    >>> features[90] = features[20]                   # an exact copy of row 20
    >>> labels = np.zeros(100, dtype=int)
    >>> labels[90] = 1                                # ... with another label
    >>> found = find_near_duplicates(features, labels=labels)
    >>> found.groups
    (array([ 7, 50, 80]), array([20, 90]))
    >>> found.conflicting
    array([False,  True])
    >>> found.conflicting_rows
    array([20, 90])
    """
    threshold = check_positive(threshold, "threshold")
    check_choice(metric, "metric", METRICS)
    data = check_features(features)
    n_rows = data.features.shape[0]
    k = check_n_neighbors(n_neighbors, n_rows)
    encoded = None
    if labels is not None:
        encoded, _ = check_labels_only(labels, n_examples=n_rows, classes=classes)
    resolved = resolve_metric(metric, data.features.shape[1])
    warn_constant_columns(data, resolved, stacklevel=2)

    neighbors = nearest_neighbors(data.features, k, resolved)
    nearest = neighbors.distance[:, 0]
    scale = max(float(np.median(nearest)), MIN_SCALE)
    radius = threshold * scale
    group = link_groups(neighbors.index, neighbors.distance < radius)
    groups = split_groups(group)
    conflicting = None if encoded is None else label_conflicts(group, encoded.labels)
    return NearDuplicates(
        group=_frozen(group),
        groups=groups,
        is_near_duplicate=_frozen(group >= 0),
        score=_frozen(-np.expm1(-nearest / scale)),
        nearest_neighbor=_frozen(neighbors.index[:, 0].copy()),
        nearest_distance=_frozen(nearest.copy()),
        radius=float(radius),
        metric=resolved,
        conflicting=None if conflicting is None else _frozen(conflicting),
    )
