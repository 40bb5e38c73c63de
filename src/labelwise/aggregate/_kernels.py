"""Compiled loops over annotations for the EM aggregators and the annotation container.

Annotations are grouped by item once (a stable counting sort,
:func:`labelwise._numerics.group_by_item`); the E-step then runs item by item in parallel, and
the M-step scatters each item's posterior into its sources' count rows in per-thread buffers
that are summed at the end. Each step is one pass over the annotations, with no temporary of
size annotations x K.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import numba
import numpy as np

from labelwise._numerics import SERIAL_BELOW, group_by_item, threads_for

__all__ = ["em_log_joint", "em_m_counts", "group_by_item", "inline_if_one", "n_chunks_for"]

#: Below this many annotations the E/M steps run in one chunk: threads cost more than they save.
_PARALLEL_MIN = 200_000


def n_chunks_for(n_annotations: int) -> int:
    """How many parallel chunks the E/M steps use for this many annotations."""
    return 1 if n_annotations < _PARALLEL_MIN else max(1, numba.get_num_threads())


def inline_if_one(n_chunks: int) -> AbstractContextManager[None]:
    """Run a one-chunk parallel kernel on the calling thread: handed to the thread pool, even
    a single chunk waits for a worker to be scheduled (a whole time slice, ~8 ms, when another
    process holds the other cores)."""
    return threads_for(0 if n_chunks == 1 else SERIAL_BELOW)


def em_log_joint(
    indptr: np.ndarray,
    answer: np.ndarray,
    log_conf: np.ndarray,
    log_prior: np.ndarray,
    out: np.ndarray,
    n_chunks: int,
    shifts: np.ndarray | None = None,
) -> np.ndarray:
    """Per item, ``log prior + sum of log_conf[answer]`` over its answers, shifted so that the
    row's maximum is 0, into ``out``; returns the shifts (the row maxima), in ``shifts`` when
    given (a buffer reused across EM iterations).

    ``answer = source * K + label`` in item-grouped order and ``log_conf[s * K + l, k]`` = log
    P(source ``s`` answers ``l`` | class ``k``), so the inner loop reads one contiguous row. The
    exponentials are left to numpy, whose vectorised ``exp`` is several times faster than the
    scalar one a compiled loop calls.
    """
    if shifts is None:
        shifts = np.empty(out.shape[0])
    with inline_if_one(n_chunks):
        _em_log_joint(indptr, answer, log_conf, log_prior, out, shifts, n_chunks)
    return shifts


@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _em_log_joint(
    indptr: np.ndarray,
    answer: np.ndarray,
    log_conf: np.ndarray,
    log_prior: np.ndarray,
    out: np.ndarray,
    shifts: np.ndarray,
    n_chunks: int,
) -> None:  # pragma: no cover
    n_items, k = out.shape
    step = (n_items + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        # A private accumulator: the compiler cannot keep a row of ``out`` in registers (it
        # might alias ``log_conf``), and this runs about a quarter faster.
        acc = np.empty(k)
        for i in range(c * step, min(n_items, (c + 1) * step)):
            for m in range(k):
                acc[m] = log_prior[m]
            for p in range(indptr[i], indptr[i + 1]):
                row = log_conf[answer[p]]
                for m in range(k):
                    acc[m] += row[m]
            top = acc[0]
            for m in range(1, k):
                top = max(top, acc[m])
            for m in range(k):
                out[i, m] = acc[m] - top
            shifts[i] = top


def em_m_counts(
    indptr: np.ndarray,
    answer: np.ndarray,
    posteriors: np.ndarray,
    n_answers: int,
    n_chunks: int,
    normalise: bool,
    norms: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected answer counts ``counts[s * K + l, k]`` = sum of P(item's class = k) over the
    items where source ``s`` answered ``l``; ``class_totals[k]``, the sum of P(class = k) over
    the labelled items; and each row's sum before normalising (into ``norms`` when given).

    With ``normalise``, each row of ``posteriors`` (unnormalised likelihoods from the E-step)
    is first divided by its sum, in place, in the same pass.
    """
    n_items, k = posteriors.shape
    buffers = np.zeros((n_chunks, n_answers, k))
    totals = np.zeros((n_chunks, k))
    if norms is None:
        norms = np.empty(n_items)
    with inline_if_one(n_chunks):
        _em_m_counts(indptr, answer, posteriors, buffers, totals, norms, normalise)
    out = buffers[0]
    for c in range(1, n_chunks):
        out += buffers[c]
    return out, totals.sum(axis=0), norms


@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _em_m_counts(
    indptr: np.ndarray,
    answer: np.ndarray,
    posteriors: np.ndarray,
    buffers: np.ndarray,
    totals: np.ndarray,
    norms: np.ndarray,
    normalise: bool,
) -> None:  # pragma: no cover
    n_items, k = posteriors.shape
    n_chunks = buffers.shape[0]
    step = (n_items + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        counts = buffers[c]
        # Class totals in a chunk-local array, stored once at the end: the rows of ``totals``
        # share a cache line, and writing them per item made the threads evict each other.
        local = np.zeros(k)
        row = np.empty(k)
        for i in range(c * step, min(n_items, (c + 1) * step)):
            norm = 1.0
            for m in range(k):
                row[m] = posteriors[i, m]
            if normalise:
                norm = 0.0
                for m in range(k):
                    norm += row[m]
                inverse = 1.0 / norm
                for m in range(k):
                    row[m] *= inverse
                for m in range(k):
                    posteriors[i, m] = row[m]
            norms[i] = norm
            if indptr[i + 1] > indptr[i]:
                for m in range(k):
                    local[m] += row[m]
            for p in range(indptr[i], indptr[i + 1]):
                r = answer[p]
                for m in range(k):
                    counts[r, m] += row[m]
        for m in range(k):
            totals[c, m] = local[m]


def answer_codes(source: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """``source * K + label`` per annotation (the rows of the E/M-step tables), int32 when it
    fits: the E- and M-steps read this array on every pass, and at 10^6 items its size is a
    measurable share of their time."""
    fits = (int(source.max(initial=0)) + 1) * k < 2**31
    codes = np.empty(source.size, dtype=np.int32 if fits else np.int64)
    with threads_for(source.size):
        _answer_codes(source, label, k, codes)
    return codes


@numba.njit(parallel=True, cache=True, nogil=True)
def _answer_codes(
    source: np.ndarray, label: np.ndarray, k: int, codes: np.ndarray
) -> None:  # pragma: no cover
    for j in numba.prange(source.size):
        codes[j] = source[j] * k + label[j]


@numba.njit(cache=True, nogil=True)
def count_nonempty_groups(indptr: np.ndarray) -> int:  # pragma: no cover
    """How many groups ``indptr[i]:indptr[i + 1]`` hold at least one entry."""
    n = 0
    for i in range(indptr.size - 1):
        if indptr[i + 1] > indptr[i]:
            n += 1
    return n
