"""The Dawid-Skene EM pass, compiled once per class count.

:func:`em_step` is one E-step and the counts of the M-step that follows in a single pass over
item-grouped annotations; :func:`em_vote_share_counts` is the M-step counts of the
majority-vote start. Both read the code ``answer = source * K + label`` of each annotation
and the tables ``log_conf[answer, k]`` / ``counts[answer, k]``.

Why one compilation per K: the inner loops run over the K classes, and with K a runtime value
the compiler emits a generic loop whose bookkeeping costs about as much as the arithmetic
(K = 5, 10^5 items x 5 answers: the scatter of the M-step takes 2.2 ms with K a runtime value,
1.2 ms with K a constant). :func:`kernels_for` builds the kernels for a given K with K a
compile-time constant (numba caches each one on disk, keyed by K); above ``_MAX_SPECIALISED``
classes one generic build reads K from the arrays.

The E-step takes items in blocks of ``_BLOCK``: the block's log joints are exponentiated
together by :func:`~labelwise.aggregate._crowdlab_kernels.exp_nonpositive`, which the compiler
vectorises (a per-item loop would call the scalar libm ``exp``, several times slower), and each
posterior row goes from the E-step into the M-step's counts while still in the cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from labelwise.aggregate._crowdlab_kernels import exp_nonpositive, log_positive
from labelwise.aggregate._kernels import inline_if_one

__all__ = ["em_step", "em_vote_share_counts", "kernels_for"]

#: Items per block of the E-step: its buffers (a few x _BLOCK x K floats) stay in L1.
_BLOCK = 128
#: Class counts up to this get kernels compiled for their K; above, one generic build.
_MAX_SPECIALISED = 16


def em_step(
    indptr: np.ndarray,
    answer: np.ndarray,
    log_conf: np.ndarray,
    log_prior: np.ndarray,
    posteriors: np.ndarray,
    n_answers: int,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """One E-step into ``posteriors`` and the counts of the M-step on it, in one pass.

    For each item: ``log prior + sum of log_conf[answer]`` over its answers, normalised into
    its posterior row; the row is then added to the count rows of its answers. Returns the
    counts ``counts[s * K + l, k]`` (sum of P(class = k) over the items where source ``s``
    answered ``l``), the class totals over labelled items, and the sum over labelled items of
    the log evidence ``log sum_k exp(log joint)``. Items without answers get the prior as
    their posterior and add nothing.
    """
    k = posteriors.shape[1]
    buffers = np.zeros((n_chunks, n_answers * k))
    totals = np.zeros((n_chunks, k))
    evidence = np.zeros(n_chunks * 8)  # one cache line per chunk
    with inline_if_one(n_chunks):
        kernels_for(k)[0](
            indptr,
            answer,
            np.ascontiguousarray(log_conf).reshape(-1),
            log_prior,
            posteriors.reshape(-1),
            buffers,
            totals,
            evidence,
        )
    return _sum_chunks(buffers).reshape(n_answers, k), totals.sum(axis=0), float(evidence.sum())


def em_vote_share_counts(
    indptr: np.ndarray, answer: np.ndarray, n_answers: int, k: int, n_chunks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The M-step counts of :func:`em_step` with each item's vote shares as its posterior
    (the majority-vote start of EM), without an (n_items, K) table of shares.

    Returns ``counts[s * K + l, k]``, the class totals over labelled items, and how many
    answers each code ``s * K + l`` has.
    """
    buffers = np.zeros((n_chunks, n_answers * k))
    answered = np.zeros((n_chunks, n_answers), dtype=np.int64)
    totals = np.zeros((n_chunks, k))
    with inline_if_one(n_chunks):
        kernels_for(k)[1](indptr, answer, buffers, answered, totals)
    return _sum_chunks(buffers).reshape(n_answers, k), totals.sum(axis=0), _sum_chunks(answered)


def _sum_chunks(buffers: np.ndarray) -> np.ndarray:
    out = buffers[0]
    for c in range(1, buffers.shape[0]):
        out += buffers[c]
    return out


