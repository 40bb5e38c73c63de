"""Stable shared math used by several kernels.

Everything here takes and returns arrays and trusts its input: validation happens once, in
:mod:`labelwise._validation`, before any of these are called.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import numba
import numpy as np

P = ParamSpec("P")
R = TypeVar("R")

#: Absolute slack used wherever cleanlab compares probabilities "fuzzily" (thresholds, argmax).
FUZZ = 1e-6
#: Tiny positive value guarding divisions by empty counts.
TINY = 1e-100


#: Row defect codes shared by every kernel that checks probability rows during its own pass.
ROW_OK, ROW_NONFINITE, ROW_NEGATIVE, ROW_SUM_OFF, ROW_ABOVE_ONE = 0, 1, 2, 3, 4


@numba.njit(cache=True, inline="always")
def classify_row(total: float, low: float, tolerance: float) -> int:  # pragma: no cover
    """Defect code of a probability row from its sum and minimum (a NaN/inf makes the sum so)."""
    if not np.isfinite(total):
        return ROW_NONFINITE
    if low < 0:
        return ROW_NEGATIVE
    if abs(total - 1.0) > tolerance:
        return ROW_SUM_OFF
    return ROW_OK


# Reassociation lets the sum vectorise. Only "reassoc" and "contract": with "nsz" added, LLVM
# drops NaNs from the min reduction and the row sum, and invalid rows would pass unseen
# (pinned by tests/test_validation.py).
@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc", "contract"})
def row_defects(values: np.ndarray, tolerance: float) -> np.ndarray:  # pragma: no cover
    """One defect code per row, in one streaming pass with no temporary of the input's size."""
    n, k = values.shape
    defects = np.empty(n, dtype=np.uint8)
    for i in numba.prange(n):
        row = values[i]
        total = row[0] - row[0]
        low = row[0]
        for j in range(k):
            total += row[j]
            low = min(low, row[j])
        defects[i] = classify_row(np.float64(total), np.float64(low), tolerance)
    return defects


def round_preserving_row_totals(matrix: np.ndarray) -> np.ndarray:
    """Round each row to integers so that every row keeps its (rounded) total.

    Largest-remainder rounding: entries are rounded, then the rows whose rounded sum is off get
    +1 on their largest remainders (or -1 on their smallest), as in cleanlab's
    ``round_preserving_row_totals``, so confident joints agree entry for entry.
    """
    floats = np.asarray(matrix, dtype=np.float64)
    ints = floats.round()
    target = floats.sum(axis=1).round()
    for row in np.flatnonzero(np.abs(ints.sum(axis=1) - target) > FUZZ):
        # Rows needing a fix are rare and K is small: a loop over them is not a hot path.
        while True:
            diff = target[row] - ints[row].sum().round()
            if abs(diff) <= FUZZ:
                break
            step = 1.0 if diff > 0 else -1.0
            n_change = min(int(abs(round(diff))), floats.shape[1])
            order = np.argsort(floats[row] - ints[row])
            chosen = order[::-1][:n_change] if step > 0 else order[:n_change]
            ints[row, chosen] += step
    return ints.astype(np.int64)


def normalize_columns(matrix: np.ndarray) -> np.ndarray:
    """Divide each column by its sum (empty columns stay zero)."""
    return matrix / np.clip(matrix.sum(axis=0), TINY, None)


def clip_noise_rates(matrix: np.ndarray) -> np.ndarray:
    """Clip off-diagonal rates into [0, 0.9999] and make columns sum to one again."""
    diagonal = np.diagonal(matrix).copy()
    clipped = np.clip(matrix, 0.0, 0.9999)
    np.fill_diagonal(clipped, diagonal)
    return normalize_columns(clipped)


def clip_to_simplex(values: np.ndarray, low: float, high: float = 1.0) -> np.ndarray:
    """Clip a vector into [low, high] and rescale it to sum to one."""
    clipped = np.clip(values, low, high)
    return clipped / max(float(clipped.sum()), TINY)


