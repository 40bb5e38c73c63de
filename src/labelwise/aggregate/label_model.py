"""Label model for labeling-function votes, and the detection of dependent (near-duplicate)
labeling functions.

:func:`dependent_source_pairs` finds pairs of sources whose votes are nearly the same set of
(item, label) decisions. :class:`LabelModel` fits a generative model of conditionally
independent labeling functions (closed-form triplet estimates refined by EM), and down-weights
or merges dependent groups so that copies of one rule do not outvote independent ones.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from labelwise._numerics import threads_for
from labelwise._validation import check_choice, check_fraction, check_int, check_positive, fail
from labelwise.aggregate._base import BaseAggregator, ConvergenceWarning, check_annotations
from labelwise.aggregate._kernels import em_log_joint, em_m_counts, n_chunks_for
from labelwise.aggregate._label_model_kernels import (
    onecoin_em_step,
    source_class_counts,
    vote_shares,
)
from labelwise.aggregate._pairs import PairTable, grouped, pair_table, triplet_mu
from labelwise.aggregate.dawid_skene import _prior_pseudo_counts
from labelwise.aggregate.majority_vote import check_no_pred_probs
from labelwise.annotations import Annotations

METHODS = ("triplet+em", "triplet", "em")
DEPENDENCIES = ("downweight", "ignore", "merge")
CONFUSIONS = ("one_coin", "full")
COVERAGES = ("auto", "by_class", "shared")
#: A pair must have voted identically on this many items to count as dependent.
MIN_OVERLAP = 20
#: ``mu = (K a - 1) / (K - 1)`` from the triplets is clipped to this range.
_MU_LOW, _MU_HIGH = 0.02, 0.98
#: A source giving one class in at least this share of its votes is "one-sided": its agreement
#: with others says nothing about its accuracy, so it gets the majority-vote start.
_ONE_SIDED = 0.99
#: Accuracies and probabilities are kept this far from 0 and 1 before taking logs.
_FLOOR = 1e-6
#: Pseudo-count per class of the class-balance prior.
_BALANCE_PSEUDO = 1.0
#: Pseudo-items per class, at the source's overall coverage, in its class coverage estimate.
_COVER_PSEUDO = 10.0
#: Pseudo-count in every cell of a confusion row.
_SMOOTHING = 0.01


@dataclass(frozen=True)
class DependentPairs:
    """Pairs of sources whose votes are nearly identical, by source code.

    Attributes
    ----------
    source_a, source_b : ndarray of shape (n_pairs,), int64
        Source codes (into ``sources``), ``source_a < source_b``; sorted by decreasing
        ``score``.
    score : ndarray of shape (n_pairs,), float64
        Vote overlap in [0, 1]: identical votes / (votes of a + votes of b - identical votes),
        the Jaccard index of the two sources' sets of (item, label) votes.
    n_both : ndarray of shape (n_pairs,), int64
        Items on which both voted.
    sources : ndarray of shape (n_sources,)
        The source ids, in code order (``annotations.sources``).
    threshold : float
        The score from which a pair is listed.
    """

    source_a: np.ndarray
    source_b: np.ndarray
    score: np.ndarray
    n_both: np.ndarray
    sources: np.ndarray
    threshold: float

    def __len__(self) -> int:
        return int(self.score.size)

    @property
    def groups(self) -> np.ndarray:
        """(n_sources,) int64 group code per source: the connected components of the listed
        pairs (a source in no pair is a group of its own); codes in order of first source."""
        m = self.sources.size
        graph = sparse.coo_matrix(
            (np.ones(self.score.size), (self.source_a, self.source_b)), shape=(m, m)
        )
        _, codes = connected_components(graph, directed=False)
        return codes.astype(np.int64)

    def to_frame(self) -> pd.DataFrame:
        """One row per pair: the two source ids, the score and the common items."""
        return pd.DataFrame(
            {
                "source_a": self.sources[self.source_a],
                "source_b": self.sources[self.source_b],
                "score": self.score,
                "n_both": self.n_both,
            }
        )


def dependent_source_pairs(
    annotations: Annotations, *, threshold: float = 0.9, min_overlap: int = 20
) -> DependentPairs:
    """Pairs of sources (e.g. labeling functions) that vote nearly identically.

    The score of a pair is the Jaccard index of their vote sets: the number of items on which
    both voted the same label, divided by the number of (item, label) votes either cast
    (``same / (votes_a + votes_b - same)``). It is 1 for exact copies, high for near-copies
    (two spellings of one regex) and for rules that fire on nearly the same items with the same
    label, and low for independent sources: two independent sources that each vote on every
    item with accuracy ``a`` and uniform errors over K classes score about ``r / (2 - r)`` with
    ``r = a^2 + (1 - a)^2 / (K - 1)``, which reaches 0.9 only for ``a`` above ~0.97. Sources
    that vote on different items score near 0, whatever their accuracy. Unlike statistics
    centred on a fitted model, it needs no accuracies, so a large group of copies (which would
    dominate any consensus) cannot hide itself, and one-class rules (which always agree when
    they co-fire) are flagged only when they fire on nearly the same items.

    Parameters
    ----------
    annotations : Annotations
    threshold : float in (0, 1], default=0.9
        List the pairs scoring at least this.
    min_overlap : int, default=20
        A pair is listed only when the sources voted identically on at least this many items
        (two crowd workers who share three answers are not evidence of a copy).

    Returns
    -------
    DependentPairs
        The pairs, by source code, and ``groups`` (connected components) for merging or
        down-weighting them.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.aggregate import dependent_source_pairs
    >>> rng = np.random.default_rng(0)
    >>> votes = rng.integers(-1, 2, size=(200, 4))   # four independent rules, -1 = abstain
    >>> votes[:, 3] = votes[:, 0]                    # rule 3 copies rule 0
    >>> pairs = dependent_source_pairs(Annotations.from_matrix(votes))
    >>> pairs.to_frame()[["source_a", "source_b", "score"]]
       source_a  source_b  score
    0         0         3    1.0
    >>> pairs.groups.tolist()
    [0, 1, 2, 0]
    """
    checked = check_annotations(annotations)
    threshold = check_fraction(threshold, "threshold")
    min_overlap = check_int(min_overlap, "min_overlap", minimum=1)
    return _dependent_pairs(pair_table(checked), checked.sources, threshold, min_overlap)


def _dependent_pairs(
    table: PairTable, sources: np.ndarray, threshold: float, min_overlap: int
) -> DependentPairs:
    union = table.votes[table.a] + table.votes[table.b] - table.same
    score = table.same / np.maximum(union, 1)
    keep = (score >= threshold) & (table.same >= min_overlap)
    order = np.argsort(-score[keep], kind="stable")
    return DependentPairs(
        source_a=table.a[keep][order],
        source_b=table.b[keep][order],
        score=score[keep][order],
        n_both=table.both[keep][order],
        sources=sources,
        threshold=threshold,
    )


# --------------------------------------------------------------------------- the label model


@dataclass(frozen=True)
class _State:
    """The label model's parameters: confusions (n_sources, K, K), the coverage
    P(votes | class) (n_sources, K) or None when it does not depend on the class, and the
    class balance (K,)."""

    confusions: np.ndarray
    cover: np.ndarray | None
    balance: np.ndarray

    def distance(self, other: _State) -> float:
        """The largest absolute change of any parameter."""
        change = max(
            float(np.abs(self.confusions - other.confusions).max()),
            float(np.abs(self.balance - other.balance).max()),
        )
        if self.cover is not None and other.cover is not None:
            change = max(change, float(np.abs(self.cover - other.cover).max()))
        return change


@dataclass(frozen=True)
class _Structure:
    """Which sources have which kind of parameters (boolean masks over sources).

    ``by_class``: coverage that depends on the class; ``held``: confusions held at their
    closed-form (triplet) values.
    """

    by_class: np.ndarray
    held: np.ndarray


@dataclass(frozen=True)
class _Votes:
    """The votes grouped by item, with what every estimation step needs."""

    indptr: np.ndarray
    source: np.ndarray
    label: np.ndarray
    n_votes: np.ndarray  # (n_sources,) votes per source
    labelled: np.ndarray  # (n_items,) bool, at least one vote
    k: int

    @classmethod
    def of(
        cls, annotations: Annotations, by_item: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> _Votes:
        indptr, source, label = by_item
        # 32-bit codes halve the memory traffic of every EM pass.
        return cls(
            indptr,
            source.astype(np.int32),
            label.astype(np.int32),
            annotations.source_counts(),
            np.diff(indptr) > 0,
            annotations.n_classes,
        )

    @property
    def n_items(self) -> int:
        return int(self.indptr.size - 1)

    @property
    def n_sources(self) -> int:
        return int(self.n_votes.size)


def _merge_groups(annotations: Annotations, groups: np.ndarray) -> Annotations:
    """One source per group; on each item it votes the label most of the group's members who
    voted there gave (ties: the smallest label code)."""
    k = annotations.n_classes
    n_groups = int(groups.max()) + 1
    key = (annotations.item * n_groups + groups[annotations.source]) * k + annotations.label
    keys, counts = np.unique(key, return_counts=True)
    pair = keys // k
    # Within each (item, group) pair: most votes first, then the smallest label.
    order = np.lexsort((keys % k, -counts, pair))
    first = np.ones(order.size, dtype=bool)
    first[1:] = pair[order][1:] != pair[order][:-1]
    chosen = keys[order][first]
    pair = chosen // k
    return Annotations(
        item=pair // n_groups,
        source=pair % n_groups,
        label=chosen % k,
        items=annotations.items,
        sources=np.arange(n_groups),
        classes=annotations.classes,
    )


def _log_odds(accuracy: np.ndarray, k: int) -> np.ndarray:
    """``log(a (K - 1) / (1 - a))``: the weight of a vote of a one-coin source."""
    a = np.clip(accuracy, _FLOOR, 1.0 - _FLOOR)
    return np.log(a) + np.log(k - 1) - np.log1p(-a)


def _symmetric_confusions(accuracy: np.ndarray, k: int) -> np.ndarray:
    """(n_sources, K, K): ``a`` on the diagonal, ``(1 - a) / (K - 1)`` elsewhere."""
    off = (1.0 - accuracy) / (k - 1)
    confusions = np.broadcast_to(off[:, None, None], (accuracy.size, k, k)).copy()
    diagonal = np.arange(k)
    confusions[:, diagonal, diagonal] = accuracy[:, None]
    return confusions


class LabelModel(BaseAggregator):
    """Generative label model for labeling-function (LF) votes, with abstains, an unknown class
    balance and dependent LFs.

    Model (Ratner et al. 2016 and 2019, the Snorkel / MeTaL label model): the true class
    ``y`` of an item follows ``class_balance_``; each LF votes on it or abstains (an abstain is
    no annotation and carries no information), and its votes are conditionally independent
    given ``y``: with ``confusion="one_coin"``, LF ``s`` gives the right class with probability
    ``a_s`` (``accuracies_``) and each wrong class with ``(1 - a_s) / (K - 1)``; with
    ``"full"``, a whole confusion matrix per LF (Dawid & Skene 1979), which needs LFs that vote
    for several classes and plenty of votes per LF.

    Fitting (``method``):

    - ``"triplet"``: closed form. For two conditionally independent LFs, the centred agreement
      ``(K P(same vote | both voted) - 1) / (K - 1)`` equals ``mu_i mu_j`` with
      ``mu = (K a - 1) / (K - 1)``, whatever the class balance; so for three LFs
      ``mu_i^2 = c_ij c_il / c_jl``. Each ``mu_i^2`` is the median of that ratio over the pairs
      of other LFs (at most 64 partners, those sharing most items), ``mu`` is clipped to
      [0.02, 0.98] (Fu et al. 2020, generalised from binary votes to K classes). An LF without a
      valid triplet, with an estimate at the lower clip, or whose votes are one-sided (at least
      99% for one class: keyword rules that only ever vote "spam" agree with every other spam
      rule, which says nothing about their accuracy) starts from its agreement with the
      majority vote instead. The class balance (unless given) is then the fixed point of
      "mean posterior over the items with a vote", with the accuracies held.
    - ``"triplet+em"`` (default): the triplet estimates, refined by EM (maximum a posteriori):
      E-step posteriors per item, M-step accuracies (or confusions) under a weak Beta
      (Dirichlet) prior and the class balance as the mean posterior plus one pseudo-count per
      class. Starting close to the optimum, EM needs few iterations.
    - ``"em"``: the same EM, started from the majority vote (an M-step on the vote shares).

    Estimating the class balance matters: on the real D_Product crowd data (88% / 12%) a label
    model that assumes uniform classes (Snorkel's default) gets 0.445 accuracy, below majority
    vote (0.897); this one estimates it (``class_balance=None``) or holds a given one fixed.

    Dependent LFs (``dependencies``): pairs whose votes are nearly identical are found by
    :func:`dependent_source_pairs` (``dependency_threshold``; ``dependent_pairs_``), and their
    connected components form groups. ``"downweight"`` (default): each LF of a group of size
    ``g`` enters every item's log-likelihood with weight ``1 / g``, so a group counts as one
    vote (ten copies of a rule do not outvote two independent rules); each LF still gets its
    own accuracy. ``"merge"``: each group becomes one source that votes its members' most common
    vote on each item; the members share its accuracy. ``"ignore"``: the model as if all LFs
    were independent (pairs are still reported).

    ``probas_`` of an item without any vote is ``class_balance_``. ``labels_`` is the most
    probable class; exact ties go to the class with the larger ``class_balance_`` (then the
    first class).

    Ratner, A., De Sa, C., Wu, S., Selsam, D. & Ré, C. (2016). Data programming: creating
    large training sets, quickly. NeurIPS. Ratner, A., Hancock, B., Dunnmon, J., Sala, F.,
    Pandey, S. & Ré, C. (2019). Training complex models with multi-task weak supervision.
    AAAI. Fu, D. Y., Chen, M. F., Sala, F., Hooper, S. M., Fatahalian, K. & Ré, C. (2020).
    Fast and three-rious: speeding up weak supervision with triplet methods. ICML.

    Parameters
    ----------
    method : {"triplet+em", "triplet", "em"}, default="triplet+em"
    class_balance : array-like of shape (K,) or None, default=None
        Given: held fixed (non-negative, summing to 1, in the order of the classes). None:
        estimated.
    dependencies : {"downweight", "merge", "ignore"}, default="downweight"
    dependency_threshold : float in (0, 1], default=0.9
        Vote overlap from which two LFs are dependent (see :func:`dependent_source_pairs`).
    confusion : {"one_coin", "full"}, default="one_coin"
    max_iter : int, default=300
        Most EM iterations (a ``ConvergenceWarning`` when reached).
    tol : float, default=1e-5
        EM stops when no accuracy (confusion entry) or class share moves by more than this.
    prior_strength : float, default=2.0
        Pseudo-votes per class in each LF's prior (0: maximum likelihood).
    prior_accuracy : float in [0, 1], default=0.7
        Share of the pseudo-votes that are right (Snorkel's ``prec_init`` is also 0.7).
    random_state : int, numpy Generator or None, default=None
        Unused (the fit is deterministic); kept for a uniform interface.

    Attributes
    ----------
    probas_ : ndarray of shape (n_items, K)
    labels_ : ndarray of shape (n_items,)
    accuracies_ : ndarray of shape (n_sources,)
        P(an LF's vote is right | it votes); with ``"full"``, averaged over the class balance.
        NaN for a source without votes. Also ``source_quality_``.
    confusions_ : ndarray of shape (n_sources, K, K)
        ``confusions_[s, k, l]`` = P(LF ``s`` votes ``l`` | true class ``k``, it votes).
    class_balance_ : ndarray of shape (K,)
    dependent_pairs_ : DependentPairs
    source_weights_ : ndarray of shape (n_sources,)
        Each LF's weight in the likelihood (``1 / group size`` with ``"downweight"``, else 1).
    n_iter_ : int
        EM iterations (0 for ``"triplet"`` with a given class balance).

    Examples
    --------
    >>> from labelwise.aggregate import LabelModel
    >>> from labelwise.simulate import simulate_labeling_functions
    >>> sim = simulate_labeling_functions(5000, 10, 3, class_balance=[0.7, 0.2, 0.1],
    ...                                   random_state=0)
    >>> lm = LabelModel().fit(sim.annotations)
    >>> bool(abs(lm.accuracies_ - sim.accuracies).max() < 0.05)
    True
    >>> lm.class_balance_.round(1)
    array([0.7, 0.2, 0.1])
    >>> float((lm.labels_ == sim.true_labels).mean()) > 0.85
    True
    """

    def __init__(
        self,
        *,
        method: str = "triplet+em",
        class_balance: Any = None,
        dependencies: str = "downweight",
        dependency_threshold: float = 0.9,
        confusion: str = "one_coin",
        coverage: str = "auto",
        max_iter: int = 300,
        tol: float = 1e-5,
        prior_strength: float = 2.0,
        prior_accuracy: float = 0.7,
        random_state: Any = None,
    ) -> None:
        self.method = method
        self.class_balance = class_balance
        self.dependencies = dependencies
        self.dependency_threshold = dependency_threshold
        self.confusion = confusion
        self.coverage = coverage
        self.max_iter = max_iter
        self.tol = tol
        self.prior_strength = prior_strength
        self.prior_accuracy = prior_accuracy
        self.random_state = random_state

    # ------------------------------------------------------------------ checks

    def _check_options(self, k: int) -> np.ndarray | None:
        check_choice(self.method, "method", METHODS)
        check_choice(self.dependencies, "dependencies", DEPENDENCIES)
        check_choice(self.confusion, "confusion", CONFUSIONS)
        check_choice(self.coverage, "coverage", COVERAGES)
        check_fraction(self.dependency_threshold, "dependency_threshold")
        check_int(self.max_iter, "max_iter", minimum=1)
        check_positive(self.tol, "tol", allow_zero=True)
        check_positive(self.prior_strength, "prior_strength", allow_zero=True)
        check_fraction(self.prior_accuracy, "prior_accuracy", allow_zero=True)
        if self.class_balance is None:
            return None
        expected = f"None or {k} non-negative numbers summing to 1 (one per class)"
        try:
            balance = np.asarray(self.class_balance, dtype=np.float64)
        except (TypeError, ValueError):
            fail("class_balance", expected, repr(self.class_balance), kind=TypeError)
        if balance.shape != (k,):
            fail("class_balance", expected, f"shape {balance.shape}")
        if not np.all(np.isfinite(balance)) or balance.min() < 0 or abs(balance.sum() - 1) > 1e-6:
            fail("class_balance", expected, f"{balance.tolist()!r} (sum {balance.sum():.6g})")
        return balance / balance.sum()

    # ------------------------------------------------------------------ fit

    def _fit(self, annotations: Annotations, pred_probs: np.ndarray | None) -> np.ndarray:
        given = self._check_options(annotations.n_classes)
        check_no_pred_probs(pred_probs, type(self).__name__)
        # Small inputs run on one thread: waking workers costs more than the passes.
        with threads_for(annotations.n_annotations * annotations.n_classes):
            return self._fit_checked(annotations, given)

    def _fit_checked(self, annotations: Annotations, given: np.ndarray | None) -> np.ndarray:
        k = annotations.n_classes
        by_item = grouped(annotations)
        table = pair_table(annotations, by_item)
        pairs = _dependent_pairs(
            table, annotations.sources, float(self.dependency_threshold), MIN_OVERLAP
        )
        groups = pairs.groups
        sizes = np.bincount(groups)
        weights = np.ones(annotations.n_sources)
        if self.dependencies == "merge" and sizes.max() > 1:
            merged = _merge_groups(annotations, groups)
            merged_by_item = grouped(merged)
            probas, state, n_iter = self._estimate(
                merged,
                merged_by_item,
                pair_table(merged, merged_by_item),
                np.ones(merged.n_sources),
                np.arange(sizes.size),
                given,
            )
            state = _State(
                state.confusions[groups],
                None if state.cover is None else state.cover[groups],
                state.balance,
            )
        else:
            if self.dependencies == "downweight":
                weights = 1.0 / sizes[groups]
            probas, state, n_iter = self._estimate(
                annotations, by_item, table, weights, groups, given
            )
        balance = state.balance
        cover = state.cover
        n_votes = annotations.source_counts()
        if cover is None:
            cover = np.repeat((n_votes / annotations.n_items)[:, None], k, axis=1)
        # P(right | votes) = sum_k P(class k | votes) C[s, k, k], P(class k | votes) ~ pi_k rho_sk.
        given_vote = balance * cover
        given_vote /= np.maximum(given_vote.sum(axis=1, keepdims=True), _FLOOR)
        accuracy = np.einsum("sk,skk->s", given_vote, state.confusions)
        voted = n_votes > 0
        self.probas_ = probas
        self.confusions_ = state.confusions
        self.coverages_ = cover
        self.class_balance_ = balance
        self.accuracies_ = np.where(voted, accuracy, np.nan)
        self.source_quality_ = self.accuracies_
        self.dependent_pairs_ = pairs
        self.source_weights_ = weights
        self.n_iter_ = n_iter
        # Exact ties (e.g. items without votes under a uniform balance): the larger class share.
        top = probas.max(axis=1, keepdims=True)
        return np.argmax(np.where(probas >= top - 1e-12, balance + 1.0, 0.0), axis=1)

    def _estimate(
        self,
        annotations: Annotations,
        by_item: tuple[np.ndarray, np.ndarray, np.ndarray],
        table: PairTable,
        weights: np.ndarray,
        groups: np.ndarray,
        given: np.ndarray | None,
    ) -> tuple[np.ndarray, _State, int]:
        """``(probas, state, n_iter)`` for (possibly merged) annotations."""
        votes = _Votes.of(annotations, by_item)
        k, m, n = votes.k, votes.n_sources, votes.n_items
        chunks = n_chunks_for(votes.source.size)
        # EM starts from a uniform class balance unless one is given: the majority vote's
        # shares over-weight classes with prolific LFs (on ws_sms, ws_hausa and ws_yoruba
        # starting from them ends in worse local optima). The first M-step is on the
        # weighted majority vote.
        balance = given if given is not None else np.full(k, 1.0 / k)
        shares = vote_shares(votes.indptr, votes.source, votes.label, weights, balance, chunks)
        by_label = source_class_counts(votes.indptr, votes.source, votes.label, shares, m, chunks)
        counts = by_label.transpose(0, 2, 1)  # [source, class, voted]
        by_vote = counts.sum(axis=1)
        one_sided = by_vote.max(axis=1) >= _ONE_SIDED * np.maximum(votes.n_votes, 1)
        by_class = {"auto": one_sided, "by_class": np.ones(m, dtype=bool)}.get(
            self.coverage, np.zeros(m, dtype=bool)
        )
        model = _Structure(by_class, np.zeros(m, dtype=bool))
        confusions = self._confusions(counts, votes.n_votes, model, None)
        if self.method != "em":
            accuracy, from_triplets = self._triplet_start(
                table, groups, one_sided, votes.n_votes, k
            )
            symmetric = _symmetric_confusions(np.clip(accuracy, _FLOOR, 1 - _FLOOR), k)
            confusions[from_triplets] = symmetric[from_triplets]
            if self.method == "triplet":
                model = _Structure(model.by_class, from_triplets)
        cover = self._cover(counts, shares.sum(axis=0), votes.n_votes / n, model, None)
        state = _State(confusions, cover, balance)
        if self.confusion == "one_coin" and cover is None:
            return self._em_one_coin(votes, weights, state, model, given is None)
        return self._em(votes, weights, state, model, given is None)

    def _balance(self, class_totals: np.ndarray) -> np.ndarray:
        smoothed = class_totals + _BALANCE_PSEUDO
        return smoothed / smoothed.sum()

    def _confusions(
        self,
        counts: np.ndarray,
        n_votes: np.ndarray,
        model: _Structure,
        previous: np.ndarray | None,
    ) -> np.ndarray:
        """M-step of the confusions from expected counts ``[source, class, voted]``: one-coin
        (a Beta prior on the accuracy) or full rows (a Dirichlet prior); ``model.held`` rows
        keep ``previous``."""
        k = counts.shape[1]
        strength = float(self.prior_strength) * k
        if self.confusion == "one_coin":
            right = strength * float(self.prior_accuracy)
            correct = np.trace(counts, axis1=1, axis2=2)
            accuracy = (correct + right) / np.maximum(n_votes + strength, _FLOOR)
            accuracy = np.where(n_votes + strength > 0, accuracy, 1.0 / k)
            confusions = _symmetric_confusions(np.clip(accuracy, _FLOOR, 1 - _FLOOR), k)
        else:
            pseudo = _prior_pseudo_counts(
                k, float(self.prior_strength), float(self.prior_accuracy), smoothing=_SMOOTHING
            )
            smoothed = counts + pseudo
            confusions = smoothed / smoothed.sum(axis=2, keepdims=True)
        if previous is not None and model.held.any():
            confusions[model.held] = previous[model.held]
        return confusions

    def _cover(
        self,
        counts: np.ndarray,
        class_mass: np.ndarray,
        overall: np.ndarray,
        model: _Structure,
        previous: np.ndarray | None,
    ) -> np.ndarray | None:
        """(n_sources, K) P(source votes | class), or None when no source's coverage depends
        on the class: its votes' posterior mass per class over the class's mass, with
        ``_COVER_PSEUDO`` pseudo-items per class at its overall coverage; the overall coverage
        (which cancels out of the posteriors) for the other sources."""
        if not model.by_class.any():
            return None
        cover = np.repeat(overall[:, None], counts.shape[1], axis=1)
        mass = counts[model.by_class].sum(axis=2)
        prior = _COVER_PSEUDO * overall[model.by_class, None]
        cover[model.by_class] = (mass + prior) / (class_mass + _COVER_PSEUDO)
        return np.clip(cover, _FLOOR, 1.0 - _FLOOR)

    def _triplet_start(
        self,
        table: PairTable,
        groups: np.ndarray,
        one_sided: np.ndarray,
        n_votes: np.ndarray,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Triplet accuracies, one estimate per dependency group (its first member stands for
        it), and where they are usable (a valid triplet, above the lower clip, not one-sided)."""
        m = n_votes.size
        first_of = np.unique(groups, return_index=True)[1]
        first = np.zeros(m, dtype=bool)
        first[first_of] = True
        squared = triplet_mu(table, m, k, first & ~one_sided & (n_votes > 0))
        squared = squared[first_of][groups]  # members copy their group's estimate
        usable = np.isfinite(squared) & (squared > _MU_LOW**2) & ~one_sided
        mu = np.sqrt(np.clip(np.nan_to_num(squared), _MU_LOW**2, _MU_HIGH**2))
        return ((k - 1) * mu + 1.0) / k, usable

    # ------------------------------------------------------------------ EM

    def _iterations(self, estimate_balance: bool, model: _Structure, by_class: bool) -> int:
        """EM iterations allowed: none when nothing is left to estimate."""
        if not estimate_balance and not by_class and model.held.all():
            return 0
        return int(self.max_iter)

    def _warn(self, converged: bool) -> None:
        if not converged:
            warnings.warn(
                f"{type(self).__name__}: EM stopped at max_iter={self.max_iter} before no "
                f"parameter moved by more than tol={self.tol}; raise `max_iter`.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _em_one_coin(
        self,
        votes: _Votes,
        weights: np.ndarray,
        state: _State,
        model: _Structure,
        estimate_balance: bool,
    ) -> tuple[np.ndarray, _State, int]:
        """EM of the one-coin model with class-free coverage: each item's log-posterior is a
        weighted vote, one compiled pass per iteration (:func:`onecoin_em_step`)."""
        k = votes.k
        strength = float(self.prior_strength) * k
        right = strength * float(self.prior_accuracy)
        chunks = n_chunks_for(votes.source.size)
        posteriors = np.empty((votes.n_items, k))
        accuracy = state.confusions[:, 0, 0].copy()
        balance = state.balance
        max_iter = self._iterations(estimate_balance, model, False)
        converged, done = max_iter == 0, 0

        def step() -> tuple[np.ndarray, np.ndarray, float]:
            vote_weight = weights * _log_odds(accuracy, k)
            log_balance = np.log(np.maximum(balance, _FLOOR))
            return onecoin_em_step(
                votes.indptr,
                votes.source,
                votes.label,
                vote_weight,
                log_balance,
                posteriors,
                chunks,
            )

        for done in range(1, max_iter + 1):  # noqa: B007 - EM iterations, not items
            correct, totals, _ = step()
            denominator = votes.n_votes + strength
            new_accuracy = np.divide(
                correct + right,
                denominator,
                out=np.full(accuracy.shape, 1.0 / k),
                where=denominator > 0,
            )
            new_accuracy = np.where(model.held, accuracy, new_accuracy)
            new_balance = self._balance(totals) if estimate_balance else balance
            delta = max(
                float(np.abs(new_accuracy - accuracy).max()),
                float(np.abs(new_balance - balance).max()),
            )
            accuracy, balance = new_accuracy, new_balance
            if delta <= self.tol:
                converged = True
                break
        self._warn(converged)
        step()  # the posteriors of the final parameters
        posteriors[~votes.labelled] = balance
        return posteriors, _State(_symmetric_confusions(accuracy, k), None, balance), done

    def _em(
        self,
        votes: _Votes,
        weights: np.ndarray,
        state: _State,
        model: _Structure,
        estimate_balance: bool,
    ) -> tuple[np.ndarray, _State, int]:
        """EM with full confusions and/or class-dependent coverage: a table of per-vote
        log-likelihood rows for :func:`em_log_joint`, counts from :func:`em_m_counts`."""
        k, m, n = votes.k, votes.n_sources, votes.n_items
        overall = votes.n_votes / n
        answer = votes.source * k + votes.label
        chunks = n_chunks_for(answer.size)
        posteriors = np.empty((n, k))
        max_iter = self._iterations(estimate_balance, model, state.cover is not None)
        converged, done = max_iter == 0, 0

        def e_step() -> None:
            # table[s * K + l, k] = w_s (log C[s, k, l] + log rho[s, k] - log(1 - rho[s, k])),
            # the abstain terms sum(w_s log(1 - rho[s, k])) go into the prior.
            log_conf = np.log(np.maximum(state.confusions, _FLOOR)).transpose(0, 2, 1)
            log_prior = np.log(np.maximum(state.balance, _FLOOR))
            if state.cover is not None:
                log_conf = log_conf + (np.log(state.cover) - np.log1p(-state.cover))[:, None, :]
                log_prior = log_prior + weights @ np.log1p(-state.cover)
            table = np.ascontiguousarray(log_conf * weights[:, None, None]).reshape(-1, k)
            em_log_joint(votes.indptr, answer, table, log_prior, posteriors, chunks)
            np.exp(posteriors, out=posteriors)

        for done in range(1, max_iter + 1):  # noqa: B007 - EM iterations, not items
            e_step()
            flat, class_totals, _ = em_m_counts(
                votes.indptr, answer, posteriors, m * k, chunks, True
            )
            counts = flat.reshape(m, k, k).transpose(0, 2, 1)  # [source, class, voted]
            confusions = self._confusions(counts, votes.n_votes, model, state.confusions)
            cover = None
            if state.cover is not None:
                class_totals = posteriors.sum(axis=0)
                cover = self._cover(counts, class_totals, overall, model, state.cover)
            balance = self._balance(class_totals) if estimate_balance else state.balance
            new = _State(confusions, cover, balance)
            delta = state.distance(new)
            state = new
            if delta <= self.tol:
                converged = True
                break
        self._warn(converged)
        e_step()
        posteriors /= posteriors.sum(axis=1, keepdims=True)
        posteriors[~votes.labelled] = state.balance
        return posteriors, state, done
