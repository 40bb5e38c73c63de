"""Majority vote and iterative weighted majority vote.

Both are one pass (or a few passes) of sparse counting over the annotation arrays: no Python
loop over items or annotations.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import sparse

from labelwise._numerics import threads_for
from labelwise._validation import check_choice, check_int, fail
from labelwise.aggregate._base import BaseAggregator, ConvergenceWarning, shares_of_counts
from labelwise.aggregate._vote_kernels import agreement_hits, count_votes, shares_and_winners
from labelwise.annotations import Annotations

TIE_BREAKS = ("random", "prior")


def check_no_pred_probs(pred_probs: Any, method: str) -> None:
    """Refuse a model's ``pred_probs`` for aggregators that only use the annotations."""
    if pred_probs is not None:
        fail(
            "pred_probs",
            f"None for {method} (it uses the annotations only; CrowdLab adds a model)",
            type(pred_probs).__name__,
        )


def source_agreement(annotations: Annotations, consensus: np.ndarray) -> np.ndarray:
    """(n_sources,) share of each source's answers equal to ``consensus`` (class codes per item).

    NaN for a source that never answered.
    """
    return _agreement(annotations, consensus, annotations.source_counts())


def _agreement(
    annotations: Annotations, consensus: np.ndarray, source_counts: np.ndarray
) -> np.ndarray:
    hits = agreement_hits(
        annotations.item,
        annotations.label,
        annotations.source,
        np.ascontiguousarray(consensus, dtype=np.int64),
        annotations.n_sources,
    )
    counts = source_counts.astype(np.float64)
    return np.divide(hits, counts, out=np.full_like(hits, np.nan), where=counts > 0)


def break_ties(scores: np.ndarray, keys: np.ndarray, *, atol: float = 1e-12) -> np.ndarray:
    """Row-wise argmax of ``scores``; among tied columns, the one with the largest random key.

    ``keys`` (same shape, uniform draws) are drawn once per fit, so repeated votes over the
    same items break their ties the same way (a uniformly random choice among the tied).
    """
    tied = scores >= scores.max(axis=1, keepdims=True) - atol
    return np.argmax(np.where(tied, keys, -1.0), axis=1)


