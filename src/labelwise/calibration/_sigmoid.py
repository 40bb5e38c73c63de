"""Binary and multi-label scaling of independent sigmoid outputs: temperature and Platt.

Each column is a binary problem with logit ``z_k`` and probability ``sigmoid(z_k)``. Temperature
scaling for sigmoid models uses ``sigmoid(z / T)`` (Guo et al., ICML 2017); Platt scaling fits
``sigmoid(a_k z_k + b_k)`` per class (Platt, "Probabilistic Outputs for Support Vector Machines",
1999). Both minimise the binary cross-entropy of held-out 0/1 targets, on logits; probabilities
are accepted when flagged with ``inputs="probs"`` and turned into logits by ``logit(p)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit
from sklearn.base import BaseEstimator

from labelwise._validation import check_bool, fail
from labelwise._validation.trust import check_same_width, check_stage, multilabel_indicator
from labelwise.calibration._common import check_scores, row_chunks, sigmoid_logits, sigmoid_nll
from labelwise.calibration._scaling import _check_bounds


class _SigmoidScaler(BaseEstimator):
    inputs: str

    def _inputs(self, logits: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
        values, kind = check_scores(logits, self.inputs, multilabel=True)
        targets = multilabel_indicator(labels, values.shape[0], values.shape[1])
        return sigmoid_logits(values, kind), targets

    def _map(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def transform(self, logits: Any) -> np.ndarray:
        """Calibrated independent probabilities, one column per class.

        Parameters
        ----------
        logits : array-like of shape (n, K)
            Logits (or probabilities, if fitted with ``inputs="probs"``); K = 1 for binary.

        Returns
        -------
        ndarray of shape (n, K)
            float32 for float32 input, else float64.
        """
        check_stage(hasattr(self, "n_classes_"), self, "fit", "transform")
        values, kind = check_scores(logits, self.inputs, multilabel=True)
        check_same_width(values, self.n_classes_, "logits", "fit")
        out = np.empty(values.shape, dtype=values.dtype)
        for rows in row_chunks(*values.shape):
            out[rows] = expit(self._map(sigmoid_logits(values[rows], kind)))
        return out

    def fit_transform(self, logits: Any, labels: Any) -> np.ndarray:
        """``fit(logits, labels).transform(logits)``."""
        return self.fit(logits, labels).transform(logits)

    def fit(self, logits: Any, labels: Any) -> _SigmoidScaler:  # pragma: no cover - abstract
        raise NotImplementedError


class SigmoidTemperatureScaling(_SigmoidScaler):
    """Temperature scaling of sigmoid outputs: ``sigmoid(z / T)`` (binary or multi-label).

    One temperature shared by every class, or one per class with ``per_class=True``; each is a
    bounded one-dimensional search over ``log T`` minimising the binary cross-entropy (the
    sigmoid form of Guo et al., ICML 2017).

    Parameters
    ----------
    inputs : {"logits", "probs"}, default="logits"
    per_class : bool, default=False
    bounds : (float, float), default=(0.01, 100.0)

    Attributes
    ----------
    temperature_ : ndarray of shape (K,)
        One value per class (all equal unless ``per_class``).
    n_classes_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.calibration import SigmoidTemperatureScaling
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random((400, 4)) < 0.3
    >>> logits = 4.0 * (rng.normal(size=(400, 4)) + np.where(y, 1.0, -1.0))  # over-confident
    >>> scaler = SigmoidTemperatureScaling().fit(logits, y)
    >>> bool(scaler.temperature_[0] > 1.0), scaler.transform(logits).shape
    (True, (400, 4))
    """

    def __init__(
        self,
        *,
        inputs: str = "logits",
        per_class: bool = False,
        bounds: tuple[float, float] = (0.01, 100.0),
    ) -> None:
        self.inputs = inputs
        self.per_class = per_class
        self.bounds = bounds

    def fit(self, logits: Any, labels: Any) -> SigmoidTemperatureScaling:
        """Fit on held-out ``logits`` (n, K) and a 0/1 indicator matrix ``labels`` (n, K)."""
        per_class = check_bool(self.per_class, "per_class")
        low, high = _check_bounds(self.bounds)
        z, targets = self._inputs(logits, labels)
        n, k = z.shape
        columns = [np.arange(k)] if not per_class else [np.array([j]) for j in range(k)]
        temperature = np.empty(k)
        for cols in columns:  # one 1-D search per class (or one for all): a loop over classes
            zc, yc = z[:, cols], targets[:, cols]

            def bce(log_t: float, zc: np.ndarray = zc, yc: np.ndarray = yc) -> float:
                return float(sigmoid_nll(zc * np.exp(-log_t), yc).sum()) / n

            result = minimize_scalar(
                bce, bounds=(np.log(low), np.log(high)), method="bounded", options={"xatol": 1e-8}
            )
            temperature[cols] = np.exp(result.x)
        self.temperature_ = temperature
        self.n_classes_ = k
        return self

    def _map(self, z: np.ndarray) -> np.ndarray:
        return z / self.temperature_


class PlattScaling(_SigmoidScaler):
    """Platt scaling per class: ``sigmoid(a_k z_k + b_k)`` (binary or multi-label).

    The 2K parameters are fitted jointly by L-BFGS on the summed per-class binary
    cross-entropy (which separates over classes), starting from ``a = 1, b = 0`` (Platt, 1999,
    without his target smoothing).

    Parameters
    ----------
    inputs : {"logits", "probs"}, default="logits"
    max_iter : int, default=500

    Attributes
    ----------
    coef_ : ndarray of shape (K,)
    intercept_ : ndarray of shape (K,)
    n_classes_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.calibration import PlattScaling
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random((400, 2)) < 0.3
    >>> logits = rng.normal(size=(400, 2)) + np.where(y, 1.0, -1.0) + 2.0  # biased upwards
    >>> bool(PlattScaling().fit(logits, y).intercept_[0] < 0)
    True
    """

    def __init__(self, *, inputs: str = "logits", max_iter: int = 500) -> None:
        self.inputs = inputs
        self.max_iter = max_iter

    def fit(self, logits: Any, labels: Any) -> PlattScaling:
        """Fit on held-out ``logits`` (n, K) and a 0/1 indicator matrix ``labels`` (n, K)."""
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int | np.integer):
            fail("max_iter", "an integer >= 1", repr(self.max_iter), kind=TypeError)
        if self.max_iter < 1:
            fail("max_iter", "an integer >= 1", repr(self.max_iter))
        z, targets = self._inputs(logits, labels)
        n, k = z.shape
        y = targets.astype(np.float64)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            a, b = theta[:k], theta[k:]
            total = 0.0
            grad_a = np.zeros(k)
            grad_b = np.zeros(k)
            for rows in row_chunks(n, k):
                s = z[rows] * a + b
                total += float(sigmoid_nll(s, targets[rows]).sum())
                g = expit(s) - y[rows]
                grad_a += (g * z[rows]).sum(axis=0)
                grad_b += g.sum(axis=0)
            return total / n, np.concatenate([grad_a, grad_b]) / n

        start = np.concatenate([np.ones(k), np.zeros(k)])
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": int(self.max_iter), "gtol": 1e-10},
        )
        self.coef_ = result.x[:k].copy()
        self.intercept_ = result.x[k:].copy()
        self.n_classes_ = k
        return self

    def _map(self, z: np.ndarray) -> np.ndarray:
        return z * self.coef_ + self.intercept_
