"""The label model's passes over items, run per partition and added on the client.

:meth:`LabelModel._fit_votes` does every pass over the items through a ``VoteData``; here each
pass runs the in-memory one (:class:`_InMemoryVotes`, the compiled kernels) on the items of one
partition and the client adds the results, which are sums over items. The pair table counts
the items whose position in the sorted item order is a multiple of the in-memory stride, so it
uses the same items as in memory; the passes run over every item (in memory they may run over
the distinct vote patterns instead, which gives the same sums).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
from scipy import sparse

from labelwise.aggregate import _pairs
from labelwise.aggregate._kernels import em_log_joint, em_m_counts, n_chunks_for
from labelwise.aggregate._label_model_data import _InMemoryVotes, merged_by_group
from labelwise.aggregate._label_model_em import (
    EMOptions,
    State,
    Structure,
    e_step_terms,
    general_loop,
    one_coin_final,
    one_coin_loop,
)
from labelwise.aggregate._label_model_kernels import gather_items, onecoin_em_step, pair_counts
from labelwise.aggregate._pairs import PairTable
from labelwise.annotations import Annotations


@dataclass(frozen=True)
class _LMPart:
    """One partition's votes and the sorted-order position of each of its items."""

    data: _InMemoryVotes
    rank: np.ndarray  # (n_local,) int64


def lm_part(part: Any, rank: np.ndarray, sources: np.ndarray, classes: np.ndarray) -> _LMPart:
    """A :class:`_LMPart` from an encoded partition (``aggregate._Part``)."""
    annotations = Annotations(
        item=part.item,
        source=part.source,
        label=part.label,
        items=part.items,
        sources=sources,
        classes=classes,
    )
    return _LMPart(_InMemoryVotes.of(annotations), rank)


def _merged(part: _LMPart, groups: np.ndarray) -> _LMPart:
    return _LMPart(_InMemoryVotes.of(merged_by_group(part.data.annotations, groups)), part.rank)


def _source_counts(part: _LMPart) -> np.ndarray:
    return part.data.source_counts()


def _pair_counts(part: _LMPart, stride: int, dense: bool) -> tuple[Any, Any, np.ndarray]:
    """``(both, same, votes)`` over the partition's items at sorted positions ``0, stride,
    2 * stride, ...``: dense (n_sources, n_sources) tables, or sparse upper triangles."""
    data = part.data
    m = data.n_sources
    used = np.flatnonzero(part.rank % stride == 0)
    indptr, source, label = data.by_item
    if dense:
        sub = gather_items(indptr, source, label, used)
        chunks = n_chunks_for(int(sub[1].size))
        return pair_counts(*sub, m, 1, chunks)
    ann = data.annotations
    k = data.k
    keep = np.isin(ann.item, used)
    item, src = ann.item[keep], ann.source[keep]
    ones = np.ones(item.size, dtype=np.int64)
    n = data.n_items
    voted = sparse.csr_matrix((ones, (item, src)), shape=(n, m))
    keyed = sparse.csr_matrix((ones, (item * k + ann.label[keep], src)), shape=(n * k, m))
    both = sparse.triu(voted.T @ voted, 1).tocsr()
    same = sparse.triu(keyed.T @ keyed, 1).tocsr()
    return both, same, np.bincount(src, minlength=m)


