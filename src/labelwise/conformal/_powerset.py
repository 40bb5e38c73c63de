"""Label-powerset inductive conformal prediction (LP-ICP) for multi-label data, with pruning.

Every label set ``Y`` (a 0/1 vector over K classes) gets a nonconformity score ``a(x, Y)`` and
a p-value ``(#{i : a_i >= a(x, Y)} + 1) / (n + 1)`` against the calibration scores; the
prediction region at confidence ``1 - eps`` is every set with p-value above ``eps``, and it holds
the true label set with probability at least ``1 - eps`` (Papadopoulos, "A Cross-Conformal
Predictor for Multi-label Classification", 2014; Maltoudoglou, Paisios, Lenc, Martínek, Král &
Papadopoulos, "Well-calibrated Confidence Measures for Multi-label Text Classification with a
Large Number of Labels", Pattern Recognition 122, 2022).

There are 2^K sets. The scores used here add up over the classes, ``a(x, Y) = sum_k c_k(Y_k)``,
so ``a(x, Y) = a* + sum_{k flipped} d_k`` where ``a*`` is the score of the most likely set
(each class on iff its cost of being on is lower) and ``d_k = |c_k(1) - c_k(0)|`` the cost of
flipping class k. A set is in the region iff ``a(x, Y) <= tau`` (``tau`` the conformal quantile
of the calibration scores), so only flips whose costs sum to at most ``tau - a*`` can matter:
the search enumerates those subsets depth-first over the classes sorted by ``d_k`` and cuts a
branch as soon as its cost passes the budget. No set whose p-value is certainly at or below
``eps`` is ever built, which makes K = 50+ classes practical. The search uses a small slack;
every candidate is then scored exactly as the calibration data was, so the region equals the
one of exhaustive enumeration (``method="exhaustive"``, for K <= 20, to check it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from sklearn.base import BaseEstimator

from labelwise._numerics import threads_for
from labelwise._validation import check_choice, check_int, fail
from labelwise._validation.trust import (
    check_level,
    check_same_width,
    check_stage,
    multilabel_indicator,
    multilabel_probs,
)
from labelwise.conformal._kernels import conformal_quantile

SCORES = ("l1", "log")
METHODS = ("pruned", "exhaustive")
#: Largest K for exhaustive enumeration (2^20 sets per example).
MAX_EXHAUSTIVE = 20
#: Clip for the "log" score: probabilities are kept in [EPS, 1 - EPS].
EPS = 1e-12
#: Absolute slack of the pruned search's budget (exact scoring follows).
SLACK = 1e-9


@dataclass(frozen=True)
class LabelSetRegion:
    """Prediction regions of label sets, one region per example, in CSR layout.

    Attributes
    ----------
    indptr : ndarray of shape (n + 1,), int64
        Example ``i``'s sets are rows ``indptr[i]:indptr[i + 1]`` of ``sets``.
    sets : ndarray of shape (m, K), bool
        The label sets, most conforming first (decreasing p-value, ties in a fixed order).
    p_values : ndarray of shape (m,)
    """

    indptr: np.ndarray
    sets: np.ndarray
    p_values: np.ndarray

    @property
    def n_sets(self) -> np.ndarray:
        """Number of label sets in each example's region, shape (n,)."""
        return np.diff(self.indptr)

    def _owners(self) -> np.ndarray:
        return np.repeat(np.arange(self.indptr.size - 1), self.n_sets)

    @property
    def union(self) -> np.ndarray:
        """(n, K) bool: classes present in at least one set of the region (possibly relevant)."""
        out = np.zeros((self.indptr.size - 1, self.sets.shape[1]), dtype=bool)
        np.logical_or.at(out, self._owners(), self.sets)
        return out

    @property
    def intersection(self) -> np.ndarray:
        """(n, K) bool: classes present in every set of a non-empty region (surely relevant)."""
        out = np.ones((self.indptr.size - 1, self.sets.shape[1]), dtype=bool)
        np.logical_and.at(out, self._owners(), self.sets)
        out[self.n_sets == 0] = False
        return out

    def contains(self, labels: Any) -> np.ndarray:
        """Whether each example's region holds its label set ``labels`` (n, K), shape (n,)."""
        n, k = self.indptr.size - 1, self.sets.shape[1]
        y = multilabel_indicator(labels, n, k)
        owners = self._owners()
        same = (self.sets == y[owners]).all(axis=1)
        return np.bincount(owners[same], minlength=n) > 0


