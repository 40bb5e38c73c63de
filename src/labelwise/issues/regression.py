"""Find the examples whose numeric target is likely wrong (regression).

Given targets ``y`` (some possibly wrong) and **out-of-sample** predictions ``y_pred``, every
residual ``r = y - y_pred`` is standardised against a robust fit of the residual distribution,
``z = (r - offset) / (scale * u)`` (``u`` the per-example ``uncertainty``, or 1), and tested.

- ``noise="symmetric"``: a wrong target may be too high or too low. ``offset`` is the median
  residual and ``scale`` the normal-consistent median absolute deviation ``MAD / 0.6745``
  (the "modified z-score" of Iglewicz & Hoaglin). The score is the two-sided normal tail
  probability ``2 * Phi(-|z|)``.
- ``noise="lower"``: a wrong target can only be too *low*, as when a sensor records only part
  of the signal (an *incomplete observation*). Following Katsuki & Osogami (ICML 2023), the
  observed target is ``y = f(x) + e_s + e_a`` with ``e_s`` symmetric noise and ``e_a <= 0`` an
  asymmetric corruption present only in the incomplete observations; so the residuals above
  the centre of the clean residuals are uncorrupted. The ``scale`` is measured on that side
  alone (the half-normal median of ``r - offset`` over ``r >= offset``, divided by 0.6745) and
  the ``offset`` is a Tukey biweight location with a narrow window (2 scales), which gives no
  weight to the drops far below and so recovers the centre of the clean residuals even when
  the predictions were learned from corrupted targets and sit too low. The score is the lower
  tail probability ``Phi(z)``: targets above their prediction score above 0.5 and are never
  flagged. ``noise="upper"`` is the mirror image (score ``Phi(-z)``).

Flags control the false discovery rate: the Benjamini-Hochberg step-up rule at level ``fdr``
runs on the scores, which are p-values under the fitted normal residual distribution. The
suggested value of a flagged example is ``y_pred + offset``, the prediction corrected by the
centre of the clean residuals (for ``"lower"`` noise: by how much the model under-predicts
because it learned from incomplete observations).

References
----------
Katsuki & Osogami, "Regression with Sensor Data Containing Incomplete Observations", ICML 2023
(PMLR 202), arXiv:2304.13415. Benjamini & Hochberg, "Controlling the False Discovery Rate",
JRSS B 57 (1995). Iglewicz & Hoaglin, "How to Detect and Handle Outliers" (ASQC, 1993).
Beaton & Tukey, "The Fitting of Power Series ...", Technometrics 16 (1974) (the biweight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import erfc, ndtr

from labelwise._validation import (
    check_bool,
    check_choice,
    check_fraction,
    check_regression,
    check_residual_spread,
)

NOISE_MODELS = ("symmetric", "lower", "upper")

#: Median of |N(0, 1)|: a half-normal's median is this times its scale.
_HALF_NORMAL_MEDIAN = 0.6744897501960817
#: sqrt(pi / 2): a half-normal's scale is this times its mean (the fallback when the median is 0).
_MEAN_TO_SCALE = math.sqrt(math.pi / 2.0)
#: Half-width of the biweight window, in scales. Narrower than the usual 4.685 so that drops a
#: few scales below the centre (common with partial sensor readings) get no weight.
_BIWEIGHT_WINDOW = 2.0
_ROUNDS = 2
_MAX_ITER = 200
_TOL = 1e-6


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class RegressionIssues:
    """Which numeric targets look wrong, how likely each is right, and what to use instead.

    Attributes
    ----------
    is_issue : ndarray of shape (n,), bool
        True for examples whose target is likely wrong.
    score : ndarray of shape (n,), float64
        Target quality in [0, 1] (lower = more likely wrong): the tail probability of the
        standardised residual under the fitted residual distribution (see the module docstring).
    ranking : ndarray of shape (n_issues,), int64
        Indices of the flagged examples, worst first (by score, and by standardised residual
        where scores underflow to the same value); ties keep row order.
    residual : ndarray of shape (n,), float64
        ``y - y_pred`` (positive where the target is above its prediction).
    suggested_value : ndarray of shape (n,), float64
        ``y_pred + offset`` where flagged, the given target elsewhere.
    given_value : ndarray of shape (n,), float64
        The given targets ``y``.
    noise : str
        The noise model: ``"symmetric"``, ``"lower"`` or ``"upper"``.
    offset : float
        Centre of the clean residuals (how far the predictions sit below the clean targets).
    scale : float
        Standard deviation of the clean residuals or, with ``uncertainty``, the factor that
        calibrates it (1.0 when ``calibrate_uncertainty=False``).
    fdr : float
        The false discovery rate the flags were selected at.
    """

    is_issue: np.ndarray
    score: np.ndarray
    ranking: np.ndarray
    residual: np.ndarray
    suggested_value: np.ndarray
    given_value: np.ndarray
    noise: str
    offset: float
    scale: float
    fdr: float

    @property
    def n_issues(self) -> int:
        """Number of flagged examples."""
        return int(self.ranking.size)

    def to_frame(self, *, only_issues: bool = False) -> pd.DataFrame:
        """One row per example (or per flagged example, worst first)."""
        rows = self.ranking if only_issues else np.arange(self.is_issue.size)
        return pd.DataFrame(
            {
                "index": rows,
                "given_value": self.given_value[rows],
                "suggested_value": self.suggested_value[rows],
                "residual": self.residual[rows],
                "label_quality": self.score[rows],
                "is_label_issue": self.is_issue[rows],
            }
        )


@dataclass(frozen=True)
class _ResidualFit:
    """Residuals, their standardised values, the fitted centre and scale, and the scores."""

    residual: np.ndarray
    standardized: np.ndarray
    offset: float
    scale: float
    score: np.ndarray


def _half_normal_scale(deviations: np.ndarray) -> float:
    """Scale of a half-normal sample (median / 0.6745; the mean-based estimate if that is 0)."""
    if deviations.size == 0:
        return 0.0
    scale = float(np.median(deviations)) / _HALF_NORMAL_MEDIAN
    if scale == 0.0:
        scale = float(np.mean(deviations)) * _MEAN_TO_SCALE
    return scale


def _upper_scale(residual: np.ndarray, uncertainty: np.ndarray | None, centre: float) -> float:
    """Half-normal scale of the residuals at or above ``centre`` (the uncorrupted side)."""
    above = residual >= centre
    deviations = residual[above] - centre
    if uncertainty is not None:
        deviations /= uncertainty[above]
    return _half_normal_scale(deviations)


def _fit_symmetric(
    residual: np.ndarray, uncertainty: np.ndarray | None, calibrate: bool
) -> tuple[float, float]:
    centre = float(np.median(residual))
    if not calibrate:
        return centre, 1.0
    deviations = np.abs(residual - centre)
    if uncertainty is not None:
        deviations /= uncertainty
    return centre, _half_normal_scale(deviations)


def _biweight_location(
    residual: np.ndarray, uncertainty: np.ndarray | None, centre: float, width: float
) -> float:
    """Tukey biweight M-estimate of location with a fixed window, starting from ``centre``.

    Solves ``sum_i psi(t_i) / u_i = 0`` with ``t_i = (r_i - c) / (width * u_i)`` and
    ``psi(t) = t (1 - t^2)^2`` for ``|t| < 1`` (0 outside). Newton steps while the slope is
    positive, reweighting steps otherwise; a few passes over the data suffice.
    """
    window = width if uncertainty is None else width * uncertainty
    inverse = None if uncertainty is None else 1.0 / uncertainty
    for _ in range(_MAX_ITER):
        t = residual - centre
        t /= window
        inside = np.abs(t) < 1.0
        t = t[inside]
        t_squared = t * t
        one_minus = 1.0 - t_squared
        weight = one_minus * one_minus  # psi(t) / t
        slope = one_minus * (1.0 - 5.0 * t_squared)  # psi'(t)
        # einsum, not np.dot: the sums stay single-threaded (no BLAS thread wake-ups).
        if inverse is None:
            psi_sum = float(np.einsum("i,i->", weight, t))
            slope_sum = float(slope.sum())
            weight_sum = float(weight.sum())
        else:
            scaled = inverse[inside]
            psi_sum = float(np.einsum("i,i,i->", weight, t, scaled))
            scaled *= scaled
            slope_sum = float(np.einsum("i,i->", slope, scaled))
            weight_sum = float(np.einsum("i,i->", weight, scaled))
        if weight_sum <= 0.0:
            break
        if slope_sum > 0.0:  # Newton
            step = width * psi_sum / slope_sum
        else:  # reweighting: the weighted mean of the residuals in the window
            step = width * psi_sum / weight_sum
        step = float(np.clip(step, -width, width))
        centre += step
        if abs(step) <= _TOL * width:
            break
    return centre


def _fit_lower(
    residual: np.ndarray, uncertainty: np.ndarray | None, calibrate: bool
) -> tuple[float, float]:
    """Centre and scale of the clean residuals when corruptions only ever lower the target.

    Starts from the median; then, twice, takes the half-normal scale of the residuals above
    the centre and moves the centre to the biweight location with a window of
    ``_BIWEIGHT_WINDOW`` such scales; the final scale is measured above the final centre.
    Each biweight runs with its window fixed, so the centre and scale cannot shrink together
    onto a cluster of equal residuals.
    """
    centre = float(np.median(residual))
    scale = _upper_scale(residual, uncertainty, centre) if calibrate else 1.0
    for _ in range(_ROUNDS):
        if scale <= 0.0:
            break
        centre = _biweight_location(residual, uncertainty, centre, _BIWEIGHT_WINDOW * scale)
        if calibrate:
            scale = _upper_scale(residual, uncertainty, centre)
    return centre, scale


def _fit(
    y: np.ndarray,
    y_pred: np.ndarray,
    uncertainty: np.ndarray | None,
    noise: str,
    calibrate: bool,
) -> _ResidualFit:
    residual = y - y_pred
    if noise == "symmetric":
        offset, scale = _fit_symmetric(residual, uncertainty, calibrate)
    elif noise == "lower":
        offset, scale = _fit_lower(residual, uncertainty, calibrate)
    else:  # "upper": the mirror image of "lower"
        centre, scale = _fit_lower(-residual, uncertainty, calibrate)
        offset = 0.0 - centre  # never -0.0
    side = {"symmetric": None, "lower": "above", "upper": "below"}[noise]
    check_residual_spread(scale, residual, centre=offset, side=side)
    standardized = residual - offset
    standardized /= scale if uncertainty is None else scale * uncertainty
    if noise == "symmetric":
        score = erfc(np.abs(standardized) / math.sqrt(2.0))
    elif noise == "lower":
        score = ndtr(standardized)
    else:
        score = ndtr(-standardized)
    return _ResidualFit(residual, standardized, offset, scale, score)


def _benjamini_hochberg(p_values: np.ndarray, fdr: float) -> np.ndarray:
    """Boolean mask of the discoveries of the Benjamini-Hochberg step-up rule at level ``fdr``.

    Only p-values <= ``fdr`` can pass (``p_(k) <= k fdr / n <= fdr``), and they are the
    smallest ones, so only they are sorted.
    """
    n = p_values.size
    candidates = np.sort(p_values[p_values <= fdr])
    ranks = np.arange(1, candidates.size + 1, dtype=np.float64)
    passing = np.flatnonzero(candidates <= ranks * (fdr / n))
    if passing.size == 0:
        return np.zeros(n, dtype=bool)
    return p_values <= candidates[passing[-1]]


def _badness(fit: _ResidualFit, noise: str) -> np.ndarray:
    """A key that sorts worst first like the score, without the score's underflow ties."""
    if noise == "symmetric":
        return -np.abs(fit.standardized)
    return fit.standardized if noise == "lower" else -fit.standardized


