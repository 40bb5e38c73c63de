"""Multi-class label issues on Dask arrays: block statistics, combined on the client.

Every function reads ``pred_probs`` block by block (a block is a run of rows with all the
columns) and keeps O(K^2) state per block, plus the top-c survivors of a selection; the
combine step is the in-memory code itself (thresholds, calibration, pruning plan, latent
estimates). Results are identical to :mod:`labelwise.issues` on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np

from labelwise._validation import (
    check_choice,
    check_class_counts,
    check_label_range_summary,
    check_pruning_options,
    check_row_defect_summary,
    fail,
)
from labelwise.distributed._blocks import (
    BlockStats,
    block_candidates,
    block_issues,
    block_joint,
    block_scores,
    block_stats,
    block_wrong_margins,
    histogram_floors,
    merge_candidates,
    merge_floors,
)
from labelwise.issues._kernels import exact_sums_to_float
from labelwise.issues.confident_joint import (
    NoiseEstimate,
    calibrate_joint,
    class_thresholds,
    finish_joint,
    latent_estimates,
)
from labelwise.issues.label_issues import METHODS, PRUNING, LabelIssues, pruning_plan
from labelwise.issues.scores import SCORE_METHODS


@dataclass(frozen=True)
class _Blocks:
    """Validated row blocks: delayed (values, labels) per block and each block's first row."""

    pred_probs: da.Array
    labels: da.Array
    values: list[Any]
    label_blocks: list[Any]
    offsets: np.ndarray  # (n_blocks + 1,)

    @property
    def n_classes(self) -> int:
        return int(self.pred_probs.shape[1])


def as_dask(value: object, name: str) -> da.Array:
    if isinstance(value, da.Array):
        return value
    if isinstance(value, np.ndarray):
        return da.from_array(value, chunks=(max(1, value.shape[0]), *value.shape[1:]))
    fail(name, "a dask.array.Array (or a numpy array)", type(value).__name__, kind=TypeError)


def probabilities(pred_probs: object) -> da.Array:
    """``pred_probs`` as a float32/float64 Dask array of known shape, one block per row run
    (the in-memory type and shape checks, on the collection's metadata)."""
    probs = as_dask(pred_probs, "pred_probs")
    if probs.dtype.kind not in "fiub":
        fail(
            "pred_probs", "a numeric array of probabilities", f"dtype {probs.dtype}", kind=TypeError
        )
    if probs.ndim != 2:
        fail("pred_probs", "a 2-D array of shape (n_examples, n_classes)", f"shape {probs.shape}")
    if np.isnan(probs.shape[0]):
        fail(
            "pred_probs",
            "an array of known shape",
            "unknown chunk sizes (call compute_chunk_sizes)",
        )
    if probs.shape[0] == 0:
        fail("pred_probs", "non-empty", f"shape {probs.shape}")
    if probs.shape[1] < 2:
        fail("pred_probs", "an array with at least 2 columns (classes)", f"shape {probs.shape}")
    if probs.dtype == np.float16:
        probs = probs.astype(np.float32)
    elif probs.dtype not in (np.float32, np.float64):
        probs = probs.astype(np.float64)
    return probs.rechunk({1: -1})


def _blocks(labels: object, pred_probs: object) -> _Blocks:
    """Check types and shapes; align the label blocks with the row blocks of ``pred_probs``."""
    probs = probabilities(pred_probs)
    given = as_dask(labels, "labels")
    if given.ndim != 1:
        fail("labels", "a 1-D array of class labels", f"shape {given.shape}")
    if given.shape[0] != probs.shape[0]:
        fail(
            "labels",
            f"the same length as pred_probs ({probs.shape[0]} rows)",
            f"length {given.shape[0]}",
        )
    if given.dtype.kind == "b":
        given = given.astype(np.int64)
    if given.dtype.kind not in "iu":
        fail(
            "labels",
            "integer class ids (map class names to ids before building the dask array)",
            f"dtype {given.dtype}",
            kind=TypeError,
        )
    given = given.rechunk((probs.chunks[0],))
    offsets = np.concatenate([[0], np.cumsum(probs.chunks[0])]).astype(np.int64)
    return _Blocks(
        probs,
        given,
        list(probs.to_delayed().ravel()),
        list(given.to_delayed().ravel()),
        offsets,
    )


