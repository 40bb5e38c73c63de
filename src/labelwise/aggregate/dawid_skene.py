"""Dawid-Skene EM with full per-source confusion matrices, and its one-coin special case.

The annotations are grouped by item once; each EM step is then one compiled pass over them
(:mod:`labelwise.aggregate._kernels`):

- E-step: ``log T[i, k] = log prior[k] + sum over the item's answers (s, l) of log C[s, k, l]``,
  then a row-wise log-sum-exp normalisation, in parallel over items;
- M-step: ``counts[s, k, l] = sum of T[i, k]`` over the items where ``s`` answered ``l``, plus
  the Dirichlet pseudo-counts, row-normalised.

No Python loop over items or annotations; memory beyond the annotations is
``n_sources * K * K`` floats per thread.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from labelwise._validation import check_int, check_positive, fail
from labelwise.aggregate._base import BaseAggregator, ConvergenceWarning
from labelwise.aggregate._em_kernels import em_step, em_vote_share_counts
from labelwise.aggregate._kernels import (
    answer_codes,
    count_nonempty_groups,
    n_chunks_for,
)
from labelwise.aggregate.majority_vote import check_no_pred_probs
from labelwise.annotations import Annotations

#: Probabilities are clipped here before taking logs (a class nobody chose has prior 0).
_FLOOR = 1e-10


def _prior_pseudo_counts(k: int, strength: float, accuracy: float, smoothing: float) -> np.ndarray:
    """(K, K) Dirichlet pseudo-counts added to each source's expected confusion counts:
    ``strength`` answers per true class spread as a source of the given ``accuracy`` with
    uniform errors, plus ``smoothing`` in every cell."""
    off = (1.0 - accuracy) / (k - 1) if k > 1 else 0.0
    pseudo = np.full((k, k), strength * off + smoothing)
    np.fill_diagonal(pseudo, strength * accuracy + smoothing)
    return pseudo


class DawidSkene(BaseAggregator):
    """Dawid-Skene: a full confusion matrix per source, fitted by EM in log space.

    Each source ``s`` answers ``l`` on an item of true class ``k`` with probability
    ``C[s, k, l]``; true classes follow ``priors_``. EM starts from the majority-vote shares
    (an M-step on them), then alternates E-steps (posterior of each item's class) and M-steps
    until the log-likelihood per annotation changes by less than ``tol``. The M-step is the
    maximum a posteriori one under a Dirichlet prior on each confusion row: ``C[s, k, :]`` =
    expected answer counts of ``s`` on class-``k`` items plus pseudo-counts, row-normalised;
    ``priors_`` = mean posterior over labelled items. Items nobody labelled get ``priors_``. A
    source that never answered keeps the prior's rows and a NaN ``source_quality_``.

    Why a prior by default: plain maximum likelihood gives a source that answered a handful of
    items a confusion matrix fitted to those few answers, and on sparse real crowds EM then
    converges to worse consensus than it started from (on the 20 real datasets of
    ``benchmarks/aggregation.py`` the default prior raises mean accuracy from 82.5 to 83.3;
    ``docs/aggregate.md``). The default prior is weak: two pseudo-answers per true class, as
    from a 90%-accurate source with uniform errors. ``prior_strength=0`` gives the
    maximum-likelihood estimate of the paper (with ``smoothing`` only).

    Dawid, A. P. & Skene, A. M. (1979). Maximum likelihood estimation of observer error-rates
    using the EM algorithm. Journal of the Royal Statistical Society C, 28(1), 20-28.
    Dirichlet priors on the confusion rows: Paun, S. et al. (2018). Comparing Bayesian models
    of annotation. TACL 6, 571-585.

    Parameters
    ----------
    max_iter : int, default=100
        Most EM iterations; a ``ConvergenceWarning`` when reached before ``tol``.
    tol : float, default=1e-5
        Stop when the mean log-likelihood per annotation changes by less than this.
    prior_strength : float, default=2.0
        Pseudo-answers per true class in each source's confusion row (0: no prior).
    prior_accuracy : float, default=0.9
        Share of those pseudo-answers on the diagonal (in [0, 1]); the rest is spread evenly.
    smoothing : float, default=0.01
        Extra pseudo-count in every cell, so no probability is exactly 0.
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
        Mean log-likelihood per annotation at the last E-step (without the prior's term).
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
        prior_strength: float = 2.0,
        prior_accuracy: float = 0.9,
        smoothing: float = 0.01,
        random_state: Any = None,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.prior_strength = prior_strength
        self.prior_accuracy = prior_accuracy
        self.smoothing = smoothing
        self.random_state = random_state

    # One M-step: expected counts (n_sources, K true, K answered) -> log confusions of the
    # same shape. OneCoin overrides it.
    def _log_confusions(self, counts: np.ndarray, pseudo: np.ndarray) -> np.ndarray:
        smoothed = counts + pseudo
        totals = smoothed.sum(axis=2, keepdims=True)
        k = counts.shape[1]
        uniform = np.full_like(smoothed, 1.0 / k)
        confusions = np.divide(smoothed, totals, out=uniform, where=totals > 0)
        return np.log(np.maximum(confusions, _FLOOR))

    def _pseudo_counts(self, k: int) -> np.ndarray:
        strength = check_positive(self.prior_strength, "prior_strength", allow_zero=True)
        accuracy = check_positive(self.prior_accuracy, "prior_accuracy", allow_zero=True)
        if accuracy > 1:
            fail("prior_accuracy", "a share in [0, 1]", repr(self.prior_accuracy))
        smoothing = check_positive(self.smoothing, "smoothing", allow_zero=True)
        return _prior_pseudo_counts(k, strength, accuracy, smoothing)

    def _fit(self, annotations: Annotations, pred_probs: np.ndarray | None) -> None:
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        tol = check_positive(self.tol, "tol", allow_zero=True)
        check_no_pred_probs(pred_probs, type(self).__name__)
        n_sources, k = annotations.n_sources, annotations.n_classes
        pseudo = self._pseudo_counts(k)
        indptr, order = annotations.item_groups()
        answer = answer_codes(annotations.source, annotations.label, k)
        if order is not None:
            answer = answer[order]
        n_labelled = count_nonempty_groups(indptr)  # >= 1: there is an annotation
        chunks = n_chunks_for(annotations.n_annotations)

        # EM starts from an M-step on each item's vote shares.
        counts, class_totals, answered = em_vote_share_counts(
            indptr, answer, n_sources * k, k, chunks
        )
        source_counts = answered.reshape(n_sources, k).sum(axis=1)
        log_conf, priors = self._m_step(counts, class_totals, n_labelled, pseudo)
        posteriors = np.empty((annotations.n_items, k))  # rewritten by every E-step
        previous = -np.inf
        converged = False
        done = 0
        log_likelihood = -np.inf
        for done in range(1, max_iter + 1):  # noqa: B007 - EM iterations, not items
            # E-step into ``posteriors`` and the M-step's counts, in one compiled pass.
            answer_major = np.ascontiguousarray(log_conf.transpose(0, 2, 1)).reshape(-1, k)
            log_prior = np.log(np.maximum(priors, _FLOOR))
            counts, class_totals, evidence = em_step(
                indptr, answer, answer_major, log_prior, posteriors, n_sources * k, chunks
            )
            log_conf, priors = self._m_step(counts, class_totals, n_labelled, pseudo)
            log_likelihood = evidence / annotations.n_annotations
            if abs(log_likelihood - previous) < tol:
                converged = True
                break
            previous = log_likelihood
        if not converged:
            self._warn_not_converged(max_iter, tol, stacklevel=4)
        self._set_fitted(posteriors, log_conf, priors, source_counts, log_likelihood, done)

    def _m_step(
        self, counts: np.ndarray, class_totals: np.ndarray, n_labelled: int, pseudo: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log confusions and priors from the expected answer counts ``counts[s * K + l, k]``
        and the class totals, summed over all items (or over partitions of them)."""
        k = class_totals.size
        # counts rows are (source, answered), columns true: make it (source, true, answered).
        by_source = counts.reshape(-1, k, k).transpose(0, 2, 1)
        return self._log_confusions(by_source, pseudo), class_totals / n_labelled

    def _warn_not_converged(self, max_iter: int, tol: float, *, stacklevel: int) -> None:
        warnings.warn(
            f"{type(self).__name__}: EM stopped at max_iter={max_iter} before the "
            f"log-likelihood changed by less than tol={tol}; raise `max_iter`.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )

    def _set_fitted(
        self,
        posteriors: np.ndarray,
        log_conf: np.ndarray,
        priors: np.ndarray,
        source_counts: np.ndarray,
        log_likelihood: float,
        n_iter: int,
    ) -> None:
        confusions = np.exp(log_conf)
        confusions /= confusions.sum(axis=2, keepdims=True)
        accuracy = np.einsum("k,skk->s", priors, confusions)
        self.probas_ = posteriors
        self.confusions_ = confusions
        self.priors_ = priors
        self.source_quality_ = np.where(source_counts > 0, accuracy, np.nan)
        self.log_likelihood_ = log_likelihood
        self.n_iter_ = n_iter


class OneCoinDawidSkene(DawidSkene):
    """Dawid-Skene with one accuracy per source ("one coin"); errors uniform over other classes.

    ``confusions_[s]`` has ``a_s`` on the diagonal and ``(1 - a_s) / (K - 1)`` elsewhere, where
    the M-step sets ``a_s = (expected correct answers + c) / (answers + t)`` with ``c`` and
    ``t`` the diagonal and total of the same Dirichlet pseudo-counts as :class:`DawidSkene`
    (a Beta prior on ``a_s``; clipped to [1e-10, 1 - 1e-10]). Everything else is as in
    :class:`DawidSkene`; a source that never answered gets the prior's mean accuracy and a NaN
    ``source_quality_`` (otherwise ``a_s``).

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

    def _log_confusions(self, counts: np.ndarray, pseudo: np.ndarray) -> np.ndarray:
        k = counts.shape[1]
        correct = np.trace(counts, axis1=1, axis2=2) + np.trace(pseudo)
        denominator = counts.sum(axis=(1, 2)) + pseudo.sum()
        accuracy = np.divide(
            correct, denominator, out=np.full(correct.shape, 1.0 / k), where=denominator > 0
        )
        accuracy = np.clip(accuracy, _FLOOR, 1.0 - _FLOOR)
        off = np.log((1.0 - accuracy) / (k - 1)) if k > 1 else np.zeros_like(accuracy)
        log_conf = np.broadcast_to(off[:, None, None], counts.shape).copy()
        diagonal = np.arange(k)
        log_conf[:, diagonal, diagonal] = np.log(accuracy)[:, None]
        return log_conf
