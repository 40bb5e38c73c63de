"""Multi-class post-hoc scaling of logits: temperature, vector and matrix scaling.

All three learn a map of the logits on held-out labelled data by minimising the negative
log-likelihood (Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks",
ICML 2017), then apply ``softmax(map(z))``. They take **logits**; probabilities are accepted only
when flagged with ``inputs="probs"``, and then ``log p`` serves as the logits (exact for softmax
outputs, which are shift-invariant), never an inversion of the top confidence alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from sklearn.base import BaseEstimator

from labelwise._validation import check_labels, check_positive, fail
from labelwise._validation.trust import check_same_width, check_stage
from labelwise.calibration._common import (
    check_scores,
    row_chunks,
    softmax_logits,
    softmax_nll,
    softmax_rows,
)


def _check_bounds(bounds: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in bounds)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        fail("bounds", "a pair (low, high) of temperatures", repr(bounds), kind=TypeError)
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low < high):
        fail("bounds", "two finite temperatures with 0 < low < high", repr(bounds))
    return low, high


class _SoftmaxScaler(BaseEstimator):
    """Shared fit/transform plumbing; subclasses define the map and its optimiser."""

    inputs: str

    def _inputs(self, logits: object, labels: object) -> tuple[np.ndarray, np.ndarray, str]:
        values, kind = check_scores(logits, self.inputs, multilabel=False)
        encoded = check_labels(labels, n_classes=values.shape[1], n_examples=values.shape[0])
        return values, encoded.labels, kind

    def _chunks(self, values: np.ndarray, kind: str) -> list[tuple[slice, np.ndarray]]:
        """float64 logits per row chunk (held for the optimiser's repeated passes)."""
        return [(rows, softmax_logits(values[rows], kind)) for rows in row_chunks(*values.shape)]

    def _map(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def transform(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities ``softmax(map(logits))``.

        Parameters
        ----------
        logits : array-like of shape (n, K)
            Logits (or probabilities, if fitted with ``inputs="probs"``).

        Returns
        -------
        ndarray of shape (n, K)
            Rows summing to one; float32 for float32 input, else float64.
        """
        check_stage(hasattr(self, "n_classes_"), self, "fit", "transform")
        values, kind = check_scores(logits, self.inputs, multilabel=False)
        check_same_width(values, self.n_classes_, "logits", "fit")
        out = np.empty(values.shape, dtype=values.dtype)
        for rows in row_chunks(*values.shape):
            out[rows] = softmax_rows(self._map(softmax_logits(values[rows], kind)))
        return out

    def fit_transform(self, logits: Any, labels: Any) -> np.ndarray:
        """``fit(logits, labels).transform(logits)``."""
        return self.fit(logits, labels).transform(logits)

    def fit(self, logits: Any, labels: Any) -> _SoftmaxScaler:  # pragma: no cover - abstract
        raise NotImplementedError


class TemperatureScaling(_SoftmaxScaler):
    """Temperature scaling: ``softmax(z / T)`` with one temperature fitted by likelihood.

    The temperature minimises the negative log-likelihood of held-out labels (Guo et al.,
    ICML 2017). The search is a bounded one-dimensional minimisation over ``log T``
    (:func:`scipy.optimize.minimize_scalar`, ``method="bounded"``); the objective is convex in
    ``1/T``, so the minimum found is the global one within ``bounds``.

    Parameters
    ----------
    inputs : {"logits", "probs"}, default="logits"
        What ``fit`` and ``transform`` receive. ``"probs"``: rows of probabilities whose logs
        are used as logits (exact for softmax outputs; zeros are clipped to the smallest float).
    bounds : (float, float), default=(0.01, 100.0)
        Range searched for ``T``.

    Attributes
    ----------
    temperature_ : float
    n_classes_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.calibration import TemperatureScaling
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 500)
    >>> logits = 3.0 * (rng.normal(size=(500, 3)) + 2.0 * np.eye(3)[labels])  # over-confident
    >>> ts = TemperatureScaling().fit(logits, labels)
    >>> bool(ts.temperature_ > 1.0)
    True
    >>> ts.transform(logits).shape
    (500, 3)
    """

    def __init__(
        self, *, inputs: str = "logits", bounds: tuple[float, float] = (0.01, 100.0)
    ) -> None:
        self.inputs = inputs
        self.bounds = bounds

    def fit(self, logits: Any, labels: Any) -> TemperatureScaling:
        """Fit the temperature on held-out ``logits`` (n, K) and integer ``labels`` (n,)."""
        low, high = _check_bounds(self.bounds)
        values, y, kind = self._inputs(logits, labels)
        chunks = self._chunks(values, kind)
        n = values.shape[0]

        def nll(log_t: float) -> float:
            beta = np.exp(-log_t)
            return sum(softmax_nll(beta * z, y[rows]) for rows, z in chunks) / n

        result = minimize_scalar(
            nll, bounds=(np.log(low), np.log(high)), method="bounded", options={"xatol": 1e-8}
        )
        self.temperature_ = float(np.exp(result.x))
        self.n_classes_ = values.shape[1]
        return self

    def _map(self, z: np.ndarray) -> np.ndarray:
        return z / self.temperature_


class _AffineScaler(_SoftmaxScaler):
    """``softmax(z W + b)`` fitted by L-BFGS on the mean NLL plus an optional L2 penalty."""

    reg: float
    max_iter: int

    def _unpack(self, theta: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _affine(self, z: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _weight_grad(self, z: np.ndarray, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _identity(self, k: int) -> np.ndarray:
        raise NotImplementedError

    def fit(self, logits: Any, labels: Any) -> _AffineScaler:
        """Fit the map on held-out ``logits`` (n, K) and integer ``labels`` (n,)."""
        reg = check_positive(self.reg, "reg", allow_zero=True)
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int | np.integer):
            fail("max_iter", "an integer >= 1", repr(self.max_iter), kind=TypeError)
        if self.max_iter < 1:
            fail("max_iter", "an integer >= 1", repr(self.max_iter))
        values, y, kind = self._inputs(logits, labels)
        chunks = self._chunks(values, kind)
        n, k = values.shape
        identity = self._identity(k)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            weights, bias = self._unpack(theta, k)
            total = 0.0
            grad_w = np.zeros_like(weights)
            grad_b = np.zeros(k)
            for rows, z in chunks:
                a = self._affine(z, weights, bias)
                total += softmax_nll(a, y[rows])
                g = softmax_rows(a)
                g[np.arange(g.shape[0]), y[rows]] -= 1.0
                grad_w += self._weight_grad(z, g)
                grad_b += g.sum(axis=0)
            value = total / n + reg * (np.sum((weights - identity) ** 2) + np.sum(bias**2))
            grad_w = grad_w / n + 2 * reg * (weights - identity)
            grad_b = grad_b / n + 2 * reg * bias
            return value, np.concatenate([grad_w.ravel(), grad_b])

        start = np.concatenate([identity.ravel(), np.zeros(k)])
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": int(self.max_iter), "gtol": 1e-8},
        )
        self.weights_, self.bias_ = self._unpack(result.x, k)
        self.n_iter_ = int(result.nit)
        self.converged_ = bool(result.success)
        self.n_classes_ = k
        return self

    def _map(self, z: np.ndarray) -> np.ndarray:
        return self._affine(z, self.weights_, self.bias_)


class VectorScaling(_AffineScaler):
    """Vector scaling: ``softmax(z * w + b)`` with a weight and a bias per class.

    Fitted by L-BFGS on the negative log-likelihood (Guo et al., ICML 2017, section 4.2),
    starting from the identity map.

    Parameters
    ----------
    inputs : {"logits", "probs"}, default="logits"
    reg : float, default=0.0
        L2 penalty on ``w - 1`` and ``b`` (added to the mean NLL).
    max_iter : int, default=500

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    bias_ : ndarray of shape (K,)
    n_iter_ : int
    converged_ : bool
    n_classes_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.calibration import VectorScaling
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 500)
    >>> logits = rng.normal(size=(500, 3)) + 2.0 * np.eye(3)[labels] + [1.0, 0.0, 0.0]
    >>> VectorScaling().fit(logits, labels).transform(logits).sum(axis=1)[:2]
    array([1., 1.])
    """

    def __init__(self, *, inputs: str = "logits", reg: float = 0.0, max_iter: int = 500) -> None:
        self.inputs = inputs
        self.reg = reg
        self.max_iter = max_iter

    def _unpack(self, theta: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return theta[:k].copy(), theta[k:].copy()

    def _affine(self, z: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        return z * weights + bias

    def _weight_grad(self, z: np.ndarray, g: np.ndarray) -> np.ndarray:
        return (z * g).sum(axis=0)

    def _identity(self, k: int) -> np.ndarray:
        return np.ones(k)


class MatrixScaling(_AffineScaler):
    """Matrix scaling: ``softmax(z W + b)`` with a full K x K matrix.

    Fitted by L-BFGS on the negative log-likelihood (Guo et al., ICML 2017, section 4.2),
    starting from the identity. With many classes and few held-out examples it overfits; ``reg``
    shrinks ``W`` towards the identity and ``b`` towards zero.

    Parameters
    ----------
    inputs : {"logits", "probs"}, default="logits"
    reg : float, default=0.0
        L2 penalty on ``W - I`` and ``b`` (added to the mean NLL).
    max_iter : int, default=500

    Attributes
    ----------
    weights_ : ndarray of shape (K, K)
    bias_ : ndarray of shape (K,)
    n_iter_ : int
    converged_ : bool
    n_classes_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.calibration import MatrixScaling
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 500)
    >>> logits = rng.normal(size=(500, 3)) + 2.0 * np.eye(3)[labels]
    >>> MatrixScaling(reg=1e-3).fit(logits, labels).weights_.shape
    (3, 3)
    """

    def __init__(self, *, inputs: str = "logits", reg: float = 0.0, max_iter: int = 500) -> None:
        self.inputs = inputs
        self.reg = reg
        self.max_iter = max_iter

    def _unpack(self, theta: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return theta[: k * k].reshape(k, k).copy(), theta[k * k :].copy()

    def _affine(self, z: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        return z @ weights + bias

    def _weight_grad(self, z: np.ndarray, g: np.ndarray) -> np.ndarray:
        return z.T @ g

    def _identity(self, k: int) -> np.ndarray:
        return np.eye(k)


__all__ = ["MatrixScaling", "TemperatureScaling", "VectorScaling"]
