"""Compiled row-streaming kernels for multi-label label issues.

Multi-label confident learning treats each class ``j`` as its own binary problem with
probabilities ``(1 - p_j, p_j)`` (Thyagarajan et al. 2023). Instead of K separate passes over
the data (cleanlab's loop), these kernels read each row once and update all K binary problems
together. Labels arrive as CSR ``(indptr, indices)`` of the positive classes, sorted per row.
"""

from __future__ import annotations

import numba
import numpy as np

from labelwise._numerics import ROW_ABOVE_ONE, ROW_NEGATIVE, ROW_NONFINITE, ROW_OK

#: Bits of the per-(row, class) state byte written by :func:`multilabel_pass`.
CANDIDATE, LABEL_IS_TOP, CONFIDENT_OFF_DIAGONAL, GIVEN_POSITIVE = 1, 2, 4, 8
#: A (row, class) whose margin ``q_other - q_given`` exceeds this is a pruning candidate. Every
#: entry whose given label is not the argmax (within the 1e-6 head start) has a margin above
#: 1e-6 minus half a float ulp, so it is always a candidate; see ``label_issues`` for why that
#: makes the candidate-only selection exact.
CANDIDATE_MARGIN = 5e-7

#: Score methods and aggregators, as codes for the kernels.
SELF_CONFIDENCE, NORMALIZED_MARGIN, CONFIDENCE_WEIGHTED_ENTROPY = 0, 1, 2
EMA, SOFTMIN, MEAN, MIN = 0, 1, 2, 3


