"""Compiled row kernels of split conformal classification (LAC, APS, RAPS).

Each kernel reads one row of ``pred_probs`` at a time (float32 or float64, never copied as a
whole) and converts only that row to float64, so memory stays bounded by the output.

Ordering convention, shared by every kernel so that calibration and prediction agree:
labels are ranked by decreasing probability, ties by increasing class index. The APS/RAPS score
of label ``y`` at rank ``o`` (1-based) is

    s(x, y) = (sum_{j ranked above y} p_j + u * p_y) + lam * max(0, o - k_reg)

with ``u = 1`` (non-randomised) or ``u ~ U(0, 1)`` (randomised). Along the ranking the score
never decreases, so a prediction set ``{y : s(x, y) <= q}`` is a prefix of the ranking.

The bracket is a compensated (Neumaier) float64 sum rounded once, so its value does not depend
on the order of the terms in practice (calibration sums in class order in one pass, prediction
in the order its selection visits the values) and it never decreases along the ranking even
where rounding matters (rows summing to 1 within an ulp, with zeros).

Prediction never sorts a row: a radix pass buckets the values by their float64 bit pattern
(8 buckets per octave) with per-bucket counts and sums, whole buckets that score below ``q`` are
placed at once, and a weighted quickselect (three-way partitions around pivot values, carrying
the mass and count of everything above the active range) finds the crossing inside the one
bucket where it happens: expected O(K) per row, then one pass writes the set.
"""

from __future__ import annotations

import numba
import numpy as np

LAC, APS = 0, 1
#: Rows per parallel task: buffers are allocated once per block, not once per row.
BLOCK = 256


@numba.njit(cache=True, nogil=True, inline="always")
def _before(row: np.ndarray, a: int, b: int) -> bool:  # pragma: no cover
    """Whether class ``a`` is ranked before class ``b`` (higher probability, then lower index)."""
    pa, pb = np.float64(row[a]), np.float64(row[b])
    return bool(pa > pb or (pa == pb and a < b))


@numba.njit(cache=True, nogil=True, inline="always")
def _add(total: float, comp: float, value: float) -> tuple[float, float]:  # pragma: no cover
    """Neumaier step: add ``value`` to the compensated sum ``(total, comp)``."""
    t = total + value
    if abs(total) >= abs(value):
        comp += (total - t) + value
    else:
        comp += (value - t) + total
    return t, comp


@numba.njit(cache=True, nogil=True, inline="always")
def _merge(a: float, ca: float, b: float, cb: float) -> tuple[float, float]:  # pragma: no cover
    """Sum of two compensated sums, as a compensated sum."""
    t, c = _add(a, ca, b)
    return t, c + cb


#: Buckets of the radix pass: the float64 bit pattern shifted right by 49 bits keeps the
#: exponent and the next 3 mantissa bits (8 buckets per octave); for non-negative floats the
#: patterns order like the values.
BUCKET_SHIFT = 49
N_BUCKETS = 1 << (63 - BUCKET_SHIFT)


@numba.njit(cache=True, nogil=True, inline="always")
def _score(mass: float, comp: float, term: float, penalty: float) -> float:  # pragma: no cover
    """``mass + term`` rounded once (compensated), plus the penalty: monotone along a ranking."""
    t, c = _add(mass, comp, term)
    return (t + c) + penalty


@numba.njit(cache=True, nogil=True)
def _select(
    vals: np.ndarray,
    size: int,
    q: float,
    weight: float,
    lam: float,
    k_reg: int,
    mass: float,
    comp: float,
    count: int,
) -> tuple[float, int, bool, float, float, int]:  # pragma: no cover
    """Weighted quickselect over ``vals[:size]``, all ranked below ``count`` labels of
    compensated mass ``(mass, comp)``.

    Returns ``(cut, ties_in, crossed, mass, comp, count)``: every value above ``cut`` and the
    first ``ties_in`` labels equal to it are in the set; ``crossed`` says whether the score
    passed ``q`` inside ``vals`` (else all of them are in, and the sums include them).
    """
    lo, hi = 0, size
    cut = np.inf
    ties_in = 0
    crossed = False
    while lo < hi:
        mid = lo + (hi - lo) // 2
        a_, b_, c_ = vals[lo], vals[mid], vals[hi - 1]
        pivot = max(min(a_, b_), min(max(a_, b_), c_))  # median of three
        # Three-way partition: [lo, gt) > pivot, [gt, lt) == pivot, [lt, hi) < pivot.
        gt, i, lt = lo, lo, hi
        above, above_c = 0.0, 0.0
        while i < lt:
            v = vals[i]
            if v > pivot:
                vals[i], vals[gt] = vals[gt], v
                above, above_c = _add(above, above_c, v)
                gt += 1
                i += 1
            elif v < pivot:
                lt -= 1
                vals[i], vals[lt] = vals[lt], v
            else:
                i += 1
        m, mc = _merge(mass, comp, above, above_c)
        rank = count + (gt - lo) + 1
        if _score(m, mc, weight * pivot, lam * max(0, rank - k_reg)) > q:
            hi = gt  # the crossing is above the pivot
            crossed = True
            continue
        n_ties = lt - gt
        taken = 0
        while taken < n_ties:
            if _score(m, mc, weight * pivot, lam * max(0, rank + taken - k_reg)) > q:
                break
            m, mc = _add(m, mc, pivot)
            taken += 1
        cut, ties_in = pivot, taken
        if taken < n_ties:
            return cut, ties_in, True, m, mc, rank - 1 + taken
        mass, comp = m, mc
        count = rank - 1 + n_ties
        lo = lt
    return cut, ties_in, crossed, mass, comp, count


