"""How much the sources agree, and whether plain majority vote is already good enough.

``annotator_agreement`` summarises inter-annotator agreement: the pairwise agreement rate and
Cohen's kappa between every two sources (over the items both labelled) and Krippendorff's
alpha for nominal data over all items. ``majority_vote_is_sufficient`` estimates annotator
accuracies with a one-coin model and checks whether majority vote already gives the labels the
optimal (MAP) rule would give, following Purificato et al. (2025). All of it runs on sparse
products of the annotation arrays, with no loop over items or pairs of sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from labelwise._validation import check_fraction, check_int, check_positive
from labelwise.aggregate._base import check_annotations, vote_shares
from labelwise.annotations import Annotations

#: Accuracies are kept in [ACCURACY_CLIP, 1 - ACCURACY_CLIP] so that log-odds stay finite.
ACCURACY_CLIP = 1e-3


@dataclass(frozen=True)
class AgreementSummary:
    """Inter-annotator agreement of a set of annotations.

    Attributes
    ----------
    overlap : ndarray of shape (n_sources, n_sources), int64
        Items labelled by both sources (the diagonal: items each source labelled).
    pairwise_agreement : ndarray of shape (n_sources, n_sources)
        Share of the shared items on which the two sources gave the same label; NaN without
        shared items.
    pairwise_kappa : ndarray of shape (n_sources, n_sources)
        Cohen's kappa over the shared items; NaN where undefined (no shared items, or both
        sources used one and the same class only, so chance agreement is 1).
    mean_kappa : float
        Mean of ``pairwise_kappa`` over the pairs of distinct sources where it is defined
        (NaN when none is).
    krippendorff_alpha : float
        Krippendorff's alpha for nominal data, over the items with two or more annotations;
        NaN when undefined (fewer than two such annotations, or a single class used).
    """

    overlap: np.ndarray
    pairwise_agreement: np.ndarray
    pairwise_kappa: np.ndarray
    mean_kappa: float
    krippendorff_alpha: float


def _last_per_pair(annotations: Annotations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item, source, label) with one answer per (item, source): the last, as ``to_matrix``."""
    key = annotations.item * annotations.n_sources + annotations.source
    reversed_first = np.unique(key[::-1], return_index=True)[1]
    keep = np.sort(annotations.n_annotations - 1 - reversed_first)
    return annotations.item[keep], annotations.source[keep], annotations.label[keep]


def _krippendorff_alpha_nominal(counts: sparse.csr_matrix) -> float:
    """Nominal alpha from the (n_items, K) vote counts (Krippendorff 2011, coincidences)."""
    per_item = np.asarray(counts.sum(axis=1)).ravel()
    pairable = per_item >= 2
    if not pairable.any():
        return float("nan")
    values = counts[pairable].astype(np.float64)
    weight = sparse.diags(1.0 / (per_item[pairable] - 1.0))
    # o[c, k] = sum_u n_uc (n_uk - [c == k]) / (m_u - 1)
    coincidences = np.asarray((values.T @ weight @ values).toarray())
    coincidences -= np.diag(np.asarray((weight @ values).sum(axis=0)).ravel())
    marginals = coincidences.sum(axis=1)
    total = marginals.sum()
    observed = total - np.trace(coincidences)
    expected = (total**2 - np.sum(marginals**2)) / (total - 1.0)
    if expected <= 0:
        return float("nan")
    return float(1.0 - observed / expected)


