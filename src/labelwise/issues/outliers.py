"""Outlier (out-of-distribution) scores from feature embeddings or predicted probabilities.

The two baselines of Kuan & Mueller, "Back to the Basics: Revisiting Out-of-Distribution
Detection Baselines" (ICML 2022 Workshop on Principles of Distribution Shift,
arXiv:2207.03061), computed as cleanlab 2.9's ``OutOfDistribution`` computes them, so the
scores can be compared one for one:

- **features**: ``d_i`` = mean distance from row ``i`` to its ``k`` nearest other rows;
  ``score_i = exp(-d_i / m)`` with ``m`` = the median of ``d`` (at least 1e-6). The median row
  scores ``exp(-1) ~ 0.37``; a row whose neighbours are all exact copies scores 1.
- **pred_probs**, ``"entropy"``: ``1 - H(q_i) / log K``, and ``"least_confidence"``:
  ``max_k q_ik`` (the maximum softmax probability of Hendrycks & Gimpel, ICLR 2017), where
  ``q = p``, or, when ``labels`` are given, ``q`` = ``p - t + max(t)`` renormalised, with
  ``t_k`` the mean predicted probability of class ``k`` among the examples labelled ``k``
  (its confident threshold; Northcutt, Jiang & Chuang, JAIR 2021). The adjustment stops
  rare classes from looking atypical merely because the model is less sure of them.

When both inputs are given the combined score is the geometric mean of the two:
``sqrt(feature_score * pred_probs_score)``. It ranks rows by the sum of the two log-scores,
so a row that either view finds atypical ranks low, and only rows typical in both score high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd

from labelwise._validation import (
    check_choice,
    check_classification,
    check_distinct_rows,
    check_features,
    check_fraction,
    check_int,
    check_n_neighbors,
    check_positive,
    check_pred_probs,
    check_same_rows,
    fail,
)
from labelwise.issues._neighbors import (
    METRICS,
    nearest_neighbors,
    resolve_metric,
    warn_constant_columns,
)
from labelwise.issues.confident_joint import class_thresholds, self_confidence

PRED_PROBS_METHODS = ("entropy", "least_confidence")
#: The distance scale never falls below this (cleanlab's ``EPSILON``), so identical rows
#: do not divide by zero.
MIN_SCALE = 1e-6
#: Mean distances below these count as exact copies and score 1 (cleanlab's tolerances:
#: 100 float64 ulps for cosine, the square root of that for euclidean).
COPY_TOLERANCE = {
    "cosine": 100 * float(np.finfo(np.float64).epsneg),
    "euclidean": float(np.sqrt(100 * np.finfo(np.float64).eps)),
}
#: Datalab's default rules: a mean distance above Q3 + 1.7 IQR (its threshold 0.37037 is
#: ``1 / (1 + 1.7)``), or a pred_probs score below 0.13 times the median score.
DEFAULT_IQR_FACTOR = 1.7
DEFAULT_SCORE_FRACTION = 0.13


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@numba.njit(parallel=True, cache=True, nogil=True)
def _confidence_scores(
    pred_probs: np.ndarray, shift: np.ndarray, least_confidence: bool
) -> np.ndarray:  # pragma: no cover
    """``1 - H(q)/log K`` or ``max q`` of ``q = (p + shift) / sum(p + shift)``, row by row.

    With ``a = p + shift`` and ``s = sum(a)``: ``H(a / s) = log s - sum(a log a) / s``, so
    the adjusted rows are never materialised.
    """
    n, k = pred_probs.shape
    out = np.empty(n, dtype=np.float64)
    log_k = np.log(k)
    for i in numba.prange(n):
        total = 0.0
        top = 0.0
        a_log_a = 0.0
        for j in range(k):
            a = np.float64(pred_probs[i, j]) + shift[j]
            total += a
            top = max(top, a)
            if a > 0.0:
                a_log_a += a * np.log(a)
        if least_confidence:
            value = top / total
        else:
            value = 1.0 - (np.log(total) - a_log_a / total) / log_k
        out[i] = min(max(value, 0.0), 1.0)
    return out


@dataclass(frozen=True)
class _Parts:
    """Per-source scores (internal)."""

    feature_score: np.ndarray | None
    mean_distance: np.ndarray | None
    metric: str | None
    pred_probs_score: np.ndarray | None

    @property
    def score(self) -> np.ndarray:
        if self.feature_score is None:
            assert self.pred_probs_score is not None
            return self.pred_probs_score
        if self.pred_probs_score is None:
            return self.feature_score
        return np.sqrt(self.feature_score * self.pred_probs_score)


def feature_scores(mean_distance: np.ndarray, metric: str) -> np.ndarray:
    """``exp(-d / max(median(d), 1e-6))``, and 1 where ``d`` is numerically zero."""
    scale = max(float(np.median(mean_distance)), MIN_SCALE)
    scores = np.exp(-mean_distance / scale)
    scores[mean_distance < COPY_TOLERANCE[metric]] = 1.0
    return scores


def _compute(
    features: Any,
    pred_probs: Any,
    labels: Any,
    n_neighbors: Any,
    metric: Any,
    pred_probs_method: Any,
    classes: Sequence[Any] | None,
    stacklevel: int,
) -> _Parts:
    """Validate once, then score each source that is given."""
    check_choice(metric, "metric", METRICS)
    check_choice(pred_probs_method, "pred_probs_method", PRED_PROBS_METHODS)
    if features is None and pred_probs is None:
        fail("features", "an array when pred_probs is None (give either or both)", "None")
    if features is None:
        check_int(n_neighbors, "n_neighbors", minimum=1)
    if labels is not None and pred_probs is None:
        fail(
            "labels",
            "None when pred_probs is None (labels only adjust the pred_probs score)",
            f"{type(labels).__name__} of shape {np.shape(labels)}",
        )
    mean_distance = feature_score = probs_score = None
    resolved: str | None = None
    n_rows: int | None = None
    if features is not None:
        data = check_features(features)
        n_rows = data.features.shape[0]
        k = check_n_neighbors(n_neighbors, n_rows)
        check_distinct_rows(data)
        resolved = resolve_metric(metric, data.features.shape[1])
        warn_constant_columns(data, resolved, stacklevel=stacklevel + 1)
    if pred_probs is not None:
        if labels is not None:
            checked = check_classification(labels, pred_probs, classes=classes)
            probs = checked.pred_probs
        else:
            probs = check_pred_probs(pred_probs)
        if n_rows is not None:
            check_same_rows(probs.shape[0], n_rows, name="pred_probs", other="features")
        if labels is not None:
            _, class_sums = self_confidence(checked.labels, probs)
            thresholds = class_thresholds(class_sums, checked.class_counts)
            shift = thresholds.max() - thresholds
        else:
            shift = np.zeros(probs.shape[1])
        probs_score = _confidence_scores(probs, shift, pred_probs_method == "least_confidence")
    if features is not None:
        assert resolved is not None
        neighbors = nearest_neighbors(data.features, k, resolved)
        mean_distance = neighbors.distance.mean(axis=1)
        feature_score = feature_scores(mean_distance, resolved)
    return _Parts(feature_score, mean_distance, resolved, probs_score)


def outlier_scores(
    *,
    features: Any = None,
    pred_probs: Any = None,
    labels: Any = None,
    n_neighbors: int = 10,
    metric: str = "auto",
    pred_probs_method: str = "entropy",
    classes: Sequence[Any] | None = None,
) -> np.ndarray:
    """Score how typical each example is, from its features and/or its predicted probabilities.

    Parameters
    ----------
    features : array-like of shape (n, d), optional
        Numeric feature vectors, typically embeddings from a pretrained network. float32 and
        float64 are used without a copy (a cosine search makes one unit-length copy).
    pred_probs : array-like of shape (n, K), optional
        Predicted class probabilities (out-of-sample); rows sum to one.
    labels : array-like of shape (n,), optional
        Given labels. Only with ``pred_probs``: they adjust the probabilities by each class's
        confident threshold before scoring (see the module docstring). Every class must occur.
    n_neighbors : int, default=10
        ``k``, the number of nearest other rows averaged over; less than ``n``.
    metric : {"auto", "cosine", "euclidean"}, default="auto"
        Distance between feature rows. ``"auto"`` is cosine distance (1 - cosine similarity)
        for more than 3 columns and euclidean distance otherwise, as in cleanlab.
    pred_probs_method : {"entropy", "least_confidence"}, default="entropy"
        How ``pred_probs`` become a score.
    classes : sequence, optional
        Class names in the column order of ``pred_probs``, when ``labels`` holds names.

    Returns
    -------
    ndarray of shape (n,), float64
        Scores in [0, 1]; lower means more atypical. With both ``features`` and ``pred_probs``,
        the geometric mean of the two scores (use :func:`find_outliers` to get each).

    Warns
    -----
    LabelwiseWarning
        Under the cosine metric, when some columns are constant and non-zero.

    References
    ----------
    Kuan & Mueller, "Back to the Basics: Revisiting Out-of-Distribution Detection Baselines",
    ICML Workshop on Principles of Distribution Shift (2022).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.issues.outliers import outlier_scores
    >>> rng = np.random.default_rng(0)
    >>> features = rng.normal(size=(200, 2))
    >>> features[17] = [9.0, 9.0]                      # far from everything else
    >>> scores = outlier_scores(features=features)
    >>> int(np.argmin(scores))
    17
    >>> pred_probs = np.array([[0.98, 0.01, 0.01], [0.4, 0.3, 0.3], [0.05, 0.9, 0.05]])
    >>> outlier_scores(pred_probs=pred_probs).round(3)
    array([0.898, 0.009, 0.641])
    """
    parts = _compute(
        features,
        pred_probs,
        labels,
        n_neighbors,
        metric,
        pred_probs_method,
        classes,
        stacklevel=2,
    )
    return parts.score


@dataclass(frozen=True)
class Outliers:
    """Which examples are outliers, and how typical each example is.

    Attributes
    ----------
    is_outlier : ndarray of shape (n,), bool
        True for the flagged examples (by either source when both are given).
    score : ndarray of shape (n,), float64
        What :func:`outlier_scores` returns: in [0, 1], lower = more atypical.
    ranking : ndarray of shape (n_outliers,), int64
        Indices of the flagged examples, lowest score first (ties keep row order).
    feature_score : ndarray of shape (n,) or None
        The score from ``features`` (None when they were not given).
    pred_probs_score : ndarray of shape (n,) or None
        The score from ``pred_probs`` (None when they were not given).
    mean_distance : ndarray of shape (n,) or None
        Mean distance to the ``n_neighbors`` nearest other rows (None without ``features``).
    distance_cutoff : float or None
        Rows with ``mean_distance`` above this are flagged: ``Q3 + iqr_factor * IQR``.
    score_cutoff : float or None
        Rows with ``pred_probs_score`` below this are flagged: ``score_fraction * median``.
    metric : str or None
        The distance used ("cosine" or "euclidean"; None without ``features``).
    """

    is_outlier: np.ndarray
    score: np.ndarray
    ranking: np.ndarray
    feature_score: np.ndarray | None
    pred_probs_score: np.ndarray | None
    mean_distance: np.ndarray | None
    distance_cutoff: float | None
    score_cutoff: float | None
    metric: str | None

    @property
    def n_outliers(self) -> int:
        """Number of flagged examples."""
        return int(self.ranking.size)

    def to_frame(self, *, only_outliers: bool = False) -> pd.DataFrame:
        """One row per example (or per flagged example, most atypical first)."""
        rows = self.ranking if only_outliers else np.arange(self.is_outlier.size)
        columns: dict[str, np.ndarray] = {
            "index": rows,
            "score": self.score[rows],
            "is_outlier": self.is_outlier[rows],
        }
        if self.feature_score is not None:
            columns["feature_score"] = self.feature_score[rows]
        if self.pred_probs_score is not None:
            columns["pred_probs_score"] = self.pred_probs_score[rows]
        return pd.DataFrame(columns)


def find_outliers(
    *,
    features: Any = None,
    pred_probs: Any = None,
    labels: Any = None,
    n_neighbors: int = 10,
    metric: str = "auto",
    pred_probs_method: str = "entropy",
    iqr_factor: float = DEFAULT_IQR_FACTOR,
    score_fraction: float = DEFAULT_SCORE_FRACTION,
    classes: Sequence[Any] | None = None,
) -> Outliers:
    """Flag the examples that are atypical of the dataset, with the rules of cleanlab's Datalab.

    From ``features``, an example is an outlier when the mean distance to its nearest
    neighbours exceeds ``Q3 + iqr_factor * IQR`` of those mean distances (a Tukey fence;
    Datalab's default threshold 0.37037 is ``iqr_factor = 1.7``). From ``pred_probs``, when
    its score is below ``score_fraction`` times the median score (Datalab: 0.13). With both,
    an example flagged by either is an outlier.

    Parameters
    ----------
    features, pred_probs, labels, n_neighbors, metric, pred_probs_method, classes
        As in :func:`outlier_scores`.
    iqr_factor : float >= 0, default=1.7
        Width of the fence above the third quartile of the mean distances, in IQRs.
    score_fraction : float in (0, 1], default=0.13
        Flag ``pred_probs`` scores below this fraction of their median.

    Returns
    -------
    Outliers

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.issues.outliers import find_outliers
    >>> rng = np.random.default_rng(0)
    >>> features = rng.normal(size=(500, 8))
    >>> features[[3, 99]] = 25 * rng.normal(size=(2, 8))  # two points off on their own
    >>> found = find_outliers(features=features, metric="euclidean")
    >>> found.ranking[:2]                              # the most atypical first
    array([99,  3])
    >>> bool(found.is_outlier[[3, 99]].all()), found.n_outliers
    (True, 10)
    >>> found.to_frame(only_outliers=True).columns.tolist()
    ['index', 'score', 'is_outlier', 'feature_score']
    """
    iqr_factor = check_positive(iqr_factor, "iqr_factor", allow_zero=True)
    score_fraction = check_fraction(score_fraction, "score_fraction")
    parts = _compute(
        features,
        pred_probs,
        labels,
        n_neighbors,
        metric,
        pred_probs_method,
        classes,
        stacklevel=2,
    )
    score = parts.score
    flagged = np.zeros(score.size, dtype=bool)
    distance_cutoff = score_cutoff = None
    if parts.mean_distance is not None:
        q1, q3 = np.percentile(parts.mean_distance, [25, 75])
        distance_cutoff = float(q3 + iqr_factor * (q3 - q1))
        flagged |= parts.mean_distance > distance_cutoff
    if parts.pred_probs_score is not None:
        score_cutoff = float(score_fraction * np.median(parts.pred_probs_score))
        flagged |= parts.pred_probs_score < score_cutoff
    rows = np.flatnonzero(flagged)
    ranking = rows[np.argsort(score[rows], kind="stable")].astype(np.int64)
    return Outliers(
        is_outlier=_frozen(flagged),
        score=_frozen(score),
        ranking=_frozen(ranking),
        feature_score=None if parts.feature_score is None else _frozen(parts.feature_score),
        pred_probs_score=None
        if parts.pred_probs_score is None
        else _frozen(parts.pred_probs_score),
        mean_distance=None if parts.mean_distance is None else _frozen(parts.mean_distance),
        distance_cutoff=distance_cutoff,
        score_cutoff=score_cutoff,
        metric=parts.metric,
    )
