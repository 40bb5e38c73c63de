"""Multi-label prediction sets that control a risk: false-negative rate (CRC) or precision (LTT).

A set is every class whose probability reaches a threshold ``t``, ``C_t(x) = {k : p_k >= t}``;
the threshold is chosen on held-out labelled data.

- ``risk="fnr"``: conformal risk control (Angelopoulos, Bates, Fisch, Lei & Schuster,
  "Conformal Risk Control", ICLR 2024). With the per-example loss
  ``L_i(t) = |Y_i minus C_t(x_i)| / |Y_i|`` (0 for an example without positives), non-decreasing
  in ``t`` and bounded by 1, the largest ``t`` with ``(n R_n(t) + 1) / (n + 1) <= target``
  guarantees ``E[FNR] <= target`` on a new example. Without a grid the search is exact: the
  empirical risk only changes at the probabilities of the positive labels.
- ``risk="precision"``: Learn-Then-Test (Angelopoulos, Bates, Candès, Jordan & Lei, "Learn then
  Test: Calibrating Predictive Algorithms to Achieve Risk Control", 2021). For every threshold of
  a grid the null hypothesis "risk above ``1 - target``" is tested with the Hoeffding-Bentkus
  p-value, and Holm's step-down procedure keeps the family-wise error below
  ``1 - confidence_level``; the smallest rejected threshold (largest sets) is used. The loss is
  ``1 - precision`` of the set, and 1 for an empty set (as MAPIE does), so with probability at
  least ``confidence_level`` the expected precision is at least ``target``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator

from labelwise._validation import LabelwiseWarning, check_choice
from labelwise._validation.trust import (
    check_level,
    check_same_width,
    check_stage,
    check_thresholds,
    multilabel_indicator,
    multilabel_probs,
)

RISKS = ("fnr", "precision")
#: The threshold grid used for precision control when none is given (MAPIE's default).
DEFAULT_GRID = np.round(np.arange(100) * 0.01, 2)


def at_least(probs: np.ndarray, threshold: float) -> np.ndarray:
    """``probs >= threshold`` compared in float64 (no float64 copy of the whole input)."""
    return np.greater_equal(probs, np.float64(threshold))


def _grid_counts(
    probs: np.ndarray, labels: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(|C_t|, |Y ∩ C_t|)`` per example and grid threshold, each (n, len(grid)).

    Each probability is placed once on the grid (how many thresholds it reaches); per-row
    histograms of those positions, cumulated from the top, give the counts for every threshold.
    """
    n, _ = probs.shape
    g = grid.size
    reach = np.searchsorted(grid, probs.astype(np.float64, copy=False), side="right")
    rows = np.repeat(np.arange(n), probs.shape[1]).reshape(probs.shape)
    flat = (rows * (g + 1) + reach).ravel()
    sizes = np.bincount(flat, minlength=n * (g + 1)).reshape(n, g + 1)
    hits = np.bincount(flat[labels.ravel()], minlength=n * (g + 1)).reshape(n, g + 1)
    # A probability reaching position r is >= thresholds grid[:r]: count it for t = 0..r-1.
    size_at = np.cumsum(sizes[:, ::-1], axis=1)[:, ::-1][:, 1:]
    hit_at = np.cumsum(hits[:, ::-1], axis=1)[:, ::-1][:, 1:]
    return size_at, hit_at


