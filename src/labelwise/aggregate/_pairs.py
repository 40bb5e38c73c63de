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
#: Pair statistics use at most about this many items: every ``stride``-th item beyond it.
PAIR_MAX_ITEMS = 1 << 17


@dataclass(frozen=True)
class PairTable:
    """The source pairs ``a < b`` that voted on at least one common item.

    ``both``: items on which both voted; ``same``: those on which their votes were identical;
    ``votes``: (n_sources,) votes per source; all counted over the items ``0, stride,
    2 * stride, ...`` (``stride`` = 1 up to ``PAIR_MAX_ITEMS`` items).
    """

    a: np.ndarray
    b: np.ndarray
    both: np.ndarray
    same: np.ndarray
    votes: np.ndarray
    stride: int


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


def pair_table(
    annotations: Annotations,
    by_item: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> PairTable:
    """Counts of common and identical votes for every pair of sources that share an item.

    On more than ``PAIR_MAX_ITEMS`` items, every ``stride``-th item is used (evenly spaced,
    so an input sorted by class is still represented): the statistics are rates and need no
    more. ``by_item`` is :func:`grouped`'s output when the caller already has it.
    """
    m = annotations.n_sources
    stride = max(1, -(-annotations.n_items // PAIR_MAX_ITEMS))
    if m <= DENSE_MAX_SOURCES:
        indptr, source, label = by_item if by_item is not None else grouped(annotations)
        work = annotations.n_annotations // stride
        both, same, votes = pair_counts(indptr, source, label, m, stride, n_chunks_for(work))
        a, b = np.nonzero(np.triu(both, 1))
        return PairTable(a, b, both[a, b], same[a, b], votes, stride)
    n, k = annotations.n_items, annotations.n_classes
    used = annotations.item % stride == 0
    item, source = annotations.item[used], annotations.source[used]
    ones = np.ones(item.size, dtype=np.int64)
    voted = sparse.csr_matrix((ones, (item, source)), shape=(n, m))
    keyed = sparse.csr_matrix(
        (ones, (item * k + annotations.label[used], source)), shape=(n * k, m)
    )
    both_m = sparse.triu(voted.T @ voted, 1).tocoo()
    same_m = sparse.triu(keyed.T @ keyed, 1).tocsr()
    order = np.lexsort((both_m.col, both_m.row))  # row-major, as the dense tables
    a, b = both_m.row[order].astype(np.int64), both_m.col[order].astype(np.int64)
    same = np.asarray(same_m[a, b]).ravel().astype(np.int64)
    votes = np.bincount(source, minlength=m)
    return PairTable(a, b, both_m.data[order].astype(np.int64), same, votes, stride)


def weighted_pair_table(
    indptr: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    n_sources: int,
    sampled: np.ndarray,
    stride: int,
) -> PairTable:
    """:func:`pair_table` of item-grouped distinct vote patterns, pattern ``u`` standing for
    ``sampled[u]`` (int64) of the items ``0, stride, 2 * stride, ...`` (at most 63 sources:
    dense tables)."""
    chunks = n_chunks_for(int(source.size))
    both, same, votes = pair_counts(indptr, source, label, n_sources, 1, chunks, sampled)
    a, b = np.nonzero(np.triu(both, 1))
    return PairTable(a, b, both[a, b], same[a, b], votes, stride)


#: Triplet estimates use pairs with at least this many common items.
TRIPLET_MIN_BOTH = 10
#: Each source's triplets use at most this many partners (those sharing most items).
TRIPLET_MAX_PARTNERS = 64
#: Pairs whose centred agreement is closer to 0 than this are not used as denominators.
TRIPLET_MIN_AGREEMENT = 0.05


def centred_agreement(table: PairTable, n_sources: int, k: int) -> np.ndarray:
    """(n_sources, n_sources) ``(K * P(same | both voted) - 1) / (K - 1)``; NaN where two
    sources share fewer than ``TRIPLET_MIN_BOTH`` items (and on the diagonal).

    For conditionally independent sources with accuracies ``a`` and uniform errors this is
    ``mu_a * mu_b`` with ``mu = (K a - 1) / (K - 1)``, whatever the class balance.
    """
    centred = np.full((n_sources, n_sources), np.nan)
    ok = table.both >= TRIPLET_MIN_BOTH
    a, b = table.a[ok], table.b[ok]
    value = (k * table.same[ok] / table.both[ok] - 1.0) / (k - 1)
    centred[a, b] = value
    centred[b, a] = value
    return centred


def triplet_mu(table: PairTable, n_sources: int, k: int, usable: np.ndarray) -> np.ndarray:
    """(n_sources,) ``mu_i^2`` by the triplet method: the median over pairs ``(j, l)`` of other
    usable sources of ``c_ij c_il / c_jl`` (``c`` = :func:`centred_agreement`); NaN for a
    source without a valid triplet or not ``usable``.

    Fu, D. Y., Chen, M. F., Sala, F., Hooper, S. M., Fatahalian, K. & Ré, C. (2020). Fast and
    three-rious: speeding up weak supervision with triplet methods. ICML. Generalised here
    from binary votes to K classes through the centred agreement.
    """
    centred = centred_agreement(table, n_sources, k)
    centred[~usable, :] = np.nan
    centred[:, ~usable] = np.nan
    shared = np.zeros((n_sources, n_sources))
    shared[table.a, table.b] = table.both
    shared[table.b, table.a] = table.both
    shared[np.isnan(centred)] = 0.0
    squared = np.full(n_sources, np.nan)
    for i in np.flatnonzero(usable):  # a loop over sources (tens), not items
        partners = np.flatnonzero(shared[i] > 0)
        if partners.size < 2:
            continue
        if partners.size > TRIPLET_MAX_PARTNERS:
            top = np.argsort(-shared[i, partners], kind="stable")[:TRIPLET_MAX_PARTNERS]
            partners = np.sort(partners[top])
        row = centred[i, partners]
        between = centred[np.ix_(partners, partners)]
        upper = np.triu(np.ones(between.shape, dtype=bool), 1)
        valid = upper & (np.abs(between) >= TRIPLET_MIN_AGREEMENT)
        if not valid.any():
            continue
        ratios = (np.outer(row, row) / np.where(valid, between, 1.0))[valid]
        squared[i] = float(np.median(ratios))
    return squared
