"""What every aggregator shares: the scikit-learn life cycle over ``Annotations``.

An aggregator turns the votes of several sources (people, labeling functions, models) into one
label distribution per item. Subclasses implement ``_fit(annotations, pred_probs)`` and set the
learned attributes; this base gives ``fit`` / ``predict`` / ``predict_proba`` / ``fit_predict``
/ ``fit_predict_proba`` and the checks around them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from labelwise._numerics import row_argmax, threads_for
from labelwise._validation import fail
from labelwise.aggregate._vote_kernels import count_votes, shares_and_winners
from labelwise.annotations import Annotations


class ConvergenceWarning(UserWarning):
    """An iterative aggregator stopped at ``max_iter`` before its tolerance was met."""


def check_annotations(annotations: object, *, min_classes: int = 2) -> Annotations:
    """An ``Annotations`` with at least one annotation and ``min_classes`` classes."""
    if not isinstance(annotations, Annotations):
        fail(
            "annotations",
            "a labelwise.Annotations (build it with Annotations.from_long or from_matrix)",
            type(annotations).__name__,
            kind=TypeError,
        )
    if annotations.n_annotations == 0:
        fail("annotations", "at least one annotation", "none")
    if annotations.n_classes < min_classes:
        fail(
            "annotations",
            f"at least {min_classes} classes (pass `classes=` to from_long to name them all)",
            f"{annotations.n_classes} class(es): {list(annotations.classes)!r}",
        )
    return annotations


def vote_shares(annotations: Annotations) -> np.ndarray:
    """(n_items, K) share of each class among an item's votes; uniform for unlabelled items.

    The usual initialisation of EM aggregators (majority vote, soft).
    """
    return vote_shares_and_source_counts(annotations)[0]


def vote_shares_and_source_counts(annotations: Annotations) -> tuple[np.ndarray, np.ndarray]:
    """:func:`vote_shares` and the annotations per source, from one compiled counting pass."""
    shares, _, source_counts = count_votes(
        annotations.item,
        annotations.label,
        annotations.source,
        annotations.n_items,
        annotations.n_classes,
        annotations.n_sources,
    )
    with threads_for(shares.size):
        shares_and_winners(shares)  # in place: counts -> shares
    return shares, source_counts


def shares_of_counts(counts: np.ndarray) -> np.ndarray:
    """Row shares of (n_items, K) vote counts; uniform for rows without votes."""
    totals = counts.sum(axis=1, keepdims=True)
    uniform = np.full_like(counts, 1.0 / counts.shape[1])
    return np.divide(counts, totals, out=uniform, where=totals > 0)


class BaseAggregator(BaseEstimator):
    """Base of every aggregator; see the module docstring.

    Fitted attributes common to all: ``labels_`` (n_items,), in the data's own class names, in
    the order of ``annotations.items``; ``probas_`` (n_items, K), columns in the order of
    ``annotations.classes``; ``source_quality_`` (n_sources,), estimated accuracy per source;
    ``n_iter_``; ``classes_`` and ``items_`` (the ids they refer to).
    """

    def _fit(self, annotations: Annotations, pred_probs: np.ndarray | None) -> np.ndarray | None:
        """Set the fitted state; return the consensus class codes when they are not simply the
        argmax of ``probas_`` (e.g. ties broken by a rule), else None."""
        raise NotImplementedError

    def fit(self, annotations: Annotations, pred_probs: Any = None) -> BaseAggregator:
        """Learn from ``annotations`` (and, where the method uses it, a model's ``pred_probs``)."""
        checked = check_annotations(annotations)
        consensus = self._fit(checked, pred_probs)
        if consensus is None:
            consensus = row_argmax(np.asarray(self.probas_, dtype=np.float64))
        self.classes_ = checked.classes
        self.items_ = checked.items
        self.labels_ = checked.classes[consensus]
        return self

    def _check_fitted(self, step: str) -> None:
        if not hasattr(self, "probas_"):
            raise ValueError(
                f"{type(self).__name__}.fit(...) must come before .{step}(...); "
                f"got .{step} on an unfitted aggregator."
            )

    def predict_proba(self, annotations: Annotations) -> np.ndarray:
        """Per-item class probabilities for the fitted annotations (columns: ``classes_``)."""
        self._check_fitted("predict_proba")
        checked = check_annotations(annotations)
        if checked.n_items != self.items_.size or not np.array_equal(checked.items, self.items_):
            fail(
                "annotations",
                "the annotations the aggregator was fitted on (aggregators are transductive)",
                f"{checked.n_items} items, fitted on {self.items_.size}",
            )
        return np.asarray(self.probas_)

    def predict(self, annotations: Annotations) -> np.ndarray:
        """The consensus label per item (``labels_``), in the data's own class names."""
        self.predict_proba(annotations)  # first: it refuses an unfitted or different input
        return np.array(self.labels_, copy=True)

    def fit_predict(self, annotations: Annotations, pred_probs: Any = None) -> np.ndarray:
        return self.fit(annotations, pred_probs).labels_

    def fit_predict_proba(self, annotations: Annotations, pred_probs: Any = None) -> np.ndarray:
        return np.asarray(self.fit(annotations, pred_probs).probas_)
