"""Label issues in multi-label data: which tags are wrong, missing or extra.

Thyagarajan, Snorrason, Northcutt & Mueller, "Identifying Incorrect Annotations in Multi-Label
Classification Data" (ICLR 2023 workshop; arXiv:2211.13895). Each class ``j`` is a binary
problem with probabilities ``(1 - p_j, p_j)``; confident learning runs on every binary problem
(one-vs-rest), an example is flagged when any of its tags is, and a per-example label quality
score aggregates the per-class scores by an exponential moving average of the sorted scores
(the worst classes weigh most). Selections agree with cleanlab 2.9's
``multilabel_classification.filter.find_label_issues`` on the same inputs.

Why the pruning can look at candidates only: the final filter drops every (row, class) whose
given label is the binary argmax (within 1e-6), and every other entry has a margin
``q_other - q_given`` above ``CANDIDATE_MARGIN``, which no dropped entry beats. So the top-c
margins of a (class, given label) group are either all candidates, or include every candidate
plus entries that are dropped anyway; selecting among the candidates gives the same result.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd

from labelwise._numerics import FUZZ, serial_when_small
from labelwise._validation import (
    LabelwiseWarning,
    MultilabelInput,
    check_choice,
    check_fraction,
    check_multilabel,
    check_pruning_options,
    check_unit_interval_rows,
    fail,
)
from labelwise.issues import _multilabel_kernels as kernels
from labelwise.issues._kernels import select_top_per_group
from labelwise.issues.confident_joint import THRESHOLD_FLOOR, calibrate_joint
from labelwise.issues.label_issues import METHODS, PRUNING, prune_counts
from labelwise.issues.scores import SCORE_METHODS

AGGREGATORS = ("exponential_moving_average", "softmin", "mean", "min")
_AGGREGATOR_CODES = dict(
    zip(AGGREGATORS, (kernels.EMA, kernels.SOFTMIN, kernels.MEAN, kernels.MIN), strict=True)
)
_SCORE_CODES = dict(
    zip(
        SCORE_METHODS,
        (kernels.SELF_CONFIDENCE, kernels.NORMALIZED_MARGIN, kernels.CONFIDENCE_WEIGHTED_ENTROPY),
        strict=True,
    )
)
#: Threshold of a binary class that no example is given (cleanlab's "never confident" value).
_ABSENT = 2.0


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _n_chunks(n: int) -> int:
    return max(1, min(4 * numba.get_num_threads(), n // 5_000))


@dataclass(frozen=True)
class MultilabelIssues:
    """Which examples carry a wrong, missing or extra tag, and which tag.

    Attributes
    ----------
    is_issue : ndarray of shape (n,), bool
        True for examples with at least one suspect tag.
    score : ndarray of shape (n,), float64
        Label quality in [0, 1] (lower = more likely wrong): the per-class scores of ``rank_by``
        aggregated by an exponential moving average (alpha 0.8) of the sorted scores.
    ranking : ndarray of shape (n_issues,), int64
        Flagged examples, worst first; ties keep row order.
    per_class_issue : ndarray of shape (n, K), bool
        Which (example, class) looks wrong: a given tag that is likely extra, or a missing tag.
    given : ndarray of shape (n, K), bool
        The given tags as an indicator matrix.
    method : str
    classes : tuple or None
        Class names in column order, when given.
    """

    is_issue: np.ndarray
    score: np.ndarray
    ranking: np.ndarray
    per_class_issue: np.ndarray
    given: np.ndarray
    method: str
    classes: tuple[Any, ...] | None = None

    @property
    def n_issues(self) -> int:
        """Number of flagged examples."""
        return int(self.ranking.size)

    def to_frame(self, *, only_issues: bool = False) -> pd.DataFrame:
        """One row per example (or per flagged one, worst first) with its suspect tags."""
        rows = self.ranking if only_issues else np.arange(self.is_issue.size)
        names = np.asarray(
            self.classes if self.classes is not None else range(self.given.shape[1]), dtype=object
        )
        given = self.given[rows]
        suspect = self.per_class_issue[rows]

        def tags(mask: np.ndarray) -> list[list[Any]]:
            r, c = np.nonzero(mask)
            split = np.split(names[c], np.cumsum(np.bincount(r, minlength=mask.shape[0]))[:-1])
            return [list(part) for part in split]

        return pd.DataFrame(
            {
                "index": rows,
                "given_labels": tags(given),
                "likely_extra": tags(given & suspect),
                "likely_missing": tags(~given & suspect),
                "label_quality": self.score[rows],
                "is_label_issue": self.is_issue[rows],
            }
        )


@dataclass(frozen=True)
class _Thresholds:
    cut0: np.ndarray  # (K,) class-0 thresholds minus the fuzz, in the input dtype
    cut1: np.ndarray
    t0: np.ndarray  # (K,) float64 thresholds
    t1: np.ndarray
    positives: np.ndarray  # (K,) int64 number of given positives per class


def _thresholds(data: MultilabelInput) -> _Thresholds:
    """Per-class binary thresholds from one pass, which also checks the probability values."""
    probs = data.pred_probs
    sums, pos_count, broken = kernels.threshold_sums(
        probs, data.indptr, data.indices, _n_chunks(probs.shape[0])
    )
    if broken:
        check_unit_interval_rows(probs, kernels.row_range_defects(probs))
    return thresholds_from_sums(sums, pos_count, probs.shape[0], probs.dtype)


def thresholds_from_sums(
    sums: np.ndarray, pos_count: np.ndarray, n: int, dtype: np.dtype[Any]
) -> _Thresholds:
    """The thresholds from exact class sums (of all rows, or combined over row blocks)."""
    pos_sum, neg_sum = kernels.exact_totals(sums)
    neg_count = n - pos_count
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(pos_count > 0, pos_sum / np.maximum(pos_count, 1), _ABSENT)
        t0 = np.where(neg_count > 0, neg_sum / np.maximum(neg_count, 1), _ABSENT)
    t0, t1 = np.clip(t0, THRESHOLD_FLOOR, None), np.clip(t1, THRESHOLD_FLOOR, None)
    return _Thresholds((t0 - FUZZ).astype(dtype), (t1 - FUZZ).astype(dtype), t0, t1, pos_count)


def _shifts(th: _Thresholds, adjust: bool) -> tuple[np.ndarray, np.ndarray]:
    if not adjust:
        zeros = np.zeros(th.t0.size)
        return zeros, zeros
    top = np.maximum(th.t0, th.t1)
    return th.t0 - top, th.t1 - top


_SCORE_BLOCK_ROWS = 32_768


def _row_scores(
    data: MultilabelInput,
    method: str,
    aggregator: int,
    alpha: float,
    temperature: float,
    shift0: np.ndarray,
    shift1: np.ndarray,
) -> np.ndarray:
    """Aggregated row scores, block by block on a thread pool (the kernels release the GIL).

    Per block: per-class scores (compiled), numpy's SIMD sort along rows for the EMA, then the
    aggregation (compiled). Memory stays at one block per thread.
    """
    probs = data.pred_probs
    n, k = probs.shape
    code = _SCORE_CODES[method]
    plain = code == kernels.SELF_CONFIDENCE and not (shift0.any() or shift1.any())
    dtype = probs.dtype if plain else np.float64
    out = np.empty(n, dtype=np.float64)

    def block(lo: int) -> None:
        hi = min(lo + _SCORE_BLOCK_ROWS, n)
        scores = np.empty((hi - lo, k), dtype=dtype)
        kernels.class_scores_block(
            probs, data.indptr, data.indices, lo, code, shift0, shift1, scores
        )
        if aggregator == kernels.EMA:
            scores.sort(axis=1)
        out[lo:hi] = kernels.aggregate_rows(scores, aggregator, alpha, temperature)

    starts = range(0, n, _SCORE_BLOCK_ROWS)
    if n <= _SCORE_BLOCK_ROWS:
        block(0)
    else:
        with ThreadPoolExecutor(max_workers=numba.get_num_threads()) as pool:
            list(pool.map(block, starts))
    return out


def _check_aggregator(aggregator: str, alpha: float, temperature: float) -> int:
    check_choice(aggregator, "aggregator", AGGREGATORS)
    check_fraction(alpha, "alpha")
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        fail("temperature", "a number > 0", repr(temperature))
    return _AGGREGATOR_CODES[aggregator]


@serial_when_small
def multilabel_quality_scores(
    labels: Any,
    pred_probs: Any,
    *,
    method: str = "self_confidence",
    aggregator: str = "exponential_moving_average",
    alpha: float = 0.8,
    temperature: float = 0.1,
    adjust_pred_probs: bool = False,
    classes: Sequence[Any] | None = None,
) -> np.ndarray:
    """Score how likely each example's set of tags is correct.

    Parameters
    ----------
    labels : indicator matrix (n, K), scipy.sparse matrix, or list of lists of class ids
        The given tags.
    pred_probs : array-like of shape (n, K)
        Out-of-sample, independent per-class probabilities in [0, 1].
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        Per-class score of the binary problem ``(1 - p_j, p_j)``.
    aggregator : {"exponential_moving_average", "softmin", "mean", "min"}
        How per-class scores become one score. The EMA sorts them from best to worst and
        weighs the worst most (``alpha`` its smoothing); softmin weights by
        ``softmax((1 - s) / temperature)``. Thyagarajan et al. (2023) found the EMA best.
    alpha : float in (0, 1], default=0.8
    temperature : float > 0, default=0.1
    adjust_pred_probs : bool, default=False
        Subtract each binary class's confident threshold before scoring.
    classes : sequence, optional
        Column names, when ``labels`` lists tags by name.

    Returns
    -------
    ndarray of shape (n,), float64, in [0, 1]; lower = more likely wrong.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import multilabel_quality_scores
    >>> labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    >>> pred_probs = np.array([[0.9, 0.1, 0.8], [0.2, 0.9, 0.1], [0.1, 0.8, 0.9]])
    >>> multilabel_quality_scores(labels, pred_probs).round(3)
    array([0.82 , 0.82 , 0.128])
    """
    check_choice(method, "method", SCORE_METHODS)
    agg = _check_aggregator(aggregator, alpha, temperature)
    if adjust_pred_probs and method == "confidence_weighted_entropy":
        raise ValueError(
            "`adjust_pred_probs` must be False when method='confidence_weighted_entropy'; got True."
        )
    data = check_multilabel(labels, pred_probs, classes=classes)
    th = _thresholds(data)
    shift0, shift1 = _shifts(th, bool(adjust_pred_probs))
    scores = _row_scores(data, method, agg, float(alpha), float(temperature), shift0, shift1)
    return np.clip(scores, 0.0, 1.0, out=scores)


@serial_when_small
def find_multilabel_issues(
    labels: Any,
    pred_probs: Any,
    *,
    method: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    min_examples_per_class: int = 1,
    rank_by: str = "self_confidence",
    classes: Sequence[Any] | None = None,
) -> MultilabelIssues:
    """Find examples with wrong, missing or extra tags, by one-vs-rest confident learning.

    Parameters
    ----------
    labels : indicator matrix (n, K), scipy.sparse matrix, or list of lists of class ids
        The given tags (0/1 only).
    pred_probs : array-like of shape (n, K)
        Out-of-sample, independent per-class probabilities in [0, 1] (float32 is used in place).
    method : str, default="prune_by_noise_rate"
        Any method of :func:`labelwise.find_label_issues`, applied to each class's binary
        problem; an example is flagged when any of its classes is. ``low_self_confidence`` and
        ``low_normalized_margin`` flag the lowest-scored examples instead, as many as
        ``confident_learning`` flags; their ``per_class_issue`` marks the tags of those
        examples whose given value is not the model's.
    frac_noise : float in (0, 1], default=1.0
        Flag only this fraction of the estimated issues of each class (pruning methods).
    min_examples_per_class : int, default=1
        Binary classes with at most this many examples are not pruned.
    rank_by : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        Per-class score aggregated (EMA, alpha 0.8) into ``score``, which orders ``ranking``.
    classes : sequence, optional
        Column names, when ``labels`` lists tags by name.

    Returns
    -------
    MultilabelIssues

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import find_multilabel_issues
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random((500, 4)) < 0.3
    >>> pred_probs = np.clip(np.where(truth, 0.9, 0.05) + rng.normal(0, 0.03, truth.shape), 0, 1)
    >>> given = truth.copy()
    >>> given[:10, 0] = ~given[:10, 0]              # ten wrong tags, all in class 0
    >>> issues = find_multilabel_issues(given, pred_probs)
    >>> sorted(issues.ranking.tolist())             # confident learning is conservative
    [2, 3, 4, 5, 6, 7, 8, 9]
    >>> issues.per_class_issue.sum(axis=0)          # and it points at the right class
    array([8, 0, 0, 0])
    """
    method, frac_noise, min_examples_per_class = check_pruning_options(
        method, frac_noise, min_examples_per_class, methods=METHODS, pruning=PRUNING
    )
    check_choice(rank_by, "rank_by", SCORE_METHODS)
    data = check_multilabel(labels, pred_probs, classes=classes)
    probs = data.pred_probs
    n, k = probs.shape
    th = _thresholds(data)
    fuzz = np.array([FUZZ], dtype=probs.dtype)
    zeros = np.zeros(k)
    state, joints = kernels.facts_pass(
        probs, data.indptr, data.indices, th.cut0, th.cut1, fuzz, _n_chunks(n)
    )
    score = _row_scores(data, rank_by, kernels.EMA, 0.8, 0.1, zeros, zeros)
    rows, cols, bits, margins, own = kernels.collect_candidates(state, probs)
    given_positive = (bits & kernels.GIVEN_POSITIVE) != 0
    wrong_looking = (bits & kernels.LABEL_IS_TOP) == 0
    if method == "confident_learning":
        chosen = wrong_looking & ((bits & kernels.CONFIDENT_OFF_DIAGONAL) != 0)
    elif method == "predicted_neq_given":
        chosen = wrong_looking
    elif method in ("low_self_confidence", "low_normalized_margin"):
        chosen = _lowest_scored(data, th, method, rank_by, score, rows, bits, wrong_looking)
    else:
        groups = 2 * cols + given_positive
        by_class, by_noise = _prune_caps(
            joints, th.positives, n, min_examples_per_class, frac_noise
        )
        chosen = wrong_looking.copy()
        if method in ("prune_by_class", "both"):
            chosen &= select_top_per_group(-own, groups, by_class)
        if method in ("prune_by_noise_rate", "both"):
            chosen &= select_top_per_group(margins, groups, by_noise)
    # The state matrix is no longer needed: reuse its memory for the per-class flags.
    state[...] = 0
    state[rows[chosen], cols[chosen]] = 1
    per_class: np.ndarray = state.view(np.bool_)
    flagged = np.asarray(per_class.any(axis=1))
    issues = np.flatnonzero(flagged)
    ranking = issues[np.argsort(score[issues], kind="stable")]
    np.clip(score, 0.0, 1.0, out=score)
    given = np.zeros((n, k), dtype=bool)
    given[np.repeat(np.arange(n), np.diff(data.indptr)), data.indices] = True
    return MultilabelIssues(
        is_issue=_frozen(flagged),
        score=_frozen(score),
        ranking=_frozen(ranking.astype(np.int64)),
        per_class_issue=_frozen(per_class),
        given=_frozen(given),
        method=method,
        classes=data.classes,
    )


def _prune_caps(
    joints: np.ndarray, positives: np.ndarray, n: int, min_examples: int, frac_noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per (class, given value) group: how many to prune by class and by noise rate."""
    k = joints.shape[0]
    by_class = np.zeros(2 * k, dtype=np.int64)
    by_noise = np.zeros(2 * k, dtype=np.int64)
    skipped = []
    for j in range(k):  # K tiny 2x2 problems: cheap, and exactly cleanlab's arithmetic
        counts = np.array([n - positives[j], positives[j]], dtype=np.int64)
        raw = np.asfortranarray(joints[j])  # cleanlab's layout: it fixes float sum order
        np.fill_diagonal(raw, np.maximum(raw.diagonal(), 1))
        prune = prune_counts(calibrate_joint(raw, counts), min_examples, frac_noise)
        for y in (0, 1):
            if counts[y] > min_examples:
                by_class[2 * j + y] = max(counts[y] - prune[y, y], 0)
                by_noise[2 * j + y] = prune[y, 1 - y]
            else:
                skipped.append(j)
    if skipped:
        warnings.warn(
            f"classes {sorted(set(skipped))} have a binary side (tag present or absent) with at "
            f"most min_examples_per_class={min_examples} examples, which is not pruned; some "
            "of their label issues may be missed",
            LabelwiseWarning,
            stacklevel=3,
        )
    return by_class, by_noise


def _lowest_scored(
    data: MultilabelInput,
    th: _Thresholds,
    method: str,
    rank_by: str,
    score: np.ndarray,
    rows: np.ndarray,
    bits: np.ndarray,
    wrong_looking: np.ndarray,
) -> np.ndarray:
    """Candidates in the ``n_issues`` lowest-scored rows, ``n_issues`` from confident learning."""
    off_diagonal = wrong_looking & ((bits & kernels.CONFIDENT_OFF_DIAGONAL) != 0)
    n_issues = np.unique(rows[off_diagonal]).size
    base = method[4:]
    if base == rank_by:
        selection_score = score
    else:
        zeros = np.zeros(data.pred_probs.shape[1])
        selection_score = _row_scores(data, base, kernels.EMA, 0.8, 0.1, zeros, zeros)
    n = data.pred_probs.shape[0]
    lowest = select_top_per_group(-selection_score, np.zeros(n, np.int64), np.array([n_issues]))
    return lowest[rows] & wrong_looking
