"""MACE: Multi-Annotator Competence Estimation (Hovy et al., 2013).

D. Hovy, T. Berg-Kirkpatrick, A. Vaswani and E. Hovy. "Learning Whom to Trust with MACE."
NAACL-HLT 2013, 1120-1130.

Each item's true class follows a class prior (uniform in the paper; learned by default here).
On each item, source ``j`` either knows the answer
(probability ``theta_j``, its competence) and gives the true class, or spams (probability
``1 - theta_j``) and draws its answer from its own spamming distribution ``xi_j`` over the
classes. So ``P(answer = l | true = k) = theta_j [l == k] + (1 - theta_j) xi_j[l]``. EM (or its
variational-Bayes variant with a ``Beta(alpha, beta)`` prior on ``theta`` and a Dirichlet prior
on ``xi``) is restarted from random parameters and the run with the best marginal log-likelihood
is kept. All sums over annotations use ``np.bincount``: no loop over items or annotations.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, logsumexp

from labelwise._validation import check_choice, check_int, check_positive, fail
from labelwise.aggregate._base import BaseAggregator
from labelwise.annotations import Annotations

_METHODS = ("em", "vb")
_CLASS_PRIORS = ("estimate", "uniform")
#: Dirichlet pseudo-count per class on the spamming distribution in the variational variant
#: (the value of Hovy et al.'s reference implementation and of crowd-kit).
_SPAM_PRIOR = 10.0
#: Spread of the random initial parameters: uniform on [1, 1 + noise], then normalised.
_INIT_NOISE = 0.5
_TINY = 1e-300


class MACE(BaseAggregator):
    """Multi-Annotator Competence Estimation (Hovy et al., 2013): finds spammers.

    Parameters
    ----------
    n_restarts : int, default=10
        Random restarts; the one with the best marginal log-likelihood is kept.
    max_iter : int, default=50
        EM iterations per restart (a fixed budget, as in the paper; a restart stops earlier
        when the log-likelihood per annotation changes by less than ``tol``).
    alpha, beta : float, default=0.5
        ``Beta(alpha, beta)`` prior on each competence ``theta`` (``alpha`` counts knowing,
        ``beta`` spamming) in the ``"vb"`` variant.
    smoothing : float, default=0.01
        Added to every expected count in the ``"em"`` variant, divided by ``K`` (as in the
        paper's implementation), so no probability is exactly 0.
    method : {"em", "vb"}, default="em"
        Plain EM with ``smoothing``, or variational Bayes with the priors above (geometric-mean
        updates; the spamming distribution gets a Dirichlet(10) prior).
    tol : float, default=1e-7
        Early stop of a restart, on the change of the marginal log-likelihood per annotation.
    class_prior : {"estimate", "uniform"}, default="estimate"
        Learn the class prior in each M-step (mean posterior), or keep it uniform as in the
        paper. With a uniform prior an imbalanced dataset gets explained by spammers biased
        to the frequent class (D_Product, 88/12: accuracy 0.83 uniform, 0.94 estimated).
    random_state : None, int or numpy.random.Generator, default=None
        Seeds the random initialisations of the restarts.

    Attributes
    ----------
    probas_ : ndarray of shape (n_items, K)
        Posterior of each item's true class.
    competence_ : ndarray of shape (n_sources,)
        ``theta`` per source: probability of answering from knowledge rather than spamming.
    spam_distribution_ : ndarray of shape (n_sources, K)
        ``xi`` per source: the distribution of its answers when spamming.
    source_quality_ : ndarray of shape (n_sources,)
        Same as ``competence_``.
    priors_ : ndarray of shape (K,)
        Class prior of the kept restart.
    log_likelihood_ : float
        Marginal log-likelihood of the kept restart.
    n_iter_ : int
        EM iterations of the kept restart.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.aggregate import MACE
    >>> votes = np.array([[0, 0, 1], [1, 1, 1], [0, 0, 1], [1, 1, 1], [0, 0, 1], [2, 2, 1]])
    >>> mace = MACE(random_state=0).fit(Annotations.from_matrix(votes))
    >>> mace.labels_
    array([0, 1, 0, 1, 0, 2], dtype=object)
    >>> int(np.argmin(mace.competence_))  # always answers 1: a spammer
    2
    """

    def __init__(
        self,
        *,
        n_restarts: int = 10,
        max_iter: int = 50,
        alpha: float = 0.5,
        beta: float = 0.5,
        smoothing: float = 0.01,
        method: str = "em",
        tol: float = 1e-7,
        class_prior: str = "estimate",
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.alpha = alpha
        self.beta = beta
        self.smoothing = smoothing
        self.method = method
        self.tol = tol
        self.class_prior = class_prior
        self.random_state = random_state

    def _fit(self, annotations: Annotations, pred_probs: np.ndarray | None) -> None:
        n_restarts = check_int(self.n_restarts, "n_restarts", minimum=1)
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        alpha = check_positive(self.alpha, "alpha")
        beta = check_positive(self.beta, "beta")
        smoothing = check_positive(self.smoothing, "smoothing", allow_zero=True)
        method = check_choice(self.method, "method", _METHODS)
        tol = check_positive(self.tol, "tol", allow_zero=True)
        if pred_probs is not None:
            fail("pred_probs", "None (MACE uses the annotations only)", "an array", kind=TypeError)
        class_prior = check_choice(self.class_prior, "class_prior", _CLASS_PRIORS)
        rng = np.random.default_rng(self.random_state)

        item, source, label = annotations.item, annotations.source, annotations.label
        n_items, n_sources, k = annotations.n_items, annotations.n_sources, annotations.n_classes
        n_ann = annotations.n_annotations
        cell = item * k + label
        pair = source * k + label

        def e_step(
            know_w: np.ndarray, spam_w: np.ndarray, xi: np.ndarray, log_prior: np.ndarray
        ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
            spam = spam_w[source] * xi.ravel()[pair]  # P(answer | true != answer)
            hit = spam + know_w[source]  # P(answer | true == answer)
            log_spam = np.log(np.maximum(spam, _TINY))
            log_hit = np.log(np.maximum(hit, _TINY))
            base = np.bincount(item, weights=log_spam, minlength=n_items)
            bonus = np.bincount(cell, weights=log_hit - log_spam, minlength=n_items * k)
            joint = base[:, None] + bonus.reshape(n_items, k) + log_prior
            log_marginal = logsumexp(joint, axis=1)
            post = np.exp(joint - log_marginal[:, None])
            # E[the source knew] for each annotation: only when the answer is the true class
            knowing = post.ravel()[cell] * know_w[source] / np.maximum(hit, _TINY)
            know_counts = np.bincount(source, weights=knowing, minlength=n_sources)
            spam_counts = np.bincount(pair, weights=1.0 - knowing, minlength=n_sources * k)
            return post, float(log_marginal.sum()), know_counts, spam_counts.reshape(n_sources, k)

        def m_step(know: np.ndarray, spam: np.ndarray) -> tuple[np.ndarray, ...]:
            spam_total = spam.sum(axis=1)
            if method == "em":
                s = smoothing / k
                know_w = (know + s) / np.maximum(know + spam_total + 2 * s, _TINY)
                xi_total = (spam_total + k * s)[:, None]
                xi = np.divide(
                    spam + s, xi_total, out=np.full_like(spam, 1.0 / k), where=xi_total > 0
                )
                return know_w, 1.0 - know_w, xi
            # variational Bayes: geometric means under the Beta / Dirichlet posteriors
            # (unnormalised, as in the paper)
            both = digamma(know + spam_total + alpha + beta)
            know_w = np.exp(digamma(know + alpha) - both)
            spam_w = np.exp(digamma(spam_total + beta) - both)
            xi = np.exp(
                digamma(spam + _SPAM_PRIOR) - digamma(spam_total + k * _SPAM_PRIOR)[:, None]
            )
            return know_w, spam_w, xi

        best: tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int] | None = None
        for _ in range(n_restarts):
            start = rng.uniform(1.0, 1.0 + _INIT_NOISE, size=(n_sources, 2))
            start /= start.sum(axis=1, keepdims=True)
            know_w, spam_w = start[:, 0], start[:, 1]
            xi = rng.uniform(1.0, 1.0 + _INIT_NOISE, size=(n_sources, k))
            xi /= xi.sum(axis=1, keepdims=True)
            log_prior = np.full(k, -np.log(k))
            post, log_lik, know, spam = e_step(know_w, spam_w, xi, log_prior)
            n_iter = 0
            for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter_ is the count run
                know_w, spam_w, xi = m_step(know, spam)
                if class_prior == "estimate":
                    log_prior = np.log(np.maximum(post.mean(axis=0), _TINY))
                post, new_log_lik, know, spam = e_step(know_w, spam_w, xi, log_prior)
                change = abs(new_log_lik - log_lik) / n_ann
                log_lik = new_log_lik
                if change < tol:
                    break
            if best is None or log_lik > best[0]:
                best = (log_lik, post, know_w / (know_w + spam_w), xi, np.exp(log_prior), n_iter)

        assert best is not None
        self.log_likelihood_, self.probas_, theta, xi, priors, self.n_iter_ = best
        self.priors_ = priors / priors.sum()
        self.competence_ = theta
        self.spam_distribution_ = xi / xi.sum(axis=1, keepdims=True)
        self.source_quality_ = theta
