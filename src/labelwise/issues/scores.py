"""Per-example label quality scores for multi-class data (in [0, 1], lower = more likely wrong).

The three scores of Kuan & Mueller, "Model-Agnostic Label Quality Scoring to Detect Real-World
Label Errors" (ICML DataPerf workshop, 2022), computed as cleanlab 2.x does:

- ``self_confidence``: ``p[y]``, the predicted probability of the given label.
- ``normalized_margin``: ``(p[y] - max_{j != y} p[j] + 1) / 2``.
- ``confidence_weighted_entropy``: with ``x = H(p) / (log K * p[y])``, ``log(1 + x) / x``.

``adjust_pred_probs`` first subtracts each class's confident threshold (the mean
self-confidence of that class) and renormalises, which removes the bias towards frequent
classes that models learn (Northcutt et al. 2021, Sec. 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labelwise._numerics import FUZZ, serial_when_small
from labelwise._validation import check_choice, check_classification
from labelwise.issues._kernels import max_other_shifted, normalized_entropy
from labelwise.issues.confident_joint import class_thresholds, self_confidence

SCORE_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


def compute_scores(
    method: str,
    labels: np.ndarray,
    pred_probs: np.ndarray,
    self_confidence: np.ndarray,
    *,
    thresholds: np.ndarray | None = None,
) -> np.ndarray:
    """Score every example (inputs validated; ``thresholds`` given means adjusted scores)."""
    if thresholds is not None:
        shift = thresholds - thresholds.max()
        other, row_sums = max_other_shifted(pred_probs, labels, shift)
        # Adjusted rows are p - t + max(t), renormalised: only two entries per row are needed.
        denominator = row_sums - shift.sum()
        own = (self_confidence - shift[labels]) / denominator
        if method == "self_confidence":
            scores = own
        else:
            scores = (own - other / denominator + 1.0) / 2.0
    elif method == "self_confidence":
        scores = self_confidence.copy()
    elif method == "normalized_margin":
        max_other, _ = max_other_shifted(pred_probs, labels, np.zeros(pred_probs.shape[1]))
        scores = (self_confidence - max_other + 1.0) / 2.0
    else:
        ratio = normalized_entropy(pred_probs) / np.clip(self_confidence, FUZZ, None)
        # log(1 + x) / x -> 1 as x -> 0: a confident, correct prediction scores best.
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.where(ratio > 0, np.log1p(ratio) / ratio, 1.0)
    return np.clip(scores, 0.0, 1.0, out=scores)


@serial_when_small
def label_quality_scores(
    labels: Any,
    pred_probs: Any,
    *,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
    classes: Sequence[Any] | None = None,
) -> np.ndarray:
    """Score how likely each given label is correct.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Given labels: class ids ``0..K-1`` or class names (see ``classes``).
    pred_probs : array-like of shape (n, K)
        Out-of-sample predicted probabilities; rows sum to one.
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        Which score; see the module docstring for the formulas.
    adjust_pred_probs : bool, default=False
        Subtract per-class confident thresholds before scoring (not available for
        ``confidence_weighted_entropy``). Needs every class present in ``labels``.
    classes : sequence, optional
        Class names in the column order of ``pred_probs``, when ``labels`` holds names.

    Returns
    -------
    ndarray of shape (n,), float64
        Scores in [0, 1]; lower means the given label is more likely wrong.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import label_quality_scores
    >>> labels = np.array([0, 1, 1])
    >>> pred_probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    >>> label_quality_scores(labels, pred_probs)
    array([0.9, 0.8, 0.3])
    >>> label_quality_scores(labels, pred_probs, method="normalized_margin").round(2)
    array([0.9, 0.8, 0.3])
    """
    check_choice(method, "method", SCORE_METHODS)
    if adjust_pred_probs and method == "confidence_weighted_entropy":
        raise ValueError(
            "`adjust_pred_probs` must be False when method='confidence_weighted_entropy'; got True."
        )
    data = check_classification(
        labels, pred_probs, classes=classes, require_all_classes=bool(adjust_pred_probs)
    )
    own, class_sums = self_confidence(data.labels, data.pred_probs)
    thresholds = class_thresholds(class_sums, data.class_counts) if adjust_pred_probs else None
    return compute_scores(method, data.labels, data.pred_probs, own, thresholds=thresholds)