#: Up to this many classes a row is simply ranked by insertion sort and walked.
SMALL_K = 16


@numba.njit(cache=True, nogil=True)
def _prefix_row_small(
    row: np.ndarray, q: float, weight: float, lam: float, k_reg: int, out: np.ndarray
) -> bool:  # pragma: no cover
    """``_prefix_row`` for a few classes: rank the whole row, walk until the score passes q."""
    k = row.size
    idx = np.empty(k, dtype=np.int64)
    for a in range(k):
        b = a - 1
        while b >= 0 and _before(row, a, idx[b]):
            idx[b + 1] = idx[b]
            b -= 1
        idx[b + 1] = a
    mass, comp = 0.0, 0.0
    for o in range(k):
        p = np.float64(row[idx[o]])
        if _score(mass, comp, weight * p, lam * max(0, o + 1 - k_reg)) > q:
            return o > 0
        out[idx[o]] = True
        mass, comp = _add(mass, comp, p)
    return True


@numba.njit(cache=True, nogil=True)
def _prefix_row(
    row: np.ndarray,
    q: float,
    weight: float,
    lam: float,
    k_reg: int,
    vals: np.ndarray,
    scratch: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    comps: np.ndarray,
    out: np.ndarray,
) -> bool:  # pragma: no cover
    """Write the set ``{y : s(x, y) <= q}`` of one row into ``out``; return whether non-empty.

    A radix pass counts and sums the values per bucket; walking the buckets from the top places
    every bucket whose whole content scores below ``q`` (with a margin) without looking at its
    values; the bucket where the score crosses ``q`` goes through a weighted quickselect.
    Expected O(K) a row, with no sort. ``vals`` is a float64 scratch row.
    """
    k = row.size
    if k <= SMALL_K:
        return _prefix_row_small(row, q, weight, lam, k_reg, out)
    for j in range(k):
        vals[j] = max(np.float64(row[j]), 0.0)  # -0.0 -> +0.0, so bit patterns order
    bits = vals[:k].view(np.int64)
    low, high = N_BUCKETS, -1
    for j in range(k):
        b = bits[j] >> BUCKET_SHIFT
        low, high = min(low, b), max(high, b)
    for b in range(low, high + 1):
        counts[b] = 0
        sums[b] = 0.0
        comps[b] = 0.0
    for j in range(k):
        b = bits[j] >> BUCKET_SHIFT
        counts[b] += 1
        sums[b], comps[b] = _add(sums[b], comps[b], vals[j])
    margin = 1e-12 * (1.0 + abs(q))
    mass, comp = 0.0, 0.0
    count = 0
    stop = low - 1  # buckets above ``stop`` are wholly in the set
    cut = np.inf  # in bucket ``stop``: values above ``cut`` are in ...
    ties_in = 0  # ... and the first ``ties_in`` (by class index) equal to it
    for b in range(high, low - 1, -1):
        c = counts[b]
        if c == 0:
            continue
        m, mc = _merge(mass, comp, sums[b], comps[b])
        if (m + mc) + lam * max(0, count + c - k_reg) <= q - margin:
            mass, comp, count = m, mc, count + c  # every score in the bucket is below q
            continue
        size = 0
        for j in range(k):
            if bits[j] >> BUCKET_SHIFT == b:
                scratch[size] = vals[j]
                size += 1
        b_cut, b_ties, crossed, mass, comp, count = _select(
            scratch, size, q, weight, lam, k_reg, mass, comp, count
        )
        if crossed:
            stop, cut, ties_in = b, b_cut, b_ties
            break
    any_in = False
    seen = 0
    for j in range(k):
        v = vals[j]
        b = bits[j] >> BUCKET_SHIFT
        if b > stop:
            out[j] = True
            any_in = True
        elif b == stop:
            if v > cut:
                out[j] = True
                any_in = True
            elif v == cut:
                if seen < ties_in:
                    out[j] = True
                    any_in = True
                seen += 1
    return any_in