def regression_quality_scores(
    y: Any,
    y_pred: Any,
    *,
    noise: str = "symmetric",
    uncertainty: Any = None,
    calibrate_uncertainty: bool = True,
) -> np.ndarray:
    """Score how likely each numeric target is correct, in [0, 1] (lower = more likely wrong).

    Parameters
    ----------
    y : array-like of shape (n,)
        Given targets, finite real numbers.
    y_pred : array-like of shape (n,)
        **Out-of-sample** predictions of ``y`` (e.g. from cross-validation).
    noise : {"symmetric", "lower", "upper"}, default="symmetric"
        Which way wrong targets err: either way, only too low (incomplete observations), or
        only too high. See the module docstring for the fit and the score of each.
    uncertainty : array-like of shape (n,), optional
        Per-example predictive standard deviation (> 0). Residuals are divided by it, so an
        example the model is unsure about needs a larger residual to score low.
    calibrate_uncertainty : bool, default=True
        Multiply ``uncertainty`` by a factor fitted robustly to the residuals, so that only its
        relative values matter. Pass False to take it as calibrated.

    Returns
    -------
    ndarray of shape (n,), float64
        The same scores as ``find_regression_issues(...).score``.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.issues.regression import regression_quality_scores
    >>> y = np.array([1.0, 2.1, 2.9, 4.2, 5.0, 6.1, 6.9, 8.0, 15.0, 10.1])
    >>> y_pred = np.arange(1.0, 11.0)
    >>> scores = regression_quality_scores(y, y_pred)
    >>> int(np.argmin(scores)), bool(scores[8] < 1e-10), bool(scores.min() >= 0)
    (8, True, True)
    """
    check_choice(noise, "noise", NOISE_MODELS)
    calibrate = check_bool(calibrate_uncertainty, "calibrate_uncertainty")
    data = check_regression(y, y_pred, uncertainty)
    return _fit(data.y, data.y_pred, data.uncertainty, noise, calibrate).score


