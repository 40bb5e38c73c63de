"""Per-block partial statistics for multi-class label issues (no Dask here).

Each function takes one row block of ``pred_probs`` (a numpy array), the block's labels and the
global index of its first row, and returns small partial statistics that the driver in
:mod:`labelwise.distributed.issues` combines. They call the same compiled kernels as the
in-memory functions, so combined results are identical to them, not merely close:

- class sums of self-confidence are exact fixed-point digits (integer adds commute);
- the confident joint and the class counts are integer counts;
- every "the c rows with the largest key" selection keeps each block's exact top-c (with
  global row numbers) and the merge takes the top-c of those, ties towards the earlier row,
  which is the in-memory rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise._numerics import ROW_NONFINITE, ROW_SUM_OFF, row_defects
from labelwise._validation import ROW_SUM_TOLERANCE
from labelwise.issues._kernels import (
    N_DIGITS,
    _noise_rate_heaps,
    confident_pass,
    kth_largest_per_group,
    select_top_per_group,
    self_confidence_sums,
)
from labelwise.issues.confident_joint import (
    ConfidentPass,
    _n_chunks,
    confident_cutoffs,
    finish_joint,
)
from labelwise.issues.label_issues import _count_cl_issues
from labelwise.issues.scores import compute_scores


@dataclass(frozen=True)
class BlockStats:
    """First pass over one block: counts, exact class sums, label and row checks."""

    counts: np.ndarray  # (K,) int64
    digits: np.ndarray  # (K, N_DIGITS) int64
    special: np.ndarray  # (K,) float64
    bad_labels: tuple[int, int, object]  # (count, first global index, first value)
    defects: dict[int, tuple[int, int, np.ndarray]]  # code -> (count, first global row, row)
    histogram: np.ndarray | None  # (groups, BINS) int64 counts of the selection keys


@dataclass(frozen=True)
class Candidates:
    """A block's exact top-c survivors of one selection: key, group and global row each."""

    keys: np.ndarray
    groups: np.ndarray
    rows: np.ndarray


#: Bins of the key histograms that bound each selection before it starts (keys in [-1, 0]).
BINS = 4096


def histogram(keys: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups, BINS) counts of ``keys`` (clamped into [-1, 0]) per group."""
    index = np.clip(np.floor((keys + 1.0) * BINS), 0, BINS - 1).astype(np.int64)
    flat = np.bincount(groups * BINS + index, minlength=n_groups * BINS)
    return flat.reshape(n_groups, BINS)


def histogram_floors(counts: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Per group, a key that at least ``caps[g]`` keys reach (-inf when unknown or none).

    The lower edge of the highest bin whose suffix holds ``caps[g]`` keys, lowered by one
    more bin against rounding in the bin index: a safe start for an exact top-c search.
    """
    suffix = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    floors = np.full(caps.size, -np.inf)
    for g in np.flatnonzero(caps > 0):
        reached = np.flatnonzero(suffix[g] >= caps[g])
        if reached.size and reached[-1] >= 2:
            floors[g] = -1.0 + (reached[-1] - 1) / BINS
    return floors


def selection_keys(
    values: np.ndarray, labels: np.ndarray, own: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Keys (larger = selected first) and groups of the per-class or lowest-score selection."""
    if method in ("low_self_confidence", "low_normalized_margin"):
        scores = compute_scores(method[4:], labels, values, own)
        return -scores, np.zeros(labels.size, np.int64), 1
    return -own, labels, int(values.shape[1])


def block_stats(
    values: np.ndarray,
    labels: np.ndarray,
    offset: int,
    n_classes: int,
    check_rows: bool,
    keys_for: str | None = None,
) -> BlockStats:
    labels = np.asarray(labels, dtype=np.int64)
    bad = (labels < 0) | (labels >= n_classes)
    digits = np.zeros((n_classes, N_DIGITS), dtype=np.int64)
    special = np.zeros(n_classes)
    defects: dict[int, tuple[int, int, np.ndarray]] = {}
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        return BlockStats(
            np.zeros(n_classes, np.int64),
            digits,
            special,
            (int(bad.sum()), offset + first, labels[first].item()),
            defects,
            None,
        )
    counts = np.bincount(labels, minlength=n_classes).astype(np.int64)
    hist = None
    if keys_for is not None:
        n_groups = 1 if keys_for.startswith("low_") else n_classes
        hist = np.zeros((n_groups, BINS), np.int64)
    if labels.size:
        own, digits, special = self_confidence_sums(values, labels, _n_chunks(labels.size))
        if keys_for is not None:
            keys, groups, n_groups = selection_keys(values, labels, own, keys_for)
            hist = histogram(keys, groups, n_groups)
        if check_rows:
            codes = row_defects(values, ROW_SUM_TOLERANCE)
            for code in range(ROW_NONFINITE, ROW_SUM_OFF + 1):
                hit = np.flatnonzero(codes == code)
                if hit.size:
                    defects[code] = (int(hit.size), offset + int(hit[0]), values[hit[0]].copy())
    return BlockStats(counts, digits, special, (0, -1, None), defects, hist)


def block_facts(values: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> ConfidentPass:
    """The in-memory ``run_confident_pass`` facts of one block (rows already checked)."""
    labels = np.asarray(labels, dtype=np.int64)
    cutoffs, fuzz = confident_cutoffs(thresholds, values.dtype)
    guess, top, peak, label_is_top, joint, _ = confident_pass(
        values, labels, cutoffs, fuzz, ROW_SUM_TOLERANCE, _n_chunks(labels.size)
    )
    own = values[np.arange(labels.size), labels].astype(np.float64)
    return ConfidentPass(thresholds, own, guess, top, peak, label_is_top, joint)


def block_joint(
    values: np.ndarray, labels: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, int]:
    """The block's raw confident-joint counts and its number of confident-learning issues."""
    k = thresholds.size
    if values.shape[0] == 0:
        return np.zeros((k, k), np.int64), 0
    facts = block_facts(values, labels, thresholds)
    n_cl = int(_count_cl_issues(np.asarray(labels, np.int64), facts).sum())
    return facts.joint, n_cl


def _top_candidates(
    keys: np.ndarray, groups: np.ndarray, caps: np.ndarray, offset: int, floors: np.ndarray
) -> Candidates:
    """The block's exact top-``caps[g]`` keys per group among those at or above the floor."""
    rows = np.flatnonzero(keys >= floors[groups])
    chosen = rows[select_top_per_group(keys[rows], groups[rows], caps)]
    return Candidates(keys[chosen], groups[chosen], chosen + offset)


def block_wrong_margins(
    values: np.ndarray, labels: np.ndarray, offset: int, thresholds: np.ndarray, cells: np.ndarray
) -> Candidates:
    """Top-c margins ``p_top - p_label`` per (label, argmax) cell over the block's rows whose
    label is not the argmax: their merge gives the in-memory search's start floors."""
    k = thresholds.size
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        return Candidates(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))
    facts = block_facts(values, labels, thresholds)
    rows = np.flatnonzero(~facts.label_is_top)
    margins = facts.peak[rows].astype(np.float64) - facts.self_confidence[rows]
    groups = labels[rows] * k + facts.top[rows].astype(np.int64)
    chosen = select_top_per_group(margins, groups, cells.ravel())
    return Candidates(margins[chosen], groups[chosen], rows[chosen] + offset)


