"""Label model for labeling-function votes, and the detection of dependent (near-duplicate)
labeling functions.

:func:`dependent_source_pairs` finds pairs of sources whose votes are nearly the same set of
(item, label) decisions. :class:`LabelModel` fits a generative model of conditionally
independent labeling functions (closed-form triplet estimates refined by EM), and down-weights
or merges dependent groups so that copies of one rule do not outvote independent ones.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from labelwise._numerics import threads_for
from labelwise._validation import check_choice, check_fraction, check_int, check_positive, fail
from labelwise.aggregate._base import BaseAggregator, check_annotations
from labelwise.aggregate._label_model_data import VoteData, item_rows, votes_of
from labelwise.aggregate._label_model_em import (
    FLOOR,
    EMOptions,
    State,
    Structure,
    symmetric_confusions,
    update_confusions,
    update_cover,
)
from labelwise.aggregate._label_model_predict import posteriors_of_new_votes
from labelwise.aggregate._pairs import PairTable, pair_table, triplet_mu
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
    they co-fire) are flagged only when they fire on nearly the same items. On more than
    131,072 items the counts come from every ``ceil(n_items / 131072)``-th item (evenly spaced;
    the score is a ratio and needs no more).

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


def _most_probable(probas: np.ndarray, balance: np.ndarray) -> np.ndarray:
    """Row argmax; exact ties (e.g. items without votes under a uniform balance) go to the
    larger class share, then the first class."""
    top = probas.max(axis=1, keepdims=True)
    return np.argmax(np.where(probas >= top - 1e-12, balance + 1.0, 0.0), axis=1)


class LabelModel(BaseAggregator):
    """Generative label model for labeling-function (LF) votes, with abstains, an unknown class
    balance and dependent LFs.

    Model (Ratner et al. 2016 and 2019, the Snorkel / MeTaL label model): the true class
    ``y`` of an item follows ``class_balance_``; each LF votes on it or abstains (an abstain is
    no annotation), conditionally independently of the other LFs given ``y``. When LF ``s``
    votes, with ``confusion="one_coin"`` it gives the right class with probability ``a_s`` and
    each wrong class with ``(1 - a_s) / (K - 1)``; with ``"full"``, its votes follow a whole
    confusion matrix (Dawid & Skene 1979), which needs LFs that vote for several classes and
    plenty of votes per LF.

    Whether an LF votes at all (``coverage``): a one-sided LF (at least 99% of its votes for one
    class, as keyword rules that only ever vote "spam") carries its information in *when* it
    votes, so with ``coverage="auto"`` (default) such an LF also gets a per-class chance of
    voting, ``coverages_[s, k]`` = P(``s`` votes | ``y = k``), and its abstains count as
    evidence. Other LFs (and crowd workers, who answer what they are given) keep a coverage
    that does not depend on the class, and their abstains say nothing. ``"by_class"`` gives
    every LF a per-class coverage, ``"shared"`` none: with one-sided LFs and an estimated class
    balance the latter collapses (every vote of the minority class is explained as a mistake).
    With ``confusion="one_coin"``, an LF with a per-class coverage keeps an accuracy of at
    least ``1 / K``: its coverage already fits when it votes, and below that the accuracy only
    relabels its votes as mistakes, which let the fit collapse onto one class (on ws_youtube
    without the LF ``short_comment``: class balance 0.001 / 0.999 from any start).

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
      majority vote instead. The accuracies are then held, and the class balance (unless
      given) and the one-sided LFs' parameters are fitted by EM around them.
    - ``"triplet+em"`` (default): the triplet estimates, refined by EM (maximum a posteriori):
      E-step posteriors per item, M-step accuracies (or confusions) under a weak Beta
      (Dirichlet) prior and the class balance as the mean posterior plus one pseudo-count per
      class, starting from a uniform class balance. Starting close to the optimum, EM needs
      few iterations.
    - ``"em"``: the same EM, started from the weighted majority vote (an M-step on its vote
      shares).

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

    ``probas_`` of an item without any vote is ``class_balance_`` (the abstain evidence of
    one-sided LFs is used only on items with at least one vote). ``labels_`` is the most
    probable class; exact ties go to the class with the larger ``class_balance_`` (then the
    first class). Small inputs run on one thread, large ones on numba's threads; each EM
    iteration is one compiled pass over the votes. Items with the same votes have the same
    posterior, so with few LFs (when an item's votes pack into one 64-bit integer and the
    distinct vote patterns are at most half the items) every pass runs over the patterns,
    each counted as often as it occurs: the same fit, from far fewer rows.

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
    coverage : {"auto", "by_class", "shared"}, default="auto"
    max_iter : int, default=300
        Most EM iterations (a ``ConvergenceWarning`` when reached).
    tol : float, default=1e-4
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
        P(an LF's vote is right | it votes), averaged over the classes of the items it votes
        on. NaN for a source without votes. Also ``source_quality_``.
    confusions_ : ndarray of shape (n_sources, K, K)
        ``confusions_[s, k, l]`` = P(LF ``s`` votes ``l`` | true class ``k``, it votes).
    coverages_ : ndarray of shape (n_sources, K)
        P(LF ``s`` votes | true class ``k``) (the same for every class where the coverage
        does not depend on it).
    class_balance_ : ndarray of shape (K,)
    dependent_pairs_ : DependentPairs
    source_weights_ : ndarray of shape (n_sources,)
        Each LF's weight in the likelihood (``1 / group size`` with ``"downweight"``, else 1).
    sources_ : ndarray of shape (n_sources,)
        The LF ids the attributes above refer to; :meth:`predict_proba` matches new votes'
        LFs to them by id.
    n_iter_ : int
        EM iterations (0 for ``"triplet"`` when nothing is left to fit: a given class balance
        and no one-sided LF).

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
        tol: float = 1e-4,
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
        data = votes_of(annotations)
        # Small inputs (or few distinct vote patterns) run on one thread: waking workers costs
        # more than the passes.
        with threads_for(data.votes.source.size * annotations.n_classes):
            return self._fit_votes(data, given, annotations)

    def _fit_votes(
        self, data: VoteData, given: np.ndarray | None, annotations: Annotations | None = None
    ) -> np.ndarray:
        """The fit on votes held in memory or spread over partitions (``VoteData``): every
        pass over the items goes through ``data``, the rest is the same. ``annotations``: the
        fitted votes when in memory (:meth:`predict_proba` returns ``probas_`` for them)."""
        self._fitted_annotations = None if annotations is None else weakref.ref(annotations)
        k = data.k
        table = data.pair_table()
        pairs = _dependent_pairs(table, data.sources, float(self.dependency_threshold), MIN_OVERLAP)
        groups = pairs.groups
        sizes = np.bincount(groups)
        weights = np.ones(data.n_sources)
        fitted = data
        # What :meth:`predict_proba` scores new votes with: parameters, likelihood weights and
        # the merge groups of the sources the model was fitted on.
        self._scoring: tuple[State, np.ndarray, np.ndarray | None]
        if self.dependencies == "merge" and sizes.max() > 1:
            fitted = data.merged(groups)
            probas, state, n_iter = self._estimate(
                fitted,
                fitted.pair_table(),
                np.ones(fitted.n_sources),
                np.arange(sizes.size),
                given,
            )
            # New votes are merged the same way and scored with the groups' parameters.
            self._scoring = (state, np.ones(fitted.n_sources), groups)
            state = State(
                state.confusions[groups],
                None if state.cover is None else state.cover[groups],
                state.balance,
            )
        else:
            if self.dependencies == "downweight":
                weights = 1.0 / sizes[groups]
            probas, state, n_iter = self._estimate(data, table, weights, groups, given)
            self._scoring = (state, weights, None)
        balance = state.balance
        cover = state.cover
        n_votes = data.source_counts()
        if cover is None:
            cover = np.repeat((n_votes / data.n_items)[:, None], k, axis=1)
        # P(right | votes) = sum_k P(class k | votes) C[s, k, k], P(class k | votes) ~ pi_k rho_sk.
        given_vote = balance * cover
        given_vote /= np.maximum(given_vote.sum(axis=1, keepdims=True), FLOOR)
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
        self.sources_ = data.sources
        self.n_iter_ = n_iter
        labels = _most_probable(probas, balance)
        rows = item_rows(fitted)
        if rows is not None:  # one row per distinct vote pattern: back to items
            self.probas_ = np.take(probas, rows, axis=0)
            labels = labels[rows]
        return labels

    # ------------------------------------------------------------------ scoring

    def predict_proba(self, annotations: Annotations) -> np.ndarray:
        """Class probabilities (columns: ``classes_``) of the items of ``annotations``.

        The annotations the model was fitted on get ``probas_``. Other votes by the same LFs
        (a test split, tomorrow's data; any subset of the LFs and classes, matched by id) get
        the posterior of the fitted model: the E-step of the fit with the fitted parameters.
        Votes from an LF or in a class the fit has not seen are refused.

        Examples
        --------
        >>> from labelwise import Annotations
        >>> from labelwise.aggregate import LabelModel
        >>> from labelwise.simulate import simulate_labeling_functions
        >>> sim = simulate_labeling_functions(4000, 8, 2, random_state=0)
        >>> votes = sim.annotations.to_matrix()  # items x LFs, -1 = abstain
        >>> lm = LabelModel().fit(Annotations.from_matrix(votes[:3000]))
        >>> test = Annotations.from_matrix(votes[3000:])  # 1000 items the fit has not seen
        >>> lm.predict_proba(test).shape
        (1000, 2)
        >>> bool((lm.predict(test) == sim.true_labels[3000:]).mean() > 0.8)
        True
        """
        self._check_fitted("predict_proba")
        checked = self._check_votes(annotations)
        return np.asarray(self.probas_) if self._fitted_on(checked) else self._score(checked)

    def predict(self, annotations: Annotations) -> np.ndarray:
        """The most probable class of each item of ``annotations`` (see :meth:`predict_proba`),
        in the data's own class names; exact ties go to the larger ``class_balance_``."""
        self._check_fitted("predict_proba")
        checked = self._check_votes(annotations)
        if self._fitted_on(checked):
            return np.array(self.labels_, copy=True)
        return self.classes_[_most_probable(self._score(checked), self.class_balance_)]

    @staticmethod
    def _check_votes(annotations: object) -> Annotations:
        """Votes to score: any ``Annotations`` (one class or none voted is fine here)."""
        if not isinstance(annotations, Annotations):
            return check_annotations(annotations)  # raises the TypeError
        return annotations

    def _fitted_on(self, annotations: Annotations) -> bool:
        """Whether ``annotations`` is the object the model was fitted on. A weak reference:
        the model does not keep the votes alive (nor pickle them); other objects, equal
        ones included, are scored from their votes, which gives ``probas_`` again."""
        fitted = getattr(self, "_fitted_annotations", None)
        return fitted is not None and fitted() is annotations

    def _score(self, annotations: Annotations) -> np.ndarray:
        state, weights, merge_groups = self._scoring
        with threads_for(annotations.n_annotations * self.classes_.size):
            return posteriors_of_new_votes(
                annotations, self.sources_, self.classes_, state, weights, merge_groups
            )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_fitted_annotations", None)  # a weak reference does not pickle
        return state

    def _estimate(
        self,
        data: VoteData,
        table: PairTable,
        weights: np.ndarray,
        groups: np.ndarray,
        given: np.ndarray | None,
    ) -> tuple[Any, State, int]:
        """``(probas, state, n_iter)`` for (possibly merged) votes."""
        opts = EMOptions(
            method=self.method,
            confusion=self.confusion,
            prior_strength=float(self.prior_strength),
            prior_accuracy=float(self.prior_accuracy),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            name=type(self).__name__,
        )
        k, m, n = data.k, data.n_sources, data.n_items
        n_votes = data.source_counts()
        # EM starts from a uniform class balance unless one is given: the majority vote's
        # shares over-weight classes with prolific LFs (on ws_sms, ws_hausa and ws_yoruba
        # starting from them ends in worse local optima). The first M-step is on the
        # weighted majority vote.
        balance = given if given is not None else np.full(k, 1.0 / k)
        by_vote, correct = data.share_stats(weights, balance)
        one_sided = by_vote.max(axis=1) >= _ONE_SIDED * np.maximum(n_votes, 1)
        by_class = {"auto": one_sided, "by_class": np.ones(m, dtype=bool)}.get(
            self.coverage, np.zeros(m, dtype=bool)
        )
        model = Structure(by_class, np.zeros(m, dtype=bool))
        counts = None
        share_mass = None
        if self.confusion == "one_coin" and not by_class.any():
            # The one-coin M-step needs only each source's expected right votes.
            strength = opts.prior_strength * k
            accuracy = (correct + strength * opts.prior_accuracy) / np.maximum(
                n_votes + strength, FLOOR
            )
            accuracy = np.where(n_votes + strength > 0, accuracy, 1.0 / k)
            confusions = symmetric_confusions(np.clip(accuracy, FLOOR, 1 - FLOOR), k)
        else:
            by_source, share_mass = data.share_counts(weights, balance)
            counts = by_source.transpose(0, 2, 1)  # [source, class, voted]
            confusions = update_confusions(counts, n_votes, model, None, opts)
        if self.method != "em":
            accuracy, from_triplets = self._triplet_start(table, groups, one_sided, n_votes, k)
            symmetric = symmetric_confusions(np.clip(accuracy, FLOOR, 1 - FLOOR), k)
            confusions[from_triplets] = symmetric[from_triplets]
            if self.method == "triplet":
                model = Structure(model.by_class, from_triplets)
        cover = None
        if counts is not None and share_mass is not None:
            cover = update_cover(counts, share_mass, n_votes / n, model)
        state = State(confusions, cover, balance)
        one_coin = self.confusion == "one_coin" and cover is None
        return data.em(one_coin, weights, state, model, given is None, opts)

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