def find_regression_issues(
    y: Any,
    y_pred: Any,
    *,
    noise: str = "symmetric",
    uncertainty: Any = None,
    fdr: float = 0.05,
    calibrate_uncertainty: bool = True,
) -> RegressionIssues:
    """Find examples whose numeric target is likely wrong, at a controlled false discovery rate.

    Parameters
    ----------
    y : array-like of shape (n,)
        Given targets, finite real numbers (int and float dtypes; float32 is widened).
    y_pred : array-like of shape (n,)
        **Out-of-sample** predictions of ``y`` (e.g. ``sklearn.model_selection.
        cross_val_predict``). In-sample predictions have residuals that are too small.
    noise : {"symmetric", "lower", "upper"}, default="symmetric"
        Which way wrong targets err. ``"symmetric"``: either way (typos, swapped units,
        mislabelled rows). ``"lower"``: only too low, as with a sensor that missed part of the
        signal (Katsuki & Osogami, 2023); only targets below their prediction are flagged.
        ``"upper"``: only too high.
    uncertainty : array-like of shape (n,), optional
        Per-example predictive standard deviation (> 0), e.g. from an ensemble or a model of
        the noise. Without it every residual is scaled by one robust spread estimate.
    fdr : float in (0, 1], default=0.05
        Target false discovery rate: the expected fraction of flagged examples whose target is
        in fact fine, when the clean residuals are normal (Benjamini-Hochberg rule on the
        scores). Heavy-tailed clean residuals make more false flags; lower ``fdr`` or pass
        ``uncertainty`` then.
    calibrate_uncertainty : bool, default=True
        Multiply ``uncertainty`` by a factor fitted robustly to the residuals, so that only its
        relative values matter. Pass False to take it as calibrated.

    Returns
    -------
    RegressionIssues

    References
    ----------
    Katsuki & Osogami, "Regression with Sensor Data Containing Incomplete Observations",
    ICML 2023 (PMLR 202). Benjamini & Hochberg, JRSS B 57 (1995).

    Examples
    --------
    One target was typed wrong:

    >>> import numpy as np
    >>> from labelwise.issues.regression import find_regression_issues
    >>> y = np.array([1.0, 2.1, 2.9, 4.2, 5.0, 6.1, 6.9, 8.0, 15.0, 10.1])
    >>> y_pred = np.arange(1.0, 11.0)
    >>> issues = find_regression_issues(y, y_pred)
    >>> issues.ranking
    array([8])
    >>> issues.suggested_value[8].round(2)
    np.float64(9.05)

    A sensor that can only under-read: row 3 captured part of the signal. Row 6 reads high,
    which such a sensor cannot cause: ``noise="lower"`` leaves it alone.

    >>> y = np.array([2.3, 2.8, 4.1, 1.0, 6.4, 6.7, 9.5, 8.9, 10.2, 10.6, 12.0, 13.5])
    >>> y_pred = np.arange(2.0, 14.0)
    >>> find_regression_issues(y, y_pred).ranking
    array([3, 6])
    >>> issues = find_regression_issues(y, y_pred, noise="lower")
    >>> issues.to_frame(only_issues=True).round(2)
       index  given_value  suggested_value  residual  label_quality  is_label_issue
    0      3          1.0             5.05      -4.0            0.0            True
    """
    check_choice(noise, "noise", NOISE_MODELS)
    fdr = check_fraction(fdr, "fdr")
    calibrate = check_bool(calibrate_uncertainty, "calibrate_uncertainty")
    data = check_regression(y, y_pred, uncertainty)
    fit = _fit(data.y, data.y_pred, data.uncertainty, noise, calibrate)
    flagged = _benjamini_hochberg(fit.score, fdr)
    issues = np.flatnonzero(flagged)
    ranking = issues[np.argsort(_badness(fit, noise)[issues], kind="stable")]
    suggested = np.where(flagged, data.y_pred + fit.offset, data.y)
    return RegressionIssues(
        is_issue=_frozen(flagged),
        score=_frozen(fit.score),
        ranking=_frozen(ranking.astype(np.int64)),
        residual=_frozen(fit.residual),
        suggested_value=_frozen(suggested),
        given_value=_frozen(data.y.copy()),
        noise=noise,
        offset=fit.offset,
        scale=fit.scale,
        fdr=fdr,
    )
