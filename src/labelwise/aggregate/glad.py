"""GLAD: item difficulty times source ability (Whitehill et al., 2009).

J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma and J. Movellan. "Whose Vote Should Count More:
Optimal Integration of Labels from Labelers of Unknown Expertise." NeurIPS 2009.

Source ``j`` answers item ``i`` correctly with probability ``sigmoid(alpha_j * beta_i)``, where
``alpha_j`` (any real) is the source's ability and ``beta_i = exp(log_beta_i) > 0`` the item's
inverse difficulty; a wrong answer is uniform over the other ``K - 1`` classes. EM alternates
the exact posterior of each item's true class (E-step) with a few L-BFGS steps on the expected
complete log-likelihood plus Gaussian priors on ``alpha`` and ``log_beta`` (M-step). Every
quantity is a sum over annotations, computed with ``np.bincount``: no loop over items or
annotations.
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logsumexp
from threadpoolctl import threadpool_limits

from labelwise._validation import check_choice, check_int, check_positive, fail
from labelwise.aggregate._base import BaseAggregator, ConvergenceWarning, vote_shares
from labelwise.annotations import Annotations

_CLASS_PRIORS = ("uniform", "estimate")


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _check_real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(name, "a finite number", f"{type(value).__name__} {value!r}", kind=TypeError)
    if not np.isfinite(float(value)):
        fail(name, "a finite number", repr(value))
    return float(value)


class GLAD(BaseAggregator):
    """Generative model of Labels, Abilities and Difficulties (Whitehill et al., 2009).

    Parameters
    ----------
    max_iter : int, default=100
        Most EM iterations; a ``ConvergenceWarning`` is raised when reached before ``tol``.
    tol : float, default=1e-5
        Stop when the MAP objective (marginal log-likelihood plus log-priors), divided by the
        number of annotations, improves by less than this.
    m_step_iter : int, default=25
        Most L-BFGS iterations per M-step.
    class_prior : {"uniform", "estimate"}, default="uniform"
        Keep the class prior uniform, as in the paper, or learn ``priors_`` in the M-step
        (mean posterior). Learning it can let a frequent class swallow the rare one on data
        with few answers per item (on D_Product, 3 per item: 0.896 vs 0.928 uniform).
    ability_prior_mean : float, default=1.0
        Mean of the Gaussian prior on each ability ``alpha``.
    log_beta_prior_mean : float, default=1.0
        Mean of the Gaussian prior on each log inverse difficulty ``log(beta)``.
    prior_scale : float, default=1.0
        Standard deviation of both Gaussian priors.
    random_state : None, int or numpy.random.Generator, default=None
        Accepted for the common aggregator signature; GLAD's fit is deterministic
        (initialised from soft majority vote) and draws no random numbers.

    Attributes
    ----------
    probas_ : ndarray of shape (n_items, K)
        Posterior of each item's true class.
    ability_ : ndarray of shape (n_sources,)
        ``alpha`` per source: > 0 better than chance, 0 random, < 0 adversarial.
    difficulty_ : ndarray of shape (n_items,)
        ``1 / beta`` per item: larger means harder.
    priors_ : ndarray of shape (K,)
        Class prior.
    source_quality_ : ndarray of shape (n_sources,)
        Estimated accuracy per source: mean of ``sigmoid(alpha * beta)`` over the items it
        labelled (at the median ``beta`` for a source with no annotations).
    n_iter_ : int
        EM iterations run.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.aggregate import GLAD
    >>> votes = np.array([[0, 0, 1], [1, 1, 1], [0, 0, 0], [1, 1, 0], [0, 0, 1]])
    >>> glad = GLAD().fit(Annotations.from_matrix(votes))
    >>> glad.labels_
    array([0, 1, 0, 1, 0], dtype=object)
    >>> bool(glad.ability_[2] < glad.ability_[0])
    True
    """

    def __init__(
        self,
        *,
        max_iter: int = 100,
        tol: float = 1e-5,
        m_step_iter: int = 25,
        class_prior: str = "uniform",
        ability_prior_mean: float = 1.0,
        log_beta_prior_mean: float = 1.0,
        prior_scale: float = 1.0,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.m_step_iter = m_step_iter
        self.class_prior = class_prior
        self.ability_prior_mean = ability_prior_mean
        self.log_beta_prior_mean = log_beta_prior_mean
        self.prior_scale = prior_scale
        self.random_state = random_state

    def _fit(self, annotations: Annotations, pred_probs: np.ndarray | None) -> None:
        # The work is elementwise numpy and bincount; L-BFGS's small BLAS calls only lose time
        # to thread start-up (4x slower on 2 loaded cores), so BLAS runs on one thread.
        with threadpool_limits(1, user_api="blas"):
            self._fit_serial(annotations, pred_probs)

    def _fit_serial(self, annotations: Annotations, pred_probs: np.ndarray | None) -> None:
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        tol = check_positive(self.tol, "tol", allow_zero=True)
        m_step_iter = check_int(self.m_step_iter, "m_step_iter", minimum=1)
        class_prior = check_choice(self.class_prior, "class_prior", _CLASS_PRIORS)
        mu_alpha = _check_real(self.ability_prior_mean, "ability_prior_mean")
        mu_log_beta = _check_real(self.log_beta_prior_mean, "log_beta_prior_mean")
        scale = check_positive(self.prior_scale, "prior_scale")
        if pred_probs is not None:
            fail("pred_probs", "None (GLAD uses the annotations only)", "an array", kind=TypeError)

        item, source, label = annotations.item, annotations.source, annotations.label
        n_items, n_sources, k = annotations.n_items, annotations.n_sources, annotations.n_classes
        n_ann = annotations.n_annotations
        log_wrong = np.log(k - 1.0)
        cell = item * k + label  # flat index of (item, label) in an (n_items, K) array

        alpha = np.full(n_sources, mu_alpha)
        log_beta = np.full(n_items, mu_log_beta)
        posterior = vote_shares(annotations)
        priors = self._priors(posterior, class_prior, k)

        def log_prior_params(a: np.ndarray, b: np.ndarray) -> float:
            return -0.5 * (((a - mu_alpha) ** 2).sum() + ((b - mu_log_beta) ** 2).sum()) / scale**2

        def e_step(a: np.ndarray, b: np.ndarray, pri: np.ndarray) -> tuple[np.ndarray, float]:
            ab = a[source] * np.exp(b[item])
            base = np.bincount(item, weights=_log_sigmoid(-ab) - log_wrong, minlength=n_items)
            # log P(correct) - log P(a given wrong class) = alpha*beta + log(K - 1)
            bonus = np.bincount(cell, weights=ab + log_wrong, minlength=n_items * k)
            joint = np.log(pri)[None, :] + base[:, None] + bonus.reshape(n_items, k)
            log_marginal = logsumexp(joint, axis=1)
            post = np.exp(joint - log_marginal[:, None])
            return post, float(log_marginal.sum()) + log_prior_params(a, b)

        def m_step(post: np.ndarray, a0: np.ndarray, b0: np.ndarray) -> tuple[np.ndarray, ...]:
            correct = post.ravel()[cell]  # P(annotation is correct)

            def negative_q(x: np.ndarray) -> tuple[float, np.ndarray]:
                a, b = x[:n_sources], x[n_sources:]
                beta_n = np.exp(b[item])
                ab = a[source] * beta_n
                # elementwise sums, not BLAS dot products: on small inputs BLAS threads cost
                # more than the work (tens of ms per call on a loaded machine)
                log_right, log_miss = _log_sigmoid(ab), _log_sigmoid(-ab) - log_wrong
                q = (correct * (log_right - log_miss)).sum() + log_miss.sum()
                residual = correct - expit(ab)
                grad_a = (
                    np.bincount(source, weights=residual * beta_n, minlength=n_sources)
                    - (a - mu_alpha) / scale**2
                )
                grad_b = (
                    np.bincount(item, weights=residual * ab, minlength=n_items)
                    - (b - mu_log_beta) / scale**2
                )
                value = float(q) + log_prior_params(a, b)
                return -value / n_ann, -np.concatenate([grad_a, grad_b]) / n_ann

            result = minimize(
                negative_q,
                np.concatenate([a0, b0]),
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": m_step_iter},
            )
            return result.x[:n_sources], result.x[n_sources:]

        objective = -np.inf
        converged = False
        n_iter = 0
        for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter_ is the count run
            alpha, log_beta = m_step(posterior, alpha, log_beta)
            priors = self._priors(posterior, class_prior, k)
            posterior, new_objective = e_step(alpha, log_beta, priors)
            if abs(new_objective - objective) / n_ann < tol:
                converged = True
                break
            objective = new_objective
        if not converged:
            warnings.warn(
                f"GLAD stopped at max_iter={max_iter} before the objective changed by less "
                f"than tol={tol}; raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )

        beta = np.exp(log_beta)
        accuracy = expit(alpha[source] * beta[item])
        counts = np.bincount(source, minlength=n_sources)
        typical = expit(alpha * np.median(beta)) if n_items else np.full(n_sources, 0.5)
        summed = np.bincount(source, weights=accuracy, minlength=n_sources)
        self.source_quality_ = np.divide(summed, counts, out=typical, where=counts > 0)
        self.probas_ = posterior
        self.ability_ = alpha
        self.difficulty_ = 1.0 / beta
        self.priors_ = priors
        self.n_iter_ = n_iter

    @staticmethod
    def _priors(posterior: np.ndarray, how: str, k: int) -> np.ndarray:
        if how == "uniform" or posterior.shape[0] == 0:
            return np.full(k, 1.0 / k)
        mean = posterior.mean(axis=0)
        return np.clip(mean, 1e-12, None) / np.clip(mean, 1e-12, None).sum()
