"""Fit aggregators on annotations held in a Dask DataFrame (item, source, label).

The table is shuffled once so that each partition holds whole items; each partition is then
encoded (global source and class codes, local item codes) and kept on the workers. An EM
iteration sends the current parameters to every partition, which runs the in-memory compiled
E-step and M-step counts (:mod:`labelwise.aggregate._kernels`) on its items and returns the
expected counts; the client adds them and runs the estimator's own M-step. Results match the
in-memory fit within floating-point tolerance (only the order of additions differs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from labelwise._validation import check_choice, check_int, check_positive, fail, preview
from labelwise.aggregate._kernels import em_log_joint, em_m_counts, group_by_item
from labelwise.aggregate.dawid_skene import _FLOOR, DawidSkene
from labelwise.aggregate.label_model import LabelModel
from labelwise.aggregate.majority_vote import TIE_BREAKS, MajorityVote

SUPPORTED = ("MajorityVote", "DawidSkene", "OneCoinDawidSkene", "LabelModel")


@dataclass(frozen=True)
class _Part:
    """One partition's annotations, grouped by its own items (sorted ids)."""

    items: np.ndarray  # (n_local,) original item ids, sorted
    item: np.ndarray  # (m,) local item codes
    source: np.ndarray  # (m,) global source codes
    label: np.ndarray  # (m,) global class codes
    indptr: np.ndarray
    answer: np.ndarray  # source * K + label, item-grouped


def _encode(
    frame: pd.DataFrame,
    index: int,
    sources: np.ndarray,
    classes: np.ndarray,
    item: str,
    source: str,
    label: str,
) -> _Part:
    item_codes, item_ids = pd.factorize(frame[item].to_numpy(), sort=True)
    item_codes = item_codes.astype(np.int64)
    source_codes = pd.Index(sources).get_indexer(frame[source].to_numpy()).astype(np.int64)
    label_codes = pd.Index(classes).get_indexer(frame[label].to_numpy()).astype(np.int64)
    n_local = int(item_ids.size)
    if item_codes.size:
        pairs = item_codes * max(sources.size, 1) + source_codes
        repeated = pairs.size - np.unique(pairs).size
        if repeated:
            fail(
                "annotations",
                "a table without repeated (item, source) pairs for a distributed fit",
                f"{repeated} repeated pair(s) in shuffled partition {index}",
            )
    indptr, order = group_by_item(item_codes, n_local)
    answer = (source_codes * classes.size + label_codes)[order]
    return _Part(np.asarray(item_ids), item_codes, source_codes, label_codes, indptr, answer)


def _vote_counts(part: _Part, k: int) -> np.ndarray:
    flat = np.bincount(part.item * k + part.label, minlength=part.items.size * k)
    return flat.reshape(part.items.size, k).astype(np.float64)


def _init_counts(part: _Part, k: int, n_answers: int) -> tuple[np.ndarray, np.ndarray]:
    counts = _vote_counts(part, k)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.full_like(counts, 1.0 / k), where=totals > 0)
    m_counts, class_totals, _ = em_m_counts(part.indptr, part.answer, shares, n_answers, 1, False)
    return m_counts, class_totals


