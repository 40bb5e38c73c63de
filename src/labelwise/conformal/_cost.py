"""Value-maximising multi-label sets under a conformal cost constraint (FavMac, additive case).

Lin, Trivedi & Sun, "Fast Online Value-Maximizing Prediction Sets with Conformal Cost Control"
(ICML 2023). With a value ``v_k`` for each true positive and a cost ``c_k`` for each false
positive, every example gets a nested sequence of sets ``S_0 = {} ⊂ S_1 ⊂ ... ⊂ S_K``, adding
classes by decreasing expected value per unit of expected cost, ``v_k p_k / (c_k (1 - p_k))``.
The *proxy* of ``S_j`` is its expected cost under the predicted probabilities,
``sum_{k in S_j} c_k (1 - p_k)``; the prediction is the largest ``S_j`` whose proxy is below a
threshold ``t`` chosen on labelled data:

- ``control="expected"`` (conformal risk control): with ``C_i(t)`` the realised cost (the summed
  ``c_k`` of the false positives in the set at threshold ``t``), non-decreasing in ``t`` and at
  most ``C_max = sum_k c_k``, the largest ``t`` with
  ``(sum_i C_i(t) + C_max) / (n + 1) <= max_cost`` gives ``E[cost] <= max_cost`` on a new example.
- ``control="violation"``: ``P(cost > max_cost) <= delta``, with ``t`` the
  ``floor(delta (n + 1))``-th smallest of the per-example thresholds at which the cost would
  first exceed ``max_cost``.

A labelled example contributes only the (proxy, cost) jumps of its own sequence, kept sorted, so
``update`` with new labelled examples merges a few values into sorted arrays and re-reads one
cumulative sum: no pass over the earlier data's probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from labelwise._validation import check_choice, check_positive
from labelwise._validation.trust import (
    check_level,
    check_same_width,
    check_stage,
    check_weights,
    multilabel_indicator,
    multilabel_probs,
)

CONTROLS = ("expected", "violation")


def _greedy(
    probs: np.ndarray, value: np.ndarray, cost: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's classes in greedy order and the proxy after adding each, both (n, K)."""
    p = probs.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (value * p) / (cost * (1.0 - p))
    ratio = np.where(p >= 1.0, np.inf, np.nan_to_num(ratio, nan=0.0))
    order = np.argsort(-ratio, axis=1, kind="stable")
    expected_cost = (cost * (1.0 - p))[np.arange(p.shape[0])[:, None], order]
    return order, np.cumsum(expected_cost, axis=1)