@numba.njit(cache=True, nogil=True, inline="always")
def _score_of(y: np.ndarray, on: np.ndarray, off: np.ndarray) -> float:  # pragma: no cover
    """The nonconformity score of one label set: per-class costs summed in class order."""
    total = 0.0
    for j in range(y.size):
        total += on[j] if y[j] else off[j]
    return total


@numba.njit(cache=True, nogil=True, inline="always")
def _p_value(score: float, calibration: np.ndarray) -> float:  # pragma: no cover
    n = calibration.size
    below = np.searchsorted(calibration, score, side="left")
    return (n - below + 1) / (n + 1)


@numba.njit(parallel=True, cache=True, nogil=True)
def _set_scores(
    on: np.ndarray, off: np.ndarray, labels: np.ndarray
) -> np.ndarray:  # pragma: no cover
    n = on.shape[0]
    out = np.empty(n)
    for i in numba.prange(n):
        out[i] = _score_of(labels[i], on[i], off[i])
    return out


@numba.njit(cache=True, nogil=True)
def _search_row(
    on: np.ndarray,
    off: np.ndarray,
    calibration: np.ndarray,
    eps: float,
    tau: float,
    out_sets: np.ndarray,
    out_p: np.ndarray,
    fill: bool,
) -> int:  # pragma: no cover
    """Depth-first search of one example's region; count (and, if ``fill``, write) its sets."""
    k = on.size
    y = np.empty(k, dtype=np.bool_)
    flip = np.empty(k)
    base = 0.0
    for j in range(k):
        y[j] = on[j] < off[j]
        flip[j] = abs(on[j] - off[j])
        base += on[j] if y[j] else off[j]
    budget = tau - base + SLACK * (1.0 + abs(tau))
    if budget < 0:
        return 0
    order = np.argsort(flip, kind="mergesort")
    usable = 0
    while usable < k and flip[order[usable]] <= budget:
        usable += 1
    stack = np.empty(usable + 1, dtype=np.int64)
    cost = np.zeros(usable + 1)
    found = 0
    depth = 0
    nxt = 0
    emit = True
    while True:
        if emit:
            p = _p_value(_score_of(y, on, off), calibration)
            if p > eps:
                if fill:
                    out_sets[found] = y
                    out_p[found] = p
                found += 1
            emit = False
        if nxt < usable and cost[depth] + flip[order[nxt]] <= budget:
            j = order[nxt]
            y[j] = not y[j]
            stack[depth] = nxt
            cost[depth + 1] = cost[depth] + flip[j]
            depth += 1
            nxt += 1
            emit = True
        else:
            if depth == 0:
                break
            depth -= 1
            j = order[stack[depth]]
            y[j] = not y[j]
            nxt = stack[depth] + 1
    return found


@numba.njit(cache=True, nogil=True)
def _exhaustive_row(
    on: np.ndarray,
    off: np.ndarray,
    calibration: np.ndarray,
    eps: float,
    out_sets: np.ndarray,
    out_p: np.ndarray,
    fill: bool,
) -> int:  # pragma: no cover
    """Every one of the 2^K label sets, scored exactly; count (and write) those in the region."""
    k = on.size
    y = np.empty(k, dtype=np.bool_)
    found = 0
    for mask in range(1 << k):
        for j in range(k):
            y[j] = (mask >> j) & 1 == 1
        p = _p_value(_score_of(y, on, off), calibration)
        if p > eps:
            if fill:
                out_sets[found] = y
                out_p[found] = p
            found += 1
    return found


