"""Multi-label label issues on Dask arrays: block statistics, combined on the client.

The same one-vs-rest confident learning as :mod:`labelwise.issues.multilabel`, reading
``pred_probs`` and the 0/1 indicator matrix block by block (a block is a run of rows with all
the columns): exact class sums for the thresholds, integer joints, then each block's exact
top-c survivors of the pruning (or lowest-score) selection, merged on the client. Results are
identical to the in-memory functions on the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np

from labelwise._validation import (
    check_choice,
    check_indicator_summary,
    check_pruning_options,
    check_unit_interval_summary,
    fail,
)
from labelwise.distributed._blocks import histogram_floors, merge_candidates
from labelwise.distributed._multilabel_blocks import (
    LOW,
    FactsPart,
    Plan,
    StatsPart,
    block_candidates,
    block_facts,
    block_input,
    block_issues,
    block_stats,
)
from labelwise.distributed.issues import as_dask, flagged_scores, probabilities
from labelwise.issues.label_issues import METHODS, PRUNING
from labelwise.issues.multilabel import (
    MultilabelIssues,
    _check_aggregator,
    _prune_caps,
    _row_scores,
    _shifts,
    _Thresholds,
    thresholds_from_sums,
)
from labelwise.issues.scores import SCORE_METHODS


@dataclass(frozen=True)
class _Blocks:
    pred_probs: da.Array
    labels: da.Array  # (n, K), chunked like pred_probs
    values: list[Any]
    label_blocks: list[Any]
    offsets: np.ndarray  # (n_blocks + 1,)
    classes: tuple[Any, ...] | None


def _blocks(labels: object, pred_probs: object, classes: Sequence[Any] | None) -> _Blocks:
    """The in-memory type and shape checks; label blocks aligned with the row blocks."""
    probs = probabilities(pred_probs)
    n, k = (int(d) for d in probs.shape)
    if classes is not None and len(classes) != k:
        fail("classes", f"{k} names, one per column of pred_probs", f"{len(classes)} names")
    given = as_dask(labels, "labels")
    if given.shape != (n, k):
        fail("labels", f"an indicator matrix of shape ({n}, {k})", f"shape {given.shape}")
    if given.dtype.kind not in "biuf":
        fail("labels", "a numeric 0/1 indicator matrix", f"dtype {given.dtype}", kind=TypeError)
    given = given.rechunk((probs.chunks[0], (k,)))
    return _Blocks(
        probs,
        given,
        list(probs.to_delayed().ravel()),
        list(given.to_delayed().ravel()),
        np.concatenate([[0], np.cumsum(probs.chunks[0])]).astype(np.int64),
        tuple(classes) if classes is not None else None,
    )


def _thresholds(blocks: _Blocks) -> _Thresholds:
    """Pass 1: the label and value checks and the exact per-class thresholds."""
    tasks = [
        dask.delayed(block_stats)(v, y, int(o))
        for v, y, o in zip(blocks.values, blocks.label_blocks, blocks.offsets[:-1], strict=True)
    ]
    parts: list[StatsPart] = list(dask.compute(*tasks))
    bad = [p.bad_labels for p in parts if p.bad_labels[0]]
    if bad:
        check_indicator_summary(sum(b[0] for b in bad), bad[0][1], bad[0][2], bad[0][3])
    summary: dict[int, tuple[int, int, np.ndarray]] = {}
    for part in parts:
        for code, (count, row, values) in part.defects.items():
            if code in summary:
                summary[code] = (summary[code][0] + count, summary[code][1], summary[code][2])
            else:
                summary[code] = (count, row, values)
    check_unit_interval_summary(summary)
    sums = np.sum([p.sums for p in parts], axis=0)
    positives = np.sum([p.positives for p in parts], axis=0)
    n = int(blocks.offsets[-1])
    return thresholds_from_sums(sums, positives, n, blocks.pred_probs.dtype)


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
) -> da.Array:
    """:func:`labelwise.multilabel_quality_scores` on Dask arrays, as a lazy Dask array.

    The inputs are checked and the binary thresholds computed in one pass now; the scores are
    computed block by block when the result is.

    Parameters
    ----------
    labels : dask.array.Array of shape (n, K)
        0/1 indicator matrix (bool, integer or whole floats); rechunked to the row blocks of
        ``pred_probs``.
    pred_probs : dask.array.Array of shape (n, K)
        Out-of-sample independent per-class probabilities, chunked by rows (any sizes, empty
        ones included).
    method, aggregator, alpha, temperature, adjust_pred_probs, classes
        As in :func:`labelwise.multilabel_quality_scores`.

    Returns
    -------
    dask.array.Array of shape (n,), float64
        Identical, block for block, to the in-memory scores.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from labelwise.distributed import multilabel_quality_scores
    >>> labels = da.from_array(np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]]), chunks=(2, 3))
    >>> pred_probs = da.from_array(
    ...     np.array([[0.9, 0.1, 0.8], [0.2, 0.9, 0.1], [0.1, 0.8, 0.9]]), chunks=(2, 3))
    >>> multilabel_quality_scores(labels, pred_probs).compute().round(3)
    array([0.82 , 0.82 , 0.128])
    """
    check_choice(method, "method", SCORE_METHODS)
    code = _check_aggregator(aggregator, alpha, temperature)
    if adjust_pred_probs and method == "confidence_weighted_entropy":
        raise ValueError(
            "`adjust_pred_probs` must be False when method='confidence_weighted_entropy'; got True."
        )
    blocks = _blocks(labels, pred_probs, classes)
    shift0, shift1 = _shifts(_thresholds(blocks), bool(adjust_pred_probs))
    return da.map_blocks(
        _scores_block,
        blocks.pred_probs,
        blocks.labels,
        method,
        code,
        float(alpha),
        float(temperature),
        shift0,
        shift1,
        dtype=np.float64,
        drop_axis=1,
        chunks=(blocks.pred_probs.chunks[0],),
    )


def _scores_block(
    values: np.ndarray,
    labels: np.ndarray,
    method: str,
    code: int,
    alpha: float,
    temperature: float,
    shift0: np.ndarray,
    shift1: np.ndarray,
) -> np.ndarray:
    data = block_input(values, labels)
    scores = _row_scores(data, method, code, alpha, temperature, shift0, shift1)
    return np.clip(scores, 0.0, 1.0, out=scores)


@dataclass(frozen=True)
class DaskMultilabelIssues:
    """:class:`labelwise.MultilabelIssues` with the per-example arrays left as Dask arrays.

    ``ranking`` (the flagged rows, worst first) is computed, since finding it needs every
    block; ``is_issue``, ``score``, ``per_class_issue`` and ``given`` are lazy Dask arrays
    that recompute their blocks on demand. :meth:`compute` gives the in-memory result.
    """

    is_issue: da.Array
    score: da.Array
    ranking: np.ndarray
    per_class_issue: da.Array
    given: da.Array
    method: str
    classes: tuple[Any, ...] | None = None

    @property
    def n_issues(self) -> int:
        """Number of flagged examples."""
        return int(self.ranking.size)

    def compute(self) -> MultilabelIssues:
        """The same result as :func:`labelwise.find_multilabel_issues`, as numpy arrays."""
        arrays = dask.compute(self.is_issue, self.score, self.per_class_issue, self.given)
        for array in (*arrays, self.ranking):
            array.flags.writeable = False
        flagged, score, per_class, given = arrays
        return MultilabelIssues(
            is_issue=flagged,
            score=score,
            ranking=self.ranking,
            per_class_issue=per_class,
            given=given,
            method=self.method,
            classes=self.classes,
        )


def _summed(arrays: list[np.ndarray | None]) -> np.ndarray:
    present = [a for a in arrays if a is not None]
    assert len(present) == len(arrays)
    return np.sum(present, axis=0)


def _plan(
    method: str,
    parts: list[FactsPart],
    th: _Thresholds,
    n: int,
    min_examples_per_class: int,
    frac_noise: float,
) -> Plan:
    """Caps (from the summed joints) and safe floors (from the summed histograms)."""
    if method in LOW:
        caps = np.array([sum(p.n_confident_rows for p in parts)], dtype=np.int64)
        hist = _summed([p.low_hist for p in parts])
        return Plan(low_caps=caps, low_floors=histogram_floors(hist, caps))
    joints = np.sum([p.joints for p in parts], axis=0)
    by_class, by_noise = _prune_caps(joints, th.positives, n, min_examples_per_class, frac_noise)
    plan = Plan()
    if method in ("prune_by_class", "both"):
        hist = _summed([p.class_hist for p in parts])
        plan = Plan(class_caps=by_class, class_floors=histogram_floors(hist, by_class))
    if method in ("prune_by_noise_rate", "both"):
        hist = _summed([p.noise_hist for p in parts])
        floors = histogram_floors(hist, by_noise) + 1.0  # the keys were binned as margin - 1
        plan = Plan(plan.class_caps, plan.class_floors, by_noise, floors)
    return plan


def _selected(blocks: _Blocks, th: _Thresholds, method: str, plan: Plan) -> np.ndarray:
    """Pass 3: the global ids a selection method keeps (sorted)."""
    tasks = [
        dask.delayed(block_candidates)(v, y, int(o), th, method, plan)
        for v, y, o in zip(blocks.values, blocks.label_blocks, blocks.offsets[:-1], strict=True)
    ]
    parts = dask.compute(*tasks)
    chosen: np.ndarray | None = None
    for i, caps in enumerate((plan.class_caps, plan.noise_caps, plan.low_caps)):
        if caps is not None:
            ids = merge_candidates([p[i] for p in parts], caps)
            chosen = ids if chosen is None else np.intersect1d(chosen, ids)
    assert chosen is not None
    return chosen


def find_multilabel_issues(
    labels: Any,
    pred_probs: Any,
    *,
    method: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    min_examples_per_class: int = 1,
    rank_by: str = "self_confidence",
    classes: Sequence[Any] | None = None,
) -> DaskMultilabelIssues:
    """:func:`labelwise.find_multilabel_issues` on Dask arrays: the same flags and scores.

    Three to five passes over the blocks: checks and exact thresholds; the binary confident
    joints (and key histograms that bound the selections); for the pruning and ``low_*``
    methods, each block's exact top-c candidates, merged on the client; and the ranking.
    Memory per block is O(block) plus O(K) statistics and the selection's survivors.

    Parameters
    ----------
    labels : dask.array.Array of shape (n, K)
        0/1 indicator matrix of the given tags; rechunked to the row blocks of ``pred_probs``.
    pred_probs : dask.array.Array of shape (n, K)
        Out-of-sample independent per-class probabilities, chunked by rows.
    method, frac_noise, min_examples_per_class, rank_by, classes
        As in :func:`labelwise.find_multilabel_issues`.

    Returns
    -------
    DaskMultilabelIssues
        ``.compute()`` equals the in-memory :class:`labelwise.MultilabelIssues`.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from labelwise.distributed import find_multilabel_issues
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random((500, 4)) < 0.3
    >>> pred_probs = np.clip(np.where(truth, 0.9, 0.05) + rng.normal(0, 0.03, truth.shape), 0, 1)
    >>> given = truth.copy()
    >>> given[:10, 0] = ~given[:10, 0]
    >>> issues = find_multilabel_issues(
    ...     da.from_array(given, chunks=(128, 4)), da.from_array(pred_probs, chunks=(128, 4)))
    >>> sorted(issues.ranking.tolist())
    [2, 3, 4, 5, 6, 7, 8, 9]
    """
    method, frac_noise, min_examples_per_class = check_pruning_options(
        method, frac_noise, min_examples_per_class, methods=METHODS, pruning=PRUNING
    )
    check_choice(rank_by, "rank_by", SCORE_METHODS)
    blocks = _blocks(labels, pred_probs, classes)
    th = _thresholds(blocks)
    k = int(blocks.pred_probs.shape[1])
    n = int(blocks.offsets[-1])
    starts = list(zip(blocks.values, blocks.label_blocks, blocks.offsets[:-1], strict=True))
    selected: np.ndarray | None = None
    if method in PRUNING or method in LOW:
        parts = dask.compute(*[dask.delayed(block_facts)(v, y, th, method) for v, y, _ in starts])
        plan = _plan(method, list(parts), th, n, min_examples_per_class, frac_noise)
        selected = _selected(blocks, th, method, plan)
    scale = 1 if method in LOW else k
    outputs = []
    for b, (v, y, _) in enumerate(starts):
        lo, hi = blocks.offsets[b] * scale, blocks.offsets[b + 1] * scale
        local = None
        if selected is not None:
            local = selected[np.searchsorted(selected, lo) : np.searchsorted(selected, hi)] - lo
        outputs.append(dask.delayed(block_issues, nout=3)(v, y, th, method, rank_by, local))
    sizes = np.diff(blocks.offsets)
    per_class = da.concatenate(
        [
            da.from_delayed(out[0], shape=(int(m), k), dtype=bool)
            for out, m in zip(outputs, sizes, strict=True)
        ]
    )
    flagged, raw_score = (
        da.concatenate(
            [
                da.from_delayed(out[i], shape=(int(m),), dtype=dtype)
                for out, m in zip(outputs, sizes, strict=True)
            ]
        )
        for i, dtype in ((1, bool), (2, np.float64))
    )
    # The ranking orders by the score before clipping, as in memory.
    pairs = dask.compute(
        *[
            dask.delayed(flagged_scores)(f, s, int(o))
            for f, s, o in zip(
                flagged.to_delayed().ravel(),
                raw_score.to_delayed().ravel(),
                np.concatenate([[0], np.cumsum(flagged.chunks[0])])[:-1],
                strict=True,
            )
        ]
    )
    rows = np.concatenate([p[0] for p in pairs]).astype(np.int64)
    keys = np.concatenate([p[1] for p in pairs])
    ranking = rows[np.argsort(keys, kind="stable")]
    return DaskMultilabelIssues(
        is_issue=flagged,
        score=da.clip(raw_score, 0.0, 1.0),
        ranking=ranking,
        per_class_issue=per_class,
        given=blocks.labels != 0,
        method=method,
        classes=blocks.classes,
    )


__all__ = ["DaskMultilabelIssues", "find_multilabel_issues", "multilabel_quality_scores"]
