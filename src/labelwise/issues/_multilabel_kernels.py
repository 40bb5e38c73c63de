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
from labelwise.issues._kernels import _DIGIT, N_DIGITS, _add_exact

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


#: Exact class sums. A value ``v`` in [0, 1] whose bits reach no lower than 2**-93 is split
#: exactly into three base-2**31 digits ``v = h 2**-31 + m 2**-62 + l 2**-93`` (float scaling
#: and ``floor`` are exact there); any other value goes to the full fixed-point accumulator of
#: :func:`labelwise.issues._kernels._add_exact`. Both are integers, so partial sums over any
#: split of the rows (threads, chunks, Dask blocks) add up to the same total, which
#: :func:`exact_totals` rounds once.
SPLIT_DIGITS = 3
_SPLIT = 2147483648.0  # 2**31
#: Rows whose split digits are summed as floats (exact below 2**53) before moving to integers.
_FLUSH_ROWS = 1 << 20
#: Row layout of one exact accumulator: the three split digits, then the full digits.
EXACT_WIDTH = SPLIT_DIGITS + N_DIGITS
#: The three sums of :func:`threshold_sums`: ``p`` over given positives, ``1 - p`` over all
#: rows, ``1 - p`` over given positives (the negatives' sum is the exact difference).
POS_P, ALL_Q0, POS_Q0 = 0, 1, 2


@numba.njit(cache=True, inline="always")
def _add_split(
    acc: np.ndarray, special: np.ndarray, scratch: np.ndarray, j: int, v: float
) -> None:  # pragma: no cover
    """Add ``v`` (a float64 in [0, 1]) exactly to row ``j`` of the accumulator ``acc``."""
    a = v * _SPLIT
    h = np.floor(a)
    r = (a - h) * _SPLIT
    m = np.floor(r)
    r = (r - m) * _SPLIT
    low = np.floor(r)
    if r == low:
        acc[j, 0] += np.int64(h)
        acc[j, 1] += np.int64(m)
        acc[j, 2] += np.int64(low)
    else:
        scratch[0] = v
        _add_exact(acc[:, SPLIT_DIGITS:], special, j, scratch.view(np.int64)[0], v)


@numba.njit(parallel=True, cache=True, nogil=True)
def threshold_sums(
    values: np.ndarray, indptr: np.ndarray, indices: np.ndarray, n_chunks: int
) -> tuple[np.ndarray, np.ndarray, bool]:  # pragma: no cover
    """Exact per-class sums for the binary thresholds, and whether any value is NaN/inf or
    outside [0, 1].

    Returns ``sums`` (3, K, EXACT_WIDTH) int64 (``POS_P``, ``ALL_Q0``, ``POS_Q0``; see
    :func:`exact_totals`), the number of given positives per class (K,) int64, and the
    ``broken`` flag. ``1 - p`` is formed in the input dtype, as the binary problem's class-0
    probability is. The sums of a broken input are meaningless (the caller raises); rows are
    located by :func:`row_range_defects` only then.
    """
    n, k = values.shape
    one = values.dtype.type(1.0)
    sums = np.zeros((n_chunks, 3, k, EXACT_WIDTH), dtype=np.int64)
    pos_count = np.zeros((n_chunks, k), dtype=np.int64)
    broken = np.zeros(n_chunks, dtype=np.bool_)
    bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
    for c in numba.prange(n_chunks):
        special = np.zeros(k)
        scratch = np.zeros(1)
        pos_p, all_q0, pos_q0 = sums[c, POS_P], sums[c, ALL_Q0], sums[c, POS_Q0]
        # The split digits of 1 - p over all rows, summed as floats: each is an integer below
        # 2**31 + 1, so the float sums stay exact for 2**21 rows, then move to the integers.
        fh, fm, fl = np.zeros(k), np.zeros(k), np.zeros(k)
        bad = False
        for i in range(bounds[c], bounds[c + 1]):
            row = values[i]
            odd = False
            for j in range(k):  # branch-free: vectorises
                p = row[j]
                a = np.float64(one - p) * _SPLIT
                h = np.floor(a)
                r = (a - h) * _SPLIT
                m = np.floor(r)
                r = (r - m) * _SPLIT
                low = np.floor(r)
                fh[j] += h
                fm[j] += m
                fl[j] += low
                odd |= (r != low) | ~((p >= 0) & (p <= 1))
            if odd:  # rare: a value below 2**-41 with low bits, or one outside [0, 1]
                for j in range(k):
                    p = row[j]
                    if not (p >= 0 and p <= 1):
                        bad = True
                        continue
                    v = np.float64(one - p)
                    a = v * _SPLIT
                    r = (a - np.floor(a)) * _SPLIT
                    r = (r - np.floor(r)) * _SPLIT
                    rest = (r - np.floor(r)) * 2.0**-93
                    if rest != 0.0:
                        scratch[0] = rest
                        _add_exact(
                            all_q0[:, SPLIT_DIGITS:], special, j, scratch.view(np.int64)[0], rest
                        )
            for ptr in range(indptr[i], indptr[i + 1]):
                j = indices[ptr]
                p = row[j]
                if p >= 0 and p <= 1:
                    _add_split(pos_p, special, scratch, j, np.float64(p))
                    _add_split(pos_q0, special, scratch, j, np.float64(one - p))
                pos_count[c, j] += 1
            if (i - bounds[c]) % _FLUSH_ROWS == _FLUSH_ROWS - 1 or i == bounds[c + 1] - 1:
                for j in range(k):
                    all_q0[j, 0] += np.int64(fh[j])
                    all_q0[j, 1] += np.int64(fm[j])
                    all_q0[j, 2] += np.int64(fl[j])
                fh[:] = 0.0
                fm[:] = 0.0
                fl[:] = 0.0
        broken[c] = bad
    return sums.sum(axis=0), pos_count.sum(axis=0), bool(broken.any())


def exact_integers(sums: np.ndarray) -> list[int]:
    """Each row of an exact accumulator (..., EXACT_WIDTH) as a Python integer, in units of
    2**-1074 (the weight of the last full digit)."""
    flat = sums.reshape(-1, EXACT_WIDTH)
    out = []
    for row in flat:
        total = 0
        for d in range(EXACT_WIDTH - 1, SPLIT_DIGITS - 1, -1):
            total = (total << _DIGIT) + int(row[d])
        for d in range(SPLIT_DIGITS):
            total += int(row[d]) << (1074 - 31 * (d + 1))
        out.append(total)
    return out


def exact_totals(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K,) correctly rounded float64 sums of ``p`` over the given positives and of ``1 - p``
    over the given negatives, from :func:`threshold_sums`' accumulators (summed over blocks)."""
    pos_p, all_q0, pos_q0 = (exact_integers(sums[q]) for q in (POS_P, ALL_Q0, POS_Q0))
    scale = 1 << 1074
    positives = np.array([t / scale for t in pos_p], dtype=np.float64)
    negatives = np.array([(a - b) / scale for a, b in zip(all_q0, pos_q0, strict=True)])
    return positives, negatives.astype(np.float64)


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