@numba.njit(parallel=True, cache=True, nogil=True)
def _count_region(
    on: np.ndarray,
    off: np.ndarray,
    calibration: np.ndarray,
    eps: float,
    tau: float,
    exhaustive: bool,
) -> np.ndarray:  # pragma: no cover
    n, k = on.shape
    counts = np.zeros(n, dtype=np.int64)
    dummy_sets = np.empty((0, k), dtype=np.bool_)
    dummy_p = np.empty(0)
    for i in numba.prange(n):
        if exhaustive:
            counts[i] = _exhaustive_row(on[i], off[i], calibration, eps, dummy_sets, dummy_p, False)
        else:
            counts[i] = _search_row(
                on[i], off[i], calibration, eps, tau, dummy_sets, dummy_p, False
            )
    return counts


@numba.njit(parallel=True, cache=True, nogil=True)
def _fill_region(
    on: np.ndarray,
    off: np.ndarray,
    calibration: np.ndarray,
    eps: float,
    tau: float,
    exhaustive: bool,
    indptr: np.ndarray,
    sets: np.ndarray,
    p_values: np.ndarray,
) -> None:  # pragma: no cover
    n = on.shape[0]
    for i in numba.prange(n):
        a, b = indptr[i], indptr[i + 1]
        if exhaustive:
            _exhaustive_row(on[i], off[i], calibration, eps, sets[a:b], p_values[a:b], True)
        else:
            _search_row(on[i], off[i], calibration, eps, tau, sets[a:b], p_values[a:b], True)