@numba.njit(parallel=True, cache=True, nogil=True)
def true_label_scores(
    probs: np.ndarray,
    rows: np.ndarray,
    labels: np.ndarray,
    u: np.ndarray,
    randomized: bool,
    lam: float,
    k_reg: int,
    kind: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Conformity score of the label of each row in ``rows``, and its 1-based rank.

    ``labels`` and ``u`` are aligned with ``rows`` (one pass over each selected row).
    """
    n = rows.size
    k = probs.shape[1]
    scores = np.empty(n)
    ranks = np.empty(n, dtype=np.int64)
    for r in numba.prange(n):
        row = probs[rows[r]]
        y = labels[r]
        py = np.float64(row[y])
        above = 0
        mass, comp = 0.0, 0.0
        for j in range(k):
            pj = np.float64(row[j])
            if pj > py or (pj == py and j < y):
                above += 1
                mass, comp = _add(mass, comp, pj)
        ranks[r] = above + 1
        if kind == LAC:
            scores[r] = 1.0 - py
        else:
            weight = u[r] if randomized else 1.0
            penalty = lam * max(0, above + 1 - k_reg)
            scores[r] = _score(mass, comp, weight * py, penalty)
    return scores, ranks


@numba.njit(parallel=True, cache=True, nogil=True)
def lac_sets(
    probs: np.ndarray, thresholds: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover
    """``out[i, j] = 1 - p_ij <= thresholds[j]`` (one threshold per class, or all equal)."""
    n, k = probs.shape
    for i in numba.prange(n):
        for j in range(k):
            out[i, j] = 1.0 - np.float64(probs[i, j]) <= thresholds[j]


@numba.njit(parallel=True, cache=True, nogil=True)
def prefix_sets(
    probs: np.ndarray,
    rows: np.ndarray,
    q: float,
    u: np.ndarray,
    randomized: bool,
    lam: float,
    k_reg: int,
    allow_empty: bool,
    out: np.ndarray,
) -> None:  # pragma: no cover
    """APS/RAPS sets ``{y : s(x, y) <= q}`` (ranking prefixes) of ``probs[rows]`` into ``out``."""
    n = rows.size
    k = probs.shape[1]
    for block in numba.prange((n + BLOCK - 1) // BLOCK):
        vals = np.empty(k)
        scratch = np.empty(k)
        counts = np.empty(N_BUCKETS, dtype=np.int64)
        sums = np.empty(N_BUCKETS)
        comps = np.empty(N_BUCKETS)
        for r in range(block * BLOCK, min(n, (block + 1) * BLOCK)):
            row = probs[rows[r]]
            weight = u[r] if randomized else 1.0
            filled = _prefix_row(
                row, q, weight, lam, k_reg, vals, scratch, counts, sums, comps, out[r]
            )
            if not filled and not allow_empty:
                out[r, np.argmax(row)] = True


@numba.njit(parallel=True, cache=True, nogil=True)
def classwise_sets(
    probs: np.ndarray,
    thresholds: np.ndarray,
    u: np.ndarray,
    randomized: bool,
    lam: float,
    k_reg: int,
    out: np.ndarray,
) -> None:  # pragma: no cover
    """APS/RAPS sets with one threshold per class: every label's score, from a full ranking."""
    n, k = probs.shape
    for block in numba.prange((n + BLOCK - 1) // BLOCK):
        keys = np.empty(k)
        for i in range(block * BLOCK, min(n, (block + 1) * BLOCK)):
            row = probs[i]
            weight = u[i] if randomized else 1.0
            for j in range(k):
                keys[j] = -np.float64(row[j])
            order = np.argsort(keys, kind="mergesort")  # stable: ties by class index
            mass, comp = 0.0, 0.0
            for o in range(k):
                j = order[o]
                p = np.float64(row[j])
                score = _score(mass, comp, weight * p, lam * max(0, o + 1 - k_reg))
                out[i, j] = score <= thresholds[j]
                mass, comp = _add(mass, comp, p)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((n + 1) * level)``-th smallest score (``inf`` when that exceeds ``n``).

    The split-conformal finite-sample quantile: ``P(s_test <= q) >= level`` for an exchangeable
    test score (Vovk et al. 2005; Angelopoulos & Bates 2021, eq. 1). A relative slack of 1e-12
    keeps ``(n + 1) * 0.9`` from rounding up past an integer.
    """
    n = scores.size
    rank = int(np.ceil((n + 1) * level * (1.0 - 1e-12)))
    if rank > n:
        return float("inf")
    return float(np.partition(scores, rank - 1)[rank - 1])


def min_calibration_size(level: float) -> int:
    """Smallest ``n`` with ``ceil((n + 1) * level) <= n`` (a finite threshold)."""
    n = max(1, int(np.floor(level / (1.0 - level))) - 1)
    while int(np.ceil((n + 1) * level * (1.0 - 1e-12))) > n:
        n += 1
    return n
