"""Per-block partial statistics for multi-label label issues (no Dask here).

Each function takes one row block of ``pred_probs`` and of the 0/1 indicator matrix (numpy
arrays) and calls the in-memory kernels of :mod:`labelwise.issues.multilabel` on it:

- the class sums behind the binary thresholds are exact fixed-point integers (they add up to
  the in-memory sums over any split of the rows);
- the per-class confident joints are integer counts;
- each "c entries with the largest key" selection keeps every block's exact top-c (with global
  ids: the row for the lowest-score selection, ``row * K + class`` for the per-(class, given
  value) pruning), and the merge takes the top-c of those, ties towards the earlier entry in
  row-major order, which is the in-memory rule;
- scores and the per-entry facts depend on their own row only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise._numerics import FUZZ, ROW_ABOVE_ONE, ROW_NEGATIVE, ROW_NONFINITE
from labelwise._validation import MultilabelInput
from labelwise.distributed._blocks import Candidates, histogram
from labelwise.issues import _multilabel_kernels as kernels
from labelwise.issues._kernels import select_top_per_group
from labelwise.issues.multilabel import _n_chunks, _row_scores, _Thresholds

LOW = ("low_self_confidence", "low_normalized_margin")


def block_input(values: np.ndarray, labels: np.ndarray) -> MultilabelInput:
    """The block's positives as CSR, as :func:`labelwise._validation.check_multilabel` makes."""
    rows, cols = np.nonzero(labels)
    indptr = np.zeros(values.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=values.shape[0]), out=indptr[1:])
    return MultilabelInput(indptr, cols.astype(np.int64), values, None)


@dataclass(frozen=True)
class StatsPart:
    """First pass over one block: exact threshold sums, positives, label and value checks."""

    sums: np.ndarray  # (3, K, EXACT_WIDTH) int64
    positives: np.ndarray  # (K,) int64
    bad_labels: tuple[int, int, int, object]  # (count, global row, column, first value)
    defects: dict[int, tuple[int, int, np.ndarray]]  # code -> (count, global row, row values)


def block_stats(values: np.ndarray, labels: np.ndarray, offset: int) -> StatsPart:
    k = values.shape[1]
    sums = np.zeros((3, k, kernels.EXACT_WIDTH), dtype=np.int64)
    if labels.dtype.kind != "b":
        bad = (labels != 0) & (labels != 1)
        if bad.any():
            row, col = (int(v[0]) for v in np.nonzero(bad))
            first = labels[row, col].item()
            return StatsPart(
                sums, np.zeros(k, np.int64), (int(bad.sum()), offset + row, col, first), {}
            )
    defects: dict[int, tuple[int, int, np.ndarray]] = {}
    positives = np.zeros(k, np.int64)
    if values.shape[0]:
        data = block_input(values, labels)
        sums, positives, broken = kernels.threshold_sums(
            values, data.indptr, data.indices, _n_chunks(values.shape[0])
        )
        if broken:
            codes = kernels.row_range_defects(values)
            for code in (ROW_NONFINITE, ROW_NEGATIVE, ROW_ABOVE_ONE):
                hit = np.flatnonzero(codes == code)
                if hit.size:
                    defects[code] = (int(hit.size), offset + int(hit[0]), values[hit[0]].copy())
    return StatsPart(sums, positives, (0, -1, -1, None), defects)


@dataclass(frozen=True)
class _Facts:
    data: MultilabelInput
    joints: np.ndarray  # (K, 2, 2) int64
    rows: np.ndarray  # the candidate entries, row-major: block row, class, bits, margin, own
    cols: np.ndarray
    bits: np.ndarray
    margins: np.ndarray
    own: np.ndarray

    @property
    def wrong_looking(self) -> np.ndarray:
        return (self.bits & kernels.LABEL_IS_TOP) == 0

    @property
    def groups(self) -> np.ndarray:
        return 2 * self.cols + ((self.bits & kernels.GIVEN_POSITIVE) != 0)


def _facts(values: np.ndarray, labels: np.ndarray, th: _Thresholds) -> _Facts:
    data = block_input(values, labels)
    fuzz = np.array([FUZZ], dtype=values.dtype)
    state, joints = kernels.facts_pass(
        values, data.indptr, data.indices, th.cut0, th.cut1, fuzz, _n_chunks(values.shape[0])
    )
    rows, cols, bits, margins, own = kernels.collect_candidates(state, values)
    return _Facts(data, joints, rows, cols, bits, margins, own)


def _scores(data: MultilabelInput, method: str) -> np.ndarray:
    zeros = np.zeros(data.pred_probs.shape[1])
    return _row_scores(data, method, kernels.EMA, 0.8, 0.1, zeros, zeros)


