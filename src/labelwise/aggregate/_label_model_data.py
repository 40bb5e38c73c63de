"""The votes a label model is fitted on (``VoteData``): every pass over the items.

:class:`_InMemoryVotes` holds annotations in memory, item-grouped. :class:`_PatternVotes` holds
only their distinct vote patterns, each with the number of items that have it: the label model
treats items alike that have the same votes (the same posterior, the same contribution to
every sum), so with few sources each pass over the items becomes a pass over the patterns
(10 labeling functions on 10^6 items: about 23,000 patterns with 2 classes, 230,000 with 10),
and the fit is the same. ``labelwise.distributed`` adds per-partition results of
:class:`_InMemoryVotes` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from labelwise.aggregate._kernels import n_chunks_for
from labelwise.aggregate._label_model_em import (
    EMOptions,
    State,
    Structure,
    Votes,
    em_general,
    em_one_coin,
)
from labelwise.aggregate._label_model_kernels import (
    NO_WEIGHT,
    decode_patterns,
    distinct_codes,
    pattern_codes,
    source_class_counts,
    source_label_stats,
    vote_shares,
)
from labelwise.aggregate._pairs import (
    PAIR_MAX_ITEMS,
    PairTable,
    grouped,
    pair_table,
    weighted_pair_table,
)
from labelwise.annotations import Annotations

#: Patterns are used when there are at most this many per item (with more, the passes save
#: little and mapping the posteriors back to the items costs more).
_PATTERN_MAX_SHARE = 0.5


def merged_by_group(annotations: Annotations, groups: np.ndarray) -> Annotations:
    """One source per group; on each item it votes the label most of the group's members who
    voted there gave (ties: the smallest label code)."""
    k = annotations.n_classes
    n_groups = int(groups.max()) + 1
    key = (annotations.item * n_groups + groups[annotations.source]) * k + annotations.label
    keys, counts = np.unique(key, return_counts=True)
    pair = keys // k
    # Within each (item, group) pair: most votes first, then the smallest label.
    order = np.lexsort((keys % k, -counts, pair))
    first = np.ones(order.size, dtype=bool)
    first[1:] = pair[order][1:] != pair[order][:-1]
    chosen = keys[order][first]
    pair = chosen // k
    return Annotations(
        item=pair // n_groups,
        source=pair % n_groups,
        label=chosen % k,
        items=annotations.items,
        sources=np.arange(n_groups),
        classes=annotations.classes,
    )


class VoteData(Protocol):
    """What the label model's fit needs from its votes: sizes, and every pass over the items
    (sums over items, so a partitioned implementation adds per-partition results)."""

    @property
    def n_items(self) -> int: ...

    @property
    def n_sources(self) -> int: ...

    @property
    def k(self) -> int: ...

    @property
    def sources(self) -> np.ndarray: ...

    def source_counts(self) -> np.ndarray: ...

    def pair_table(self) -> PairTable: ...

    def merged(self, groups: np.ndarray) -> VoteData: ...

    def share_stats(
        self, weights: np.ndarray, balance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def share_counts(
        self, weights: np.ndarray, balance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def em(
        self,
        one_coin: bool,
        weights: np.ndarray,
        state: State,
        model: Structure,
        estimate_balance: bool,
        opts: EMOptions,
    ) -> tuple[Any, State, int]: ...


class _SizesOfAnnotations:
    """The :class:`VoteData` sizes both in-memory forms read off their annotations and votes."""

    annotations: Annotations
    votes: Votes

    @property
    def n_items(self) -> int:
        return self.annotations.n_items

    @property
    def n_sources(self) -> int:
        return self.annotations.n_sources

    @property
    def k(self) -> int:
        return self.annotations.n_classes

    @property
    def sources(self) -> np.ndarray:
        return self.annotations.sources

    def source_counts(self) -> np.ndarray:
        return self.votes.n_votes


@dataclass(frozen=True)
class _InMemoryVotes(_SizesOfAnnotations):
    """:class:`VoteData` of annotations in memory."""

    annotations: Annotations
    by_item: tuple[np.ndarray, np.ndarray, np.ndarray]
    votes: Votes

    @classmethod
    def of(cls, annotations: Annotations) -> _InMemoryVotes:
        by_item = grouped(annotations)
        return cls(annotations, by_item, Votes.of(annotations, by_item))

    def pair_table(self) -> PairTable:
        return pair_table(self.annotations, self.by_item)

    def merged(self, groups: np.ndarray) -> VoteData:
        return votes_of(merged_by_group(self.annotations, groups))

    def _shares(self, weights: np.ndarray, balance: np.ndarray) -> np.ndarray:
        v = self.votes
        chunks = n_chunks_for(v.source.size)
        return vote_shares(v.indptr, v.source, v.label, weights, balance, chunks)

    def share_stats(
        self, weights: np.ndarray, balance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        v = self.votes
        shares = self._shares(weights, balance)
        chunks = n_chunks_for(v.source.size)
        return source_label_stats(
            v.indptr, v.source, v.label, shares, v.n_sources, chunks, NO_WEIGHT
        )

    def share_counts(
        self, weights: np.ndarray, balance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        v = self.votes
        shares = self._shares(weights, balance)
        chunks = n_chunks_for(v.source.size)
        by_source = source_class_counts(
            v.indptr, v.source, v.label, shares, v.n_sources, chunks, NO_WEIGHT
        )
        return by_source, shares.sum(axis=0)

    def em(
        self,
        one_coin: bool,
        weights: np.ndarray,
        state: State,
        model: Structure,
        estimate_balance: bool,
        opts: EMOptions,
    ) -> tuple[Any, State, int]:
        run = em_one_coin if one_coin else em_general
        return run(self.votes, weights, state, model, estimate_balance, opts)


@dataclass(frozen=True)
class _PatternVotes(_SizesOfAnnotations):
    """:class:`VoteData` of the distinct vote patterns of annotations in memory: ``votes``
    holds one row per pattern (its votes in source order), ``count`` how many items have it,
    ``sampled`` how many of the pair table's items (every ``stride``-th), ``pattern`` each
    item's row. Every sum over items is a sum over rows weighted by ``count``."""

    annotations: Annotations
    votes: Votes
    count: np.ndarray  # (n_patterns,) float64
    sampled: np.ndarray  # (n_patterns,) int64
    pattern: np.ndarray  # (n_items,) int
    stride: int

    @classmethod
    def of(cls, annotations: Annotations) -> _PatternVotes | None:
        """The patterns, or None when they do not pack into one int64 per item (too many
        sources or classes), a source voted twice on an item, or they are not much fewer
        than the items."""
        k, m, n = annotations.n_classes, annotations.n_sources, annotations.n_items
        bits = max(1, k.bit_length())  # a field holds label + 1, 0 = no vote
        if m * bits > 63:
            return None
        codes, ok = pattern_codes(annotations.item, annotations.source, annotations.label, n, bits)
        if not ok:
            return None
        found = distinct_codes(codes, int(_PATTERN_MAX_SHARE * n))
        if found is None:
            return None
        pattern, uniques = found
        count = np.bincount(pattern, minlength=uniques.size).astype(np.float64)
        indptr, source, label = decode_patterns(uniques, bits, m)
        per_vote = np.repeat(count, np.diff(indptr))
        n_votes = np.bincount(source, weights=per_vote, minlength=m).astype(np.int64)
        votes = Votes(indptr, source, label, n_votes, np.diff(indptr) > 0, k)
        # The pair table counts every stride-th item, as in memory.
        stride = max(1, -(-n // PAIR_MAX_ITEMS))
        sampled = np.bincount(pattern[::stride], minlength=count.size)
        return cls(annotations, votes, count, sampled, pattern, stride)

    def pair_table(self) -> PairTable:
        v = self.votes
        return weighted_pair_table(
            v.indptr, v.source, v.label, v.n_sources, self.sampled, self.stride
        )

    def merged(self, groups: np.ndarray) -> VoteData:
        return votes_of(merged_by_group(self.annotations, groups))

    @property
    def _chunks(self) -> int:
        return n_chunks_for(int(self.votes.source.size))

    def _shares(self, weights: np.ndarray, balance: np.ndarray) -> np.ndarray:
        v = self.votes
        return vote_shares(v.indptr, v.source, v.label, weights, balance, self._chunks)

    def share_stats(
        self, weights: np.ndarray, balance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        v = self.votes
        shares = self._shares(weights, balance)
        return source_label_stats(
            v.indptr, v.source, v.label, shares, v.n_sources, self._chunks, self.count
        )

    def share_counts(
        self, weights: np.ndarray, balance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        v = self.votes
        shares = self._shares(weights, balance)
        by_source = source_class_counts(
            v.indptr, v.source, v.label, shares, v.n_sources, self._chunks, self.count
        )
        return by_source, self.count @ shares

    def em(
        self,
        one_coin: bool,
        weights: np.ndarray,
        state: State,
        model: Structure,
        estimate_balance: bool,
        opts: EMOptions,
    ) -> tuple[Any, State, int]:
        """As in memory, but the posteriors are per pattern (:func:`item_rows` maps them)."""
        run = em_one_coin if one_coin else em_general
        return run(self.votes, weights, state, model, estimate_balance, opts, self.count)


def votes_of(annotations: Annotations) -> _InMemoryVotes | _PatternVotes:
    """The distinct vote patterns of ``annotations`` when they are few, else all votes."""
    patterns = _PatternVotes.of(annotations)
    return _InMemoryVotes.of(annotations) if patterns is None else patterns


def item_rows(data: VoteData) -> np.ndarray | None:
    """(n_items,) the row of ``data.em``'s posteriors that holds each item's, or None when
    they are one row per item."""
    return data.pattern if isinstance(data, _PatternVotes) else None