#: Below this many matrix entries a pass is run on the calling thread alone: waking and
#: joining worker threads costs more than the pass, and on a busy machine a worker that is not
#: scheduled promptly stalls the whole call (tens of milliseconds on 2 loaded cores).
SERIAL_BELOW = 2_000_000


@contextmanager
def threads_for(work: int) -> Iterator[None]:
    """Run the compiled kernels inside on one thread when ``work`` (entries) is small.

    ``numba.set_num_threads`` is thread-local, so this affects only the calling thread's
    kernels, and the previous setting comes back on exit.
    """
    if work >= SERIAL_BELOW:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def serial_when_small(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a public ``f(labels, pred_probs, ...)`` to run serially on small inputs."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        probs = (
            kwargs["pred_probs"] if "pred_probs" in kwargs else args[1] if len(args) > 1 else None
        )
        shape = getattr(probs, "shape", None)
        work = int(np.prod(shape)) if shape is not None else 0
        with threads_for(work):
            return func(*args, **kwargs)

    return wrapper


def group_by_item(item: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, order)``: annotations ``order[indptr[i]:indptr[i + 1]]`` are item ``i``'s,
    in their original order (a stable counting sort, O(annotations + items))."""
    # Outputs allocated by numpy (huge pages), filled by the compiled pass; see dense_int_codes.
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    order = np.empty(item.size, dtype=np.int64)
    _group_by_item(item, indptr, order)
    return indptr, order


@numba.njit(cache=True, nogil=True)
def _group_by_item(
    item: np.ndarray, indptr: np.ndarray, order: np.ndarray
) -> None:  # pragma: no cover
    n_items = indptr.size - 1
    for j in range(item.size):
        indptr[item[j] + 1] += 1
    for i in range(n_items):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    for j in range(item.size):
        order[fill[item[j]]] = j
        fill[item[j]] += 1


@numba.njit(cache=True, nogil=True)
def last_of_each_pair(
    indptr: np.ndarray, order: np.ndarray, source: np.ndarray, n_sources: int
) -> np.ndarray:  # pragma: no cover
    """Mask of the annotations that are the last (in table order) of their (item, source) pair.

    Within each item, walk its annotations backwards and keep a source the first time it is
    seen; ``seen[s]`` holds the item that last saw source ``s``, so it never needs clearing.
    """
    keep = np.zeros(order.size, dtype=np.bool_)
    seen = np.full(n_sources, -1, dtype=np.int64)
    for i in range(indptr.size - 1):
        for p in range(indptr[i + 1] - 1, indptr[i] - 1, -1):
            j = order[p]
            if seen[source[j]] != i:
                seen[source[j]] = i
                keep[j] = True
    return keep


def dense_to_long(
    matrix: np.ndarray, missing: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Row-major (row, column, value) of the cells of a 2-D integer matrix that are not
    ``missing`` (the order of ``np.nonzero``), as int64; plus how many of those are negative.

    Two passes over the matrix in its own dtype (count per row, then fill at the row's offset),
    parallel over rows: no boolean mask or int64 copy of the whole matrix.
    """
    n = matrix.shape[0]
    counts = np.zeros(n + 1, dtype=np.int64)
    negative = np.zeros(n, dtype=np.int64)
    _count_answered(matrix, missing, counts, negative)
    np.cumsum(counts, out=counts)
    total = int(counts[n])
    # Outputs allocated by numpy (huge pages), filled by the compiled pass; see dense_int_codes.
    rows = np.empty(total, dtype=np.int64)
    cols = np.empty(total, dtype=np.int64)
    values = np.empty(total, dtype=np.int64)
    _fill_answered(matrix, missing, counts, rows, cols, values)
    return rows, cols, values, int(negative.sum())


@numba.njit(parallel=True, cache=True, nogil=True)
def _count_answered(
    matrix: np.ndarray, missing: int, counts: np.ndarray, negative: np.ndarray
) -> None:  # pragma: no cover
    n, m = matrix.shape
    for i in numba.prange(n):
        c = 0
        bad = 0
        for j in range(m):
            v = matrix[i, j]
            if v != missing:
                c += 1
                if v < 0:
                    bad += 1
        counts[i + 1] = c
        negative[i] = bad


