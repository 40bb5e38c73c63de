"""Zero-shot prior debiasing of a model's class probabilities, and model labeling functions.

A zero-shot classifier (a prompted language model, an embedding similarity) is often biased
towards some classes by the wording of its prompt or its label words: over unlabeled data, its
probabilities imply a class prior far from the real one. Liusie, Manakul & Gales (2024)
reweight the class probabilities, ``q_ik ∝ w_k p_ik``, with the weights ``w`` for which the
mean of ``q`` over the unlabeled data equals a target prior (uniform when nothing is known),
and report large zero-shot gains from it.

Liusie, A., Manakul, P. & Gales, M. J. F. (2024). Mitigating word bias in zero-shot
prompt-based classifiers. Findings of IJCNLP-AACL 2023. arXiv:2309.04992.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from labelwise._validation import (
    check_bool,
    check_fraction,
    check_int,
    check_positive,
    check_pred_probs,
    fail,
)
from labelwise._validation.weak import check_class_list, check_prior, fail_unreachable_prior
from labelwise.aggregate import ConvergenceWarning
from labelwise.weak._lf import ABSTAIN, LabelingFunction

#: Rows per pass of the float64 accumulations (bounds the temporary memory).
CHUNK_ROWS = 65_536


def _dual(
    probs: np.ndarray, log_w: np.ndarray, *, hessian: bool
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """``(f, m, H)`` of the convex dual ``f(b) = mean_i log(p_i · e^b)``.

    ``m`` is the mean reweighted probability (the gradient of ``f`` plus the prior term) and
    ``H = diag(m) - mean_i q_i q_iᵀ`` its Hessian. Float64, in chunks of rows.
    """
    n, k = probs.shape
    shift = float(log_w.max())
    w = np.exp(log_w - shift)
    total_log = 0.0
    total_q = np.zeros(k)
    outer = np.zeros((k, k)) if hessian else None
    for start in range(0, n, CHUNK_ROWS):
        chunk = probs[start : start + CHUNK_ROWS].astype(np.float64, copy=False)
        weighted = chunk * w
        norm = weighted.sum(axis=1)
        if not (norm > 0).all():  # weights so extreme that some row lost all its mass
            return np.inf, np.full(k, np.nan), None
        q = weighted / norm[:, None]
        total_log += float(np.log(norm).sum())
        total_q += q.sum(axis=0)
        if outer is not None:
            outer += q.T @ q
    mean_q = total_q / n
    value = total_log / n + shift
    return value, mean_q, None if outer is None else np.diag(mean_q) - outer / n


def debias_weights(
    probs: Any, *, prior: Any = None, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Per-class weights that make the mean reweighted probability equal ``prior``.

    Finds ``w`` (scaled so ``max(w) = 1``) with ``mean_i (w ⊙ p_i) / (w · p_i) = prior``: the
    fixed point of iterative proportional fitting ``w_k ← w_k prior_k / mean_k``, reached by
    damped Newton steps on the convex dual ``mean_i log(w · p_i) - prior · log w`` (a few
    passes over the data instead of hundreds).

    Parameters
    ----------
    probs : array-like of shape (n, K)
        Class probabilities of unlabeled examples (rows sum to 1).
    prior : array-like of shape (K,), optional
        Target class shares (positive, sum 1). Default: uniform.
    max_iter : int, default=100
        Most Newton steps; a ``ConvergenceWarning`` says when they were not enough.
    tol : float, default=1e-10
        Stop when every class's mean reweighted probability is within ``tol`` of the prior.

    Returns
    -------
    ndarray of shape (K,)

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.weak import debias_weights
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3]])
    >>> w = debias_weights(probs)
    >>> q = probs * w / (probs @ w)[:, None]
    >>> q.mean(axis=0).round(6).tolist()
    [0.5, 0.5]
    """
    array = check_pred_probs(probs, name="probs")
    k = array.shape[1]
    target = check_prior(prior, k)
    iterations = check_int(max_iter, "max_iter", minimum=1)
    tolerance = check_positive(tol, "tol")
    mass = np.zeros(k)
    for start in range(0, array.shape[0], CHUNK_ROWS):
        mass += array[start : start + CHUNK_ROWS].sum(axis=0, dtype=np.float64)
    if (mass <= 0).any():
        fail_unreachable_prior(np.flatnonzero(mass <= 0))
    log_w = np.zeros(k)
    value, mean_q, hess = _dual(array, log_w, hessian=True)
    steps = 0
    while np.abs(mean_q - target).max() > tolerance and steps < iterations:
        grad = mean_q - target
        assert hess is not None
        # H is singular along the all-ones direction (scaling w changes nothing): add it back.
        step = np.linalg.lstsq(hess + np.full((k, k), 1.0 / k), -grad, rcond=None)[0]
        step -= step.mean()
        slope = float(grad @ step)
        size, accepted = 1.0, False
        for _halving in range(50):  # Armijo backtracking on the dual
            candidate = log_w + size * step
            new_value, new_mean, new_hess = _dual(array, candidate, hessian=True)
            gain = new_value - target @ candidate - (value - target @ log_w)
            # Near the optimum the dual's changes drown in rounding: a smaller gradient is
            # progress too.
            closer = np.abs(new_mean - target).max() < np.abs(grad).max()
            if np.isfinite(new_value) and (gain <= 1e-4 * size * slope or closer):
                accepted = True
                break
            size /= 2.0
        if not accepted:
            break
        log_w, value, mean_q, hess = candidate, new_value, new_mean, new_hess
        steps += 1
    gap = float(np.abs(mean_q - target).max())
    if gap > tolerance:
        warnings.warn(
            f"debias_weights stopped after {steps} Newton step(s) (max_iter={iterations}) with "
            f"the mean reweighted probability {gap:.3g} from the prior (tol={tolerance:g}); the "
            "prior may be unreachable from these probabilities",
            ConvergenceWarning,
            stacklevel=2,
        )
    return np.exp(log_w - log_w.max())