class LabelPowersetConformal(BaseEstimator):
    """Label-powerset conformal prediction (LP-ICP): regions of whole label sets, pruned.

    ``calibrate(pred_probs, labels)`` scores the true label set of each held-out example;
    ``predict_region(pred_probs)`` returns, per example, every label set whose p-value exceeds
    ``1 - confidence_level`` (Maltoudoglou et al., Pattern Recognition 2022). The region holds
    the true label set with probability at least ``confidence_level``. See the module docstring
    for the pruning that never enumerates sets certainly outside the region.

    Parameters
    ----------
    score : {"l1", "log"}, default="l1"
        Per-class cost of a label set: ``"l1"`` is ``sum_k |Y_k - p_k|`` (the L1 distance between
        the set and the probabilities); ``"log"`` is ``-sum_k log(p_k if Y_k else 1 - p_k)``
        (the set's negative log-likelihood under independent classes).
    confidence_level : float in (0, 1), default=0.9
    max_sets : int, default=100_000
        Refuse (with a message) to build a region with more sets than this for one example.

    Attributes
    ----------
    calibration_scores_ : ndarray of shape (n,), sorted
    threshold_ : float
        ``tau``: a set is in the region iff its score is at most this.
    n_classes_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.conformal import LabelPowersetConformal
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random((600, 8)) < 0.3
    >>> probs = 1 / (1 + np.exp(-(rng.normal(size=(600, 8)) + np.where(y, 2.0, -2.0))))
    >>> lp = LabelPowersetConformal(confidence_level=0.9).calibrate(probs[:300], y[:300])
    >>> region = lp.predict_region(probs[300:])
    >>> bool(region.contains(y[300:]).mean() >= 0.85), bool(region.n_sets.max() < 256)
    (True, True)
    """

    def __init__(
        self, *, score: str = "l1", confidence_level: float = 0.9, max_sets: int = 100_000
    ) -> None:
        self.score = score
        self.confidence_level = confidence_level
        self.max_sets = max_sets

    def _costs(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-class costs of a class being on / off, float64 (n, K) each."""
        p = probs.astype(np.float64)
        if self.score == "l1":
            return 1.0 - p, p
        p = np.clip(p, EPS, 1.0 - EPS)
        return -np.log(p), -np.log1p(-p)

    def calibrate(self, pred_probs: Any, labels: Any) -> LabelPowersetConformal:
        """Score the true label sets of held-out ``pred_probs`` (n, K) and ``labels`` (n, K).

        Returns
        -------
        self
        """
        check_choice(self.score, "score", SCORES)
        level = check_level(self.confidence_level, "confidence_level")
        check_int(self.max_sets, "max_sets", minimum=1)
        probs = multilabel_probs(pred_probs)
        n, k = probs.shape
        y = multilabel_indicator(labels, n, k)
        on, off = self._costs(probs)
        with threads_for(on.size):
            scores = np.sort(_set_scores(on, off, y))
        self.calibration_scores_ = scores
        self.threshold_ = conformal_quantile(scores, level)
        self.n_classes_ = k
        return self

    def p_value(self, pred_probs: Any, labels: Any) -> np.ndarray:
        """p-value of the label set ``labels[i]`` for example ``i``, shape (n,)."""
        check_stage(hasattr(self, "threshold_"), self, "calibrate", "p_value")
        probs = multilabel_probs(pred_probs)
        check_same_width(probs, self.n_classes_, "pred_probs", "calibrate")
        y = multilabel_indicator(labels, *probs.shape)
        on, off = self._costs(probs)
        with threads_for(on.size):
            scores = _set_scores(on, off, y)
        n = self.calibration_scores_.size
        below = np.searchsorted(self.calibration_scores_, scores, side="left")
        return (n - below + 1) / (n + 1)

    def predict_region(self, pred_probs: Any, *, method: str = "pruned") -> LabelSetRegion:
        """The label sets with p-value above ``1 - confidence_level``, per example.

        Parameters
        ----------
        pred_probs : array-like of shape (n, K)
        method : {"pruned", "exhaustive"}, default="pruned"
            ``"exhaustive"`` scores all 2^K sets (K <= 20); it gives the same region and exists
            to check the pruning.

        Returns
        -------
        LabelSetRegion
        """
        check_stage(hasattr(self, "threshold_"), self, "calibrate", "predict_region")
        how = check_choice(method, "method", METHODS)
        level = check_level(self.confidence_level, "confidence_level")
        limit = check_int(self.max_sets, "max_sets", minimum=1)
        probs = multilabel_probs(pred_probs)
        check_same_width(probs, self.n_classes_, "pred_probs", "calibrate")
        n, k = probs.shape
        if how == "exhaustive" and k > MAX_EXHAUSTIVE:
            fail(
                "method",
                f'"pruned" for more than {MAX_EXHAUSTIVE} classes (2^K sets per example)',
                f'"exhaustive" with K = {k}',
            )
        on, off = self._costs(probs)
        eps = 1.0 - level
        exhaustive = how == "exhaustive"
        cal = self.calibration_scores_
        with threads_for(on.size * 64):
            counts = _count_region(on, off, cal, eps, self.threshold_, exhaustive)
            if counts.size and counts.max() > limit:
                row = int(np.argmax(counts))
                fail(
                    "max_sets",
                    f"at least the largest region's size ({int(counts.max())} sets, example "
                    f"{row}); raise it or lower confidence_level",
                    f"{limit}",
                )
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            sets = np.zeros((int(indptr[-1]), k), dtype=bool)
            p_values = np.empty(int(indptr[-1]))
            _fill_region(on, off, cal, eps, self.threshold_, exhaustive, indptr, sets, p_values)
        order = self._canonical_order(indptr, sets, p_values)
        return LabelSetRegion(indptr, sets[order], p_values[order])

    @staticmethod
    def _canonical_order(indptr: np.ndarray, sets: np.ndarray, p_values: np.ndarray) -> np.ndarray:
        """Within each example: decreasing p-value, then the sets' bit patterns."""
        owners = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
        packed = np.packbits(sets, axis=1)
        keys = [packed[:, j] for j in range(packed.shape[1] - 1, -1, -1)]
        return np.lexsort((*keys, -p_values, owners))