@functools.cache
def kernels_for(k: int) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(em_step kernel, vote-share kernel)`` compiled with K = ``k`` a constant (0: generic)."""
    return _build(k if k <= _MAX_SPECIALISED else 0)


@functools.cache
def _build(fixed_k: int) -> tuple[Callable[..., Any], Callable[..., Any]]:
    # ``fixed_k`` is a closure constant: numba folds it into the loops (0 reads K at run time).
    flags: dict[str, Any] = {
        "parallel": True,
        "cache": True,
        "nogil": True,
        "fastmath": {"reassoc", "contract"},
    }

    @numba.njit(**flags)
    def step(
        indptr: np.ndarray,
        answer: np.ndarray,
        log_conf: np.ndarray,
        log_prior: np.ndarray,
        posteriors: np.ndarray,
        buffers: np.ndarray,
        totals: np.ndarray,
        evidence: np.ndarray,
    ) -> None:  # pragma: no cover
        k = fixed_k if fixed_k > 0 else log_prior.size
        n_items = indptr.size - 1
        n_chunks = buffers.shape[0]
        chunk = (n_items + n_chunks - 1) // n_chunks
        for c in numba.prange(n_chunks):
            counts = buffers[c]
            local = np.zeros(k)
            joint = np.empty(_BLOCK * k)
            probs = np.empty(_BLOCK * k)
            tops = np.empty(_BLOCK)
            norms = np.empty(_BLOCK)
            log_norms = np.empty(_BLOCK)
            total_evidence = 0.0
            hi = min(n_items, (c + 1) * chunk)
            for start in range(c * chunk, hi, _BLOCK):
                size = min(_BLOCK, hi - start)
                for j in range(size):
                    i = start + j
                    base = j * k
                    for m in range(k):
                        joint[base + m] = log_prior[m]
                    # Two answers per step: each ``+=`` waits on the one before, so pairing
                    # them halves that chain (a quarter faster).
                    p, end = indptr[i], indptr[i + 1]
                    while p + 1 < end:
                        first, second = answer[p] * k, answer[p + 1] * k
                        for m in range(k):
                            joint[base + m] += log_conf[first + m] + log_conf[second + m]
                        p += 2
                    if p < end:
                        first = answer[p] * k
                        for m in range(k):
                            joint[base + m] += log_conf[first + m]
                    top = joint[base]
                    for m in range(1, k):
                        top = max(top, joint[base + m])
                    for m in range(k):
                        joint[base + m] -= top
                    tops[j] = top
                exp_nonpositive(joint, 1.0, probs, size * k)
                for j in range(size):
                    i = start + j
                    base = j * k
                    norm = 0.0
                    for m in range(k):
                        norm += probs[base + m]
                    inverse = 1.0 / norm
                    for m in range(k):
                        probs[base + m] *= inverse
                        posteriors[i * k + m] = probs[base + m]
                    norms[j] = 1.0  # log 1 = 0: no evidence from an item nobody labelled
                    if indptr[i + 1] > indptr[i]:
                        norms[j] = norm
                        total_evidence += tops[j]
                        for m in range(k):
                            local[m] += probs[base + m]
                        for p in range(indptr[i], indptr[i + 1]):
                            row = answer[p] * k
                            for m in range(k):
                                counts[row + m] += probs[base + m]
                log_positive(norms, log_norms, size)
                for j in range(size):
                    total_evidence += log_norms[j]
            evidence[c * 8] = total_evidence
            for m in range(k):
                totals[c, m] = local[m]

    @numba.njit(**flags)
    def vote_shares(
        indptr: np.ndarray,
        answer: np.ndarray,
        buffers: np.ndarray,
        answered: np.ndarray,
        totals: np.ndarray,
    ) -> None:  # pragma: no cover
        k = fixed_k if fixed_k > 0 else totals.shape[1]
        n_items = indptr.size - 1
        n_chunks = buffers.shape[0]
        chunk = (n_items + n_chunks - 1) // n_chunks
        for c in numba.prange(n_chunks):
            counts, tallies = buffers[c], answered[c]
            local = np.zeros(k)
            shares = np.empty(k)
            # label = code mod K by a float multiply (an integer division costs ~25 cycles):
            # (code + 0.5) / K is at least 0.5 / K from an integer, far above rounding error.
            inverse_k = 1.0 / k
            for i in range(c * chunk, min(n_items, (c + 1) * chunk)):
                start, end = indptr[i], indptr[i + 1]
                if end == start:
                    continue
                for m in range(k):
                    shares[m] = 0.0
                for p in range(start, end):
                    code = answer[p]
                    shares[code - k * int((code + 0.5) * inverse_k)] += 1.0
                inverse = 1.0 / (end - start)
                for m in range(k):
                    shares[m] *= inverse
                    local[m] += shares[m]
                for p in range(start, end):
                    code = answer[p]
                    tallies[code] += 1
                    row = code * k
                    for m in range(k):
                        counts[row + m] += shares[m]
            for m in range(k):
                totals[c, m] = local[m]

    return step, vote_shares
