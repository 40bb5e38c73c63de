"""Compiled passes behind majority vote: counting, shares and winners, agreement.

Majority vote is bandwidth-bound: each step below is one pass over the annotations or the
(n_items, K) table, writing straight into the arrays the aggregator keeps, so no temporary of
either size is made (numpy would need several: the flat index, the int counts, the float copy,
the totals, the tie mask).
"""

from __future__ import annotations

import numba
import numpy as np

from labelwise._numerics import count_votes

__all__ = ["agreement_hits", "count_votes", "shares_and_winners"]


def shares_and_winners(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn vote ``counts`` into row shares in place (uniform for a row without votes) and
    return ``(winners, tied)``: the first column with the most votes, and whether another
    column has as many (counts are whole numbers, so equal means tied)."""
    winners = np.empty(counts.shape[0], dtype=np.int64)
    tied = np.empty(counts.shape[0], dtype=np.bool_)
    _shares_and_winners(counts, winners, tied)
    return winners, tied


@numba.njit(parallel=True, cache=True, nogil=True)
def _shares_and_winners(
    counts: np.ndarray, winners: np.ndarray, tied: np.ndarray
) -> None:  # pragma: no cover
    n, k = counts.shape
    for i in numba.prange(n):
        top = counts[i, 0]
        best = 0
        total = counts[i, 0]
        for m in range(1, k):
            total += counts[i, m]
            if counts[i, m] > top:
                top = counts[i, m]
                best = m
        n_top = 0
        for m in range(k):
            if counts[i, m] == top:
                n_top += 1
        winners[i] = best
        tied[i] = n_top > 1
        for m in range(k):
            counts[i, m] = counts[i, m] / total if total > 0 else 1.0 / k


@numba.njit(cache=True, nogil=True)
def agreement_hits(
    item: np.ndarray, label: np.ndarray, source: np.ndarray, consensus: np.ndarray, n_sources: int
) -> np.ndarray:  # pragma: no cover
    """Per source, how many of its answers equal the consensus class of their item."""
    hits = np.zeros(n_sources)
    for j in range(item.size):
        if consensus[item[j]] == label[j]:
            hits[source[j]] += 1.0
    return hits
