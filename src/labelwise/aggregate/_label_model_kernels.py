"""Compiled passes over item-grouped votes for the label model.

- :func:`pair_counts`: for every pair of sources, on how many items both voted and on how many
  of those their votes were identical (one pass over the pairs of votes within each item);
- :func:`onecoin_em_step`: one E-step and the M-step's sufficient statistics of the one-coin
  label model in one pass over the votes (the E-step of a one-accuracy model is a weighted
  vote, so each item needs only its own votes and a K-vector);
- :func:`pattern_codes`, :func:`distinct_codes` and :func:`decode_patterns` (few sources: each
  item's votes packed into one integer), :func:`pattern_keys`, :func:`same_patterns` and
  :func:`gather_items` (a hash, for any number): items with identical votes have identical
  posteriors, so the label model runs over the distinct vote patterns (with their counts) when
  there are few;
- :func:`vote_shares`, :func:`source_label_stats` and :func:`source_class_counts`: the
  weighted majority vote that starts EM, and the statistics of a one-coin M-step (O(votes))
  or the expected (source, vote, class) counts of a general one (O(votes x K));
- :func:`pair_squared_differences`: for numeric labels, the summed squared differences of
  every pair of sources over their common items (the regression label model's statistic).

Items are processed in parallel chunks with per-chunk buffers summed at the end; no temporary
of size votes x K.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "NO_WEIGHT",
    "decode_patterns",
    "distinct_codes",
    "gather_items",
    "onecoin_em_step",
    "pair_counts",
    "pair_squared_differences",
    "pattern_codes",
    "pattern_keys",
    "same_patterns",
    "source_class_counts",
    "source_label_stats",
    "vote_shares",
]

#: ``item_weight`` of the kernels below meaning "every item once" (numba needs an array).
NO_WEIGHT = np.zeros(0)
_NO_INT_WEIGHT = np.zeros(0, dtype=np.int64)


def pair_counts(
    indptr: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    n_sources: int,
    stride: int,
    n_chunks: int,
    item_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(both, same, votes)`` over the items ``0, stride, 2 * stride, ...``: symmetric
    (n_sources, n_sources) int64 counts of the items on which both sources voted and of those
    on which their votes were identical (zero diagonals), and each source's votes.

    ``source`` and ``label`` are in item-grouped order (``indptr`` delimits each item's votes).
    A source voting twice on one item is not paired with itself. ``item_weight`` (int64, one
    per item): each item counts that many times (a distinct vote pattern standing for several
    items); None: once.
    """
    weight = _NO_INT_WEIGHT if item_weight is None else item_weight
    return _pair_counts(indptr, source, label, n_sources, stride, weight, n_chunks)


