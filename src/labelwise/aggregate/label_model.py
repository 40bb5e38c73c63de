"""Label model for labeling-function votes, and the detection of dependent (near-duplicate)
labeling functions.

:func:`dependent_source_pairs` finds pairs of sources whose votes are nearly the same set of
(item, label) decisions. :class:`LabelModel` (below) down-weights or merges such groups so that
copies of one rule do not outvote independent ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from labelwise._validation import check_fraction, check_int
from labelwise.aggregate._base import check_annotations
from labelwise.aggregate._pairs import pair_table
from labelwise.annotations import Annotations


@dataclass(frozen=True)
class DependentPairs:
    """Pairs of sources whose votes are nearly identical, by source code.

    Attributes
    ----------
    source_a, source_b : ndarray of shape (n_pairs,), int64
        Source codes (into ``sources``), ``source_a < source_b``; sorted by decreasing
        ``score``.
    score : ndarray of shape (n_pairs,), float64
        Vote overlap in [0, 1]: identical votes / (votes of a + votes of b - identical votes),
        the Jaccard index of the two sources' sets of (item, label) votes.
    n_both : ndarray of shape (n_pairs,), int64
        Items on which both voted.
    sources : ndarray of shape (n_sources,)
        The source ids, in code order (``annotations.sources``).
    threshold : float
        The score from which a pair is listed.
    """

    source_a: np.ndarray
    source_b: np.ndarray
    score: np.ndarray
    n_both: np.ndarray
    sources: np.ndarray
    threshold: float

    def __len__(self) -> int:
        return int(self.score.size)

    @property
    def groups(self) -> np.ndarray:
        """(n_sources,) int64 group code per source: the connected components of the listed
        pairs (a source in no pair is a group of its own); codes in order of first source."""
        m = self.sources.size
        graph = sparse.coo_matrix(
            (np.ones(self.score.size), (self.source_a, self.source_b)), shape=(m, m)
        )
        _, codes = connected_components(graph, directed=False)
        return codes.astype(np.int64)

    def to_frame(self) -> pd.DataFrame:
        """One row per pair: the two source ids, the score and the common items."""
        return pd.DataFrame(
            {
                "source_a": self.sources[self.source_a],
                "source_b": self.sources[self.source_b],
                "score": self.score,
                "n_both": self.n_both,
            }
        )


def dependent_source_pairs(
    annotations: Annotations, *, threshold: float = 0.9, min_overlap: int = 20
) -> DependentPairs:
    """Pairs of sources (e.g. labeling functions) that vote nearly identically.

    The score of a pair is the Jaccard index of their vote sets: the number of items on which
    both voted the same label, divided by the number of (item, label) votes either cast
    (``same / (votes_a + votes_b - same)``). It is 1 for exact copies, high for near-copies
    (two spellings of one regex) and for rules that fire on nearly the same items with the same
    label, and low for independent sources: two independent sources that each vote on every
    item with accuracy ``a`` and uniform errors over K classes score about ``r / (2 - r)`` with
    ``r = a^2 + (1 - a)^2 / (K - 1)``, which reaches 0.9 only for ``a`` above ~0.97. Sources
    that vote on different items score near 0, whatever their accuracy. Unlike statistics
    centred on a fitted model, it needs no accuracies, so a large group of copies (which would
    dominate any consensus) cannot hide itself, and one-class rules (which always agree when
    they co-fire) are flagged only when they fire on nearly the same items.

    Parameters
    ----------
    annotations : Annotations
    threshold : float in (0, 1], default=0.9
        List the pairs scoring at least this.
    min_overlap : int, default=20
        A pair is listed only when the sources voted identically on at least this many items
        (two crowd workers who share three answers are not evidence of a copy).

    Returns
    -------
    DependentPairs
        The pairs, by source code, and ``groups`` (connected components) for merging or
        down-weighting them.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.aggregate import dependent_source_pairs
    >>> rng = np.random.default_rng(0)
    >>> votes = rng.integers(-1, 2, size=(200, 4))   # four independent rules, -1 = abstain
    >>> votes[:, 3] = votes[:, 0]                    # rule 3 copies rule 0
    >>> pairs = dependent_source_pairs(Annotations.from_matrix(votes))
    >>> pairs.to_frame()[["source_a", "source_b", "score"]]
       source_a  source_b  score
    0         0         3    1.0
    >>> pairs.groups.tolist()
    [0, 1, 2, 0]
    """
    checked = check_annotations(annotations)
    threshold = check_fraction(threshold, "threshold")
    min_overlap = check_int(min_overlap, "min_overlap", minimum=1)
    table = pair_table(checked)
    union = table.votes[table.a] + table.votes[table.b] - table.same
    score = table.same / np.maximum(union, 1)
    keep = (score >= threshold) & (table.same >= min_overlap)
    order = np.argsort(-score[keep], kind="stable")
    return DependentPairs(
        source_a=table.a[keep][order],
        source_b=table.b[keep][order],
        score=score[keep][order],
        n_both=table.both[keep][order],
        sources=checked.sources,
        threshold=threshold,
    )