@numba.njit(parallel=True, cache=True, nogil=True)
def _fill_answered(
    matrix: np.ndarray,
    missing: int,
    counts: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
) -> None:  # pragma: no cover
    n, m = matrix.shape
    for i in numba.prange(n):
        p = counts[i]
        for j in range(m):
            v = matrix[i, j]
            if v != missing:
                rows[p] = i
                cols[p] = j
                values[p] = v
                p += 1


@numba.njit(cache=True, nogil=True)
def _dense_int_codes(
    values: np.ndarray, low: int, lookup: np.ndarray, ids: np.ndarray, codes: np.ndarray
) -> int:  # pragma: no cover
    n_distinct = 0
    for j in range(values.size):
        lookup[values[j] - low] = 1
    for v in range(lookup.size):
        if lookup[v]:
            lookup[v] = n_distinct
            ids[n_distinct] = v + low
            n_distinct += 1
    for j in range(values.size):
        codes[j] = lookup[values[j] - low]
    return n_distinct


def dense_int_codes(values: np.ndarray, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, ids)`` of integer ``values`` in ``[low, high]``: ``ids`` the distinct values
    sorted (int64), ``codes`` each value's position in ``ids``.

    A presence table instead of a sort or a hash: two linear passes over the values, with no
    temporary of their size (the same result as ``pandas.factorize(values, sort=True)``).
    """
    span = high - low + 1
    # Large outputs are allocated by numpy, which asks the kernel for huge pages: an array a
    # compiled function allocates itself costs about three times as much to fill the first time.
    ids = np.empty(span, dtype=np.int64)
    codes = np.empty(values.size, dtype=np.int64)
    n_distinct = _dense_int_codes(values, low, np.zeros(span, dtype=np.int64), ids, codes)
    return codes, ids[:n_distinct].copy() if 2 * n_distinct < span else ids[:n_distinct]


@numba.njit(cache=True, nogil=True)
def _last_of_each_pair_if_grouped(
    item: np.ndarray, source: np.ndarray, seen: np.ndarray, keep: np.ndarray
) -> tuple[bool, int]:  # pragma: no cover
    n = item.size
    dropped = 0
    for j in range(n - 1, -1, -1):
        if j + 1 < n and item[j] > item[j + 1]:
            return False, 0
        s = source[j]
        if seen[s] != item[j]:
            seen[s] = item[j]
            keep[j] = True
        else:
            keep[j] = False
            dropped += 1
    return True, dropped


def last_of_each_pair_if_grouped(
    item: np.ndarray, source: np.ndarray, n_sources: int
) -> tuple[bool, np.ndarray, int]:
    """``(grouped, keep, n_dropped)`` when ``item`` is non-decreasing: ``keep`` marks the last
    annotation (in table order) of each (item, source) pair, as :func:`last_of_each_pair`.

    Tables are usually written item by item, and then the items' annotations are already
    contiguous: one backward pass finds the repeats with no sort. ``grouped`` is False (and the
    rest meaningless) as soon as an item code decreases.
    """
    keep = np.empty(item.size, dtype=np.bool_)
    seen = np.full(n_sources, -1, dtype=np.int64)
    grouped, dropped = _last_of_each_pair_if_grouped(item, source, seen, keep)
    return grouped, keep, dropped


@numba.njit(cache=True, nogil=True)
def is_non_decreasing(values: np.ndarray) -> bool:  # pragma: no cover
    """Whether ``values[j] <= values[j + 1]`` for every j (True when empty)."""
    for j in range(values.size - 1):
        if values[j] > values[j + 1]:
            return False
    return True


def sorted_indptr(item: np.ndarray, n_items: int) -> np.ndarray:
    """Group offsets of a non-decreasing ``item`` array: item ``i``'s annotations are
    ``indptr[i]:indptr[i + 1]`` (the ``indptr`` of :func:`group_by_item`, with no reorder)."""
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    _count_into_offsets(item, indptr)
    return indptr


@numba.njit(cache=True, nogil=True)
def _count_into_offsets(item: np.ndarray, indptr: np.ndarray) -> None:  # pragma: no cover
    n_items = indptr.size - 1
    for j in range(item.size):
        indptr[item[j] + 1] += 1
    for i in range(n_items):
        indptr[i + 1] += indptr[i]


def count_votes(
    item: np.ndarray, label: np.ndarray, source: np.ndarray, n_items: int, k: int, n_sources: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counts, class_counts, source_counts)``: float64 (n_items, K) votes per item and
    class, and int64 answers per class and per source, in one pass over the annotations."""
    # Outputs allocated by numpy (huge pages), filled by the compiled pass: a large array the
    # compiled code allocates itself costs about three times as much to fill the first time.
    counts = np.zeros((n_items, k))
    class_counts = np.zeros(k, dtype=np.int64)
    source_counts = np.zeros(n_sources, dtype=np.int64)
    _count_votes(item, label, source, counts, class_counts, source_counts)
    return counts, class_counts, source_counts


