"""Exact k-nearest-neighbour distances between feature rows, in bounded memory (internal).

Shared by :mod:`labelwise.issues.outliers` and :mod:`labelwise.issues.duplicates`. Inputs are
validated by the caller. The search runs scikit-learn's brute-force ``ArgKmin`` reduction (or a
k-d/ball tree in low dimension) over chunks of query rows; cosine distance is searched as the
squared euclidean distance between unit rows (``||u - v||^2 = 2 (1 - cos)``), which takes
scikit-learn's fast path instead of its generic pairwise one. Each kept pair's distance is then
recomputed in float64 from the difference of the two rows (not the expanded dot-product form),
so exact duplicates are at distance exactly 0 and small distances are accurate.

Extra memory: one unit-row copy of the features for cosine (in their dtype), the (n, k)
distance and index arrays, and a fixed-size scratch per chunk.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors

from labelwise._validation import FeatureInput, LabelwiseWarning, check_nonzero_rows

METRICS = ("auto", "cosine", "euclidean")
#: ``metric="auto"`` means cosine above this many columns and euclidean at or below it: the
#: rule of cleanlab 2.9 (``HIGH_DIMENSION_CUTOFF``), so default results are comparable.
AUTO_COSINE_ABOVE = 3
#: Bytes of float64 scratch used per chunk of rows when distances are recomputed.
CHUNK_BYTES = 32 * 2**20
#: Query rows per neighbour search: scikit-learn bounds its own scratch (``working_memory``)
#: and parallelises best over large query blocks; the result is only (rows, k + 1) indices.
SEARCH_ROWS = 65_536


def resolve_metric(metric: str, n_features: int) -> str:
    """The concrete metric for ``metric`` ("auto", "cosine" or "euclidean")."""
    if metric == "auto":
        return "cosine" if n_features > AUTO_COSINE_ABOVE else "euclidean"
    return metric


def warn_constant_columns(data: FeatureInput, metric: str, *, stacklevel: int) -> None:
    """Warn about constant non-zero columns under the cosine metric.

    A constant column adds the same vector to every row. Euclidean distances ignore it, but
    cosine distances shrink (a large constant makes every row point the same way), so the
    scores then say more about that column than about the data.
    """
    if metric != "cosine" or data.all_rows_identical:  # identical rows: nothing to distort
        return
    constant = data.constant_columns
    offsets = constant[data.column_min[constant] != 0]
    if offsets.size:
        shown = ", ".join(str(int(c)) for c in offsets[:5]) + (", ..." if offsets.size > 5 else "")
        warnings.warn(
            f"features has {offsets.size} constant non-zero column(s) ({shown}); under the "
            "cosine metric they pull every row towards the same direction and shrink all "
            "distances. Drop them, centre the features, or pass metric='euclidean'.",
            LabelwiseWarning,
            stacklevel=stacklevel + 1,
        )


def _chunk_rows(n_features: int, n_neighbors: int) -> int:
    return max(256, CHUNK_BYTES // (8 * (n_neighbors + 1) * n_features))


def row_norms(features: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row, accumulated in float64, chunk by chunk."""
    n, d = features.shape
    norms = np.empty(n, dtype=np.float64)
    step = _chunk_rows(d, 0)
    for start in range(0, n, step):
        block = features[start : start + step].astype(np.float64)
        norms[start : start + step] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return norms


def _unit_rows(features: np.ndarray, norms: np.ndarray) -> np.ndarray:
    out = np.empty_like(features)
    step = _chunk_rows(features.shape[1], 0)
    for start in range(0, features.shape[0], step):
        block = features[start : start + step].astype(np.float64)
        out[start : start + step] = block / norms[start : start + step, None]
    return out


@dataclass(frozen=True)
class Neighbors:
    """The k nearest other rows of every row, nearest first (internal)."""

    distance: np.ndarray  # (n, k) float64, ascending along each row
    index: np.ndarray  # (n, k) int64
    metric: str  # "cosine" (1 - cosine similarity) or "euclidean"


def _drop_self(index: np.ndarray, start: int) -> np.ndarray:
    """Remove each query row from its own k+1 neighbours (or the farthest, if it is absent).

    A row is absent from its own list only when k+1 other rows tie with it at distance ~0.
    """
    rows = np.arange(start, start + index.shape[0])[:, None]
    is_self = index == rows
    is_self[~is_self.any(axis=1), -1] = True
    return index[~is_self].reshape(index.shape[0], index.shape[1] - 1)


def _exact_distances(
    features: np.ndarray, norms: np.ndarray | None, start: int, index: np.ndarray
) -> np.ndarray:
    """float64 distances from rows ``start:start+len(index)`` to their listed neighbours."""
    query = features[start : start + index.shape[0]].astype(np.float64)[:, None, :]
    other = features[index].astype(np.float64)
    if norms is not None:  # cosine: half the squared distance between unit rows
        query /= norms[start : start + index.shape[0], None, None]
        other /= norms[index][:, :, None]
        other -= query
        return 0.5 * np.einsum("ijk,ijk->ij", other, other)
    other -= query
    return np.sqrt(np.einsum("ijk,ijk->ij", other, other))


def nearest_neighbors(features: np.ndarray, n_neighbors: int, metric: str) -> Neighbors:
    """The k nearest other rows of every row under ``metric`` (exhaustive search).

    Queries go to scikit-learn in blocks of :data:`SEARCH_ROWS` rows; distances are
    recomputed in chunks whose float64 scratch stays near :data:`CHUNK_BYTES`. Ties keep
    scikit-learn's order (lower index first for brute force).
    """
    n, d = features.shape
    norms: np.ndarray | None = None
    if metric == "cosine":
        norms = row_norms(features)
        check_nonzero_rows(norms, metric=metric)
        points = _unit_rows(features, norms)
        search = NearestNeighbors(
            n_neighbors=n_neighbors + 1, metric="sqeuclidean", algorithm="brute"
        )
    else:
        points = features
        search = NearestNeighbors(n_neighbors=n_neighbors + 1, metric="euclidean")
    search.fit(points)
    distance = np.empty((n, n_neighbors), dtype=np.float64)
    index = np.empty((n, n_neighbors), dtype=np.int64)
    refine = _chunk_rows(d, n_neighbors)
    for start in range(0, n, SEARCH_ROWS):
        found = search.kneighbors(points[start : start + SEARCH_ROWS], return_distance=False)
        found = _drop_self(found.astype(np.int64, copy=False), start)
        for offset in range(0, found.shape[0], refine):
            part = found[offset : offset + refine]
            rows = slice(start + offset, start + offset + part.shape[0])
            exact = _exact_distances(features, norms, rows.start, part)
            order = np.argsort(exact, axis=1, kind="stable")
            distance[rows] = np.take_along_axis(exact, order, axis=1)
            index[rows] = np.take_along_axis(part, order, axis=1)
    return Neighbors(distance, index, metric)
