"""Dawid-Skene EM with full per-source confusion matrices, and its one-coin special case.

Both steps are one sparse product each with the same (sources x labels) x items count matrix
``W`` (``W[(s, l), i]`` = how often source ``s`` said ``l`` about item ``i``):

- M-step: ``counts[s, k, l] = sum_i W[(s, l), i] * T[i, k]``, i.e. ``W @ T``;
- E-step: ``log T[i, k] = log prior[k] + sum_(s, l) W[(s, l), i] * log C[s, k, l]``, i.e.
  ``W.T @ log C``, then a row-wise log-sum-exp normalisation.

No Python loop over items or annotations; memory beyond the annotations is
``n_sources * K * K`` floats.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import logsumexp

from labelwise._validation import check_int, check_positive
from labelwise.aggregate._base import BaseAggregator, ConvergenceWarning, vote_shares
from labelwise.aggregate.majority_vote import check_no_pred_probs
from labelwise.annotations import Annotations

#: Probabilities are clipped here before taking logs (a class nobody chose has prior 0).
_FLOOR = 1e-10


def _count_matrix(annotations: Annotations) -> sparse.csr_matrix:
    """(n_sources * K, n_items) counts ``W[(s, l), i]``; repeated pairs add up."""
    k = annotations.n_classes
    rows = annotations.source * k + annotations.label
    data = np.ones(annotations.n_annotations)
    return sparse.csr_matrix(
        (data, (rows, annotations.item)), shape=(annotations.n_sources * k, annotations.n_items)
    )


class DawidSkene(BaseAggregator):
    """Dawid-Skene: a full confusion matrix per source, fitted by EM in log space.

    Each source ``s`` answers ``l`` on an item of true class ``k`` with probability
    ``C[s, k, l]``; true classes follow ``priors_``. EM starts from the majority-vote shares
    (an M-step on them), then alternates E-steps (posterior of each item's class) and M-steps
    (``C`` = expected answer counts per true class plus ``smoothing``, row-normalised;
    ``priors_`` = mean posterior over labelled items) until the log-likelihood per annotation
    changes by less than ``tol``. Items nobody labelled get ``priors_``. A source that never
    answered keeps uniform rows and a NaN ``source_quality_``.

    Dawid, A. P. & Skene, A. M. (1979). Maximum likelihood estimation of observer error-rates
    using the EM algorithm. Journal of the Royal Statistical Society C, 28(1), 20-28.

    Parameters
    ----------
    max_iter : int, default=100
        Most EM iterations; a ``ConvergenceWarning`` when reached before ``tol``.
    tol : float, default=1e-5
        Stop when the mean log-likelihood per annotation changes by less than this.
    smoothing : float, default=0.01
        Pseudo-count added to every cell of every confusion count matrix (a Dirichlet prior);
        keeps rows of classes a source never saw defined. 0 for plain maximum likelihood.
    random_state : int, numpy Generator or None, default=None
        Unused (the initialisation is deterministic); kept for a uniform interface.

    Attributes
    ----------
    labels_ : ndarray of shape (n_items,)
    probas_ : ndarray of shape (n_items, K)
        Posterior class probabilities.
    confusions_ : ndarray of shape (n_sources, K, K)
        ``confusions_[s, k, l]`` = P(source ``s`` answers ``l`` | true class ``k``); rows sum to 1.
    priors_ : ndarray of shape (K,)
    source_quality_ : ndarray of shape (n_sources,)
        Expected accuracy under the priors: ``sum_k priors_[k] * confusions_[s, k, k]``.
    log_likelihood_ : float
        Mean log-likelihood per annotation at the last E-step.
    n_iter_ : int

    Examples
    --------
    >>> from labelwise.aggregate import DawidSkene
    >>> from labelwise.simulate import simulate_annotations
    >>> sim = simulate_annotations(500, 10, 3, confusion="full", random_state=0)
    >>> ds = DawidSkene().fit(sim.annotations)
    >>> bool((ds.labels_ == sim.true_labels).mean() > 0.95)
    True
    >>> ds.confusions_.shape
    (10, 3, 3)
    """

    def __init__(
        self,
        *,
        max_iter: int = 100,
        tol: float = 1e-5,
        smoothing: float = 0.01,
        random_state: Any = None,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.random_state = random_state

    # One M-step: posteriors -> log confusions (n_sources, K, K). OneCoin overrides it.
    def _log_confusions(
        self, counts: np.ndarray, n_per_source: np.ndarray, smoothing: float
    ) -> np.ndarray:
        smoothed = counts + smoothing
        totals = smoothed.sum(axis=2, keepdims=True)
        k = counts.shape[1]
        uniform = np.full_like(smoothed, 1.0 / k)
        confusions = np.divide(smoothed, totals, out=uniform, where=totals > 0)
        return np.log(np.maximum(confusions, _FLOOR))

    def _fit(self, annotations: Annotations, pred_probs: np.ndarray | None) -> None:
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        tol = check_positive(self.tol, "tol", allow_zero=True)
        smoothing = check_positive(self.smoothing, "smoothing", allow_zero=True)
        check_no_pred_probs(pred_probs, type(self).__name__)
        n_sources, k = annotations.n_sources, annotations.n_classes
        w = _count_matrix(annotations)
        w_t = w.T.tocsr()
        labelled = annotations.item_counts() > 0
        n_per_source = annotations.source_counts()

        def m_step(posteriors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # counts[s, k, l]: W @ T is (s, l) x k.
            counts = np.asarray(w @ posteriors).reshape(n_sources, k, k).transpose(0, 2, 1)
            priors = posteriors[labelled].mean(axis=0)
            return self._log_confusions(counts, n_per_source, smoothing), priors

        posteriors = vote_shares(annotations)
        log_conf, priors = m_step(posteriors)
        previous = -np.inf
        converged = False
        done = 0
        log_likelihood = -np.inf
        for done in range(1, max_iter + 1):  # noqa: B007 - EM iterations, not items
            # E-step: log prior + sum of the item's log C[s, :, l]  (W.T @ logC as (s, l) x k).
            flat = log_conf.transpose(0, 2, 1).reshape(n_sources * k, k)
            joint = np.asarray(w_t @ flat) + np.log(np.maximum(priors, _FLOOR))
            norm = logsumexp(joint, axis=1, keepdims=True)
            posteriors = np.exp(joint - norm)
            log_likelihood = float(norm[labelled].sum()) / annotations.n_annotations
            log_conf, priors = m_step(posteriors)
            if abs(log_likelihood - previous) < tol:
                converged = True
                break
            previous = log_likelihood
        if not converged:
            warnings.warn(
                f"{type(self).__name__}: EM stopped at max_iter={max_iter} before the "
                f"log-likelihood changed by less than tol={tol}; raise `max_iter`.",
                ConvergenceWarning,
                stacklevel=3,
            )
        confusions = np.exp(log_conf)
        confusions /= confusions.sum(axis=2, keepdims=True)
        accuracy = np.einsum("k,skk->s", priors, confusions)
        self.probas_ = posteriors
        self.confusions_ = confusions
        self.priors_ = priors
        self.source_quality_ = np.where(n_per_source > 0, accuracy, np.nan)
        self.log_likelihood_ = log_likelihood
        self.n_iter_ = done


class OneCoinDawidSkene(DawidSkene):
    """Dawid-Skene with one accuracy per source ("one coin"); errors uniform over other classes.

    ``confusions_[s]`` has ``a_s`` on the diagonal and ``(1 - a_s) / (K - 1)`` elsewhere, where
    the M-step sets ``a_s = (expected correct answers + smoothing) / (answers + K * smoothing)``
    (clipped to [1e-10, 1 - 1e-10]). Everything else is as in :class:`DawidSkene`; a source
    that never answered gets ``a_s = 1/K`` and a NaN ``source_quality_`` (which is ``a_s``).

    Dawid & Skene (1979), with the symmetric ("one-coin") error model of e.g. Zhang, Chen,
    Zhou & Jordan (2014), Spectral methods meet EM, NeurIPS.

    Examples
    --------
    >>> from labelwise.aggregate import OneCoinDawidSkene
    >>> from labelwise.simulate import simulate_annotations
    >>> sim = simulate_annotations(500, 10, 3, random_state=0)
    >>> oc = OneCoinDawidSkene().fit(sim.annotations)
    >>> bool((oc.labels_ == sim.true_labels).mean() > 0.95)
    True
    >>> bool(abs(oc.source_quality_ - sim.confusions[:, 0, 0]).max() < 0.15)
    True
    """

    def _log_confusions(
        self, counts: np.ndarray, n_per_source: np.ndarray, smoothing: float
    ) -> np.ndarray:
        k = counts.shape[1]
        correct = np.trace(counts, axis1=1, axis2=2)
        denominator = n_per_source + k * smoothing
        accuracy = np.divide(
            correct + smoothing,
            denominator,
            out=np.full(correct.shape, 1.0 / k),
            where=denominator > 0,
        )
        accuracy = np.clip(accuracy, _FLOOR, 1.0 - _FLOOR)
        off = np.log((1.0 - accuracy) / (k - 1))
        log_conf = np.broadcast_to(off[:, None, None], counts.shape).copy()
        diagonal = np.arange(k)
        log_conf[:, diagonal, diagonal] = np.log(accuracy)[:, None]
        return log_conf
