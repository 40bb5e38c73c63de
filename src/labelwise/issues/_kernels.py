"""Compiled row-streaming kernels for multi-class label issues.

Each kernel reads ``pred_probs`` once, row by row, and keeps only O(n) + O(K^2) state, so the
extra memory never grows with n*K and memory-mapped inputs larger than RAM work unchanged.
Selections ("the c examples with the largest margin") are exact top-c heaps with ties broken
towards the earlier row, which makes every result independent of thread count and input layout.
"""

from __future__ import annotations

import numba
import numpy as np

from labelwise._numerics import classify_row

#: How far the fast, input-dtype pre-filter lowers each exact float64 floor (far above float32
#: rounding of values in [0, 2]), so that it can only let extra rows through to the exact test.
_SLACK = 1e-5


#: Exact sums: a float64 is ``m * 2**(e - 1074)`` with a 53-bit integer ``m``; it is added into
#: base-2**32 digits of a fixed-point accumulator (digit ``d`` weighs ``2**(32 * d - 1074)``).
#: Integer additions are exact and commute, so partial sums over any split of the rows combine
#: to the same, correctly rounded total: the in-memory, chunked and Dask paths agree bit for bit.
N_DIGITS = 66
_DIGIT = 32
_MASK = (1 << 32) - 1


@numba.njit(cache=True, inline="always")
def _add_exact(
    digits: np.ndarray, special: np.ndarray, slot: int, bits: np.int64, v: float
) -> None:  # pragma: no cover
    """Add the float64 ``v`` (whose bit pattern is ``bits``) to row ``slot`` of ``digits``."""
    exponent = (bits >> 52) & 0x7FF
    if exponent == 0x7FF:  # inf or NaN: kept apart, they make the sum non-finite anyway
        special[slot] += v
        return
    mantissa = bits & ((np.int64(1) << 52) - 1)
    shift = np.int64(0)
    if exponent > 0:
        mantissa |= np.int64(1) << 52
        shift = exponent - 1
    level = shift // _DIGIT
    offset = shift % _DIGIT
    low = (mantissa & ((np.int64(1) << (_DIGIT - offset)) - 1)) << offset
    rest = mantissa >> (_DIGIT - offset)
    sign = np.int64(-1) if bits < 0 else np.int64(1)
    digits[slot, level] += sign * low
    digits[slot, level + 1] += sign * (rest & _MASK)
    digits[slot, level + 2] += sign * (rest >> _DIGIT)


