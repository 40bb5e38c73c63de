"""Posteriors of a fitted :class:`~labelwise.aggregate.LabelModel` on votes it was not fitted on.

A fitted label model is a generative model of each LF's vote given the true class, so it
scores any items voted on by the same LFs: the posterior of an item is the E-step of the fit
with the fitted parameters (the same terms, :func:`e_step_terms`, and the same kernel). LFs
and classes are matched by their ids, so new votes may use a subset of the LFs or classes and
code them in another order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelwise._validation import fail, preview
from labelwise.aggregate._kernels import em_log_joint, n_chunks_for
from labelwise.aggregate._label_model_data import merged_by_group
from labelwise.aggregate._label_model_em import State, e_step_terms
from labelwise.annotations import Annotations

__all__ = ["posteriors_of_new_votes"]


def _codes_in(fitted: np.ndarray, given: np.ndarray, used: np.ndarray, what: str) -> np.ndarray:
    """Position in ``fitted`` of each id in ``given``; fails naming the ids that are used by
    some vote (``used``: bool per id) but were not seen in the fit."""
    codes = pd.Index(fitted).get_indexer(pd.Index(given))
    unknown = given[(codes < 0) & used]
    if unknown.size:
        fail(
            "annotations",
            f"votes from the {what} the label model was fitted on ({preview(list(fitted), 10)})",
            f"{what} it has not seen: {preview(list(unknown))}",
        )
    return codes


def posteriors_of_new_votes(
    annotations: Annotations,
    sources: np.ndarray,
    classes: np.ndarray,
    state: State,
    weights: np.ndarray,
    merge_groups: np.ndarray | None,
) -> np.ndarray:
    """(n_items, K) class posteriors of ``annotations``' items under fitted parameters.

    ``sources`` and ``classes`` are the fitted ids; ``state`` and ``weights`` the parameters
    and likelihood weights of the sources the model was fitted on (the merged groups, given
    by ``merge_groups`` per source, when dependent LFs were merged). An item without votes gets
    the class balance, as in the fit.
    """
    k = classes.size
    source_codes = _codes_in(
        sources, annotations.sources, annotations.source_counts() > 0, "LFs (sources)"
    )
    class_codes = _codes_in(classes, annotations.classes, annotations.class_counts() > 0, "classes")
    mapped = Annotations(
        item=annotations.item,
        source=source_codes[annotations.source],
        label=class_codes[annotations.label],
        items=annotations.items,
        sources=sources,
        classes=classes,
    )
    if merge_groups is not None:
        mapped = merged_by_group(mapped, merge_groups)
    table, log_prior = e_step_terms(state, weights)
    indptr, order = mapped.item_groups()
    answer = (mapped.source * k + mapped.label).astype(np.int32)
    if order is not None:
        answer = answer[order]
    posteriors = np.empty((mapped.n_items, k))
    em_log_joint(indptr, answer, table, log_prior, posteriors, n_chunks_for(answer.size))
    np.exp(posteriors, out=posteriors)
    posteriors /= posteriors.sum(axis=1, keepdims=True)
    posteriors[np.diff(indptr) == 0] = state.balance
    return posteriors
