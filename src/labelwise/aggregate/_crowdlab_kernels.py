"""Compiled row loops for CrowdLab: temperature calibration and scaling, majority-vote ties
and the ensemble.

Each kernel reads the (n_items, K) arrays once, in parallel chunks of rows; the calibration
and scaling kernels work on blocks of ``_BLOCK`` rows held class-major in small buffers (so
the per-row sums run down whole blocks), with no temporary of size n_items x K. The
arithmetic is the numpy formula of :mod:`labelwise.aggregate.crowdlab` step by step (the same
divisions, floors and shifts), so results agree with it to rounding: sums are taken in
another order, and ``exp`` and ``log`` come from :func:`exp_nonpositive` and
:func:`log_positive`, within one and two units in the last place of numpy's.

Why own ``exp`` and ``log``: the calibration search evaluates ``exp`` n_items x K times for
each of up to 15 temperatures, and the scalar libm functions a compiled loop calls cost
several times numpy's vectorised ones. Both are textbook schemes written without branches or
calls, so the compiler vectorises them: ``exp(x) = 2**n exp(r)`` (``x = n ln 2 + r`` with a
two-part ``ln 2``, ``exp(r)`` by its Taylor series to degree 13, ``2**n`` written into the
exponent bits); ``log(x) = e ln 2 + 2 atanh((m - 1) / (m + 1))`` (``x = 2**e m`` with ``m``
in [sqrt(1/2), sqrt(2)], the atanh series to degree 23). Arguments outside their range
(``exp`` below -700, where it is subnormal or zero; ``log`` of zero, subnormals or infinity)
go to libm one by one.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "calibration_losses",
    "consensus_votes",
    "ensemble_probas",
    "exp_nonpositive",
    "grouped_agreement_sums",
    "log_positive",
    "majority_candidates",
    "n_row_chunks",
    "scaled_confidence",
    "scaled_probs",
    "source_agreement_sums",
    "source_quality_sums",
]

#: Rows per block: the buffers (a few x _BLOCK x K floats) stay in the core's cache.
_BLOCK = 256
#: Below this, ``exp`` is subnormal or zero: left to libm.
_EXP_LOW = -700.0
_LOG2E = 1.4426950408889634
#: ln 2 in two parts (fdlibm's): ``n * _LN2_HI`` is exact for |n| < 2**20.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
#: Smallest normal float64: below it (and at infinity) ``log`` is left to libm.
_LOG_LOW = 2.2250738585072014e-308
_MANTISSA = (1 << 52) - 1
_EXPONENT_ONE = 1023 << 52
_SQRT2 = 1.4142135623730951

#: Below this many rows a kernel runs in one chunk: threads cost more than they save.
_PARALLEL_MIN = 50_000


def n_row_chunks(n_rows: int) -> int:
    """How many parallel chunks the row kernels use for this many rows."""
    return 1 if n_rows < _PARALLEL_MIN else max(1, numba.get_num_threads())


@numba.njit(fastmath={"contract"}, cache=True, nogil=True, error_model="numpy")
def exp_nonpositive(
    x: np.ndarray, factor: float, out: np.ndarray, size: int
) -> None:  # pragma: no cover
    """``out[:size] = exp(x[:size] * factor)`` where ``x * factor <= 0`` (``-inf`` allowed),
    within one unit in the last place."""
    for i in range(size):
        value = max(x[i] * factor, _EXP_LOW)
        n = math.floor(value * _LOG2E + 0.5)
        r = (value - n * _LN2_HI) - n * _LN2_LO  # |r| <= ln 2 / 2
        p = 1.0 / 6227020800.0  # 1/13!, then Horner down to 1
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        # 2**n for n in [-1010, 0], from its exponent bits
        out[i] = p * np.int64((np.int64(n) + 1023) << 52).view(np.float64)
    for i in range(size):
        value = x[i] * factor
        if value < _EXP_LOW:
            out[i] = math.exp(value)


@numba.njit(fastmath={"contract"}, cache=True, nogil=True, error_model="numpy")
def log_positive(x: np.ndarray, out: np.ndarray, size: int) -> None:  # pragma: no cover
    """``out[:size] = log(x[:size])`` for ``x >= 0``, within two units in the last place."""
    for i in range(size):
        bits = np.float64(x[i]).view(np.int64)
        e = np.float64((bits >> 52) - 1023)
        m = np.int64((bits & _MANTISSA) | _EXPONENT_ONE).view(np.float64)  # in [1, 2)
        big = m > _SQRT2
        m = m * 0.5 if big else m
        e = e + 1.0 if big else e
        f = (m - 1.0) / (m + 1.0)  # |f| <= 0.172
        f2 = f * f
        p = 1.0 / 23.0
        p = p * f2 + 1.0 / 21.0
        p = p * f2 + 1.0 / 19.0
        p = p * f2 + 1.0 / 17.0
        p = p * f2 + 1.0 / 15.0
        p = p * f2 + 1.0 / 13.0
        p = p * f2 + 1.0 / 11.0
        p = p * f2 + 1.0 / 9.0
        p = p * f2 + 1.0 / 7.0
        p = p * f2 + 1.0 / 5.0
        p = p * f2 + 1.0 / 3.0
        # log m = 2 atanh f = 2 f + 2 f^3 (1/3 + f^2/5 + ...)
        out[i] = e * _LN2_HI + (2.0 * f + (2.0 * f * f2 * p + e * _LN2_LO))
    for i in range(size):
        value = x[i]
        if not (value >= _LOG_LOW and value < np.inf):
            out[i] = math.log(value)


@numba.njit(inline="always", nogil=True)
def _row_votes(
    votes: np.ndarray,
    indptr: np.ndarray,
    order: np.ndarray,
    label: np.ndarray,
    i: int,
    buf: np.ndarray,
) -> None:  # pragma: no cover
    """Row ``i``'s votes into ``buf``: ``votes[i]`` when ``votes`` has rows, else the count of
    each class among item ``i``'s annotations (``order[indptr[i]:indptr[i + 1]]``, or that
    range itself when ``order`` is empty)."""
    if votes.shape[0] > 0:
        for m in range(buf.size):
            buf[m] = votes[i, m]
        return
    for m in range(buf.size):
        buf[m] = 0.0
    grouped = order.size == 0
    for p in range(indptr[i], indptr[i + 1]):
        buf[label[p if grouped else order[p]]] += 1.0


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def calibration_losses(
    pred_probs: np.ndarray,
    votes: np.ndarray,
    indptr: np.ndarray,
    order: np.ndarray,
    label: np.ndarray,
    inverses: np.ndarray,
    log_floor: float,
    n_chunks: int,
) -> tuple[np.ndarray, int]:  # pragma: no cover
    """Per inverse temperature ``v``: the sum over rows with a positive vote total and over
    their cells with votes of ``share * max(log softmax(v * log p)[cell], log_floor)``, where
    ``share = votes / the row's total``; and the number of such rows.

    ``votes`` is (n, K), or has no rows: the votes are then counted from the annotations
    grouped by item (``indptr``, ``order``, ``label``: see :func:`ensemble_probas`).
    ``log p`` is ``-inf`` where ``p == 0``; each row is shifted by its largest finite log
    first. One pass over the rows evaluates every temperature.
    """
    n, k = pred_probs.shape
    n_t = inverses.size
    partial = np.zeros((n_chunks, n_t))
    labelled = np.zeros(n_chunks, dtype=np.int64)
    step = (n + n_chunks - 1) // n_chunks
    size = _BLOCK * k
    for c in numba.prange(n_chunks):
        # class-major blocks: entry (r, m) of the block at m * _BLOCK + r
        probs = np.ones(size)
        shifted = np.empty(size)
        values = np.empty(size)
        norms = np.empty(_BLOCK)
        log_norms = np.empty(_BLOCK)
        tops = np.empty(_BLOCK)
        cell_at = np.empty(size, dtype=np.int64)  # voted cells: place in the block,
        cell_row = np.empty(size, dtype=np.int64)  # packed row,
        cell_share = np.empty(size)  # and share
        row_votes = np.empty(k)
        stop = min(n, (c + 1) * step)
        for first in range(c * step, stop, _BLOCK):
            used = 0  # labelled rows of this block, packed
            n_cells = 0
            for i in range(first, min(stop, first + _BLOCK)):
                _row_votes(votes, indptr, order, label, i, row_votes)
                total = 0.0
                for m in range(k):
                    total += row_votes[m]
                if not total > 0.0:
                    continue
                for m in range(k):
                    probs[m * _BLOCK + used] = pred_probs[i, m]
                    if row_votes[m] != 0.0:
                        cell_at[n_cells] = m * _BLOCK + used
                        cell_row[n_cells] = used
                        cell_share[n_cells] = row_votes[m] / total
                        n_cells += 1
                used += 1
            labelled[c] += used
            log_positive(probs, shifted, size)  # log 0 = -inf; stale rows are harmless
            for r in range(used):
                tops[r] = -np.inf
            for m in range(k):
                for r in range(used):
                    value = shifted[m * _BLOCK + r]
                    if value > tops[r] and value < np.inf:
                        tops[r] = value
            for m in range(k):
                for r in range(used):
                    shifted[m * _BLOCK + r] -= tops[r]
            for j in range(n_t):
                inverse = inverses[j]
                exp_nonpositive(shifted, inverse, values, size)
                for r in range(used):
                    norms[r] = 0.0
                for m in range(k):
                    for r in range(used):
                        norms[r] += values[m * _BLOCK + r]
                log_positive(norms, log_norms, used)
                block = 0.0
                for e in range(n_cells):
                    log_q = shifted[cell_at[e]] * inverse - log_norms[cell_row[e]]
                    block += cell_share[e] * max(log_q, log_floor)
                partial[c, j] += block
    out = np.zeros(n_t)
    for c in range(n_chunks):
        for j in range(n_t):
            out[j] += partial[c, j]
    return out, labelled.sum()


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _scale_block(
    pred_probs: np.ndarray,
    first: int,
    stop: int,
    temperature: float,
    floor: float,
    values: np.ndarray,
    logits: np.ndarray,
    norms: np.ndarray,
) -> None:  # pragma: no cover
    """Rows ``first:stop`` (class-major, entry (r, m) at m * _BLOCK + r):
    ``exp(log(p / sum p) / T - row max)`` (``p`` floored at ``floor``) into ``values`` and each
    row's sum into ``norms``; ``logits`` is scratch."""
    k = pred_probs.shape[1]
    used = stop - first
    size = _BLOCK * k
    for r in range(used):
        norms[r] = 0.0
    for r in range(used):
        for m in range(k):
            clipped = max(pred_probs[first + r, m], floor)
            values[m * _BLOCK + r] = clipped
            norms[r] += clipped
    for m in range(k):
        for r in range(used):
            values[m * _BLOCK + r] = values[m * _BLOCK + r] / norms[r]
    log_positive(values, logits, size)
    for r in range(used):
        norms[r] = -np.inf  # the row maxima, for now
    for m in range(k):
        for r in range(used):
            logit = logits[m * _BLOCK + r] / temperature
            logits[m * _BLOCK + r] = logit
            if logit > norms[r] and logit < np.inf:
                norms[r] = logit
    for m in range(k):
        for r in range(used):
            logits[m * _BLOCK + r] -= norms[r]
    exp_nonpositive(logits, 1.0, values, size)
    for r in range(used):
        norms[r] = 0.0
    for m in range(k):
        for r in range(used):
            norms[r] += values[m * _BLOCK + r]


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def scaled_probs(
    pred_probs: np.ndarray, temperature: float, floor: float, out: np.ndarray, n_chunks: int
) -> None:  # pragma: no cover
    """``out = softmax(log(p / sum p) / T)`` per row, ``p`` floored at ``floor``."""
    n, k = pred_probs.shape
    step = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        values = np.ones(_BLOCK * k)
        logits = np.zeros(_BLOCK * k)
        norms = np.empty(_BLOCK)
        stop = min(n, (c + 1) * step)
        for first in range(c * step, stop, _BLOCK):
            last = min(stop, first + _BLOCK)
            _scale_block(pred_probs, first, last, temperature, floor, values, logits, norms)
            for r in range(last - first):
                for m in range(k):
                    out[first + r, m] = values[m * _BLOCK + r] / norms[r]


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def scaled_confidence(
    pred_probs: np.ndarray, temperature: float, floor: float, out: np.ndarray, n_chunks: int
) -> None:  # pragma: no cover
    """The row maxima of :func:`scaled_probs` into ``out``, without the (n, K) array."""
    n, k = pred_probs.shape
    step = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        values = np.ones(_BLOCK * k)
        logits = np.zeros(_BLOCK * k)
        norms = np.empty(_BLOCK)
        stop = min(n, (c + 1) * step)
        for first in range(c * step, stop, _BLOCK):
            last = min(stop, first + _BLOCK)
            _scale_block(pred_probs, first, last, temperature, floor, values, logits, norms)
            for r in range(last - first):
                best = 0.0
                for m in range(k):
                    best = max(best, values[m * _BLOCK + r] / norms[r])
                out[first + r] = best


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def majority_candidates(
    counts: np.ndarray,
    indptr: np.ndarray,
    order: np.ndarray,
    label: np.ndarray,
    pred_probs: np.ndarray,
    class_totals: np.ndarray,
    n_top: np.ndarray,
    first: np.ndarray,
    n_left: np.ndarray,
    n_chunks: int,
) -> None:  # pragma: no cover
    """The first two tie-breaks of the majority vote, row by row, into the given arrays.

    Candidates are the most voted classes of the row (``n_top[i]`` of them), then those of
    them with the row's highest ``pred_probs``, then those of these with the fewest votes
    overall (``class_totals``): ``n_left[i]`` remain, the first of them is ``first[i]``.
    ``counts`` is (n, K), or has no rows: the votes are then counted from the annotations
    grouped by item (as in :func:`calibration_losses`).
    """
    n, k = pred_probs.shape
    step = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        row = np.empty(k)
        for i in range(c * step, min(n, (c + 1) * step)):
            _row_votes(counts, indptr, order, label, i, row)
            top = row[0]
            for m in range(1, k):
                top = max(top, row[m])
            n_most = 0
            best = -np.inf
            for m in range(k):
                if row[m] == top:
                    n_most += 1
                    best = max(best, pred_probs[i, m])
            n_top[i] = n_most
            fewest = -np.inf
            for m in range(k):
                if row[m] == top and pred_probs[i, m] == best:
                    fewest = max(fewest, -class_totals[m])
            first[i] = -1
            left = 0
            for m in range(k):
                if row[m] == top and pred_probs[i, m] == best and -class_totals[m] == fewest:
                    left += 1
                    if first[i] < 0:
                        first[i] = m
            n_left[i] = left


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def ensemble_probas(
    pred_probs: np.ndarray,
    indptr: np.ndarray,
    order: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    source_weights: np.ndarray,
    model_weight: float,
    likelihood: float,
    other: float,
    consensus: np.ndarray,
    probas: np.ndarray,
    quality: np.ndarray,
    argmax: np.ndarray,
    unique: np.ndarray,
    n_chunks: int,
) -> None:  # pragma: no cover
    """CROWDLAB's ensemble per row: ``(w_m p + other * W + (P - other) * V) / (w_m + W)``, in
    numpy's order of operations.

    Item ``i``'s annotations are ``order[indptr[i]:indptr[i + 1]]`` (in table order), or
    ``indptr[i]:indptr[i + 1]`` themselves when ``order`` is empty; ``W`` is the sum of their
    annotators' ``source_weights`` and ``V[m]`` the same sum over those that chose class ``m``,
    each accumulated in table order (as ``np.bincount`` does). Writes the rows into ``probas``
    unless it has no rows, the value at ``consensus[i]`` into ``quality[i]``, each row's first
    most probable class into ``argmax[i]`` and whether it is the only one into ``unique[i]``.
    """
    n, k = pred_probs.shape
    gap = likelihood - other
    store = probas.shape[0] > 0
    grouped = order.size == 0
    step = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        voted = np.empty(k)
        row = np.empty(k)
        for i in range(c * step, min(n, (c + 1) * step)):
            for m in range(k):
                voted[m] = 0.0
            weight = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                a = p if grouped else order[p]
                w = source_weights[source[a]]
                weight += w
                voted[label[a]] += w
            spread = other * weight
            total = model_weight + weight
            for m in range(k):
                row[m] = (model_weight * pred_probs[i, m] + spread + gap * voted[m]) / total
            if store:
                for m in range(k):
                    probas[i, m] = row[m]
            quality[i] = row[consensus[i]]
            best = -np.inf
            where = 0
            n_best = 0
            for m in range(k):
                value = row[m]
                if value > best:
                    best, where, n_best = value, m, 1
                elif value == best:
                    n_best += 1
            argmax[i] = where
            unique[i] = n_best == 1