def _share_stats(
    part: _LMPart, weights: np.ndarray, balance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return part.data.share_stats(weights, balance)


def _share_counts(
    part: _LMPart, weights: np.ndarray, balance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return part.data.share_counts(weights, balance)


def _one_coin_step(
    part: _LMPart, vote_weight: np.ndarray, log_balance: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = part.data.votes
    posteriors = np.empty((v.n_items, v.k))
    correct, totals = onecoin_em_step(
        v.indptr,
        v.source,
        v.label,
        vote_weight,
        log_balance,
        np.ones(v.n_items),
        posteriors,
        n_chunks_for(v.source.size),
    )
    return correct, totals, posteriors


def _one_coin_sums(
    part: _LMPart, vote_weight: np.ndarray, log_balance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return _one_coin_step(part, vote_weight, log_balance)[:2]


def _one_coin_posteriors(
    part: _LMPart, vote_weight: np.ndarray, log_balance: np.ndarray, balance: np.ndarray
) -> np.ndarray:
    posteriors = _one_coin_step(part, vote_weight, log_balance)[2]
    posteriors[~part.data.votes.labelled] = balance
    return posteriors


def _general_posteriors(part: _LMPart, table: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    v = part.data.votes
    posteriors = np.empty((v.n_items, v.k))
    answer = v.source * v.k + v.label
    em_log_joint(v.indptr, answer, table, log_prior, posteriors, n_chunks_for(answer.size))
    np.exp(posteriors, out=posteriors)
    return posteriors


def _general_sums(
    part: _LMPart, table: np.ndarray, log_prior: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = part.data.votes
    posteriors = _general_posteriors(part, table, log_prior)
    answer = v.source * v.k + v.label
    flat, totals, _ = em_m_counts(
        v.indptr, answer, posteriors, v.n_sources * v.k, n_chunks_for(answer.size), True
    )
    return flat, totals, posteriors.sum(axis=0)


def _general_final(
    part: _LMPart, table: np.ndarray, log_prior: np.ndarray, balance: np.ndarray
) -> np.ndarray:
    posteriors = _general_posteriors(part, table, log_prior)
    posteriors /= posteriors.sum(axis=1, keepdims=True)
    posteriors[~part.data.votes.labelled] = balance
    return posteriors


def _rank(part: _LMPart) -> np.ndarray:
    return part.rank


def _add(results: Any) -> Any:
    """Element-wise sums of per-partition tuples of arrays."""
    return tuple(np.sum([r[i] for r in results], axis=0) for i in range(len(results[0])))


@dataclass
class PartitionedVotes:
    """:class:`labelwise.aggregate.label_model.VoteData` of persisted partitions."""

    parts: list[Any]
    n_items: int
    k: int
    sources: np.ndarray

    def __post_init__(self) -> None:
        self._counts: np.ndarray | None = None
        self._ranks: list[np.ndarray] | None = None

    @property
    def n_sources(self) -> int:
        return int(self.sources.size)

    def _map(self, fn: Any, *args: Any) -> tuple[Any, ...]:
        return dask.compute(*[dask.delayed(fn)(p, *args) for p in self.parts])

    def source_counts(self) -> np.ndarray:
        if self._counts is None:
            self._counts = np.sum(self._map(_source_counts), axis=0)
        return self._counts

    def pair_table(self) -> PairTable:
        m = self.n_sources
        stride = max(1, -(-self.n_items // _pairs.PAIR_MAX_ITEMS))
        dense = m <= _pairs.DENSE_MAX_SOURCES
        results = self._map(_pair_counts, stride, dense)
        votes = np.sum([r[2] for r in results], axis=0)
        if dense:
            both, same = (
                np.sum([r[0] for r in results], axis=0),
                np.sum([r[1] for r in results], axis=0),
            )
            a, b = np.nonzero(np.triu(both, 1))
            return PairTable(a, b, both[a, b], same[a, b], votes, stride)
        both_m = sparse.triu(sum(r[0] for r in results), 1).tocoo()
        same_m = sparse.csr_matrix(sum(r[1] for r in results))
        order = np.lexsort((both_m.col, both_m.row))  # row-major, as in memory
        a, b = both_m.row[order].astype(np.int64), both_m.col[order].astype(np.int64)
        same = np.asarray(same_m[a, b]).ravel().astype(np.int64)
        return PairTable(a, b, both_m.data[order].astype(np.int64), same, votes, stride)

    def merged(self, groups: np.ndarray) -> PartitionedVotes:
        parts = list(dask.persist(*[dask.delayed(_merged)(p, groups) for p in self.parts]))
        n_groups = int(groups.max()) + 1
        return PartitionedVotes(parts, self.n_items, self.k, np.arange(n_groups))

    def share_stats(
        self, weights: np.ndarray, balance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        by_label, correct = _add(self._map(_share_stats, weights, balance))
        return by_label, correct

    def share_counts(
        self, weights: np.ndarray, balance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        by_source, mass = _add(self._map(_share_counts, weights, balance))
        return by_source, mass

    def _gather(self, blocks: tuple[np.ndarray, ...]) -> np.ndarray:
        if self._ranks is None:
            self._ranks = list(self._map(_rank))
        out = np.empty((self.n_items, self.k))
        for rank, block in zip(self._ranks, blocks, strict=True):
            out[rank] = block
        return out

    def em(
        self,
        one_coin: bool,
        weights: np.ndarray,
        state: State,
        model: Structure,
        estimate_balance: bool,
        opts: EMOptions,
    ) -> tuple[np.ndarray, State, int]:
        n_votes = self.source_counts()
        if one_coin:

            def step(vote_weight: np.ndarray, log_balance: np.ndarray) -> Any:
                return _add(self._map(_one_coin_sums, vote_weight, log_balance))

            state, done = one_coin_loop(
                step, n_votes, weights, state, model, estimate_balance, opts
            )
            balance = state.balance

            def final(vote_weight: np.ndarray, log_balance: np.ndarray) -> Any:
                return self._map(_one_coin_posteriors, vote_weight, log_balance, balance)

            return self._gather(one_coin_final(final, weights, state)), state, done

        def counts(table: np.ndarray, log_prior: np.ndarray) -> Any:
            return _add(self._map(_general_sums, table, log_prior))

        state, done = general_loop(
            counts, n_votes, self.n_items, weights, state, model, estimate_balance, opts
        )
        table, log_prior = e_step_terms(state, weights)
        blocks = self._map(_general_final, table, log_prior, state.balance)
        return self._gather(blocks), state, done