def annotator_agreement(annotations: Annotations) -> AgreementSummary:
    """Pairwise agreement, Cohen's kappa and Krippendorff's alpha of the sources.

    Cohen's kappa (Cohen 1960) compares two sources on the items both labelled:
    ``(p_o - p_e) / (1 - p_e)`` with ``p_o`` their agreement rate and ``p_e`` the agreement
    expected from their own class frequencies on those items. Krippendorff's alpha (nominal;
    Krippendorff 2011, "Computing Krippendorff's alpha-reliability") is
    ``1 - D_o / D_e`` from the coincidence matrix of all pairable values, so it uses every
    item with two or more annotations, whoever gave them.

    When one source labelled an item more than once (``duplicates="keep"``) the pairwise
    numbers use its last answer (as ``Annotations.to_matrix``); alpha counts every answer.

    Parameters
    ----------
    annotations : Annotations

    Returns
    -------
    AgreementSummary

    Examples
    --------
    >>> from labelwise import Annotations
    >>> from labelwise.aggregate import annotator_agreement
    >>> ann = Annotations.from_matrix([[0, 0, 1], [1, 1, 1], [0, 0, -1], [1, 0, 0]])
    >>> summary = annotator_agreement(ann)
    >>> summary.pairwise_agreement[0, 1], summary.overlap[0, 2]
    (np.float64(0.75), np.int64(3))
    >>> round(summary.krippendorff_alpha, 3)
    0.333
    """
    checked = check_annotations(annotations, min_classes=1)
    m, k = checked.n_sources, checked.n_classes
    item, source, label = _last_per_pair(checked)
    shape = (checked.n_items, m)
    labelled = sparse.csr_matrix((np.ones(item.size), (item, source)), shape=shape)
    overlap = np.asarray((labelled.T @ labelled).toarray()).round().astype(np.int64)
    # (n_items, m*K) one-hot of (source, label): column source*K + label
    by_class = sparse.csr_matrix(
        (np.ones(item.size), (item, source * k + label)), shape=(checked.n_items, m * k)
    )
    agree = np.zeros((m, m))
    for c in range(k):  # K sparse products, one per class; no loop over items or pairs
        one_class = by_class[:, c::k]
        agree += (one_class.T @ one_class).toarray()
    # marginal[s, c, t]: items labelled c by s among those t also labelled
    marginal = np.asarray((by_class.T @ labelled).toarray()).reshape(m, k, m)
    chance_pairs = np.einsum("sct,tcs->st", marginal, marginal)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = agree / overlap
        p_e = chance_pairs / overlap.astype(np.float64) ** 2
        kappa = (p_o - p_e) / (1.0 - p_e)
    kappa[(overlap == 0) | np.isclose(p_e, 1.0)] = np.nan
    p_o[overlap == 0] = np.nan
    upper = kappa[np.triu_indices(m, 1)]
    defined = upper[np.isfinite(upper)]
    return AgreementSummary(
        overlap=overlap,
        pairwise_agreement=p_o,
        pairwise_kappa=kappa,
        mean_kappa=float(defined.mean()) if defined.size else float("nan"),
        krippendorff_alpha=_krippendorff_alpha_nominal(checked.vote_counts()),
    )


# ---------------------------------------------------------------- majority vote sufficiency


@dataclass(frozen=True)
class MajorityVoteCheck:
    """Whether majority vote already gives the optimal labels, and why.

    Attributes
    ----------
    sufficient : bool
        ``excess_error <= tolerance``.
    accuracies : ndarray of shape (n_sources,)
        Estimated accuracy of each source (one-coin model; NaN for a source with no answer).
    class_prior : ndarray of shape (K,)
        Estimated class distribution.
    excess_error : float
        Estimated error of majority vote (ties broken uniformly at random) minus that of the
        MAP rule, under the fitted model, averaged over the labelled items: how much accuracy
        a model-based aggregator could add.
    mismatch_rate : float
        Share of labelled items whose MAP label is not among majority vote's (tied) winners.
    accuracy_spread : float
        Standard deviation of the accuracies, weighted by each source's number of answers.
    mean_labels_per_item : float
        Mean number of annotations of the labelled items.
    prior_within_one_vote : bool
        The closed-form condition of Purificato et al. for annotators of equal accuracy ``p``
        (one-coin): majority vote equals the MAP rule on every vote pattern exactly when no
        class prior outweighs a one-vote margin, ``log(max pi / min pi) < log((K - 1) p /
        (1 - p))``; for two classes this is their ``rho < nu < 1 - rho`` (error rate ``rho``,
        class share ``nu``). Evaluated at the answer-weighted mean accuracy; when the
        accuracies differ, ``excess_error`` is the figure that decides.
    n_iter : int
        EM iterations used.
    reason : str
        One line saying why.
    """

    sufficient: bool
    accuracies: np.ndarray
    class_prior: np.ndarray
    excess_error: float
    mismatch_rate: float
    accuracy_spread: float
    mean_labels_per_item: float
    prior_within_one_vote: bool
    n_iter: int
    reason: str