@numba.njit(parallel=True, cache=True, nogil=True)
def threshold_sums(
    values: np.ndarray, indptr: np.ndarray, indices: np.ndarray, n_chunks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:  # pragma: no cover
    """Per class: sum of ``p`` over given positives, their count, sum of ``1 - p`` over given
    negatives; and whether any value is NaN/inf or outside [0, 1].

    ``1 - p`` is formed in the input dtype, as the binary problem's class-0 probability is.
    Column accumulators keep the inner loop branch-free (it vectorises); the positives are
    visited through the CSR lists. Rows are located by :func:`row_range_defects` only when
    something is wrong.
    """
    n, k = values.shape
    one = values.dtype.type(1.0)
    all_q0 = np.zeros((n_chunks, k))
    pos_p = np.zeros((n_chunks, k))
    pos_q0 = np.zeros((n_chunks, k))
    pos_count = np.zeros((n_chunks, k), dtype=np.int64)
    lows = np.full((n_chunks, k), np.inf)
    highs = np.full((n_chunks, k), -np.inf)
    bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
    for c in numba.prange(n_chunks):
        acc, low, high = all_q0[c], lows[c], highs[c]
        for i in range(bounds[c], bounds[c + 1]):
            row = values[i]
            for j in range(k):
                v = np.float64(row[j])
                acc[j] += np.float64(one - row[j])
                low[j] = min(low[j], v)
                high[j] = max(high[j], v)
            for ptr in range(indptr[i], indptr[i + 1]):
                j = indices[ptr]
                pos_p[c, j] += row[j]
                pos_q0[c, j] += np.float64(one - row[j])
                pos_count[c, j] += 1
    totals = all_q0.sum(axis=0)
    # NaN or inf makes a column sum non-finite; ranges come from the column extremes.
    broken = not (np.all(np.isfinite(totals)) and lows.min() >= 0.0 and highs.max() <= 1.0)
    return pos_p.sum(axis=0), pos_count.sum(axis=0), totals - pos_q0.sum(axis=0), broken


@numba.njit(parallel=True, cache=True, nogil=True)
def row_range_defects(values: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Defect code per row for independent probabilities: NaN/inf, negative, above one."""
    n, k = values.shape
    defects = np.zeros(n, dtype=np.uint8)
    for i in numba.prange(n):
        code = ROW_OK
        for j in range(k):
            v = values[i, j]
            if not np.isfinite(v):
                code = ROW_NONFINITE
                break
            if v < 0 and code == ROW_OK:
                code = ROW_NEGATIVE
            elif v > 1 and code == ROW_OK:
                code = ROW_ABOVE_ONE
        defects[i] = code
    return defects


@numba.njit(cache=True, inline="always")
def _class_score(
    q_given: float, q_other: float, method: int, shift_given: float, shift_other: float
) -> float:  # pragma: no cover
    """One binary problem's label quality (float64), optionally on threshold-adjusted probs."""
    if shift_given != 0.0 or shift_other != 0.0:
        a = q_given - shift_given
        b = q_other - shift_other
        total = a + b
        q_given, q_other = a / total, b / total
    if method == SELF_CONFIDENCE:
        return q_given
    if method == NORMALIZED_MARGIN:
        return (q_given - q_other + 1.0) / 2.0
    entropy = 0.0
    if q_given > 0.0:
        entropy -= q_given * np.log(q_given)
    if q_other > 0.0:
        entropy -= q_other * np.log(q_other)
    ratio = entropy / np.log(2.0) / max(q_given, 1e-6)
    # log(1 + x) / x -> 1 as x -> 0 (see labelwise.issues.scores).
    return np.log1p(ratio) / ratio if ratio > 0.0 else 1.0


@numba.njit(parallel=True, cache=True, nogil=True)
def facts_pass(
    values: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    cut0: np.ndarray,
    cut1: np.ndarray,
    fuzz: np.ndarray,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Everything per (row, class) that multi-label confident learning needs, in one pass.

    Parameters
    ----------
    values : (n, K) probabilities ``p``; class j's binary problem is ``(1 - p_j, p_j)``.
    indptr, indices : CSR of the given positives.
    cut0, cut1 : (K,) thresholds of the binary classes 0 and 1, lowered by the fuzz, in dtype.
    fuzz : (1,) 1e-6 in dtype: the given label's head start in the argmax test.
    n_chunks : number of row chunks processed in parallel.

    Returns
    -------
    state : (n, K) uint8
        Bit flags per entry: CANDIDATE, LABEL_IS_TOP, CONFIDENT_OFF_DIAGONAL, GIVEN_POSITIVE.
    joint : (K, 2, 2) int64
        Per class, raw counts of (given, confident guess).
    """
    n, k = values.shape
    one = values.dtype.type(1.0)
    head_start = fuzz[0]
    state = np.empty((n, k), dtype=np.uint8)
    # counts[c, cell, j]: chunk c's (given, guess) counts, cell = 2 * given + guess.
    counts = np.zeros((n_chunks, 4, k), dtype=np.int64)
    bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
    for c in numba.prange(n_chunks):
        given = np.zeros(k, dtype=np.bool_)
        n00, n01, n10, n11 = counts[c, 0], counts[c, 1], counts[c, 2], counts[c, 3]
        for i in range(bounds[c], bounds[c + 1]):
            row = values[i]
            out = state[i]
            for ptr in range(indptr[i], indptr[i + 1]):
                given[indices[ptr]] = True
            # Bitwise logic, no branches: the loop over classes vectorises.
            for j in range(k):
                q1 = row[j]
                q0 = one - q1
                y = given[j]
                ok0 = q0 >= cut0[j]
                ok1 = q1 >= cut1[j]
                # Guess 1 when only class 1 is confident, or both are and q1 wins the argmax.
                guess1 = ok1 & (~ok0 | (q1 > q0))
                counted = ok0 | ok1
                n00[j] += counted & ~y & ~guess1
                n01[j] += counted & ~y & guess1
                n10[j] += counted & y & ~guess1
                n11[j] += counted & y & guess1
                top = (y & (q1 + head_start > q0)) | (~y & (q0 + head_start >= q1))
                diff = np.float64(q1) - np.float64(q0)
                margin = -diff if y else diff
                out[j] = np.uint8(
                    (margin > CANDIDATE_MARGIN) * CANDIDATE
                    + top * LABEL_IS_TOP
                    + (counted & (guess1 != y)) * CONFIDENT_OFF_DIAGONAL
                    + y * GIVEN_POSITIVE
                )
            for ptr in range(indptr[i], indptr[i + 1]):
                given[indices[ptr]] = False
    total = counts.sum(axis=0)
    joint = np.empty((k, 2, 2), dtype=np.int64)
    for j in range(k):
        joint[j, 0, 0], joint[j, 0, 1] = total[0, j], total[1, j]
        joint[j, 1, 0], joint[j, 1, 1] = total[2, j], total[3, j]
    return state, joint


@numba.njit(cache=True, nogil=True)
def class_scores_block(
    values: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    lo: int,
    method: int,
    shift0: np.ndarray,
    shift1: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover
    """Per-class label quality of rows ``lo : lo + len(out)`` into ``out`` (its dtype).

    Self-confidence without adjustment is the given side's probability itself, copied in the
    input dtype (so float32 blocks sort fast); other scores are float64.
    """
    k = values.shape[1]
    one = values.dtype.type(1.0)
    plain = method == SELF_CONFIDENCE and not (shift0.any() or shift1.any())
    for r in range(out.shape[0]):
        i = lo + r
        row = values[i]
        dest = out[r]
        if plain:
            for j in range(k):
                dest[j] = one - row[j]
            for ptr in range(indptr[i], indptr[i + 1]):
                dest[indices[ptr]] = row[indices[ptr]]
            continue
        ptr, end = indptr[i], indptr[i + 1]
        for j in range(k):
            q1 = row[j]
            q0 = one - q1
            if ptr < end and indices[ptr] == j:
                ptr += 1
                dest[j] = _class_score(np.float64(q1), np.float64(q0), method, shift1[j], shift0[j])
            else:
                dest[j] = _class_score(np.float64(q0), np.float64(q1), method, shift0[j], shift1[j])


@numba.njit(cache=True, nogil=True)
def aggregate_rows(
    block: np.ndarray, how: int, alpha: float, temperature: float
) -> np.ndarray:  # pragma: no cover
    """One score per row of per-class scores; for the EMA, rows must be sorted ascending."""
    rows, k = block.shape
    out = np.empty(rows, dtype=np.float64)
    rest = 1.0 - alpha
    for r in range(rows):
        s = block[r]
        if how == MIN:
            out[r] = np.float64(s.min())
        elif how == MEAN:
            total = 0.0
            for j in range(k):
                total += np.float64(s[j])
            out[r] = total / k
        elif how == SOFTMIN:
            # sum_j s_j softmax((1 - s) / T)_j, shifted by the max for stability.
            top = -np.inf
            for j in range(k):
                top = max(top, (1.0 - np.float64(s[j])) / temperature)
            total = 0.0
            for j in range(k):
                total += np.exp((1.0 - np.float64(s[j])) / temperature - top)
            acc = 0.0
            for j in range(k):
                v = np.float64(s[j])
                acc += v * (np.exp((1.0 - v) / temperature - top) / total)
            out[r] = acc
        else:
            # Exponential moving average from the best score to the worst, so the worst
            # classes weigh most (Thyagarajan et al. 2023).
            ema = np.float64(s[k - 1])
            for m in range(k - 2, -1, -1):
                ema = alpha * np.float64(s[m]) + rest * ema
            out[r] = ema
    return out


@numba.njit(cache=True, nogil=True)
def collect_candidates(
    state: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The candidate entries in row-major order: row, class, state bits, margin, own prob."""
    n, k = state.shape
    count = 0
    for i in range(n):
        for j in range(k):
            count += state[i, j] & CANDIDATE
    rows = np.empty(count, dtype=np.int64)
    cols = np.empty(count, dtype=np.int64)
    bits = np.empty(count, dtype=np.uint8)
    margins = np.empty(count, dtype=np.float64)
    own = np.empty(count, dtype=np.float64)
    one = values.dtype.type(1.0)
    pos = 0
    for i in range(n):
        for j in range(k):
            b = state[i, j]
            if b & CANDIDATE:
                q1 = values[i, j]
                q0 = one - q1
                rows[pos] = i
                cols[pos] = j
                bits[pos] = b
                if b & GIVEN_POSITIVE:
                    margins[pos] = np.float64(q0) - np.float64(q1)
                    own[pos] = np.float64(q1)
                else:
                    margins[pos] = np.float64(q1) - np.float64(q0)
                    own[pos] = np.float64(q0)
                pos += 1
    return rows, cols, bits, margins, own
