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
    select_top_per_group,
    self_confidence_sums,
)
from labelwise.issues.confident_joint import (
    ConfidentPass,
    _n_chunks,
    confident_cutoffs,
    finish_joint,
)
from labelwise.issues.label_issues import _count_cl_issues, _start_floors
from labelwise.issues.scores import compute_scores


@dataclass(frozen=True)
class BlockStats:
    """First pass over one block: counts, exact class sums, label and row checks."""

    counts: np.ndarray  # (K,) int64
    digits: np.ndarray  # (K, N_DIGITS) int64
    special: np.ndarray  # (K,) float64
    bad_labels: tuple[int, int, object]  # (count, first global index, first value)
    defects: dict[int, tuple[int, int, np.ndarray]]  # code -> (count, first global row, row)


@dataclass(frozen=True)
class Candidates:
    """A block's exact top-c survivors of one selection: key, group and global row each."""

    keys: np.ndarray
    groups: np.ndarray
    rows: np.ndarray


def block_stats(
    values: np.ndarray, labels: np.ndarray, offset: int, n_classes: int, check_rows: bool
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
        )
    counts = np.bincount(labels, minlength=n_classes).astype(np.int64)
    if labels.size:
        _, digits, special = self_confidence_sums(values, labels, _n_chunks(labels.size))
        if check_rows:
            codes = row_defects(values, ROW_SUM_TOLERANCE)
            for code in range(ROW_NONFINITE, ROW_SUM_OFF + 1):
                hit = np.flatnonzero(codes == code)
                if hit.size:
                    defects[code] = (int(hit.size), offset + int(hit[0]), values[hit[0]].copy())
    return BlockStats(counts, digits, special, (0, -1, None), defects)


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
    keys: np.ndarray, groups: np.ndarray, caps: np.ndarray, offset: int
) -> Candidates:
    chosen = np.flatnonzero(select_top_per_group(keys, groups, caps))
    return Candidates(keys[chosen], groups[chosen], chosen + offset)


def block_candidates(
    values: np.ndarray,
    labels: np.ndarray,
    offset: int,
    thresholds: np.ndarray,
    method: str,
    class_caps: np.ndarray | None,
    cells: np.ndarray | None,
    n_issues: int,
) -> tuple[Candidates | None, Candidates | None]:
    """The block's survivors of the per-class and the per-cell selections (None: unused)."""
    labels = np.asarray(labels, dtype=np.int64)
    m = labels.size
    k = thresholds.size
    empty = Candidates(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if m == 0:
        return empty, empty
    facts = block_facts(values, labels, thresholds)
    if method in ("low_self_confidence", "low_normalized_margin"):
        scores = compute_scores(method[4:], labels, values, facts.self_confidence)
        zeros = np.zeros(m, np.int64)
        return _top_candidates(-scores, zeros, np.array([n_issues]), offset), None
    by_class = by_cell = None
    if class_caps is not None:
        by_class = _top_candidates(-facts.self_confidence, labels, class_caps, offset)
    if cells is not None:
        floors = _start_floors(labels, facts, cells)
        keys, idx, sizes, starts = _noise_rate_heaps(values, labels, cells, floors, 0, m)
        caps = np.diff(starts)
        slot = np.repeat(np.arange(k * k), caps)
        keep = np.arange(starts[-1]) - starts[slot] < sizes[slot]
        by_cell = Candidates(keys[keep], slot[keep], idx[keep] + offset)
    return by_class, by_cell


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


def block_raw_joint(values: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The block's raw confident joint only."""
    return block_joint(values, labels, thresholds)[0]


__all__ = [
    "BlockStats",
    "Candidates",
    "block_candidates",
    "block_issues",
    "block_joint",
    "block_raw_joint",
    "block_scores",
    "block_stats",
    "finish_joint",
    "merge_candidates",
]