@numba.njit(cache=True, nogil=True)
def source_agreement_sums(
    item: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    counts: np.ndarray,
    n_per_item: np.ndarray,
    num: np.ndarray,
    den: np.ndarray,
) -> None:  # pragma: no cover
    """Per source, in table order (as ``np.bincount``): ``num`` += the other annotators of
    the item that gave the same label, ``den`` += the other annotators of the item."""
    for j in range(item.size):
        s = source[j]
        num[s] += counts[item[j], label[j]] - 1.0
        den[s] += n_per_item[item[j]] - 1.0


@numba.njit(cache=True, nogil=True)
def source_quality_sums(
    item: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    probas: np.ndarray,
    consensus: np.ndarray,
    n_per_item: np.ndarray,
    seen: np.ndarray,
    score: np.ndarray,
    tries: np.ndarray,
    hits: np.ndarray,
) -> None:  # pragma: no cover
    """Per source, in table order (as ``np.bincount``): annotations (``seen``), the sum of
    ``probas`` at their labels (``score``), annotations on items with two or more
    (``tries``) and those of them agreeing with ``consensus`` (``hits``)."""
    for j in range(item.size):
        s, i = source[j], item[j]
        seen[s] += 1
        score[s] += probas[i, label[j]]
        if n_per_item[i] >= 2:
            tries[s] += 1
            if label[j] == consensus[i]:
                hits[s] += 1.0


