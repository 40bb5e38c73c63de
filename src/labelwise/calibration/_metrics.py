"""Calibration metrics: expected calibration error (top-label and class-wise) and reliability data.

ECE bins the confidence of the predicted class and averages ``|accuracy - confidence|`` over the
bins, weighted by their share of examples (Naeini, Cooper & Hauskrecht, AAAI 2015; Guo et al.,
ICML 2017). The class-wise version does the same for every class's probability against "is this
the label" and averages over classes (Kull et al., NeurIPS 2019).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from labelwise._validation import check_choice, check_classification, check_int

STRATEGIES = ("uniform", "quantile")


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin calibration data of the top-label confidence, for a reliability diagram.

    Attributes
    ----------
    bin_edges : ndarray of shape (n_bins + 1,)
        Bin ``b`` holds confidences in ``(bin_edges[b], bin_edges[b + 1]]`` (the first bin
        also holds ``bin_edges[0]``).
    counts : ndarray of shape (n_bins,), int64
    confidence : ndarray of shape (n_bins,)
        Mean confidence in each bin (NaN where empty).
    accuracy : ndarray of shape (n_bins,)
        Fraction of correct predictions in each bin (NaN where empty).
    ece : float
        ``sum_b counts_b / n * |accuracy_b - confidence_b|``.
    strategy : str
    """

    bin_edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float
    strategy: str

    @property
    def gap(self) -> np.ndarray:
        """``accuracy - confidence`` per bin (positive: under-confident)."""
        return self.accuracy - self.confidence


def _edges(values: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))
    edges[0], edges[-1] = 0.0, 1.0
    return edges


def _bin_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Right-closed bins; the first bin also holds its lower edge."""
    return np.searchsorted(edges[1:-1], values, side="left")


def _binned(
    values: np.ndarray, hits: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    n_bins = edges.size - 1
    bins = _bin_of(values, edges)
    counts = np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=values, minlength=n_bins)
    hit_sum = np.bincount(bins, weights=hits, minlength=n_bins)
    ece = float(np.abs(hit_sum - conf_sum).sum() / values.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts, conf_sum / counts, hit_sum / counts, ece


def _options(n_bins: object, strategy: object) -> tuple[int, str]:
    return check_int(n_bins, "n_bins", minimum=1), check_choice(strategy, "strategy", STRATEGIES)


def reliability_curve(
    probs: Any, labels: Any, *, n_bins: int = 15, strategy: str = "uniform"
) -> ReliabilityCurve:
    """Per-bin confidence and accuracy of the predicted class, for a reliability diagram.

    Parameters
    ----------
    probs : array-like of shape (n, K)
        Predicted probabilities (rows sum to one).
    labels : array-like of shape (n,)
    n_bins : int, default=15
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins on [0, 1], or bins holding about equal numbers of examples.

    Returns
    -------
    ReliabilityCurve

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.calibration import reliability_curve
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> curve = reliability_curve(probs, [0, 1, 1, 0], n_bins=2)
    >>> curve.counts.tolist(), round(curve.ece, 3)
    ([0, 4], 0.0)
    """
    bins, how = _options(n_bins, strategy)
    checked = check_classification(labels, probs, require_all_classes=False)
    p = checked.pred_probs
    predicted = np.argmax(p, axis=1)
    confidence = p[np.arange(p.shape[0]), predicted].astype(np.float64)
    hits = (predicted == checked.labels).astype(np.float64)
    edges = _edges(confidence, bins, how)
    counts, conf, acc, ece = _binned(confidence, hits, edges)
    return ReliabilityCurve(edges, counts.astype(np.int64), conf, acc, ece, how)


def expected_calibration_error(
    probs: Any, labels: Any, *, n_bins: int = 15, strategy: str = "uniform"
) -> float:
    """Expected calibration error of the top-label confidence.

    ``ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`` over ``n_bins`` bins of the confidence
    of the predicted class (Naeini et al., AAAI 2015; Guo et al., ICML 2017).

    Parameters
    ----------
    probs : array-like of shape (n, K)
    labels : array-like of shape (n,)
    n_bins : int, default=15
    strategy : {"uniform", "quantile"}, default="uniform"

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.calibration import expected_calibration_error
    >>> probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [0.2, 0.8]])
    >>> round(expected_calibration_error(probs, [0, 1, 1, 1]), 3)
    0.3
    """
    return reliability_curve(probs, labels, n_bins=n_bins, strategy=strategy).ece


def classwise_calibration_error(
    probs: Any, labels: Any, *, n_bins: int = 15, strategy: str = "uniform"
) -> float:
    """Class-wise ECE: the binned calibration error of every class's probability, averaged.

    For class ``k`` the values ``p_k`` of all examples are binned and compared with the
    frequency of label ``k`` in each bin (Kull et al., "Beyond temperature scaling", NeurIPS
    2019); the result is the mean over classes.

    Parameters
    ----------
    probs : array-like of shape (n, K)
    labels : array-like of shape (n,)
    n_bins : int, default=15
    strategy : {"uniform", "quantile"}, default="uniform"

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.calibration import classwise_calibration_error
    >>> probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> classwise_calibration_error(probs, [0, 1])
    0.0
    """
    bins, how = _options(n_bins, strategy)
    checked = check_classification(labels, probs, require_all_classes=False)
    p = checked.pred_probs
    k = p.shape[1]
    errors = np.empty(k)
    for c in range(k):  # a loop over classes; each pass is vectorised over the examples
        values = p[:, c].astype(np.float64)
        errors[c] = _binned(
            values, (checked.labels == c).astype(np.float64), _edges(values, bins, how)
        )[3]
    return float(errors.mean())