def hoeffding_bentkus_p_values(risk: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """p-values of ``H0: R > alpha`` for losses in [0, 1] with empirical mean ``risk``.

    ``min(exp(-n h(min(risk, alpha), alpha)), e * P(Binom(n, alpha) <= ceil(n * risk)))`` with
    ``h(a, b) = a log(a/b) + (1-a) log((1-a)/(1-b))`` (Learn then Test, Proposition 3.4; Bates et
    al. 2021, "Distribution-free, risk-controlling prediction sets").
    """
    r = np.minimum(risk, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(r > 0, r * np.log(r / alpha), 0.0)
        second = np.where(r < 1, (1 - r) * np.log((1 - r) / (1 - alpha)), -np.inf)
    hoeffding = np.exp(-n * (first + second))
    bentkus = np.e * stats.binom.cdf(np.ceil(n * risk), n, alpha)
    return np.minimum(hoeffding, bentkus)


def holm_rejections(p_values: np.ndarray, delta: float) -> np.ndarray:
    """Indices rejected by Holm's step-down procedure at family-wise level ``delta``, sorted."""
    m = p_values.size
    order = np.argsort(p_values, kind="stable")
    levels = delta / (m - np.arange(m))
    passed = p_values[order] <= levels
    stop = m if passed.all() else int(np.argmin(passed))
    return np.sort(order[:stop])


class MultilabelConformal(BaseEstimator):
    """Multi-label threshold sets that control the false-negative rate or the precision.

    ``calibrate(pred_probs, labels)`` chooses one threshold ``t`` on held-out data;
    ``predict_set(pred_probs)`` returns ``{k : p_k >= t}`` per example. See the module docstring
    for the guarantees: ``risk="fnr"`` uses conformal risk control (expected FNR at most
    ``target``, Angelopoulos et al., ICLR 2024), ``risk="precision"`` Learn-Then-Test (expected
    precision at least ``target`` with probability ``confidence_level``, Angelopoulos et al.
    2021).

    Parameters
    ----------
    risk : {"fnr", "precision"}, default="fnr"
    target : float in (0, 1), optional
        The bound on the named quantity: the largest false-negative rate (default 0.1), or the
        smallest precision (default 0.9).
    confidence_level : float in (0, 1), default=0.9
        Learn-Then-Test only: the probability that the precision guarantee holds. Conformal
        risk control bounds the expected FNR and does not use it.
    thresholds : array-like, optional
        Increasing grid of candidate thresholds in [0, 1]. FNR: None searches every value
        exactly; precision: None means ``0.00, 0.01, ..., 0.99``.

    Attributes
    ----------
    threshold_ : float
        ``t`` (``inf`` when no threshold of the grid passed Learn-Then-Test: empty sets).
    risk_ : float
        Empirical risk at ``t`` on the calibration data (FNR, or 1 - precision).
    n_calibration_ : int
    n_classes_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.conformal import MultilabelConformal
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random((2000, 6)) < 0.3
    >>> probs = 1 / (1 + np.exp(-(rng.normal(size=(2000, 6)) + np.where(y, 1.5, -1.5))))
    >>> crc = MultilabelConformal(risk="fnr", target=0.1).calibrate(probs[:1000], y[:1000])
    >>> sets = crc.predict_set(probs[1000:])
    >>> missed = (y[1000:] & ~sets).sum(1) / np.maximum(y[1000:].sum(1), 1)
    >>> bool(missed.mean() < 0.13)
    True
    """

    def __init__(
        self,
        *,
        risk: str = "fnr",
        target: float | None = None,
        confidence_level: float = 0.9,
        thresholds: Any = None,
    ) -> None:
        self.risk = risk
        self.target = target
        self.confidence_level = confidence_level
        self.thresholds = thresholds

    def _options(self) -> tuple[str, float, float]:
        risk = check_choice(self.risk, "risk", RISKS)
        default = 0.1 if risk == "fnr" else 0.9
        target = check_level(default if self.target is None else self.target, "target")
        level = check_level(self.confidence_level, "confidence_level")
        return risk, target, level

    def calibrate(self, pred_probs: Any, labels: Any) -> MultilabelConformal:
        """Choose the threshold from held-out ``pred_probs`` (n, K) and 0/1 ``labels`` (n, K).

        Returns
        -------
        self
        """
        risk, target, level = self._options()
        probs = multilabel_probs(pred_probs)
        n, k = probs.shape
        y = multilabel_indicator(labels, n, k)
        if risk == "fnr":
            threshold, emp = self._crc(probs, y, target)
        else:
            threshold, emp = self._ltt(probs, y, target, 1.0 - level)
        self.threshold_ = threshold
        self.risk_ = emp
        self.n_calibration_ = n
        self.n_classes_ = k
        return self

    def _crc(self, probs: np.ndarray, y: np.ndarray, target: float) -> tuple[float, float]:
        n = probs.shape[0]
        n_pos = y.sum(axis=1)
        values = probs[y].astype(np.float64)
        weights = np.repeat(1.0 / np.maximum(n_pos, 1), n_pos) / n  # row-major, like probs[y]
        budget = (target * (n + 1) - 1) / n  # (n R(t) + 1) / (n + 1) <= target
        if weights.sum() <= budget + 1e-12:  # even empty sets are within the budget
            return float("inf"), float(weights.sum())
        if self.thresholds is None:
            order = np.argsort(values, kind="stable")
            values, weights = values[order], weights[order]
            distinct, first = np.unique(values, return_index=True)
            missed = np.concatenate([[0.0], np.cumsum(weights)])[first]  # R(t) at each value
            ok = np.flatnonzero(missed <= budget + 1e-12)
            if ok.size == 0:
                return 0.0, 0.0
            return float(distinct[ok[-1]]), float(missed[ok[-1]])
        grid = check_thresholds(self.thresholds)
        order = np.argsort(values, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(weights[order])])
        missed = cum[np.searchsorted(values[order], grid, side="left")]  # R(t): values below t
        ok = np.flatnonzero(missed <= budget + 1e-12)
        if ok.size == 0:
            return 0.0, 0.0
        return float(grid[ok[-1]]), float(missed[ok[-1]])

    def _ltt(
        self, probs: np.ndarray, y: np.ndarray, target: float, delta: float
    ) -> tuple[float, float]:
        grid = DEFAULT_GRID if self.thresholds is None else check_thresholds(self.thresholds)
        n = probs.shape[0]
        size, hit = _grid_counts(probs, y, grid)
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = np.where(size > 0, 1.0 - hit / size, 1.0)
        risk = loss.mean(axis=0)
        p_values = hoeffding_bentkus_p_values(risk, n, 1.0 - target)
        valid = holm_rejections(p_values, delta)
        if valid.size == 0:
            warnings.warn(
                f"no threshold certifies precision >= {target:g} with confidence "
                f"{1 - delta:g} on {n} calibration examples: every set is empty.",
                LabelwiseWarning,
                stacklevel=3,
            )
            return float("inf"), 1.0
        best = valid[0]
        return float(grid[best]), float(risk[best])

    def predict_set(self, pred_probs: Any) -> np.ndarray:
        """``{k : p_k >= threshold_}`` per example.

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
        return at_least(probs, self.threshold_)