@numba.njit(parallel=True, cache=True, nogil=True)
def self_confidence_sums(
    values: np.ndarray, labels: np.ndarray, n_chunks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """``p[i, labels[i]]`` for every row, and its exact sum per class as fixed-point digits.

    Returns ``own`` (n,), ``digits`` (K, N_DIGITS) int64 and ``special`` (K,) float64 (the sum
    of the non-finite values); :func:`exact_sums_to_float` turns the last two into floats.
    """
    n, k = values.shape
    own = np.empty(n, dtype=np.float64)
    bits = own.view(np.int64)
    partial = np.zeros((n_chunks, k, N_DIGITS), dtype=np.int64)
    special = np.zeros((n_chunks, k), dtype=np.float64)
    bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
    for c in numba.prange(n_chunks):
        for i in range(bounds[c], bounds[c + 1]):
            v = np.float64(values[i, labels[i]])
            own[i] = v
            _add_exact(partial[c], special[c], labels[i], bits[i], v)
    return own, partial.sum(axis=0), special.sum(axis=0)


def exact_sums_to_float(digits: np.ndarray, special: np.ndarray) -> np.ndarray:
    """(K,) correctly rounded float64 totals of :func:`self_confidence_sums` digits."""
    out = np.empty(digits.shape[0], dtype=np.float64)
    scale = 1 << 1074
    for c in range(digits.shape[0]):
        total = 0
        for d in range(digits.shape[1] - 1, -1, -1):
            total = (total << _DIGIT) + int(digits[c, d])
        value = total / scale if abs(total) < (1 << 2097) else float(np.sign(total)) * np.inf
        out[c] = value + float(special[c]) if special[c] != 0 or np.isnan(special[c]) else value
    return out


# Reassociation lets the reductions vectorise. Only "reassoc" and "contract": with "nsz" added,
# LLVM drops NaNs from the reductions, and this same pass must find invalid rows through their
# sums and minima (pinned by tests/test_validation.py).
@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc", "contract"})
def confident_pass(
    values: np.ndarray,
    labels: np.ndarray,
    cutoffs: np.ndarray,
    fuzz: np.ndarray,
    tolerance: float,
    n_chunks: int,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]:  # pragma: no cover
    """Per-row facts that confident learning needs, the raw confident joint, and row checks.

    Rows are split into ``n_chunks`` chunks processed in parallel; each chunk counts its own
    (given, guess) pairs and the partial counts are added at the end.

    Parameters
    ----------
    values : (n, K) float array of probabilities (not yet checked for NaN or sums).
    labels : (n,) int64 given labels, already checked to lie in ``0..K-1``.
    cutoffs : (K,) per-class thresholds already lowered by the fuzz, in ``values.dtype``.
    fuzz : (1,) array holding 1e-6 in ``values.dtype`` (the given label's head start).
    tolerance : how far a row sum may be from one.
    n_chunks : number of row chunks.

    Returns
    -------
    guess : (n,) int32
        Confident-joint column of the row (its likely true class), -1 when no class clears its
        threshold. Exactly one class over threshold -> that class; several -> the argmax.
    top : (n,) int32
        Argmax of the row (first maximum).
    peak : (n,) ``values.dtype``
        The row's largest value.
    label_is_top : (n,) bool
        The given label is the (first) argmax once it gets a 1e-6 head start.
    joint : (K, K) int64
        Counts of (given label, guess) over rows with a guess (not yet floored or calibrated).
    defects : (n,) uint8
        Row defect codes (see ``labelwise._numerics.classify_row``); 0 for a valid row.
    """
    n, k = values.shape
    guess = np.empty(n, dtype=np.int32)
    top = np.empty(n, dtype=np.int32)
    peaks = np.empty(n, dtype=values.dtype)
    label_is_top = np.empty(n, dtype=np.bool_)
    defects = np.empty(n, dtype=np.uint8)
    partial = np.zeros((n_chunks, k * k), dtype=np.int64)
    bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
    head_start = fuzz[0]
    for c in numba.prange(n_chunks):
        for i in range(bounds[c], bounds[c + 1]):
            row = values[i]
            y = labels[i]
            # Branch-free reductions (they vectorise). When exactly one class is confident, the
            # sum of confident indices is that index; likewise for a unique maximum.
            total = row[0] - row[0]
            low = row[0]
            peak = row[0]
            n_confident = 0
            confident_index = 0
            for j in range(k):
                v = row[j]
                total += v
                low = min(low, v)
                peak = max(peak, v)
                ok = v >= cutoffs[j]
                n_confident += ok
                confident_index += j * ok
            n_peak = 0
            peak_index = 0
            for j in range(k):
                hit = row[j] == peak
                n_peak += hit
                peak_index += j * hit
            if n_peak != 1:  # ties (or NaN): the first maximum, as argmax returns
                peak_index = 0
                while peak_index < k - 1 and row[peak_index] != peak:
                    peak_index += 1
            top[i] = peak_index
            peaks[i] = peak
            # argmax of the row with the given label's entry raised by the fuzz, compared to y.
            bumped = row[y] + head_start
            if peak < bumped:
                label_is_top[i] = True
            elif peak > bumped:
                label_is_top[i] = False
            else:
                wins = True
                for j in range(k):
                    if (j < y and row[j] >= bumped) or (j > y and row[j] > bumped):
                        wins = False
                label_is_top[i] = wins
            if n_confident == 0:
                guess[i] = -1
            else:
                g = confident_index if n_confident == 1 else peak_index
                guess[i] = g
                partial[c, y * k + g] += 1
            defects[i] = classify_row(np.float64(total), np.float64(low), tolerance)
    joint = partial.sum(axis=0).reshape(k, k)
    return guess, top, peaks, label_is_top, joint, defects


@numba.njit(cache=True, inline="always")
def _weaker(key_a: float, idx_a: int, key_b: float, idx_b: int) -> bool:  # pragma: no cover
    """(key_a, idx_a) ranks below (key_b, idx_b): smaller key, or same key and later row."""
    return key_a < key_b or (key_a == key_b and idx_a > idx_b)


@numba.njit(cache=True)
def _sift_down(
    keys: np.ndarray, idx: np.ndarray, start: int, size: int
) -> None:  # pragma: no cover
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        right = child + 1
        if right < size and _weaker(
            keys[start + right], idx[start + right], keys[start + child], idx[start + child]
        ):
            child = right
        if _weaker(keys[start + child], idx[start + child], keys[start + pos], idx[start + pos]):
            keys[start + pos], keys[start + child] = keys[start + child], keys[start + pos]
            idx[start + pos], idx[start + child] = idx[start + child], idx[start + pos]
            pos = child
        else:
            return


@numba.njit(cache=True)
def _sift_up(keys: np.ndarray, idx: np.ndarray, start: int, pos: int) -> None:  # pragma: no cover
    while pos > 0:
        parent = (pos - 1) // 2
        if _weaker(keys[start + pos], idx[start + pos], keys[start + parent], idx[start + parent]):
            keys[start + pos], keys[start + parent] = keys[start + parent], keys[start + pos]
            idx[start + pos], idx[start + parent] = idx[start + parent], idx[start + pos]
            pos = parent
        else:
            return


@numba.njit(cache=True)
def _offer(
    keys: np.ndarray,
    idx: np.ndarray,
    sizes: np.ndarray,
    start: int,
    slot: int,
    cap: int,
    key: float,
    row: int,
) -> None:  # pragma: no cover
    """Offer (key, row) to the top-``cap`` heap stored at ``keys[start:start+cap]``."""
    size = sizes[slot]
    if size < cap:
        keys[start + size] = key
        idx[start + size] = row
        sizes[slot] = size + 1
        _sift_up(keys, idx, start, size)
    elif _weaker(keys[start], idx[start], key, row):
        keys[start] = key
        idx[start] = row
        _sift_down(keys, idx, start, cap)


@numba.njit(cache=True, nogil=True)
def _group_heaps(
    keys: np.ndarray, groups: np.ndarray, caps: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Per group g, a heap of the ``caps[g]`` rows with the largest key (ties: earlier row)."""
    n_groups = caps.shape[0]
    starts = np.zeros(n_groups + 1, dtype=np.int64)
    for g in range(n_groups):
        starts[g + 1] = starts[g] + max(caps[g], 0)
    heap_keys = np.empty(starts[n_groups], dtype=np.float64)
    heap_idx = np.empty(starts[n_groups], dtype=np.int64)
    sizes = np.zeros(n_groups, dtype=np.int64)
    for i in range(keys.shape[0]):
        g = groups[i]
        cap = caps[g]
        if cap > 0:
            _offer(heap_keys, heap_idx, sizes, starts[g], g, cap, keys[i], i)
    return heap_keys, heap_idx, sizes, starts


@numba.njit(cache=True, nogil=True)
def select_top_per_group(
    keys: np.ndarray, groups: np.ndarray, caps: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """Mark, in each group g, the ``caps[g]`` rows with the largest key (ties: earlier row)."""
    _, heap_idx, sizes, starts = _group_heaps(keys, groups, caps)
    chosen = np.zeros(keys.shape[0], dtype=np.bool_)
    for g in range(caps.shape[0]):
        for s in range(sizes[g]):
            chosen[heap_idx[starts[g] + s]] = True
    return chosen


@numba.njit(cache=True, nogil=True)
def kth_largest_per_group(
    keys: np.ndarray, groups: np.ndarray, caps: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """The ``caps[g]``-th largest key of each group; -inf where the group has fewer rows."""
    heap_keys, _, sizes, starts = _group_heaps(keys, groups, caps)
    out = np.full(caps.shape[0], -np.inf)
    for g in range(caps.shape[0]):
        if caps[g] > 0 and sizes[g] == caps[g]:
            out[g] = heap_keys[starts[g]]
    return out


@numba.njit(cache=True, nogil=True)
def _noise_rate_heaps(
    values: np.ndarray,
    labels: np.ndarray,
    counts: np.ndarray,
    start_floor: np.ndarray,
    row_lo: int,
    row_hi: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Per cell (k, j): the top-``counts[k, j]`` margins p_j - p_k of rows labelled k.

    Only rows ``row_lo:row_hi`` are searched (one block of the parallel search).
    """
    k_classes = counts.shape[0]
    starts = np.zeros(k_classes * k_classes + 1, dtype=np.int64)
    for s in range(k_classes * k_classes):
        starts[s + 1] = starts[s] + counts[s // k_classes, s % k_classes]
    # floor[k * K + j]: a row labelled k enters cell (k, j)'s heap only with a margin at least
    # this (+inf: nothing to prune). It starts at ``start_floor``, a lower bound on the final
    # c-th largest margin, and becomes the heap's weakest key once the heap is full.
    # rough[] is the floor lowered by a slack, in the input's dtype: a branch-free sweep against
    # it rules out most rows cheaply and never rules out a row the exact test admits.
    floor = np.full(k_classes * k_classes, np.inf)
    rough = np.full(k_classes * k_classes, np.inf, dtype=values.dtype)
    for s in range(k_classes * k_classes):
        if counts[s // k_classes, s % k_classes] > 0:
            floor[s] = start_floor[s]
            rough[s] = start_floor[s] - _SLACK
    heap_keys = np.empty(starts[-1], dtype=np.float64)
    heap_idx = np.empty(starts[-1], dtype=np.int64)
    sizes = np.zeros(k_classes * k_classes, dtype=np.int64)
    for i in range(row_lo, row_hi):
        row = values[i]
        y = labels[i]
        own = row[y]
        base = y * k_classes
        n_hits = 0
        for j in range(k_classes):
            n_hits += row[j] > own + rough[base + j]
        if n_hits == 0:
            continue
        exact_own = np.float64(own)
        for j in range(k_classes):
            slot = base + j
            if not row[j] > own + rough[slot]:
                continue
            margin = np.float64(row[j]) - exact_own
            cap = counts[y, j]
            # Below a full heap's weakest key nothing enters; before that, the start floor is a
            # bound that rows *equal* to it may still tie with, so it is inclusive.
            if margin > floor[slot] or (sizes[slot] < cap and margin == floor[slot]):
                _offer(heap_keys, heap_idx, sizes, starts[slot], slot, cap, margin, i)
                if sizes[slot] == cap:
                    floor[slot] = heap_keys[starts[slot]]
                    rough[slot] = floor[slot] - _SLACK
    return heap_keys, heap_idx, sizes, starts


@numba.njit(parallel=True, cache=True, nogil=True)
def select_by_noise_rate(
    values: np.ndarray,
    labels: np.ndarray,
    counts: np.ndarray,
    start_floor: np.ndarray,
    n_blocks: int,
) -> np.ndarray:  # pragma: no cover
    """Confident learning's prune-by-noise-rate selection.

    ``counts[k, j]`` (off-diagonal, k != j) is how many rows labelled k to flag as "really j":
    those with the largest margin ``p_j - p_k``. ``start_floor[k * K + j]`` is a lower bound
    on cell (k, j)'s c-th largest margin (-inf when unknown); a good bound lets the search skip
    almost every row from the start. The rows are split into blocks searched in parallel; each
    block keeps its own exact top-c heaps and the blocks' survivors are merged exactly, so the
    result is the same for any number of blocks.
    """
    n = values.shape[0]
    n_blocks = max(1, min(n_blocks, n // 50_000))
    bounds = np.linspace(0, n, n_blocks + 1).astype(np.int64)
    k_classes = counts.shape[0]
    n_slots = k_classes * k_classes
    total = 0
    for s in range(n_slots):
        total += counts[s // k_classes, s % k_classes]
    all_keys = np.empty((n_blocks, total), dtype=np.float64)
    all_idx = np.empty((n_blocks, total), dtype=np.int64)
    all_sizes = np.zeros((n_blocks, n_slots), dtype=np.int64)
    starts = np.zeros(n_slots + 1, dtype=np.int64)
    for b in numba.prange(n_blocks):
        keys, idx, sizes, st = _noise_rate_heaps(
            values, labels, counts, start_floor, bounds[b], bounds[b + 1]
        )
        all_keys[b, :] = keys
        all_idx[b, :] = idx
        all_sizes[b, :] = sizes
        if b == 0:
            starts[:] = st
    # Merge: offer every other block's survivors to block 0's heaps. The heap order is total
    # (key, then earlier row), so the merged heaps are exactly the top-c of all rows.
    for b in range(1, n_blocks):
        for s in range(n_slots):
            cap = starts[s + 1] - starts[s]
            for t in range(all_sizes[b, s]):
                _offer(
                    all_keys[0],
                    all_idx[0],
                    all_sizes[0],
                    starts[s],
                    s,
                    cap,
                    all_keys[b, starts[s] + t],
                    all_idx[b, starts[s] + t],
                )
    chosen = np.zeros(n, dtype=np.bool_)
    for s in range(n_slots):
        for t in range(all_sizes[0, s]):
            chosen[all_idx[0, starts[s] + t]] = True
    return chosen


@numba.njit(parallel=True, cache=True, nogil=True)
def normalized_entropy(values: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Entropy of each row divided by log(K), in [0, 1]."""
    n, k = values.shape
    out = np.empty(n, dtype=np.float64)
    scale = 1.0 / np.log(k)
    for i in numba.prange(n):
        total = 0.0
        for j in range(k):
            v = np.float64(values[i, j])
            if v > 0.0:
                total -= v * np.log(v)
        out[i] = total * scale
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def max_other_shifted(
    values: np.ndarray, labels: np.ndarray, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Per row: max over j != label of ``values[i, j] - shift[j]``, and the row sum."""
    n, k = values.shape
    best = np.empty(n, dtype=np.float64)
    sums = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        y = labels[i]
        other = -np.inf
        total = 0.0
        for j in range(k):
            v = np.float64(values[i, j])
            total += v
            if j != y and v - shift[j] > other:
                other = v - shift[j]
        best[i] = other
        sums[i] = total
    return best, sums