@numba.njit(cache=True, nogil=True)
def grouped_agreement_sums(
    indptr: np.ndarray,
    order: np.ndarray,
    source: np.ndarray,
    label: np.ndarray,
    n_classes: int,
    num: np.ndarray,
    den: np.ndarray,
) -> None:  # pragma: no cover
    """:func:`source_agreement_sums` item by item from the annotations grouped by item (as in
    :func:`ensemble_probas`), without the (n, K) counts: the same integer-valued sums."""
    grouped = order.size == 0
    row = np.zeros(n_classes)
    for i in range(indptr.size - 1):
        size = indptr[i + 1] - indptr[i]
        for p in range(indptr[i], indptr[i + 1]):
            row[label[p if grouped else order[p]]] += 1.0
        for p in range(indptr[i], indptr[i + 1]):
            a = p if grouped else order[p]
            num[source[a]] += row[label[a]] - 1.0
            den[source[a]] += size - 1.0
        for p in range(indptr[i], indptr[i + 1]):
            row[label[p if grouped else order[p]]] = 0.0


@numba.njit(parallel=True, cache=True, nogil=True)
def consensus_votes(
    indptr: np.ndarray,
    order: np.ndarray,
    label: np.ndarray,
    consensus: np.ndarray,
    out: np.ndarray,
    n_chunks: int,
) -> None:  # pragma: no cover
    """``out[i]``: how many of item ``i``'s annotations (grouped as in
    :func:`ensemble_probas`) chose ``consensus[i]``."""
    n = consensus.size
    grouped = order.size == 0
    step = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        for i in range(c * step, min(n, (c + 1) * step)):
            hits = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                if label[p if grouped else order[p]] == consensus[i]:
                    hits += 1.0
            out[i] = hits