def block_candidates(
    values: np.ndarray,
    labels: np.ndarray,
    offset: int,
    thresholds: np.ndarray,
    method: str,
    class_caps: np.ndarray | None,
    class_floors: np.ndarray | None,
    cells: np.ndarray | None,
    cell_floors: np.ndarray | None,
) -> tuple[Candidates | None, Candidates | None]:
    """The block's survivors of the per-class (or lowest-score) and the per-cell selections.

    The floors are lower bounds on the global c-th largest key of each group, so every row
    below them is out of the global top-c and the survivors stay few.
    """
    labels = np.asarray(labels, dtype=np.int64)
    m = labels.size
    k = thresholds.size
    empty = Candidates(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if m == 0:
        return empty, empty
    facts = block_facts(values, labels, thresholds)
    by_class = by_cell = None
    if class_caps is not None and class_floors is not None:
        keys, groups, _ = selection_keys(values, labels, facts.self_confidence, method)
        by_class = _top_candidates(keys, groups, class_caps, offset, class_floors)
    if cells is not None and cell_floors is not None:
        keys, idx, sizes, starts = _noise_rate_heaps(values, labels, cells, cell_floors, 0, m)
        caps = np.diff(starts)
        slot = np.repeat(np.arange(k * k), caps)
        keep = np.arange(starts[-1]) - starts[slot] < sizes[slot]
        by_cell = Candidates(keys[keep], slot[keep], idx[keep] + offset)
    return by_class, by_cell


def merge_floors(parts: list[Candidates], caps: np.ndarray) -> np.ndarray:
    """The ``caps[g]``-th largest key per group over all blocks' survivors (-inf if fewer)."""
    keys = np.concatenate([p.keys for p in parts])
    groups = np.concatenate([p.groups for p in parts]).astype(np.int64)
    return kth_largest_per_group(keys, groups, caps)


def merge_candidates(parts: list[Candidates], caps: np.ndarray) -> np.ndarray:
    """Sorted global rows of the top-``caps[g]`` keys per group over all blocks' survivors."""
    keys = np.concatenate([p.keys for p in parts])
    groups = np.concatenate([p.groups for p in parts]).astype(np.int64)
    rows = np.concatenate([p.rows for p in parts]).astype(np.int64)
    order = np.argsort(rows, kind="stable")
    chosen = select_top_per_group(keys[order], groups[order], caps)
    return np.unique(rows[order][chosen])


def block_issues(
    values: np.ndarray,
    labels: np.ndarray,
    thresholds: np.ndarray,
    method: str,
    selected: np.ndarray | None,
    rank_by: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``is_issue``, ``score`` and ``suggested_label`` of one block.

    ``selected`` holds the block-local rows a selection method chose (None for the methods
    decided row by row).
    """
    labels = np.asarray(labels, dtype=np.int64)
    m = labels.size
    if m == 0:
        return np.zeros(0, bool), np.zeros(0), np.zeros(0, np.int64)
    facts = block_facts(values, labels, thresholds)
    if method == "confident_learning":
        flagged = _count_cl_issues(labels, facts)
    elif method == "predicted_neq_given":
        flagged = (facts.top != labels) & ~facts.label_is_top
    else:
        flagged = np.zeros(m, dtype=bool)
        flagged[selected] = True
        if method not in ("low_self_confidence", "low_normalized_margin"):
            flagged &= ~facts.label_is_top
    score = compute_scores(rank_by, labels, values, facts.self_confidence)
    return flagged, score, facts.top.astype(np.int64)


def block_scores(
    values: np.ndarray, labels: np.ndarray, method: str, thresholds: np.ndarray | None
) -> np.ndarray:
    """``label_quality_scores`` of one block (rows already checked)."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        return np.zeros(0)
    own = values[np.arange(labels.size), labels].astype(np.float64)
    return compute_scores(method, labels, values, own, thresholds=thresholds)


__all__ = [
    "BlockStats",
    "Candidates",
    "block_candidates",
    "block_issues",
    "block_joint",
    "block_scores",
    "block_stats",
    "block_wrong_margins",
    "finish_joint",
    "histogram_floors",
    "merge_candidates",
    "merge_floors",
]