def _stats(
    blocks: _Blocks, *, require_all_classes: bool, keys_for: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pass 1: class counts and thresholds (exact), with the label and row checks, and the
    histogram of the keys of the method's per-class or lowest-score selection."""
    k = blocks.n_classes
    tasks = [
        dask.delayed(block_stats)(v, y, int(o), k, True, keys_for)
        for v, y, o in zip(blocks.values, blocks.label_blocks, blocks.offsets[:-1], strict=True)
    ]
    parts: list[BlockStats] = list(dask.compute(*tasks))
    bad = [p.bad_labels for p in parts if p.bad_labels[0]]
    if bad:
        check_label_range_summary(sum(b[0] for b in bad), bad[0][1], bad[0][2], k)
    summary: dict[int, tuple[int, int, np.ndarray]] = {}
    for part in parts:
        for code, (count, row, values) in part.defects.items():
            previous = summary.get(code)
            summary[code] = (
                (count + previous[0], previous[1], previous[2])
                if previous
                else (
                    count,
                    row,
                    values,
                )
            )
    check_row_defect_summary(summary)
    counts = np.sum([p.counts for p in parts], axis=0)
    if require_all_classes:
        check_class_counts(counts)
    digits = np.sum([p.digits for p in parts], axis=0)
    special = np.sum([p.special for p in parts], axis=0)
    hists = [p.histogram for p in parts if p.histogram is not None]
    hist = np.sum(hists, axis=0) if keys_for is not None else None
    return counts, class_thresholds(exact_sums_to_float(digits, special), counts), hist


def _joint(blocks: _Blocks, thresholds: np.ndarray) -> tuple[np.ndarray, int]:
    """Pass 2: the raw confident joint (diagonal floored) and the confident-learning count."""
    tasks = [
        dask.delayed(block_joint)(v, y, thresholds)
        for v, y in zip(blocks.values, blocks.label_blocks, strict=True)
    ]
    parts = dask.compute(*tasks)
    raw = np.sum([p[0] for p in parts], axis=0)
    return finish_joint(raw), int(sum(p[1] for p in parts))


def confident_joint(labels: Any, pred_probs: Any, *, calibrate: bool = True) -> np.ndarray:
    """:func:`labelwise.confident_joint` on Dask arrays (chunked by rows); identical result.

    Parameters
    ----------
    labels : dask.array.Array of shape (n,)
        Integer class ids ``0..K-1``; rechunked to the row blocks of ``pred_probs``.
    pred_probs : dask.array.Array of shape (n, K)
        Out-of-sample predicted probabilities, chunked by rows (any chunk sizes, empty ones
        included); memory-mapped, Zarr or generated arrays are read block by block.
    calibrate : bool, default=True
        As in :func:`labelwise.confident_joint`.

    Returns
    -------
    ndarray of shape (K, K), int64

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from labelwise.distributed import confident_joint
    >>> labels = da.from_array(np.array([0, 0, 0, 1, 1, 1]), chunks=4)
    >>> pred_probs = da.from_array(
    ...     np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.9, .1]]), chunks=(4, 2))
    >>> confident_joint(labels, pred_probs)
    array([[2, 1],
           [1, 2]])
    """
    blocks = _blocks(labels, pred_probs)
    counts, thresholds, _ = _stats(blocks, require_all_classes=True)
    joint, _ = _joint(blocks, thresholds)
    return calibrate_joint(joint, counts) if calibrate else joint


def estimate_noise(labels: Any, pred_probs: Any, *, converge: bool = True) -> NoiseEstimate:
    """:func:`labelwise.estimate_noise` on Dask arrays (chunked by rows); identical result.

    Parameters
    ----------
    labels : dask.array.Array of shape (n,)
        Integer class ids ``0..K-1``.
    pred_probs : dask.array.Array of shape (n, K)
        Out-of-sample predicted probabilities, chunked by rows.
    converge : bool, default=True
        As in :func:`labelwise.estimate_noise`.

    Returns
    -------
    NoiseEstimate

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from labelwise.distributed import estimate_noise
    >>> labels = da.from_array(np.array([0, 0, 0, 1, 1, 1]), chunks=3)
    >>> pred_probs = da.from_array(
    ...     np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.9, .1]]), chunks=(3, 2))
    >>> round(estimate_noise(labels, pred_probs).noise_rate, 3)
    0.333
    """
    blocks = _blocks(labels, pred_probs)
    counts, thresholds, _ = _stats(blocks, require_all_classes=True)
    joint, _ = _joint(blocks, thresholds)
    return latent_estimates(calibrate_joint(joint, counts), counts, converge=converge)


def label_quality_scores(
    labels: Any,
    pred_probs: Any,
    *,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
) -> da.Array:
    """:func:`labelwise.label_quality_scores` on Dask arrays, as a lazy Dask array.

    The inputs are checked (and, with ``adjust_pred_probs``, the class thresholds computed) in
    one pass now; the scores are computed block by block when the result is.

    Parameters
    ----------
    labels : dask.array.Array of shape (n,)
        Integer class ids ``0..K-1``.
    pred_probs : dask.array.Array of shape (n, K)
        Out-of-sample predicted probabilities, chunked by rows.
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
    adjust_pred_probs : bool, default=False

    Returns
    -------
    dask.array.Array of shape (n,), float64
        Identical, block for block, to the in-memory scores.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from labelwise.distributed import label_quality_scores
    >>> labels = da.from_array(np.array([0, 1, 1]), chunks=2)
    >>> pred_probs = da.from_array(np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]), chunks=(2, 2))
    >>> label_quality_scores(labels, pred_probs).compute()
    array([0.9, 0.8, 0.3])
    """
    check_choice(method, "method", SCORE_METHODS)
    if adjust_pred_probs and method == "confidence_weighted_entropy":
        raise ValueError(
            "`adjust_pred_probs` must be False when method='confidence_weighted_entropy'; got True."
        )
    blocks = _blocks(labels, pred_probs)
    _, thresholds, _ = _stats(blocks, require_all_classes=bool(adjust_pred_probs))
    used = thresholds if adjust_pred_probs else None
    return da.map_blocks(
        _scores_block,
        blocks.pred_probs,
        blocks.labels[:, None],
        method,
        used,
        dtype=np.float64,
        drop_axis=1,
        chunks=(blocks.pred_probs.chunks[0],),
    )


def _scores_block(
    values: np.ndarray, labels: np.ndarray, method: str, thresholds: np.ndarray | None
) -> np.ndarray:
    return block_scores(values, labels[:, 0], method, thresholds)


@dataclass(frozen=True)
class DaskLabelIssues:
    """:class:`labelwise.LabelIssues` with the per-example arrays left as lazy Dask arrays.

    ``ranking`` (the flagged rows, worst first) is computed, since finding it needs every
    block; ``is_issue``, ``score``, ``suggested_label`` and ``given_label`` are Dask arrays
    that recompute their blocks on demand. :meth:`compute` gives the in-memory result.
    """

    is_issue: da.Array
    score: da.Array
    ranking: np.ndarray
    suggested_label: da.Array
    given_label: da.Array
    method: str

    @property
    def n_issues(self) -> int:
        """Number of flagged examples."""
        return int(self.ranking.size)

    def compute(self) -> LabelIssues:
        """The same result as :func:`labelwise.find_label_issues`, as numpy arrays."""
        flagged, score, suggested, given = dask.compute(
            self.is_issue, self.score, self.suggested_label, self.given_label
        )
        for array in (flagged, score, suggested, given, self.ranking):
            array.flags.writeable = False
        return LabelIssues(
            is_issue=flagged,
            score=score,
            ranking=self.ranking,
            suggested_label=suggested,
            given_label=given.astype(np.int64),
            method=self.method,
        )


def _selected_rows(
    blocks: _Blocks,
    thresholds: np.ndarray,
    method: str,
    class_caps: np.ndarray | None,
    class_floors: np.ndarray | None,
    cells: np.ndarray | None,
) -> np.ndarray:
    """Passes 3 (and 4): the rows a selection method flags (sorted global rows), before the
    final mask. Per-cell floors come from an extra pass over the rows known to be wrong,
    exactly as the in-memory search starts from them."""
    k = thresholds.size
    starts = list(zip(blocks.values, blocks.label_blocks, blocks.offsets[:-1], strict=True))
    cell_floors = None
    if cells is not None:
        wrong = dask.compute(
            *[
                dask.delayed(block_wrong_margins)(v, y, int(o), thresholds, cells)
                for v, y, o in starts
            ]
        )
        cell_floors = merge_floors(list(wrong), cells.reshape(k * k))
    tasks = [
        dask.delayed(block_candidates)(
            v, y, int(o), thresholds, method, class_caps, class_floors, cells, cell_floors
        )
        for v, y, o in starts
    ]
    parts = dask.compute(*tasks)
    chosen: np.ndarray | None = None
    if class_caps is not None:
        chosen = merge_candidates([p[0] for p in parts], class_caps)
    if cells is not None:
        by_cell = merge_candidates([p[1] for p in parts], cells.reshape(k * k))
        chosen = by_cell if chosen is None else np.intersect1d(chosen, by_cell)
    assert chosen is not None
    return chosen


def find_label_issues(
    labels: Any,
    pred_probs: Any,
    *,
    method: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    min_examples_per_class: int = 1,
    rank_by: str = "self_confidence",
) -> DaskLabelIssues:
    """:func:`labelwise.find_label_issues` on Dask arrays: the same flagged set and scores.

    Three or four passes over the blocks: class counts and thresholds; the confident joint;
    for the pruning and ``low_*`` methods, each block's exact top-c candidates, merged on the
    client; and the ranking. Memory per block is O(block + K^2) plus the candidates.

    Parameters
    ----------
    labels : dask.array.Array of shape (n,)
        Integer class ids ``0..K-1``; every class must occur.
    pred_probs : dask.array.Array of shape (n, K)
        Out-of-sample predicted probabilities, chunked by rows (any sizes, empty included).
    method, frac_noise, min_examples_per_class, rank_by
        As in :func:`labelwise.find_label_issues`.

    Returns
    -------
    DaskLabelIssues
        ``.compute()`` equals the in-memory :class:`labelwise.LabelIssues`.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from labelwise.distributed import find_label_issues
    >>> labels = da.from_array(np.array([0, 0, 0, 0, 1, 1, 1, 1]), chunks=3)
    >>> pred_probs = da.from_array(np.array([[.9, .1], [.8, .2], [.9, .1], [.1, .9],
    ...     [.2, .8], [.1, .9], [.3, .7], [.95, .05]]), chunks=(3, 2))
    >>> find_label_issues(labels, pred_probs).ranking
    array([7, 3])
    """
    method, frac_noise, min_examples_per_class = check_pruning_options(
        method, frac_noise, min_examples_per_class, methods=METHODS, pruning=PRUNING
    )
    check_choice(rank_by, "rank_by", SCORE_METHODS)
    blocks = _blocks(labels, pred_probs)
    low = method in ("low_self_confidence", "low_normalized_margin")
    by_class = method in ("prune_by_class", "both")
    counts, thresholds, hist = _stats(
        blocks, require_all_classes=True, keys_for=method if low or by_class else None
    )
    joint, n_cl = _joint(blocks, thresholds)
    selected: np.ndarray | None = None
    hist = np.zeros((1, 1), np.int64) if hist is None else hist
    if method in PRUNING:
        class_caps, cells = pruning_plan(
            method,
            counts,
            joint,
            frac_noise=frac_noise,
            min_examples_per_class=min_examples_per_class,
            stacklevel=3,
        )
        floors = None if class_caps is None else histogram_floors(hist, class_caps)
        selected = _selected_rows(blocks, thresholds, method, class_caps, floors, cells)
    elif low:
        caps = np.array([n_cl])
        selected = _selected_rows(
            blocks, thresholds, method, caps, histogram_floors(hist, caps), None
        )
    outputs = []
    for b, (v, y) in enumerate(zip(blocks.values, blocks.label_blocks, strict=True)):
        lo, hi = blocks.offsets[b], blocks.offsets[b + 1]
        local = None
        if selected is not None:
            local = selected[np.searchsorted(selected, lo) : np.searchsorted(selected, hi)] - lo
        outputs.append(dask.delayed(block_issues, nout=3)(v, y, thresholds, method, local, rank_by))
    sizes = np.diff(blocks.offsets)

    def column(i: int, dtype: Any) -> da.Array:
        return da.concatenate(
            [
                da.from_delayed(out[i], shape=(int(m),), dtype=dtype)
                for out, m in zip(outputs, sizes, strict=True)
            ]
        )

    is_issue, score = column(0, bool), column(1, np.float64)
    ranking = _ranking(is_issue, score)
    return DaskLabelIssues(
        is_issue=is_issue,
        score=score,
        ranking=ranking,
        suggested_label=column(2, np.int64),
        given_label=blocks.labels.astype(np.int64),
        method=method,
    )


def _ranking(is_issue: da.Array, score: da.Array) -> np.ndarray:
    """Flagged rows, lowest score first, ties in row order (one pass over the blocks)."""
    offsets = np.concatenate([[0], np.cumsum(is_issue.chunks[0])])
    parts = [
        dask.delayed(flagged_scores)(f, s, int(o))
        for f, s, o in zip(
            is_issue.to_delayed().ravel(), score.to_delayed().ravel(), offsets[:-1], strict=True
        )
    ]
    pairs = dask.compute(*parts)
    rows = np.concatenate([p[0] for p in pairs]).astype(np.int64)
    keys = np.concatenate([p[1] for p in pairs])
    return rows[np.argsort(keys, kind="stable")]


def flagged_scores(
    flagged: np.ndarray, score: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    rows = np.flatnonzero(flagged)
    return rows + offset, score[rows]