def _one_coin_em(
    annotations: Annotations, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One-coin Dawid-Skene EM: (posteriors, accuracies, prior, iterations)."""
    k, m = annotations.n_classes, annotations.n_sources
    item, source, label = annotations.item, annotations.source, annotations.label
    answered = np.bincount(source, minlength=m)
    posteriors = vote_shares(annotations)
    accuracies = np.full(m, np.nan)
    prior = np.full(k, 1.0 / k)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        hits = np.bincount(source, weights=posteriors[item, label], minlength=m)
        new = np.divide(hits, answered, out=np.full(m, np.nan), where=answered > 0)
        new = np.clip(new, ACCURACY_CLIP, 1.0 - ACCURACY_CLIP)
        prior = np.clip(posteriors.mean(axis=0), ACCURACY_CLIP, None)
        prior /= prior.sum()
        log_post = _log_posteriors(annotations, new, prior)
        posteriors = np.exp(log_post - log_post.max(axis=1, keepdims=True))
        posteriors /= posteriors.sum(axis=1, keepdims=True)
        change = np.nanmax(np.abs(new - accuracies)) if n_iter > 1 else np.inf
        accuracies = new
        if change < tol:
            break
    return posteriors, accuracies, prior, n_iter


def _log_posteriors(
    annotations: Annotations, accuracies: np.ndarray, prior: np.ndarray
) -> np.ndarray:
    """Unnormalised log P(class | votes) under the one-coin model (constant terms dropped)."""
    k = annotations.n_classes
    log_odds = np.log(accuracies * (k - 1) / (1.0 - accuracies))
    log_odds = np.nan_to_num(log_odds)
    weights = sparse.csr_matrix(
        (log_odds[annotations.source], (annotations.item, annotations.label)),
        shape=(annotations.n_items, k),
    ).toarray()
    return np.log(prior)[None, :] + weights


def majority_vote_is_sufficient(
    annotations: Annotations,
    *,
    tolerance: float = 0.01,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> MajorityVoteCheck:
    """Check whether majority vote is already the optimal aggregation for these annotations.

    Purificato et al. (2025), "The Majority Vote Paradigm Shift: When Popular Meets Optimal"
    (arXiv:2502.12581), characterise when majority vote (MV) gives the same labels as the
    oracle MAP rule under class-conditional annotator noise: it does when the annotators'
    reliabilities are close to each other, the class distribution is not too skewed for the
    number of labels per item, and the noise is within the tolerable limits; they certify it
    from estimated parameters. This function applies that criterion directly to the data at
    hand, in the symmetric (one-coin) model:

    1. estimate each source's accuracy ``p_j`` and the class prior ``pi`` by one-coin
       Dawid-Skene EM (initialised from vote shares);
    2. the MAP label of item ``i`` is ``argmax_k log pi_k + sum_{j votes k} log((K-1) p_j /
       (1 - p_j))``; MV is ``argmax_k`` of the vote count, ties split uniformly;
    3. with the fitted posteriors ``q_i``, MV's expected accuracy on item ``i`` is the mean of
       ``q_i`` over its tied winners, MAP's is ``max_k q_ik``; ``excess_error`` is the mean
       difference over the labelled items, and MV is declared sufficient when
       ``excess_error <= tolerance`` (MV then attains the optimal error up to the tolerance).

    With equal accuracies and a uniform prior the two rules coincide (up to ties); heterogeneous
    accuracies, a skewed prior with few labels per item, or adversarial sources (``p_j`` below
    chance) make them differ. ``accuracy_spread`` and ``mean_labels_per_item`` are reported
    to explain the verdict.

    Parameters
    ----------
    annotations : Annotations
    tolerance : float, default=0.01
        Largest excess error of MV over MAP at which MV still counts as sufficient, in [0, 1].
    max_iter : int, default=100
        EM iterations at most.
    tol : float, default=1e-6
        EM stops when no accuracy moves more than this.

    Returns
    -------
    MajorityVoteCheck

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.aggregate import majority_vote_is_sufficient
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.integers(0, 2, 500)
    >>> right = rng.random((500, 5)) < 0.8
    >>> votes = np.where(right, truth[:, None], 1 - truth[:, None])
    >>> check = majority_vote_is_sufficient(Annotations.from_matrix(votes))
    >>> check.sufficient, np.round(check.accuracies, 1)
    (True, array([0.8, 0.8, 0.8, 0.8, 0.8]))
    """
    checked = check_annotations(annotations)
    tolerance = check_fraction(tolerance, "tolerance", allow_zero=True)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    tol = check_positive(tol, "tol")
    posteriors, accuracies, prior, n_iter = _one_coin_em(checked, max_iter, tol)
    answered = checked.source_counts()
    accuracies = np.where(answered > 0, accuracies, np.nan)

    counts = checked.vote_counts().toarray()
    per_item = counts.sum(axis=1)
    labelled = per_item > 0
    tied = counts == counts.max(axis=1, keepdims=True)
    map_label = np.argmax(posteriors, axis=1)
    rows = np.arange(checked.n_items)
    mismatch = float(np.mean(~tied[rows, map_label][labelled]))
    mv_correct = (posteriors * tied).sum(axis=1) / tied.sum(axis=1)
    excess = float(np.mean((posteriors[rows, map_label] - mv_correct)[labelled]))

    seen = answered > 0
    mean_acc = np.average(accuracies[seen], weights=answered[seen])
    spread = float(np.sqrt(np.average((accuracies[seen] - mean_acc) ** 2, weights=answered[seen])))
    mean_labels = float(per_item[labelled].mean())
    # Purificato et al.'s equal-accuracy condition: one vote's log-odds weight beats every
    # prior ratio (a chance-level mean accuracy gives a weight <= 0, so it cannot hold).
    k = checked.n_classes
    p_mean = float(np.clip(mean_acc, 1e-12, 1 - 1e-12))
    vote_weight = np.log((k - 1) * p_mean / (1.0 - p_mean))
    prior_ratio = float(np.log(prior.max() / max(prior.min(), 1e-300)))
    within_one_vote = bool(prior_ratio < vote_weight)
    sufficient = excess <= tolerance
    verdict = "sufficient" if sufficient else "not sufficient"
    reason = (
        f"majority vote is {verdict}: its estimated error exceeds the one-coin MAP rule's by "
        f"{excess:.1%} (tolerance {tolerance:.1%}; labels differ on {mismatch:.1%} of "
        f"items); accuracies "
        f"{np.nanmin(accuracies):.2f}-{np.nanmax(accuracies):.2f} (spread {spread:.2f}), "
        f"{mean_labels:.1f} labels per item, largest class prior {prior.max():.2f}; "
        f"with equal accuracies ({mean_acc:.2f}) the prior "
        f"{'stays within' if within_one_vote else 'outweighs'} one vote."
    )
    return MajorityVoteCheck(
        sufficient=bool(sufficient),
        accuracies=accuracies,
        class_prior=prior,
        excess_error=excess,
        mismatch_rate=mismatch,
        accuracy_spread=spread,
        mean_labels_per_item=mean_labels,
        prior_within_one_vote=within_one_vote,
        n_iter=n_iter,
        reason=reason,
    )
