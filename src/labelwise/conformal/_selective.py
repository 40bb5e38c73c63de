"""Selective classification: abstain on low-confidence examples with a guaranteed risk bound.

Geifman & El-Yaniv, "Selective Classification for Deep Neural Networks" (NeurIPS 2017): predict
only when the confidence ``kappa(x)`` (by default the top probability, "softmax response")
reaches a threshold ``theta``. Selection with Guaranteed Risk (SGR) binary-searches ``theta``
over the sorted calibration confidences; at each of the ``ceil(log2 n)`` steps the selective
risk of the accepted examples gets the exact binomial-tail (Clopper-Pearson) upper bound at
level ``delta / ceil(log2 n)``, and the search moves to more coverage while that bound is below
the target risk. With probability at least ``1 - delta`` the chosen rule's selective risk is at
most its bound, which is below ``target_risk``.

The risk-coverage curve and its area (AURC; Geifman, Uziel & El-Yaniv, ICLR 2019) summarise how
well the confidence ranks errors last.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator

from labelwise._validation import (
    LabelwiseWarning,
    check_classification,
    check_pred_probs,
    check_real_vector,
)
from labelwise._validation.trust import check_level, check_same_width, check_stage


@dataclass(frozen=True)
class RiskCoverageCurve:
    """Selective risk at every coverage a confidence threshold can give.

    Attributes
    ----------
    thresholds : ndarray of shape (m,)
        Distinct confidences, decreasing; accepting ``confidence >= thresholds[j]`` gives
        ``coverage[j]`` and ``risk[j]``.
    coverage : ndarray of shape (m,)
        Fraction of examples accepted, increasing to 1.
    risk : ndarray of shape (m,)
        Error rate among the accepted examples.
    aurc : float
        Area under the risk-coverage curve (mean selective risk over coverages 1/n .. 1, ties
        in confidence counted at their expected error under random order).
    """

    thresholds: np.ndarray
    coverage: np.ndarray
    risk: np.ndarray
    aurc: float


def _confidence_and_errors(
    pred_probs: Any, labels: Any, confidence: Any
) -> tuple[np.ndarray, np.ndarray]:
    checked = check_classification(labels, pred_probs, require_all_classes=False)
    p = checked.pred_probs
    errors = (np.argmax(p, axis=1) != checked.labels).astype(np.float64)
    if confidence is None:
        kappa = p.max(axis=1).astype(np.float64)
    else:
        kappa = check_real_vector(
            confidence, "confidence", length=p.shape[0], length_of="pred_probs"
        )
    return kappa, errors


def risk_coverage_curve(
    pred_probs: Any, labels: Any, *, confidence: Any = None
) -> RiskCoverageCurve:
    """Selective risk of the top-label prediction against coverage.

    Parameters
    ----------
    pred_probs : array-like of shape (n, K)
    labels : array-like of shape (n,)
    confidence : array-like of shape (n,), optional
        The confidence to rank by (default: the top probability).

    Returns
    -------
    RiskCoverageCurve

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.conformal import risk_coverage_curve
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    >>> curve = risk_coverage_curve(probs, [0, 0, 1, 0])
    >>> curve.coverage.tolist(), curve.risk.round(3).tolist()
    ([0.25, 0.5, 0.75, 1.0], [0.0, 0.0, 0.333, 0.25])
    """
    kappa, errors = _confidence_and_errors(pred_probs, labels, confidence)
    n = kappa.size
    order = np.argsort(-kappa, kind="stable")
    kappa, errors = kappa[order], errors[order]
    ends = np.flatnonzero(np.append(kappa[1:] != kappa[:-1], True))  # last index of each tie
    cum = np.cumsum(errors)
    accepted = ends + 1
    risk = cum[ends] / accepted
    # AURC: mean over i = 1..n of the risk among the top i, ties at their mean error.
    starts = np.concatenate([[0], accepted[:-1]])
    group_err = cum[ends] - np.concatenate([[0.0], cum[ends][:-1]])
    group_size = accepted - starts
    within = np.arange(n) - np.repeat(starts, group_size) + 1  # 1.. within its tie group
    before = np.repeat(np.concatenate([[0.0], cum[ends][:-1]]), group_size)
    expected = before + within * np.repeat(group_err / group_size, group_size)
    aurc = float(np.mean(expected / np.arange(1, n + 1)))
    return RiskCoverageCurve(kappa[ends], accepted / n, risk, aurc)


def aurc(pred_probs: Any, labels: Any, *, confidence: Any = None) -> float:
    """Area under the risk-coverage curve (lower is better; Geifman et al., ICLR 2019).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.conformal import aurc
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> aurc(probs, [0, 1])  # the error is ranked last: (0/1 + 1/2) / 2
    0.25
    """
    return risk_coverage_curve(pred_probs, labels, confidence=confidence).aurc


def binomial_upper_bound(errors: int, n: int, delta: float) -> float:
    """Largest risk ``b`` with ``P(Binom(n, b) <= errors) >= delta`` (Clopper-Pearson)."""
    if errors >= n:
        return 1.0
    return float(stats.beta.ppf(1.0 - delta, errors + 1, n - errors))


class SelectiveClassifier(BaseEstimator):
    """Abstain below a confidence threshold chosen so the selective risk is guaranteed.

    ``fit(pred_probs, labels)`` on held-out data runs SGR (Geifman & El-Yaniv, NeurIPS 2017; see
    the module docstring); ``predict(pred_probs)`` returns the top label where the confidence
    reaches ``threshold_`` and ``-1`` (abstain) elsewhere. With probability at least
    ``1 - delta`` over the held-out sample, the risk among accepted examples is at most
    ``risk_bound_ < target_risk``.

    Parameters
    ----------
    target_risk : float in (0, 1), default=0.05
        The error rate allowed among accepted examples.
    delta : float in (0, 1), default=0.001
        Probability that the guarantee fails.

    Attributes
    ----------
    threshold_ : float
        Accept when the top probability is at least this (``inf``: no threshold met the
        target, everything is rejected).
    risk_bound_ : float
        The guaranteed bound on the selective risk (1.0 when nothing is accepted).
    coverage_ : float
        Fraction of the held-out examples accepted.
    risk_ : float
        Error rate among the accepted held-out examples.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.conformal import SelectiveClassifier
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 4000)
    >>> logits = rng.normal(size=(4000, 3)) + 2.0 * np.eye(3)[labels]
    >>> probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    >>> sel = SelectiveClassifier(target_risk=0.05, delta=0.01).fit(probs[:2000], labels[:2000])
    >>> bool(sel.risk_bound_ < 0.05), bool(0.2 < sel.coverage_ < 0.9)
    (True, True)
    >>> pred = sel.predict(probs[2000:])
    >>> bool((pred[pred >= 0] != labels[2000:][pred >= 0]).mean() < 0.05)
    True
    """

    def __init__(self, *, target_risk: float = 0.05, delta: float = 0.001) -> None:
        self.target_risk = target_risk
        self.delta = delta

    def fit(self, pred_probs: Any, labels: Any) -> SelectiveClassifier:
        """Choose the threshold on held-out ``pred_probs`` (n, K) and ``labels`` (n,).

        Returns
        -------
        self
        """
        target = check_level(self.target_risk, "target_risk")
        delta = check_level(self.delta, "delta")
        kappa, errors = _confidence_and_errors(pred_probs, labels, None)
        n = kappa.size
        k = int(np.shape(pred_probs)[1])
        order = np.argsort(kappa, kind="stable")  # increasing confidence, as in the paper
        kappa_sorted = kappa[order]
        wrong_desc = np.cumsum(errors[order][::-1])  # errors among the j most confident
        steps = max(1, int(np.ceil(np.log2(n))))
        level = delta / steps
        z_min, z_max = 0, n - 1  # 0-based positions in the increasing order
        best: tuple[float, float, int, int] | None = None
        for _ in range(steps):  # ceil(log2 n) bisection steps over the sorted confidences
            z = (z_min + z_max + 1) // 2
            theta = kappa_sorted[z]
            accepted = n - int(np.searchsorted(kappa_sorted, theta, side="left"))
            wrong = int(wrong_desc[accepted - 1])
            bound = binomial_upper_bound(wrong, accepted, level)
            if bound < target:
                if best is None or accepted > best[2]:
                    best = (float(theta), bound, accepted, wrong)
                z_max = z
            else:
                z_min = z
        if best is None:
            warnings.warn(
                f"no confidence threshold certifies selective risk < {target:g} with "
                f"probability {1 - delta:g} on {n} examples: every example is rejected.",
                LabelwiseWarning,
                stacklevel=2,
            )
            self.threshold_, self.risk_bound_, self.coverage_, self.risk_ = np.inf, 1.0, 0.0, 0.0
        else:
            theta, bound, accepted, wrong = best
            self.threshold_ = theta
            self.risk_bound_ = bound
            self.coverage_ = accepted / n
            self.risk_ = wrong / accepted
        self.n_classes_ = k
        return self

    def accept(self, pred_probs: Any) -> np.ndarray:
        """Whether each example is accepted (confidence at least ``threshold_``), shape (n,)."""
        check_stage(hasattr(self, "threshold_"), self, "fit", "accept")
        probs = check_pred_probs(pred_probs)
        check_same_width(probs, self.n_classes_, "pred_probs", "fit")
        return probs.max(axis=1) >= self.threshold_

    def predict(self, pred_probs: Any) -> np.ndarray:
        """Top label where accepted, ``-1`` where the classifier abstains, shape (n,)."""
        check_stage(hasattr(self, "threshold_"), self, "fit", "predict")
        probs = check_pred_probs(pred_probs)
        check_same_width(probs, self.n_classes_, "pred_probs", "fit")
        top = np.argmax(probs, axis=1)
        return np.where(probs.max(axis=1) >= self.threshold_, top, -1)