class MajorityVote(BaseAggregator):
    """Each item gets the class most of its annotators chose.

    ``probas_`` are the vote shares (uniform for an item nobody labelled). ``labels_`` is the
    class with most votes; ties are broken as ``tie_break`` says. ``source_quality_`` is each
    source's agreement with those labels (the share of its answers equal to the consensus;
    NaN for a source that never answered).

    Parameters
    ----------
    tie_break : {"random", "prior"}, default="random"
        ``"random"``: uniformly among the tied classes, with the generator seeded by
        ``random_state``. ``"prior"``: the tied class with the largest overall vote share
        (the class prior); among classes with equal prior, the first in ``classes``. Items
        nobody labelled are ties among all classes.
    random_state : int, numpy Generator or None, default=None
        Seed of the tie-breaking generator (``"random"`` only).

    Attributes
    ----------
    labels_ : ndarray of shape (n_items,)
    probas_ : ndarray of shape (n_items, K)
    source_quality_ : ndarray of shape (n_sources,)
    prior_ : ndarray of shape (K,)
        Overall vote share of each class.
    n_iter_ : int
        Always 0 (no iterations).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.aggregate import MajorityVote
    >>> ann = Annotations.from_matrix(np.array([[0, 0, 1], [1, 1, -1], [0, 1, -1]]))
    >>> mv = MajorityVote(tie_break="prior").fit(ann)
    >>> mv.labels_.tolist()
    [0, 1, 1]
    >>> mv.probas_[0].round(3).tolist()
    [0.667, 0.333]
    >>> mv.source_quality_.round(3).tolist()
    [0.667, 1.0, 0.0]
    """

    def __init__(self, *, tie_break: str = "random", random_state: Any = None) -> None:
        self.tie_break = tie_break
        self.random_state = random_state

    def _fit(self, annotations: Annotations, pred_probs: np.ndarray | None) -> np.ndarray:
        check_choice(self.tie_break, "tie_break", TIE_BREAKS)
        check_no_pred_probs(pred_probs, type(self).__name__)
        k = annotations.n_classes
        # Compiled passes (see _vote_kernels): counts, then shares in place with the winners.
        shares, class_counts, source_counts = count_votes(
            annotations.item,
            annotations.label,
            annotations.source,
            annotations.n_items,
            k,
            annotations.n_sources,
        )
        prior = class_counts / annotations.n_annotations
        winners = self._shares_and_winners(shares, prior)
        self.probas_ = shares
        self.prior_ = prior
        self.source_quality_ = _agreement(annotations, winners, source_counts)
        self.n_iter_ = 0
        return winners

    def _winners(self, counts: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """Consensus class per row of the (n_items, K) vote ``counts``, ties broken by rule."""
        return self._shares_and_winners(np.array(counts, dtype=np.float64), prior)

    def _shares_and_winners(self, counts: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """Turn float64 vote ``counts`` into shares in place; return the consensus per row."""
        with threads_for(counts.size):
            winners, tied_mask = shares_and_winners(counts)
        tied = np.flatnonzero(tied_mask)
        # Equal counts give equal shares exactly, so the tied rows of the shares are the ties.
        winners[tied] = self._break_ties(counts[tied], prior)
        return winners

    def _break_ties(self, tied_shares: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """The winner of each tied row (vote shares of the tied items), by ``tie_break``."""
        n_classes = tied_shares.shape[1]
        if self.tie_break == "random":
            keys = np.random.default_rng(self.random_state).random(tied_shares.shape)
            return break_ties(tied_shares, keys)
        # Among the tied columns, the one ranked first by prior (stable: first in classes).
        rank = np.argsort(np.argsort(-prior, kind="stable"), kind="stable")
        top = tied_shares >= tied_shares.max(axis=1, keepdims=True)
        return np.argmax(np.where(top, n_classes - rank, -1), axis=1)


class WeightedMajorityVote(BaseAggregator):
    """Iterative weighted majority vote (IWMV, Li & Yu 2014).

    Start from the majority vote. Then repeat: estimate each source's accuracy ``q_s`` as its
    agreement with the current consensus, give it the weight ``w_s = max(K q_s - 1, 0)`` (the
    IWMV weight, proportional to how much better than chance the source is; sources no better
    than chance get no say), and take the weighted vote as the new consensus. Stop when the
    consensus no longer changes, or after ``n_iter`` rounds (with a ``ConvergenceWarning``).

    ``probas_`` are the weighted vote shares (uniform where every voter has weight 0 or nobody
    voted); ``source_quality_`` is ``q_s`` against the final consensus (NaN for a source that
    never answered). Ties are broken uniformly at random with ``random_state`` (the same way
    in every round).

    Li, H. & Yu, B. (2014). Error rate bounds and iterative weighted majority voting for
    crowdsourcing. arXiv:1411.4086.

    Parameters
    ----------
    n_iter : int, default=10
        Most reweighting rounds.
    random_state : int, numpy Generator or None, default=None
        Seed of the tie-breaking generator.

    Attributes
    ----------
    labels_ : ndarray of shape (n_items,)
    probas_ : ndarray of shape (n_items, K)
    source_quality_ : ndarray of shape (n_sources,)
    weights_ : ndarray of shape (n_sources,)
        The weights of the last weighted vote.
    n_iter_ : int
        Reweighting rounds done.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.aggregate import WeightedMajorityVote
    >>> M = np.array([[0, 0, 1, 1], [1, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 0]])
    >>> wmv = WeightedMajorityVote(random_state=0).fit(Annotations.from_matrix(M))
    >>> wmv.labels_.tolist()
    [0, 1, 0, 1]
    >>> wmv.source_quality_.tolist()
    [1.0, 1.0, 0.0, 0.5]
    """

    def __init__(self, *, n_iter: int = 10, random_state: Any = None) -> None:
        self.n_iter = n_iter
        self.random_state = random_state

    def _fit(self, annotations: Annotations, pred_probs: np.ndarray | None) -> np.ndarray:
        n_iter = check_int(self.n_iter, "n_iter", minimum=1)
        check_no_pred_probs(pred_probs, type(self).__name__)
        k = annotations.n_classes
        shape = (annotations.n_items, k)
        keys = np.random.default_rng(self.random_state).random(shape)
        consensus = break_ties(annotations.dense_vote_counts(), keys)
        weights = np.ones(annotations.n_sources)
        scores = np.zeros(shape)
        converged = False
        done = 0
        for done in range(1, n_iter + 1):  # noqa: B007 - rounds, not items
            quality = source_agreement(annotations, consensus)
            weights = np.nan_to_num(np.maximum(k * quality - 1.0, 0.0))
            scores = sparse.csr_matrix(
                (weights[annotations.source], (annotations.item, annotations.label)), shape=shape
            ).toarray()
            new = break_ties(scores, keys)
            if np.array_equal(new, consensus):
                converged = True
                break
            consensus = new
        if not converged:
            warnings.warn(
                f"WeightedMajorityVote: the consensus still changed after n_iter={n_iter} "
                "rounds; raise `n_iter`.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.probas_ = shares_of_counts(scores)
        self.weights_ = weights
        self.source_quality_ = source_agreement(annotations, consensus)
        self.n_iter_ = done
        return consensus