class CostControlledSets(BaseEstimator):
    """Multi-label sets that maximise value while controlling a cost (FavMac, additive case).

    ``calibrate(pred_probs, labels)`` chooses a threshold on the sets' expected cost from
    held-out data; ``update(pred_probs, labels)`` adds newly labelled examples cheaply;
    ``predict_set(pred_probs)`` returns each example's largest greedy set under the threshold.
    See the module docstring for the construction and the guarantees (Lin et al., ICML 2023).

    Parameters
    ----------
    max_cost : float > 0, default=1.0
        The cost bound ``c``: by default the expected number of false positives per example.
    control : {"expected", "violation"}, default="expected"
        Bound ``E[cost]`` (conformal risk control), or ``P(cost > max_cost)`` by ``delta``.
    delta : float in (0, 1), default=0.1
        Violation probability (``control="violation"`` only).
    value_weights : array-like of shape (K,), optional
        Value of each class when correctly included (default: 1 each).
    cost_weights : array-like of shape (K,), optional
        Cost of each class when wrongly included (default: 1 each).

    Attributes
    ----------
    threshold_ : float
        Sets keep adding classes while their proxy is below this.
    n_calibration_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.conformal import CostControlledSets
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random((3000, 5)) < 0.3
    >>> probs = 1 / (1 + np.exp(-(rng.normal(size=(3000, 5)) + np.where(y, 1.5, -1.5))))
    >>> fav = CostControlledSets(max_cost=0.5).calibrate(probs[:1000], y[:1000])
    >>> fav = fav.update(probs[1000:2000], y[1000:2000])  # more labelled data, cheaply
    >>> sets = fav.predict_set(probs[2000:])
    >>> bool((sets & ~y[2000:]).sum(axis=1).mean() <= 0.6)
    True
    """

    def __init__(
        self,
        *,
        max_cost: float = 1.0,
        control: str = "expected",
        delta: float = 0.1,
        value_weights: Any = None,
        cost_weights: Any = None,
    ) -> None:
        self.max_cost = max_cost
        self.control = control
        self.delta = delta
        self.value_weights = value_weights
        self.cost_weights = cost_weights

    def _options(self, k: int) -> tuple[float, str, float, np.ndarray, np.ndarray]:
        bound = check_positive(self.max_cost, "max_cost")
        control = check_choice(self.control, "control", CONTROLS)
        delta = check_level(self.delta, "delta")
        value = check_weights(self.value_weights, k, "value_weights")
        cost = check_weights(self.cost_weights, k, "cost_weights")
        return bound, control, delta, value, cost

    def _jumps(
        self, pred_probs: Any, labels: Any, k: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        """Validated inputs -> (jump proxies, jump costs, per-example violation thresholds)."""
        probs = multilabel_probs(pred_probs)
        n, width = probs.shape
        if k is not None:
            check_same_width(probs, k, "pred_probs", "calibrate")
        y = multilabel_indicator(labels, n, width)
        bound, _, _, value, cost = self._options(width)
        order, proxy = _greedy(probs, value, cost)
        wrong = ~y[np.arange(n)[:, None], order]
        step_cost = np.where(wrong, cost[order], 0.0)
        jumps = wrong.ravel()
        realised = np.cumsum(step_cost, axis=1)
        over = realised > bound
        first = np.where(over.any(axis=1), np.argmax(over, axis=1), -1)
        violation = np.where(first >= 0, proxy[np.arange(n), np.maximum(first, 0)], np.inf)
        return proxy.ravel()[jumps], step_cost.ravel()[jumps], violation, n, width

    def calibrate(self, pred_probs: Any, labels: Any) -> CostControlledSets:
        """Choose the threshold from held-out ``pred_probs`` (n, K) and 0/1 ``labels`` (n, K).

        Returns
        -------
        self
        """
        proxies, costs, violation, n, k = self._jumps(pred_probs, labels)
        order = np.argsort(proxies, kind="stable")
        self.jump_proxies_ = proxies[order]
        self.jump_costs_ = costs[order]
        self.violation_thresholds_ = np.sort(violation)
        self.n_calibration_ = n
        self.n_classes_ = k
        self.threshold_ = self._threshold()
        return self

    def update(self, pred_probs: Any, labels: Any) -> CostControlledSets:
        """Add newly labelled examples and move the threshold (no pass over earlier data).

        Returns
        -------
        self
        """
        check_stage(hasattr(self, "threshold_"), self, "calibrate", "update")
        proxies, costs, violation, n, _ = self._jumps(pred_probs, labels, self.n_classes_)
        order = np.argsort(proxies, kind="stable")
        at = np.searchsorted(self.jump_proxies_, proxies[order], side="right")
        self.jump_proxies_ = np.insert(self.jump_proxies_, at, proxies[order])
        self.jump_costs_ = np.insert(self.jump_costs_, at, costs[order])
        new = np.sort(violation)
        self.violation_thresholds_ = np.insert(
            self.violation_thresholds_,
            np.searchsorted(self.violation_thresholds_, new, side="right"),
            new,
        )
        self.n_calibration_ += n
        self.threshold_ = self._threshold()
        return self

    def _threshold(self) -> float:
        bound, control, delta, _, cost = self._options(self.n_classes_)
        n = self.n_calibration_
        if control == "violation":
            rank = int(np.floor(delta * (n + 1)))
            return 0.0 if rank == 0 else float(self.violation_thresholds_[rank - 1])
        budget = bound * (n + 1) - cost.sum()  # sum_i C_i(t) may not exceed this
        if budget < 0:
            return 0.0
        proxies = self.jump_proxies_
        # The summed cost at threshold t counts the jumps with proxy < t; it first exceeds the
        # budget at the smallest proxy whose jumps (with all equal ones) push it over.
        ends = np.flatnonzero(np.append(proxies[1:] != proxies[:-1], True))
        cumulative = np.cumsum(self.jump_costs_)[ends]
        over = np.flatnonzero(cumulative > budget)
        return float("inf") if over.size == 0 else float(proxies[ends[over[0]]])

    def predict_set(self, pred_probs: Any) -> np.ndarray:
        """Each example's largest greedy set whose proxy (expected cost) is below the threshold.

        Parameters
        ----------
        pred_probs : array-like of shape (n, K)

        Returns
        -------
        ndarray of shape (n, K), bool
        """
        check_stage(hasattr(self, "threshold_"), self, "calibrate", "predict_set")
        probs = multilabel_probs(pred_probs)
        check_same_width(probs, self.n_classes_, "pred_probs", "calibrate")
        _, _, _, value, cost = self._options(self.n_classes_)
        order, proxy = _greedy(probs, value, cost)
        keep = proxy < self.threshold_
        out = np.zeros(probs.shape, dtype=bool)
        np.put_along_axis(out, order, keep, axis=1)
        return out