@numba.njit(parallel=True, cache=True, nogil=True)
def _pair_counts(
    indptr: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    n_sources: int,
    stride: int,
    weight: np.ndarray,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """:func:`pair_counts` (``weight`` empty: every item once)."""
    n_used = (indptr.size - 2) // stride + 1
    weighted = weight.size > 0
    both = np.zeros((n_chunks, n_sources, n_sources), dtype=np.int64)
    same = np.zeros((n_chunks, n_sources, n_sources), dtype=np.int64)
    votes = np.zeros((n_chunks, n_sources), dtype=np.int64)
    step = (n_used + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        b = both[c]
        s = same[c]
        for j in range(c * step, min(n_used, (c + 1) * step)):
            i = j * stride
            w = weight[i] if weighted else 1
            if w == 0:
                continue
            end = indptr[i + 1]
            for p in range(indptr[i], end):
                sp = source[p]
                lp = label[p]
                votes[c, sp] += w
                for q in range(p + 1, end):
                    sq = source[q]
                    if sq == sp:
                        continue
                    b[sp, sq] += w
                    if label[q] == lp:
                        s[sp, sq] += w
    out_both = both[0]
    out_same = same[0]
    for c in range(1, n_chunks):
        out_both += both[c]
        out_same += same[c]
    return out_both + out_both.T, out_same + out_same.T, votes.sum(axis=0)


@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc", "contract"})
def onecoin_em_step(
    indptr: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    vote_weight: np.ndarray,
    log_prior: np.ndarray,
    item_weight: np.ndarray,
    posteriors: np.ndarray,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """E-step of the one-coin model, and the M-step's expected counts, in one pass.

    Per item ``i``: ``log T[i, k] = log_prior[k] + sum over its votes (s, l) with l == k of
    vote_weight[s]`` (``vote_weight[s]`` = the source's dependency weight times its log-odds
    ``log(a_s (K - 1) / (1 - a_s))``; the terms common to all classes cancel), normalised into
    ``posteriors[i]``. Returns ``correct[s]`` = sum over the source's votes of the posterior of
    the class it voted and ``class_totals[k]`` = sum of ``T[i, k]`` over items with a vote,
    each item counted ``item_weight[i]`` times (items standing for several identical vote
    patterns). Items without votes are left untouched.
    """
    n_items, k = posteriors.shape
    n_sources = vote_weight.size
    correct = np.zeros((n_chunks, n_sources))
    totals = np.zeros((n_chunks, k))
    step = (n_items + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        row = np.empty(k)
        # Accumulated in the chunk's own arrays: rows of the shared buffers are shorter than a
        # cache line, and threads writing neighbouring rows on every vote slow each other down.
        chunk_correct = np.zeros(n_sources)
        chunk_totals = np.zeros(k)
        for i in range(c * step, min(n_items, (c + 1) * step)):
            start = indptr[i]
            end = indptr[i + 1]
            if end == start:
                continue
            for m in range(k):
                row[m] = log_prior[m]
            for p in range(start, end):
                row[label[p]] += vote_weight[source[p]]
            top = row[0]
            for m in range(1, k):
                top = max(top, row[m])
            norm = 0.0
            for m in range(k):
                row[m] = np.exp(row[m] - top)
                norm += row[m]
            inverse = 1.0 / norm
            w = item_weight[i]
            for m in range(k):
                row[m] *= inverse
                posteriors[i, m] = row[m]
                chunk_totals[m] += w * row[m]
            for p in range(start, end):
                chunk_correct[source[p]] += w * row[label[p]]
        correct[c] = chunk_correct
        totals[c] = chunk_totals
    out = correct[0]
    for c in range(1, n_chunks):
        out += correct[c]
    return out, totals.sum(axis=0)


def pattern_codes(
    item: np.ndarray, source: np.ndarray, label: np.ndarray, n_items: int, bits: int
) -> tuple[np.ndarray, bool]:
    """``(codes, ok)``: (n_items,) int64 code of each item's votes, ``label + 1`` in the
    ``bits`` bits from ``source * bits`` (0: no vote), in any vote order; ``ok`` is False when
    a source voted twice on one item (the codes are then meaningless). The caller makes sure
    that ``n_sources * bits <= 63`` and ``K < 2 ** bits``."""
    # Allocated by numpy (huge pages): a compiled function's own large array costs more to fill.
    codes = np.zeros(n_items, dtype=np.int64)
    return codes, _pattern_codes(item, source, label, bits, codes)


@numba.njit(cache=True, nogil=True)
def _pattern_codes(
    item: np.ndarray, source: np.ndarray, label: np.ndarray, bits: int, codes: np.ndarray
) -> bool:  # pragma: no cover
    field = (np.int64(1) << bits) - 1
    for p in range(item.size):
        i = item[p]
        shift = source[p] * bits
        if (codes[i] >> shift) & field:
            return False
        codes[i] |= (np.int64(label[p]) + 1) << shift
    return True


def distinct_codes(codes: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(index, uniques)``: the distinct values of int64 ``codes`` in order of first
    appearance and each code's index into them (as ``pandas.factorize``, several times faster
    here: an open-addressing table kept at most half full, doubled as it fills); None as soon
    as there are more than ``limit`` distinct values."""
    index = np.empty(codes.size, dtype=np.int64)
    uniques = np.empty(0, dtype=np.int64)
    n_distinct, start, bits = 0, 0, 16
    while True:
        capacity = min(limit, 1 << (bits - 1))
        keys = np.empty(1 << bits, dtype=np.int64)
        rows = np.full(1 << bits, -1, dtype=np.int64)
        # The values found so far go into the new table first, in the same order.
        grown = np.empty(capacity, dtype=np.int64)
        again = np.empty(n_distinct, dtype=np.int64)
        _distinct_codes(uniques[:n_distinct].copy(), 0, bits, keys, rows, again, grown, 0)
        uniques = grown
        n_distinct, start = _distinct_codes(
            codes, start, bits, keys, rows, index, uniques, n_distinct
        )
        if start == codes.size:
            return index, uniques[:n_distinct]
        if capacity >= limit:
            return None
        bits += 1


@numba.njit(cache=True, nogil=True)
def _distinct_codes(
    codes: np.ndarray,
    start: int,
    bits: int,
    keys: np.ndarray,
    rows: np.ndarray,
    index: np.ndarray,
    uniques: np.ndarray,
    n_distinct: int,
) -> tuple[int, int]:  # pragma: no cover
    """Index ``codes[start:]`` into the table; ``(n_distinct, stop)`` with ``stop`` the first
    code not done because ``uniques`` is full (``codes.size`` when all are done)."""
    mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    shift = np.uint64(64 - bits)
    golden = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of code * 2^64/phi
    for i in range(start, codes.size):
        code = codes[i]
        slot = (np.uint64(code) * golden) >> shift
        while True:
            row = rows[slot]
            if row < 0:
                if n_distinct == uniques.size:
                    return n_distinct, i
                rows[slot] = n_distinct
                keys[slot] = code
                uniques[n_distinct] = code
                index[i] = n_distinct
                n_distinct += 1
                break
            if keys[slot] == code:
                index[i] = row
                break
            slot = (slot + np.uint64(1)) & mask
    return n_distinct, codes.size


@numba.njit(cache=True, nogil=True)
def decode_patterns(
    codes: np.ndarray, bits: int, n_sources: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The votes of :func:`pattern_codes`' ``codes``, item-grouped in source order:
    ``(indptr, source, label)`` (int64, int32, int32)."""
    field = (np.int64(1) << bits) - 1
    indptr = np.zeros(codes.size + 1, dtype=np.int64)
    for u in range(codes.size):
        n_votes = 0
        for s in range(n_sources):
            if (codes[u] >> (s * bits)) & field:
                n_votes += 1
        indptr[u + 1] = indptr[u] + n_votes
    source = np.empty(indptr[-1], dtype=np.int32)
    label = np.empty(indptr[-1], dtype=np.int32)
    for u in range(codes.size):
        p = indptr[u]
        for s in range(n_sources):
            digit = (codes[u] >> (s * bits)) & field
            if digit:
                source[p] = s
                label[p] = digit - 1
                p += 1
    return indptr, source, label


@numba.njit(cache=True, nogil=True)
def pattern_keys(
    indptr: np.ndarray, source: np.ndarray, label: np.ndarray, k: int
) -> np.ndarray:  # pragma: no cover
    """(n_items,) uint64 FNV-1a hash of each item's sequence of votes ``source * K + label``
    (equal vote sequences, equal keys; unequal ones almost surely differ, and the caller
    checks with :func:`same_patterns`)."""
    n_items = indptr.size - 1
    keys = np.empty(n_items, dtype=np.uint64)
    prime = np.uint64(1099511628211)
    for i in range(n_items):
        h = np.uint64(14695981039346656037)
        for p in range(indptr[i], indptr[i + 1]):
            h = (h ^ np.uint64(source[p] * k + label[p] + 1)) * prime
        keys[i] = h
    return keys


@numba.njit(cache=True, nogil=True)
def same_patterns(
    indptr: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    pattern: np.ndarray,
    first: np.ndarray,
) -> bool:  # pragma: no cover
    """Whether every item's vote sequence equals that of the first item of its pattern."""
    for i in range(indptr.size - 1):
        j = first[pattern[i]]
        start_i, start_j = indptr[i], indptr[j]
        length = indptr[i + 1] - start_i
        if indptr[j + 1] - start_j != length:
            return False
        for q in range(length):
            if (
                source[start_i + q] != source[start_j + q]
                or label[start_i + q] != label[start_j + q]
            ):
                return False
    return True


@numba.njit(cache=True, nogil=True)
def gather_items(
    indptr: np.ndarray, source: np.ndarray, label: np.ndarray, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The votes of ``items`` (in that order), item-grouped: ``(indptr, source, label)``."""
    new_indptr = np.zeros(items.size + 1, dtype=np.int64)
    for r in range(items.size):
        i = items[r]
        new_indptr[r + 1] = new_indptr[r] + indptr[i + 1] - indptr[i]
    new_source = np.empty(new_indptr[-1], dtype=source.dtype)
    new_label = np.empty(new_indptr[-1], dtype=label.dtype)
    for r in range(items.size):
        i = items[r]
        offset = new_indptr[r] - indptr[i]
        for p in range(indptr[i], indptr[i + 1]):
            new_source[p + offset] = source[p]
            new_label[p + offset] = label[p]
    return new_indptr, new_source, new_label


@numba.njit(parallel=True, cache=True, nogil=True)
def vote_shares(
    indptr: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    weights: np.ndarray,
    fill: np.ndarray,
    n_chunks: int,
) -> np.ndarray:  # pragma: no cover
    """(n_items, K) each item's votes weighted by ``weights[source]``, as shares of their sum;
    ``fill`` (K,) for items without votes (or whose votes weigh nothing)."""
    n_items = indptr.size - 1
    k = fill.size
    shares = np.zeros((n_items, k))
    step = (n_items + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        for i in range(c * step, min(n_items, (c + 1) * step)):
            total = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                w = weights[source[p]]
                shares[i, label[p]] += w
                total += w
            if total > 0:
                for m in range(k):
                    shares[i, m] /= total
            else:
                for m in range(k):
                    shares[i, m] = fill[m]
    return shares


@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc", "contract"})
def source_label_stats(
    indptr: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    posteriors: np.ndarray,
    n_sources: int,
    n_chunks: int,
    item_weight: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """``(by_label, correct)``: (n_sources, K) votes of each source for each label, and
    (n_sources,) the sum over each source's votes of the posterior of the label it voted (one
    pass, O(votes): what a one-coin M-step needs); each item counted ``item_weight[i]`` times
    (empty: once)."""
    n_items, k = posteriors.shape
    weighted = item_weight.size > 0
    by_label = np.zeros((n_chunks, n_sources, k))
    correct = np.zeros((n_chunks, n_sources))
    step = (n_items + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        for i in range(c * step, min(n_items, (c + 1) * step)):
            w = item_weight[i] if weighted else 1.0
            for p in range(indptr[i], indptr[i + 1]):
                s = source[p]
                lab = label[p]
                by_label[c, s, lab] += w
                correct[c, s] += w * posteriors[i, lab]
    out_by_label = by_label[0]
    out_correct = correct[0]
    for c in range(1, n_chunks):
        out_by_label += by_label[c]
        out_correct += correct[c]
    return out_by_label, out_correct


@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc", "contract"})
def source_class_counts(
    indptr: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    posteriors: np.ndarray,
    n_sources: int,
    n_chunks: int,
    item_weight: np.ndarray,
) -> np.ndarray:  # pragma: no cover
    """(n_sources, K voted, K class) sums of ``posteriors[i]`` over the items where each
    source voted each label, each item counted ``item_weight[i]`` times (empty: once)."""
    n_items, k = posteriors.shape
    weighted = item_weight.size > 0
    buffers = np.zeros((n_chunks, n_sources, k, k))
    step = (n_items + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        counts = buffers[c]
        for i in range(c * step, min(n_items, (c + 1) * step)):
            w = item_weight[i] if weighted else 1.0
            for p in range(indptr[i], indptr[i + 1]):
                s = source[p]
                lab = label[p]
                for m in range(k):
                    counts[s, lab, m] += w * posteriors[i, m]
    out = buffers[0]
    for c in range(1, n_chunks):
        out += buffers[c]
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def pair_squared_differences(
    indptr: np.ndarray, source: np.ndarray, value: np.ndarray, n_sources: int, n_chunks: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """``(both, squared)``, symmetric (n_sources, n_sources): the items on which both sources
    gave a value, and the sum over them of the squared difference of their values (item-grouped
    input; a source's repeated values on one item are not paired with each other)."""
    n_items = indptr.size - 1
    both = np.zeros((n_chunks, n_sources, n_sources), dtype=np.int64)
    squared = np.zeros((n_chunks, n_sources, n_sources))
    step = (n_items + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        b = both[c]
        d = squared[c]
        for i in range(c * step, min(n_items, (c + 1) * step)):
            end = indptr[i + 1]
            for p in range(indptr[i], end):
                sp = source[p]
                for q in range(p + 1, end):
                    sq = source[q]
                    if sq == sp:
                        continue
                    b[sp, sq] += 1
                    gap = value[p] - value[q]
                    d[sp, sq] += gap * gap
    out_both = both[0]
    out_squared = squared[0]
    for c in range(1, n_chunks):
        out_both += both[c]
        out_squared += squared[c]
    return out_both + out_both.T, out_squared + out_squared.T
