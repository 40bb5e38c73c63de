"""Find the examples whose given label is likely wrong (multi-class).

Confident learning (Northcutt, Jiang & Chuang, JAIR 2021) with the selection rules of
cleanlab 2.x, so results agree with ``cleanlab.filter.find_label_issues`` on the same inputs:

- ``prune_by_class``: in each class ``k``, flag the ``n_k - C[k, k]`` examples with the lowest
  probability of ``k`` (``C`` the calibrated confident joint).
- ``prune_by_noise_rate``: for each off-diagonal cell ``(k, j)``, flag the ``C[k, j]`` examples
  labelled ``k`` with the largest margin ``p_j - p_k``.
- ``both``: flagged by both of the above.
- ``confident_learning``: the off-diagonal examples of the (uncalibrated) confident joint.
- ``predicted_neq_given``: the argmax differs from the given label.
- ``low_self_confidence`` / ``low_normalized_margin``: the lowest-scored examples, as many as
  the confident-learning estimate of the number of issues.

All but the last two never flag an example whose given label is (within 1e-6) the argmax.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd

from labelwise._numerics import round_preserving_row_totals, serial_when_small
from labelwise._validation import (
    LabelwiseWarning,
    check_choice,
    check_classification,
    check_pruning_options,
)
from labelwise.issues._kernels import (
    kth_largest_per_group,
    select_by_noise_rate,
    select_top_per_group,
)
from labelwise.issues.confident_joint import (
    ConfidentPass,
    calibrate_joint,
    run_confident_pass,
)
from labelwise.issues.scores import SCORE_METHODS, compute_scores

METHODS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_self_confidence",
    "low_normalized_margin",
)
PRUNING = ("prune_by_noise_rate", "prune_by_class", "both")


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class LabelIssues:
    """Which given labels look wrong, how likely each label is right, and what to use instead.

    Attributes
    ----------
    is_issue : ndarray of shape (n,), bool
        True for examples whose given label is likely wrong.
    score : ndarray of shape (n,), float64
        Label quality in [0, 1] (lower = more likely wrong), by ``rank_by``.
    ranking : ndarray of shape (n_issues,), int64
        Indices of the flagged examples, worst (lowest score) first; ties keep row order.
    suggested_label : ndarray of shape (n,), int64
        The most probable class under ``pred_probs`` (equals the given label where the model
        agrees with it).
    given_label : ndarray of shape (n,), int64
        The given labels as class ids.
    method : str
        The detection method used.
    classes : tuple or None
        Class names in id order when labels were given as names, else None.
    """

    is_issue: np.ndarray
    score: np.ndarray
    ranking: np.ndarray
    suggested_label: np.ndarray
    given_label: np.ndarray
    method: str
    classes: tuple[Any, ...] | None = None

    @property
    def n_issues(self) -> int:
        """Number of flagged examples."""
        return int(self.ranking.size)

    def to_frame(self, *, only_issues: bool = False) -> pd.DataFrame:
        """One row per example (or per flagged example, worst first), with class names if known."""
        rows = self.ranking if only_issues else np.arange(self.is_issue.size)
        given, suggested = self.given_label[rows], self.suggested_label[rows]
        if self.classes is not None:
            names = np.asarray(self.classes, dtype=object)
            given, suggested = names[given], names[suggested]
        return pd.DataFrame(
            {
                "index": rows,
                "given_label": given,
                "suggested_label": suggested,
                "label_quality": self.score[rows],
                "is_label_issue": self.is_issue[rows],
            }
        )


def prune_counts(joint: np.ndarray, min_examples: int, frac_noise: float) -> np.ndarray:
    """How many examples to prune per (given, true) cell, (K, K) int64 in given x true order.

    Diagonal cells are raised to ``min_examples`` (taking the difference evenly from the
    non-zero noise cells of that class), then off-diagonal cells are scaled by ``frac_noise``
    with the difference moved to the diagonal, as in cleanlab's ``_keep_at_least_n_per_class``.
    """
    # Work in cleanlab's orientation (true x given) so every rounding step matches it.
    matrix = joint.T.astype(np.float64)
    diagonal = matrix.diagonal().copy()
    raised = np.maximum(diagonal, min_examples)
    per_cell = (raised - diagonal) / np.maximum(np.count_nonzero(matrix, axis=0) - 1.0, 1.0)
    adjusted = np.clip(matrix - per_cell, 0.0, None)
    np.fill_diagonal(adjusted, raised)
    reduced = adjusted * frac_noise
    np.fill_diagonal(reduced, raised)
    # Move what frac_noise removed from each column onto its diagonal, keeping column totals.
    np.fill_diagonal(reduced, raised + (adjusted - reduced).sum(axis=0))
    return round_preserving_row_totals(reduced.astype(np.int64)).T


def _start_floors(labels: np.ndarray, facts: ConfidentPass, cells: np.ndarray) -> np.ndarray:
    """Lower bounds on each cell's c-th largest margin, from rows already known to be wrong.

    A row labelled k whose argmax is j has margin ``p_j - p_k`` in cell (k, j). The c-th
    largest margin among such rows cannot exceed the c-th largest among all rows labelled k,
    so it is a safe starting floor for the exact search (-inf where fewer than c such rows).
    """
    k = cells.shape[0]
    rows = np.flatnonzero(~facts.label_is_top)
    top = facts.top[rows].astype(np.int64)
    margins = facts.peak[rows].astype(np.float64) - facts.self_confidence[rows]
    groups = labels[rows] * k + top
    return kth_largest_per_group(margins, groups, cells.ravel())


def _count_cl_issues(labels: np.ndarray, facts: ConfidentPass) -> np.ndarray:
    return (facts.guess >= 0) & (facts.guess != labels) & ~facts.label_is_top


def _flag(
    method: str,
    labels: np.ndarray,
    pred_probs: np.ndarray,
    counts: np.ndarray,
    facts: ConfidentPass,
    *,
    frac_noise: float,
    min_examples_per_class: int,
) -> np.ndarray:
    if method == "confident_learning":
        return _count_cl_issues(labels, facts)
    if method == "predicted_neq_given":
        return (facts.top != labels) & ~facts.label_is_top
    if method in ("low_self_confidence", "low_normalized_margin"):
        n_issues = int(_count_cl_issues(labels, facts).sum())
        scores = compute_scores(method[4:], labels, pred_probs, facts.self_confidence)
        return select_top_per_group(-scores, np.zeros(labels.size, np.int64), np.array([n_issues]))
    class_caps, cells = pruning_plan(
        method,
        counts,
        facts.joint,
        frac_noise=frac_noise,
        min_examples_per_class=min_examples_per_class,
        stacklevel=5,
    )
    flagged = np.ones(labels.size, dtype=bool)
    if class_caps is not None:
        flagged &= select_top_per_group(-facts.self_confidence, labels, class_caps)
    if cells is not None:
        floors = _start_floors(labels, facts, cells)
        flagged &= select_by_noise_rate(pred_probs, labels, cells, floors, numba.get_num_threads())
    return flagged & ~facts.label_is_top


def pruning_plan(
    method: str,
    counts: np.ndarray,
    raw_joint: np.ndarray,
    *,
    frac_noise: float,
    min_examples_per_class: int,
    stacklevel: int,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """How many rows a pruning method flags: per given class (lowest self-confidence first),
    and per off-diagonal (given, true) cell (largest margin first); None where not used.

    Depends only on class counts and the raw confident joint, so the chunked and Dask paths
    compute the same plan from their combined partial statistics.
    """
    joint = calibrate_joint(raw_joint, counts)
    prune = prune_counts(joint, min_examples_per_class, frac_noise)
    eligible = counts > min_examples_per_class
    if not eligible.all():
        small = np.flatnonzero(~eligible).tolist()
        warnings.warn(
            f"classes {small} have at most min_examples_per_class={min_examples_per_class} "
            "examples and are not pruned; some of their label issues may be missed",
            LabelwiseWarning,
            stacklevel=stacklevel,
        )
    class_caps = cells = None
    if method in ("prune_by_class", "both"):
        class_caps = np.where(eligible, counts - prune.diagonal(), 0)
    if method in ("prune_by_noise_rate", "both"):
        cells = np.where(eligible[:, None], prune, 0)
        np.fill_diagonal(cells, 0)
    return class_caps, cells


@serial_when_small
def find_label_issues(
    labels: Any,
    pred_probs: Any,
    *,
    method: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    min_examples_per_class: int = 1,
    rank_by: str = "self_confidence",
    classes: Sequence[Any] | None = None,
) -> LabelIssues:
    """Find examples whose given label is likely wrong, by confident learning.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Given labels: class ids ``0..K-1`` or class names (see ``classes``). Every class
        must occur at least once.
    pred_probs : array-like of shape (n, K)
        **Out-of-sample** predicted probabilities (e.g. from :func:`cross_val_pred_probs`);
        rows sum to one. float32 and float64 are used as they are, without a copy, and may be
        memory-mapped: extra memory is O(n + K^2), never O(n * K).
    method : str, default="prune_by_noise_rate"
        One of ``"prune_by_noise_rate"``, ``"prune_by_class"``, ``"both"``,
        ``"confident_learning"``, ``"predicted_neq_given"``, ``"low_self_confidence"``,
        ``"low_normalized_margin"`` (see the module docstring).
    frac_noise : float in (0, 1], default=1.0
        Flag only this fraction of the estimated issues (pruning methods only).
    min_examples_per_class : int, default=1
        Classes with at most this many examples are left unpruned (pruning methods), and no
        class is pruned below this many examples.
    rank_by : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        Score used for ``LabelIssues.score`` and the order of ``LabelIssues.ranking``.
    classes : sequence, optional
        Class names in the column order of ``pred_probs``, when ``labels`` holds names.

    Returns
    -------
    LabelIssues

    References
    ----------
    Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels",
    Journal of Artificial Intelligence Research 70 (2021).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import find_label_issues
    >>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> pred_probs = np.array([[.9, .1], [.8, .2], [.9, .1], [.1, .9],
    ...                        [.2, .8], [.1, .9], [.3, .7], [.95, .05]])
    >>> issues = find_label_issues(labels, pred_probs)
    >>> issues.ranking
    array([7, 3])
    >>> issues.suggested_label[issues.ranking]
    array([0, 1])
    """
    method, frac_noise, min_examples_per_class = check_pruning_options(
        method, frac_noise, min_examples_per_class, methods=METHODS, pruning=PRUNING
    )
    check_choice(rank_by, "rank_by", SCORE_METHODS)
    data = check_classification(labels, pred_probs, classes=classes, check_rows=False)
    facts = run_confident_pass(data.labels, data.pred_probs, data.class_counts)
    flagged = _flag(
        method,
        data.labels,
        data.pred_probs,
        data.class_counts,
        facts,
        frac_noise=frac_noise,
        min_examples_per_class=min_examples_per_class,
    )
    score = compute_scores(rank_by, data.labels, data.pred_probs, facts.self_confidence)
    issues = np.flatnonzero(flagged)
    ranking = issues[np.argsort(score[issues], kind="stable")]
    return LabelIssues(
        is_issue=_frozen(flagged),
        score=_frozen(score),
        ranking=_frozen(ranking.astype(np.int64)),
        suggested_label=_frozen(facts.top.astype(np.int64)),
        given_label=_frozen(data.labels.copy()),
        method=method,
        classes=data.classes,
    )