def reweight(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rows of ``probs * weights``, renormalised to sum to 1, in ``probs``' dtype."""
    out = np.empty_like(probs)
    for start in range(0, probs.shape[0], CHUNK_ROWS):
        chunk = probs[start : start + CHUNK_ROWS].astype(np.float64, copy=False) * weights
        out[start : start + CHUNK_ROWS] = chunk / chunk.sum(axis=1, keepdims=True)
    return out


def debias_probs(
    probs: Any, *, prior: Any = None, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Reweight class probabilities so that their mean over the data equals ``prior``.

    The zero-shot debiasing of Liusie et al. (2024): ``q_ik = w_k p_ik / Σ_j w_j p_ij`` with
    the weights of :func:`debias_weights`. When the mean of ``probs`` already equals ``prior``
    the weights are all 1 and ``probs`` come back unchanged.

    Parameters
    ----------
    probs : array-like of shape (n, K)
        Class probabilities of unlabeled examples (rows sum to 1), float32 or float64.
    prior : array-like of shape (K,), optional
        Target class shares. Default: uniform.
    max_iter, tol
        See :func:`debias_weights`.

    Returns
    -------
    ndarray of shape (n, K)
        In the dtype of ``probs`` (float32 stays float32).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.weak import debias_probs
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.45, 0.55]])
    >>> probs.argmax(axis=1).tolist()  # the model almost always says class 0
    [0, 0, 0, 1]
    >>> debiased = debias_probs(probs)
    >>> debiased.mean(axis=0).round(6).tolist(), debiased.argmax(axis=1).tolist()
    ([0.5, 0.5], [0, 1, 0, 1])
    """
    array = check_pred_probs(probs, name="probs")
    weights = debias_weights(array, prior=prior, max_iter=max_iter, tol=tol)
    return reweight(array, weights)


def probs_to_votes(probs: Any, *, threshold: float | None = None) -> np.ndarray:
    """The most probable class of each row, or ``ABSTAIN`` where its probability is too low.

    Parameters
    ----------
    probs : array-like of shape (n, K)
    threshold : float in [0, 1], optional
        Abstain where the largest probability is below it. Default: never abstain.

    Returns
    -------
    ndarray of shape (n,), int64
        Class ids ``0..K-1``, ``ABSTAIN`` (-1) where abstaining.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.weak import probs_to_votes
    >>> probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8]])
    >>> probs_to_votes(probs).tolist(), probs_to_votes(probs, threshold=0.7).tolist()
    ([0, 0, 1], [0, -1, 1])
    """
    array = check_pred_probs(probs, name="probs")
    cut = None if threshold is None else check_fraction(threshold, "threshold", allow_zero=True)
    votes = np.argmax(array, axis=1).astype(np.int64)
    if cut is not None:
        top = np.take_along_axis(array, votes[:, None], axis=1)[:, 0]
        votes[top < cut] = ABSTAIN
    return votes


class ModelLF(LabelingFunction):
    """A vectorized labeling function from a model's class probabilities.

    On each call: ``predict_proba(data)`` gives ``(n, K)`` probabilities; with ``debias`` they
    are reweighted (:func:`debias_probs`) so that their mean over this data equals ``prior``;
    each row then votes its most probable class, or abstains below ``threshold``
    (:func:`probs_to_votes`). Apply it to the unlabeled data as a whole: the debiasing
    weights are estimated from it (they are kept in ``weights_``).

    Parameters
    ----------
    predict_proba : callable
        ``predict_proba(data) -> (n, K)`` probabilities; ``data`` is what the labeling
        function is called with (the DataFrame, under :func:`apply`).
    classes : sequence of length K, optional
        The class each column stands for (the votes). Default: ``0..K-1``.
    debias : bool, default=True
    prior : array-like of shape (K,), optional
        Target class shares for the debiasing. Default: uniform.
    threshold : float in [0, 1], optional
        Abstain where the (debiased) top probability is below it.
    name : str, default="model_lf"

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
        The debiasing weights of the last call (all 1 without ``debias``).

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from labelwise.weak import ModelLF
    >>> def zero_shot(df):  # a biased model: it leans to "neg"
    ...     p_pos = df["score"].to_numpy() * 0.6
    ...     return np.column_stack([1 - p_pos, p_pos])
    >>> lf = ModelLF(zero_shot, classes=["neg", "pos"], threshold=0.55)
    >>> lf(pd.DataFrame({"score": [0.1, 0.9, 1.0, 0.2]})).tolist()
    ['neg', 'pos', 'pos', 'neg']
    """

    def __init__(
        self,
        predict_proba: Callable[[Any], Any],
        *,
        classes: Sequence[Hashable] | None = None,
        debias: bool = True,
        prior: Any = None,
        threshold: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(predict_proba, name=name or "model_lf", vectorized=True)
        self.classes = None if classes is None else check_class_list(classes)
        self.debias = check_bool(debias, "debias")
        if prior is not None and not self.debias:
            fail("prior", "None when debias=False (it is the target of the debiasing)", "a prior")
        self.prior = prior
        if threshold is not None:
            check_fraction(threshold, "threshold", allow_zero=True)
        self.threshold = threshold

    def __call__(self, data: Any) -> np.ndarray:
        probs = check_pred_probs(self.func(data), name="predict_proba")
        k = probs.shape[1]
        if self.classes is not None and len(self.classes) != k:
            fail(
                "classes",
                f"one class per column of predict_proba's output ({k})",
                f"{len(self.classes)} classes",
            )
        if self.debias:
            self.weights_ = debias_weights(probs, prior=self.prior)
            probs = reweight(probs, self.weights_)
        else:
            self.weights_ = np.ones(k)
        votes = probs_to_votes(probs, threshold=self.threshold)
        if self.classes is None:
            return votes
        names = np.empty(k + 1, dtype=object)
        names[:k] = self.classes
        names[k] = ABSTAIN
        return names[votes]
