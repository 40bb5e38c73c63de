"""Multi-label aggregation: several tags per item per annotator, one probability per tag.

Each tag is its own binary problem ("did this source mark tag j on this item?") over the
(item, source) pairs that answered, aggregated with any single-label aggregator (binary
relevance; crowd-kit's ``BinaryRelevance`` does the same). A source that answered an item
without marking tag j counts as a vote for "absent".
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import clone

from labelwise._validation import check_fraction
from labelwise._validation.annotations import (
    check_columns,
    check_duplicate_pairs,
    check_known_classes,
    check_tag_lists,
)
from labelwise.aggregate._base import BaseAggregator
from labelwise.aggregate.dawid_skene import DawidSkene
from labelwise.annotations import Annotations

_BINARY = np.array([False, True], dtype=object)


@dataclass(frozen=True)
class MultilabelAggregation:
    """Per-item tag probabilities from per-tag aggregation.

    Attributes
    ----------
    probas : ndarray of shape (n_items, K)
        P(tag present) per item and tag (columns in the order of ``classes``).
    labels : ndarray of shape (n_items, K), bool
        ``probas >= threshold``.
    items, classes : ndarray
        Item ids (rows) and tags (columns).
    aggregators : tuple
        The fitted binary aggregator of each tag, in ``classes`` order (their
        ``source_quality_`` is each source's reliability on that tag).
    """

    probas: np.ndarray
    labels: np.ndarray
    items: np.ndarray
    classes: np.ndarray
    aggregators: tuple[BaseAggregator, ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per item: its id and the list of tags it most likely has."""
        rows, cols = np.nonzero(self.labels)
        split = np.split(
            self.classes[cols], np.cumsum(np.bincount(rows, minlength=self.items.size))[:-1]
        )
        return pd.DataFrame({"item": self.items, "labels": [list(part) for part in split]})


def aggregate_multilabel(
    df: pd.DataFrame,
    *,
    item: str = "item",
    source: str = "source",
    labels: str = "labels",
    aggregator: BaseAggregator | None = None,
    classes: Sequence[Hashable] | None = None,
    duplicates: str = "error",
    threshold: float = 0.5,
) -> MultilabelAggregation:
    """Aggregate multi-label answers, one binary aggregation per tag.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per (item, source) answer; ``labels`` holds the list (or set, tuple) of tags
        the source marked, possibly empty.
    item, source, labels : str
        Column names.
    aggregator : aggregator, default=DawidSkene()
        Any labelwise aggregator that uses annotations only; cloned for every tag.
    classes : sequence, optional
        All tags in column order (a tag nobody marked keeps its column). Default: the sorted
        distinct tags.
    duplicates : {"error", "keep", "last"}, default="error"
        Policy for a source answering the same item more than once.
    threshold : float in (0, 1], default=0.5
        ``labels`` marks the tags with at least this probability.

    Returns
    -------
    MultilabelAggregation

    Examples
    --------
    >>> import pandas as pd
    >>> from labelwise.aggregate import MajorityVote, aggregate_multilabel
    >>> answers = pd.DataFrame({
    ...     "item": [1, 1, 1, 2, 2, 2],
    ...     "source": ["a", "b", "c", "a", "b", "c"],
    ...     "labels": [["cat"], ["cat", "dog"], ["cat"], ["dog"], [], ["dog"]]})
    >>> result = aggregate_multilabel(answers, aggregator=MajorityVote(tie_break="prior"))
    >>> result.probas.round(2)
    array([[1.  , 0.33],
           [0.  , 0.67]])
    >>> result.to_frame()["labels"].tolist()
    [['cat'], ['dog']]
    """
    threshold = check_fraction(threshold, "threshold")
    frame = check_columns(df, [item, source, labels])
    tag_lists = check_tag_lists(frame[labels], name=labels)
    item_codes, item_ids = pd.factorize(frame[item].to_numpy(), sort=True)
    source_codes, source_ids = pd.factorize(frame[source].to_numpy(), sort=True)
    item_codes, source_codes = item_codes.astype(np.int64), source_codes.astype(np.int64)
    keep = check_duplicate_pairs(item_codes, source_codes, duplicates)
    lengths = np.fromiter((len(tags) for tags in tag_lists), dtype=np.int64, count=len(tag_lists))
    flat = np.array(list(chain.from_iterable(tag_lists)), dtype=object)
    if classes is not None:
        tag_codes = check_known_classes(flat, list(classes), name=labels)
        class_ids = np.asarray(list(classes), dtype=object)
    else:
        codes, uniques = pd.factorize(flat, sort=True)
        tag_codes, class_ids = codes.astype(np.int64), np.asarray(uniques, dtype=object)
    answer = np.repeat(np.arange(len(tag_lists)), lengths)
    marked = sparse.csc_matrix(
        (np.ones(answer.size, dtype=bool), (answer, tag_codes)),
        shape=(len(tag_lists), class_ids.size),
    )
    marked = marked[np.flatnonzero(keep)]
    items, sources = np.asarray(item_ids), np.asarray(source_ids)
    base = aggregator if aggregator is not None else DawidSkene()
    probas = np.empty((items.size, class_ids.size))
    fitted: list[Any] = []
    for j in range(class_ids.size):  # one binary aggregation per tag (K is small)
        present = marked[:, j].toarray().ravel().astype(np.int64)
        annotations = Annotations(
            item_codes[keep], source_codes[keep], present, items, sources, _BINARY
        )
        model = clone(base).fit(annotations)
        probas[:, j] = model.probas_[:, 1]
        fitted.append(model)
    return MultilabelAggregation(
        probas=probas,
        labels=probas >= threshold,
        items=items,
        classes=class_ids,
        aggregators=tuple(fitted),
    )