def _posteriors(
    part: _Part, answer_major: np.ndarray, log_prior: np.ndarray, n_answers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    k = log_prior.size
    post = np.empty((part.items.size, k))
    shifts = em_log_joint(part.indptr, part.answer, answer_major, log_prior, post, 1)
    np.exp(post, out=post)
    counts, totals, norms = em_m_counts(part.indptr, part.answer, post, n_answers, 1, True)
    evidence = float((shifts + np.log(norms)).sum()) if post.size else 0.0
    return post, counts, totals, evidence


def _em_step(
    part: _Part, answer_major: np.ndarray, log_prior: np.ndarray, n_answers: int
) -> tuple[np.ndarray, np.ndarray, float]:
    _, counts, totals, evidence = _posteriors(part, answer_major, log_prior, n_answers)
    return counts, totals, evidence


def _final_posteriors(
    part: _Part, answer_major: np.ndarray, log_prior: np.ndarray, n_answers: int
) -> np.ndarray:
    return _posteriors(part, answer_major, log_prior, n_answers)[0]


def _source_counts(part: _Part, n_sources: int) -> np.ndarray:
    return np.bincount(part.source, minlength=n_sources)


def _agreement_hits(part: _Part, winners: np.ndarray, n_sources: int) -> np.ndarray:
    agree = (winners[part.item] == part.label).astype(np.float64)
    return np.bincount(part.source, weights=agree, minlength=n_sources)


def _sorted_ids(values: pd.Series | np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    try:
        return np.asarray(pd.Index(array).sort_values())
    except TypeError:
        return array


def fit(
    estimator: Any,
    annotations: Any,
    *,
    item: str = "item",
    source: str = "source",
    label: str = "label",
) -> Any:
    """Fit an unfitted aggregator on annotations given as a Dask DataFrame.

    Parameters
    ----------
    estimator : MajorityVote, DawidSkene, OneCoinDawidSkene or LabelModel
        Unfitted (its hyper-parameters are used; it is fitted in place and returned).
    annotations : dask.dataframe.DataFrame
        One row per annotation, with the columns named by ``item``, ``source``, ``label``.
        Items, sources and classes are coded in sorted order, as
        :meth:`labelwise.Annotations.from_long` codes them.
    item, source, label : str
        Column names.

    Returns
    -------
    estimator
        With the attributes of an in-memory fit (``probas_``, ``labels_``, ``items_``,
        ``classes_``, ``source_quality_``, ``n_iter_`` and the method's own), as numpy
        arrays in sorted item order; equal to the in-memory fit within floating-point
        tolerance (exactly for ``MajorityVote`` with ``tie_break="prior"``).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> from labelwise.aggregate import DawidSkene
    >>> from labelwise.distributed import fit
    >>> from labelwise.simulate import simulate_annotations
    >>> sim = simulate_annotations(300, 8, 3, random_state=0)
    >>> table = dd.from_pandas(sim.annotations.to_long(), npartitions=3)
    >>> ds = fit(DawidSkene(), table)
    >>> bool((ds.labels_ == sim.true_labels).mean() > 0.9)
    True
    """
    if type(estimator).__name__ not in SUPPORTED or not isinstance(
        estimator, MajorityVote | DawidSkene | LabelModel
    ):
        fail(
            "estimator",
            f"one of {preview(SUPPORTED)} for a distributed fit",
            type(estimator).__name__,
            kind=TypeError,
        )
    if not isinstance(annotations, dd.DataFrame):
        fail(
            "annotations", "a dask.dataframe.DataFrame", type(annotations).__name__, kind=TypeError
        )
    columns = [item, source, label]
    missing = [c for c in columns if c not in annotations.columns]
    if missing:
        fail(
            "annotations",
            f"a table with the columns {preview(columns)}",
            f"no column(s) {preview(missing)}; it has {preview(list(annotations.columns), 20)}",
        )
    table = annotations[columns]
    sources, classes, n_rows = dask.compute(
        table[source].unique(), table[label].unique(), table.shape[0]
    )
    sources, classes = _sorted_ids(sources), _sorted_ids(classes)
    if int(n_rows) == 0:
        fail("annotations", "at least one annotation", "none")
    if classes.size < 2:
        fail(
            "annotations",
            "at least 2 classes",
            f"{classes.size} class(es): {list(classes)!r}",
        )
    shuffled = table.shuffle(on=item, npartitions=max(1, table.npartitions))
    parts = [
        dask.delayed(_encode)(frame, i, sources, classes, item, source, label)
        for i, frame in enumerate(shuffled.to_delayed())
    ]
    parts = list(dask.persist(*parts))
    item_ids = dask.compute(*[dask.delayed(_items)(p) for p in parts])
    bounds = np.concatenate([[0], np.cumsum([ids.size for ids in item_ids])]).astype(np.int64)
    all_items = np.concatenate(item_ids)
    order = np.argsort(all_items, kind="stable")
    run = _Run(parts, bounds, order, sources.size, classes.size, int(n_rows))
    if isinstance(estimator, MajorityVote):
        consensus = _fit_majority(estimator, run)
    elif isinstance(estimator, LabelModel):
        consensus = _fit_label_model(estimator, run, sources, classes)
    else:
        consensus = _fit_dawid_skene(estimator, run)
    estimator.classes_ = classes
    estimator.items_ = all_items[order]
    estimator.labels_ = classes[consensus]
    return estimator


def _items(part: _Part) -> np.ndarray:
    return part.items


@dataclass(frozen=True)
class _Run:
    """The persisted partitions and how their items map to the sorted global order."""

    parts: list[Any]
    bounds: np.ndarray  # (n_parts + 1,) item offsets of the partitions, in partition order
    order: np.ndarray  # partition-order item position of each sorted item
    n_sources: int
    n_classes: int
    n_annotations: int

    def gather(self, blocks: list[np.ndarray]) -> np.ndarray:
        """Concatenate per-partition item rows and put them in sorted item order."""
        return np.concatenate(blocks)[self.order]

    def scatter(self, rows: np.ndarray) -> list[np.ndarray]:
        """Split sorted-order item rows back into per-partition blocks."""
        local = np.empty_like(rows)
        local[self.order] = rows
        return [local[a:b] for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)]


def _fit_majority(estimator: MajorityVote, run: _Run) -> np.ndarray:
    check_choice(estimator.tie_break, "tie_break", TIE_BREAKS)
    k = run.n_classes
    counts = run.gather(list(dask.compute(*[dask.delayed(_vote_counts)(p, k) for p in run.parts])))
    prior = counts.sum(axis=0) / run.n_annotations
    winners = estimator._winners(counts, prior)
    totals = counts.sum(axis=1, keepdims=True)
    uniform = np.full_like(counts, 1.0 / k)
    tasks = [
        dask.delayed(_agreement_hits)(p, w, run.n_sources)
        for p, w in zip(run.parts, run.scatter(winners), strict=True)
    ]
    hits = np.sum(dask.compute(*tasks), axis=0)
    source_counts = _total_source_counts(run)
    estimator.probas_ = np.divide(counts, totals, out=uniform, where=totals > 0)
    estimator.prior_ = prior
    estimator.source_quality_ = np.divide(
        hits, source_counts, out=np.full_like(hits, np.nan), where=source_counts > 0
    )
    estimator.n_iter_ = 0
    return winners


def _total_source_counts(run: _Run) -> np.ndarray:
    tasks = [dask.delayed(_source_counts)(p, run.n_sources) for p in run.parts]
    return np.sum(dask.compute(*tasks), axis=0)


def _fit_dawid_skene(estimator: DawidSkene, run: _Run) -> np.ndarray:
    max_iter = check_int(estimator.max_iter, "max_iter", minimum=1)
    tol = check_positive(estimator.tol, "tol", allow_zero=True)
    k = run.n_classes
    n_answers = run.n_sources * k
    pseudo = estimator._pseudo_counts(k)
    n_items = int(run.bounds[-1])  # every item in a long table has an annotation

    def reduce(results: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
        counts = np.sum([r[0] for r in results], axis=0)
        totals = np.sum([r[1] for r in results], axis=0)
        return estimator._m_step(counts, totals, n_items, pseudo)

    log_conf, priors = reduce(
        dask.compute(*[dask.delayed(_init_counts)(p, k, n_answers) for p in run.parts])
    )
    previous = -np.inf
    converged = False
    done = 0
    log_likelihood = -np.inf
    step_params: tuple[np.ndarray, np.ndarray] = (np.zeros((n_answers, k)), np.zeros(k))
    for done in range(1, max_iter + 1):  # noqa: B007 - EM iterations, not items
        answer_major = np.ascontiguousarray(log_conf.transpose(0, 2, 1)).reshape(-1, k)
        log_prior = np.log(np.maximum(priors, _FLOOR))
        step_params = (answer_major, log_prior)
        results = dask.compute(
            *[dask.delayed(_em_step)(p, answer_major, log_prior, n_answers) for p in run.parts]
        )
        log_conf, priors = reduce(results)
        log_likelihood = float(sum(r[2] for r in results)) / run.n_annotations
        if abs(log_likelihood - previous) < tol:
            converged = True
            break
        previous = log_likelihood
    if not converged:
        estimator._warn_not_converged(max_iter, tol, stacklevel=4)
    posteriors = run.gather(
        list(
            dask.compute(
                *[dask.delayed(_final_posteriors)(p, *step_params, n_answers) for p in run.parts]
            )
        )
    )
    estimator._set_fitted(
        posteriors, log_conf, priors, _total_source_counts(run), log_likelihood, done
    )
    return np.argmax(posteriors, axis=1)


def _fit_label_model(
    estimator: LabelModel, run: _Run, sources: np.ndarray, classes: np.ndarray
) -> np.ndarray:
    from labelwise.distributed._label_model import PartitionedVotes, lm_part

    given = estimator._check_options(run.n_classes)
    n_items = int(run.bounds[-1])
    rank = np.empty(n_items, dtype=np.int64)
    rank[run.order] = np.arange(n_items)
    parts = [
        dask.delayed(lm_part)(p, rank[a:b], sources, classes)
        for p, a, b in zip(run.parts, run.bounds[:-1], run.bounds[1:], strict=True)
    ]
    data = PartitionedVotes(list(dask.persist(*parts)), n_items, run.n_classes, sources)
    return estimator._fit_votes(data, given)