@numba.njit(cache=True, nogil=True)
def _count_votes(
    item: np.ndarray,
    label: np.ndarray,
    source: np.ndarray,
    counts: np.ndarray,
    class_counts: np.ndarray,
    source_counts: np.ndarray,
) -> None:  # pragma: no cover
    for j in range(item.size):
        counts[item[j], label[j]] += 1.0
        class_counts[label[j]] += 1
        source_counts[source[j]] += 1


_EXP_POOL: list[ThreadPoolExecutor] = []
#: Entries per block of a threaded ``exp`` (arrays below ``SERIAL_BELOW`` entries run on the
#: calling thread: at 5e5 entries handing blocks to a thread cost more than it saved).
_EXP_BLOCK = 1 << 16


def exp_inplace(values: np.ndarray) -> None:
    """``np.exp(values, out=values)``, shared among the threads numba may use when large.

    numpy's vectorised ``exp`` is several times faster than the scalar one compiled loops call,
    but runs on one thread; numpy releases the GIL inside it, so blocks of the array can run
    on several Python threads at once (10^6 x 5 entries: about 13 ms on one thread, 7 ms on
    two). The calling thread works through the blocks too, and waits only for blocks a helper
    has started: if the helpers are not scheduled (other processes hold the cores), it simply
    does all of them itself.
    """
    threads = numba.get_num_threads()
    if values.size < SERIAL_BELOW or threads == 1 or not values.flags.c_contiguous:
        np.exp(values, out=values)
        return
    if not _EXP_POOL:
        _EXP_POOL.append(ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="exp"))
    flat = values.reshape(-1)
    starts = range(0, flat.size, max(_EXP_BLOCK, -(-flat.size // (4 * threads))))
    claims = itertools.count()  # next() on it is atomic under the GIL
    finished = [threading.Event() for _ in starts]

    def work() -> None:
        for index in iter(claims.__next__, None):
            if index >= len(starts):
                return
            block = flat[starts[index] : starts[index] + starts.step]
            np.exp(block, out=block)
            finished[index].set()

    for _ in range(threads - 1):
        _EXP_POOL[0].submit(work)
    work()
    for event in finished:
        event.wait()


def row_argmax(values: np.ndarray) -> np.ndarray:
    """``np.argmax(values, axis=1)`` (the first maximum of each row) for a 2-D float array.

    numpy reduces a short last axis row by row through a generic loop; one compiled pass over
    the rows is several times faster at 10^6 x K. NaNs count as the maximum, as in numpy.
    """
    out = np.empty(values.shape[0], dtype=np.int64)
    with threads_for(values.size):
        _row_argmax(values, out)
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _row_argmax(values: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    n, k = values.shape
    for i in numba.prange(n):
        best = 0
        top = values[i, 0]
        if not np.isnan(top):
            for m in range(1, k):
                v = values[i, m]
                if np.isnan(v):
                    best = m
                    break
                if v > top:
                    top = v
                    best = m
        out[i] = best