@dataclass(frozen=True)
class FactsPart:
    """Second pass over one block: joints, confident-learning rows, key histograms."""

    joints: np.ndarray
    n_confident_rows: int
    class_hist: np.ndarray | None  # (2K, BINS) of -own per (class, given value)
    noise_hist: np.ndarray | None  # (2K, BINS) of margin - 1 per (class, given value)
    low_hist: np.ndarray | None  # (1, BINS) of -score


def block_facts(values: np.ndarray, labels: np.ndarray, th: _Thresholds, method: str) -> FactsPart:
    f = _facts(values, labels, th)
    off_diagonal = f.wrong_looking & ((f.bits & kernels.CONFIDENT_OFF_DIAGONAL) != 0)
    n_rows = int(np.unique(f.rows[off_diagonal]).size)
    k2 = 2 * values.shape[1]
    class_hist = noise_hist = low_hist = None
    if method in ("prune_by_class", "both"):
        class_hist = histogram(-f.own, f.groups, k2)
    if method in ("prune_by_noise_rate", "both"):
        noise_hist = histogram(f.margins - 1.0, f.groups, k2)
    if method in LOW:
        score = _scores(f.data, method[4:])
        low_hist = histogram(-score, np.zeros(score.size, np.int64), 1)
    return FactsPart(f.joints, n_rows, class_hist, noise_hist, low_hist)


def _top(
    keys: np.ndarray, groups: np.ndarray, ids: np.ndarray, caps: np.ndarray, floors: np.ndarray
) -> Candidates:
    """The exact top-``caps[g]`` keys per group among those at or above the group's floor."""
    above = np.flatnonzero(keys >= floors[groups])
    chosen = above[select_top_per_group(keys[above], groups[above], caps)]
    return Candidates(keys[chosen], groups[chosen], ids[chosen])


@dataclass(frozen=True)
class Plan:
    """Caps and floors of the selections that ``method`` makes (None where it makes none)."""

    class_caps: np.ndarray | None = None
    class_floors: np.ndarray | None = None
    noise_caps: np.ndarray | None = None
    noise_floors: np.ndarray | None = None
    low_caps: np.ndarray | None = None
    low_floors: np.ndarray | None = None


def block_candidates(
    values: np.ndarray,
    labels: np.ndarray,
    offset: int,
    th: _Thresholds,
    method: str,
    plan: Plan,
) -> tuple[Candidates | None, Candidates | None, Candidates | None]:
    """The block's survivors of the by-class, by-noise-rate and lowest-score selections."""
    f = _facts(values, labels, th)
    k = values.shape[1]
    ids = (f.rows + offset) * k + f.cols
    groups = f.groups
    by_class = by_noise = low = None
    if plan.class_caps is not None and plan.class_floors is not None:
        by_class = _top(-f.own, groups, ids, plan.class_caps, plan.class_floors)
    if plan.noise_caps is not None and plan.noise_floors is not None:
        by_noise = _top(f.margins, groups, ids, plan.noise_caps, plan.noise_floors)
    if plan.low_caps is not None and plan.low_floors is not None:
        score = _scores(f.data, method[4:])
        m = score.size
        low = _top(
            -score, np.zeros(m, np.int64), offset + np.arange(m), plan.low_caps, plan.low_floors
        )
    return by_class, by_noise, low


def block_issues(
    values: np.ndarray,
    labels: np.ndarray,
    th: _Thresholds,
    method: str,
    rank_by: str,
    selected: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``per_class_issue``, ``is_issue`` and the (unclipped) score of one block.

    ``selected`` holds the block-local ids a selection chose: rows for the lowest-score
    methods, ``row * K + class`` for the pruning ones (None for the methods decided entry by
    entry).
    """
    m, k = values.shape
    f = _facts(values, labels, th)
    score = _scores(f.data, rank_by)
    wrong = f.wrong_looking
    if method == "confident_learning":
        chosen = wrong & ((f.bits & kernels.CONFIDENT_OFF_DIAGONAL) != 0)
    elif method == "predicted_neq_given":
        chosen = wrong
    elif method in LOW:
        lowest = np.zeros(m, dtype=bool)
        lowest[selected] = True
        chosen = lowest[f.rows] & wrong
    else:
        assert selected is not None
        chosen = wrong & np.isin(f.rows * k + f.cols, selected, assume_unique=True)
    per_class = np.zeros((m, k), dtype=bool)
    per_class[f.rows[chosen], f.cols[chosen]] = True
    flagged = np.asarray(per_class.any(axis=1))
    return per_class, flagged, score


__all__ = [
    "FactsPart",
    "Plan",
    "StatsPart",
    "block_candidates",
    "block_facts",
    "block_input",
    "block_issues",
    "block_stats",
]
