"""Pairwise vote statistics of sources: on how many items two sources both voted, and agreed.

One compiled pass over the pairs of votes within each item (:func:`pair_counts`) when the
(n_sources x n_sources) tables fit comfortably in memory; beyond ``DENSE_MAX_SOURCES`` sources
(crowds of many thousand workers, who rarely share items) two sparse products instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from labelwise.aggregate._kernels import group_by_item, n_chunks_for
from labelwise.aggregate._label_model_kernels import pair_counts
from labelwise.annotations import Annotations

#: Up to this many sources the pair tables are dense (2 x 8 bytes x n_sources^2 per thread).
DENSE_MAX_SOURCES = 4096


@dataclass(frozen=True)
class PairTable:
    """The source pairs ``a < b`` that voted on at least one common item.

    ``both``: items on which both voted; ``same``: those on which their votes were identical;
    ``votes``: (n_sources,) votes per source.
    """

    a: np.ndarray
    b: np.ndarray
    both: np.ndarray
    same: np.ndarray
    votes: np.ndarray


def grouped(annotations: Annotations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, source, label)`` with the votes grouped by item (no copy when the
    annotations are already in item order, as ``from_matrix`` builds them)."""
    item = annotations.item
    if item.size < 2 or bool(np.all(item[1:] >= item[:-1])):
        counts = np.bincount(item, minlength=annotations.n_items)
        indptr = np.zeros(annotations.n_items + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, annotations.source, annotations.label
    indptr, order = group_by_item(item, annotations.n_items)
    return indptr, annotations.source[order], annotations.label[order]


def pair_table(annotations: Annotations) -> PairTable:
    """Counts of common and identical votes for every pair of sources that share an item."""
    m = annotations.n_sources
    votes = annotations.source_counts()
    if m <= DENSE_MAX_SOURCES:
        indptr, source, label = grouped(annotations)
        both, same = pair_counts(indptr, source, label, m, n_chunks_for(annotations.n_annotations))
        a, b = np.nonzero(np.triu(both, 1))
        return PairTable(a, b, both[a, b], same[a, b], votes)
    n, k = annotations.n_items, annotations.n_classes
    ones = np.ones(annotations.n_annotations, dtype=np.int64)
    voted = sparse.csr_matrix((ones, (annotations.item, annotations.source)), shape=(n, m))
    keyed = sparse.csr_matrix(
        (ones, (annotations.item * k + annotations.label, annotations.source)), shape=(n * k, m)
    )
    both_m = sparse.triu(voted.T @ voted, 1).tocoo()
    same_m = sparse.triu(keyed.T @ keyed, 1).tocsr()
    a, b = both_m.row.astype(np.int64), both_m.col.astype(np.int64)
    same = np.asarray(same_m[a, b]).ravel().astype(np.int64)
    return PairTable(a, b, both_m.data.astype(np.int64), same, votes)
