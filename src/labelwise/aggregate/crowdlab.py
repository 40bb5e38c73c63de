"""CROWDLAB: consensus from several annotators plus a classifier's out-of-sample ``pred_probs``.

Goh, Tkachenko & Mueller (2022), "CROWDLAB: Supervised learning to infer consensus labels and
quality scores for data with multiple annotators" (arXiv:2210.06812). The consensus
distribution of an item is a weighted average of the model's ``pred_probs`` and one "likelihood"
vector per annotation, where an annotation of class ``j`` puts ``P`` on ``j`` and
``(1 - P) / (K - 1)`` on every other class (``P``: the mean share of an item's annotators that
agree with its consensus). Annotator weights grow with their agreement with the other
annotators, the model weight with its accuracy against the consensus; both are measured
relative to the error of always predicting the most common consensus class, so a source no
better than that baseline gets (almost) no weight.

The formulas follow cleanlab 2.9 (``multiannotator.get_label_quality_multiannotator`` with
``consensus_method="best_quality"``, ``quality_method="crowdlab"``), vectorised over the
annotation arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from labelwise._validation import check_bool, check_pred_probs, fail
from labelwise.aggregate._base import BaseAggregator
from labelwise.aggregate._crowdlab_kernels import (
    calibration_losses,
    consensus_votes,
    ensemble_probas,
    grouped_agreement_sums,
    majority_candidates,
    n_row_chunks,
    scaled_confidence,
    scaled_probs,
    source_agreement_sums,
    source_quality_sums,
)
from labelwise.annotations import Annotations

#: Lower clip of the relative weights (cleanlab's ``CLIPPING_LOWER_BOUND``).
WEIGHT_FLOOR = 1e-6
#: Floor on probabilities before taking logs during calibration (cleanlab's ``SMALL_CONST``).
PROB_FLOOR = 1e-30
#: Coarse temperature grid of the calibration search (as in cleanlab).
TEMPERATURE_GRID = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0, 3.0, 5.0, 8.0)


def _mask_argmax(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Candidates that reach the row maximum of ``scores`` among the candidates."""
    masked = np.where(candidates, scores, -np.inf)
    return candidates & (masked == masked.max(axis=1, keepdims=True))


def majority_vote_with_ties(
    annotations: Annotations, counts: np.ndarray | None, pred_probs: np.ndarray
) -> np.ndarray:
    """Majority vote with cleanlab's tie-break order, vectorised.

    Ties among the most voted classes go, in turn, to the class with the highest
    ``pred_probs``; the class with the fewest votes over the whole data set; the class whose
    voters agree most with the untied majority votes (mean over its voters); and finally the
    lowest class id (cleanlab draws at random here). ``counts`` is the (n_items, K) vote
    count array, or None to count the votes item by item from the annotations (no dense
    array; the same numbers).
    """
    n, k = pred_probs.shape
    indptr, order = _item_groups(annotations)
    if counts is None:
        dense = np.empty((0, k))
        class_totals = np.bincount(annotations.label, minlength=k).astype(np.float64)
    else:
        dense = np.ascontiguousarray(counts, dtype=np.float64)
        class_totals = dense.sum(axis=0)
    n_top = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    n_left = np.empty(n, dtype=np.int64)
    majority_candidates(
        dense,
        indptr,
        order,
        annotations.label,
        np.ascontiguousarray(pred_probs, dtype=np.float64),
        class_totals,
        n_top,
        first,
        n_left,
        n_row_chunks(n),
    )
    untied = n_top == 1
    still = np.flatnonzero(n_left > 1)  # rows still tied after both tie-breaks (rare)
    if still.size and untied.any():
        # quality of each voter: agreement with the majority vote on items without a tie
        on_untied = untied[annotations.item]
        winner = first[annotations.item]  # the only most voted class where untied
        agree = np.bincount(
            annotations.source[on_untied],
            weights=(annotations.label == winner)[on_untied],
            minlength=annotations.n_sources,
        )
        seen = np.bincount(annotations.source[on_untied], minlength=annotations.n_sources)
        quality = np.divide(agree, seen, out=np.full(agree.shape, np.nan), where=seen > 0)
        quality[seen == 0] = np.nanmean(quality)
        # the kernel's two tie-breaks again, on the tied rows only
        on_still = np.isin(annotations.item, still)
        position = np.zeros(n, dtype=np.int64)
        position[still] = np.arange(still.size)
        if counts is None:
            sub = np.zeros((still.size, k))
            np.add.at(sub, (position[annotations.item[on_still]], annotations.label[on_still]), 1)
        else:
            sub = np.asarray(counts, dtype=np.float64)[still]
        tied = _mask_argmax(pred_probs[still], sub == sub.max(axis=1, keepdims=True))
        tied = _mask_argmax(-class_totals[None, :], tied)
        sums = sparse.csr_matrix(
            (
                quality[annotations.source[on_still]],
                (position[annotations.item[on_still]], annotations.label[on_still]),
            ),
            shape=(still.size, k),
        ).toarray()
        mean = np.divide(sums, sub, out=np.full(sums.shape, -np.inf), where=sub > 0)
        first[still] = np.argmax(_mask_argmax(mean, tied), axis=1)
    return first


def calibration_temperature(pred_probs: np.ndarray, votes: np.ndarray | Annotations) -> float:
    """Temperature minimising the soft cross-entropy between vote shares and scaled probs.

    The coarse-then-fine grid search of cleanlab's ``find_best_temp_scaler``. ``votes`` holds
    the (n_items, K) vote counts (or weights); each row with a positive total is divided by
    that total into shares, and items without votes do not count. ``votes`` may also be the
    annotations themselves: each item's counts are then taken from its annotations as the
    rows are read (the same numbers, no (n_items, K) array). For each temperature ``T``
    the loss is

    ``-sum over voted cells of share * log(max(softmax(log p / T), 1e-30)) / log K / n_labelled``

    (log p = -inf where p = 0; only cells with a vote share enter), evaluated for a whole grid
    in one compiled pass over the rows. The fine grid's points that are also coarse points
    reuse the coarse values.
    """
    k = pred_probs.shape[1]
    probs = np.ascontiguousarray(pred_probs, dtype=np.float64)
    if isinstance(votes, Annotations):
        indptr, order = _item_groups(votes)
        label = votes.label
        weights = np.empty((0, k))
    else:
        indptr = order = label = np.empty(0, dtype=np.int64)
        weights = np.ascontiguousarray(votes, dtype=np.float64)
    n_chunks = n_row_chunks(probs.shape[0])
    log_floor = float(np.log(PROB_FLOOR))

    def losses(temps: list[float]) -> dict[float, float]:
        inverses = 1.0 / np.maximum(np.asarray(temps, dtype=np.float64), WEIGHT_FLOOR)
        sums, n_labelled = calibration_losses(
            probs, weights, indptr, order, label, inverses, log_floor, n_chunks
        )
        return dict(zip(temps, (-sums / np.log(k) / n_labelled).tolist(), strict=True))

    coarse = [float(t) for t in TEMPERATURE_GRID]
    known = losses(coarse)
    best = int(np.argmin([known[t] for t in coarse]))
    fine: list[float] = []
    if best > 0:
        fine += np.linspace(coarse[best - 1], coarse[best], 4, endpoint=False).tolist()
    if best < len(coarse) - 1:
        fine += np.linspace(coarse[best], coarse[best + 1], 5, endpoint=True).tolist()
    known.update(losses([t for t in fine if t not in known]))
    return float(fine[int(np.argmin([known[t] for t in fine]))])


def temperature_scale(pred_probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(pred_probs) / temperature)``, with probabilities floored at 1e-30.

    Each row is floored, renormalised, logged, divided by the temperature and soft-maxed (one
    compiled pass, no temporaries of the array's size).
    """
    probs = np.ascontiguousarray(pred_probs, dtype=np.float64)
    scaled = np.empty(probs.shape)
    scaled_probs(
        probs, max(temperature, WEIGHT_FLOOR), PROB_FLOOR, scaled, n_row_chunks(probs.shape[0])
    )
    return scaled


def temperature_scaled_confidence(pred_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Row maxima of :func:`temperature_scale`, without building the scaled array."""
    probs = np.ascontiguousarray(pred_probs, dtype=np.float64)
    confidence = np.empty(probs.shape[0])
    scaled_confidence(
        probs, max(temperature, WEIGHT_FLOOR), PROB_FLOOR, confidence, n_row_chunks(probs.shape[0])
    )
    return confidence


def _source_agreement(
    annotations: Annotations, counts: np.ndarray | None, n_per_item: np.ndarray
) -> np.ndarray:
    """Each annotator's agreement with the other annotators of the items it labelled (NaN for
    one without such items replaced by the mean of the others). Without ``counts`` the votes
    are counted item by item from the annotations (integer sums: the same numbers)."""
    # bincount(source, weights=counts[item, label] - 1) and (..., n_per_item[item] - 1)
    num = np.zeros(annotations.n_sources)
    den = np.zeros(annotations.n_sources)
    if counts is None:
        indptr, order = _item_groups(annotations)
        grouped_agreement_sums(
            indptr, order, annotations.source, annotations.label, annotations.n_classes, num, den
        )
    else:
        source_agreement_sums(
            annotations.item, annotations.source, annotations.label, counts, n_per_item, num, den
        )
    agreement = np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)
    if np.isnan(agreement).any():
        agreement[np.isnan(agreement)] = np.nanmean(agreement)
    return agreement


def _item_groups(annotations: Annotations) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`Annotations.item_groups` with an empty ``order`` where the table is already
    grouped by item (the ensemble kernel's convention)."""
    indptr, order = annotations.item_groups()
    return indptr, np.empty(0, dtype=np.int64) if order is None else order


class _Round:
    """The ensemble computed around one set of consensus labels.

    ``agreement`` (:func:`_source_agreement`), ``model_labels`` (argmax of ``pred_probs``) and
    ``groups`` (:func:`_item_groups`) do not depend on the consensus and are computed once
    for both rounds. Without ``keep_probas``, ``probas`` has no rows (only ``quality``,
    ``argmax`` and ``unique`` are filled).
    """

    def __init__(
        self,
        annotations: Annotations,
        pred_probs: np.ndarray,
        n_per_item: np.ndarray,
        consensus: np.ndarray,
        *,
        agreement: np.ndarray,
        model_labels: np.ndarray,
        groups: tuple[np.ndarray, np.ndarray],
        keep_probas: bool = True,
    ) -> None:
        n, k = pred_probs.shape
        multi = n_per_item >= 2
        # share of each item's annotators that agree with its consensus
        agreeing = np.empty(n)
        consensus_votes(
            groups[0], groups[1], annotations.label, consensus, agreeing, n_row_chunks(n)
        )
        share = np.divide(
            agreeing, n_per_item, out=np.full(agreeing.shape, np.nan), where=n_per_item > 0
        )
        self.likelihood = float(share[multi].mean())
        other = (1.0 - self.likelihood) / (k - 1)
        # error of always answering the most common consensus class (the baseline)
        sub = consensus[multi]
        baseline = max(
            float(np.mean(sub != np.argmax(np.bincount(sub, minlength=k)))), WEIGHT_FLOOR
        )
        self.source_weights = np.clip(1.0 - (1.0 - agreement) / baseline, WEIGHT_FLOOR, None)
        model_error = float(np.mean(model_labels[multi] != sub))
        self.model_weight = max(1.0 - model_error / baseline, WEIGHT_FLOOR) * float(
            np.sqrt(n_per_item.mean())
        )
        # (w_m p + other * W + (P - other) * V) / (w_m + W) row by row, with each item's
        # annotator weight W and its part V per class summed over the item's annotations;
        # outputs allocated by numpy, probas only where they are kept
        self.probas = np.empty((n if keep_probas else 0, k))
        self.quality = np.empty(n)
        self.argmax = np.empty(n, dtype=np.int64)
        self.unique = np.empty(n, dtype=bool)
        ensemble_probas(
            pred_probs,
            groups[0],
            groups[1],
            annotations.source,
            annotations.label,
            self.source_weights,
            self.model_weight,
            self.likelihood,
            other,
            consensus,
            self.probas,
            self.quality,
            self.argmax,
            self.unique,
            n_row_chunks(n),
        )
        self.consensus = consensus


def crowdlab_rounds(
    annotations: Annotations,
    probs: np.ndarray,
    n_per_item: np.ndarray,
    *,
    calibrate: bool,
    keep_probas: bool = True,
) -> tuple[float, np.ndarray, _Round]:
    """CROWDLAB's two passes on checked inputs: the temperature, the consensus codes and the
    final round (``probas`` with no rows unless ``keep_probas``).

    ``probs``: C-contiguous float64 (n_items, K); ``n_per_item``: annotations per item as
    floats, some of them 2 or more. The votes are read item by item from the annotations
    (grouped once), never as a dense (n_items, K) count array.
    """
    temperature = 1.0
    if calibrate:
        temperature = calibration_temperature(probs, annotations)
        probs = temperature_scale(probs, temperature)
    majority = majority_vote_with_ties(annotations, None, probs)
    shared = {
        "agreement": _source_agreement(annotations, None, n_per_item),
        "model_labels": np.argmax(probs, axis=1),  # the model's answers, for its error
        "groups": _item_groups(annotations),
    }
    first = _Round(annotations, probs, n_per_item, majority, **shared, keep_probas=False)
    consensus = np.where(first.unique, first.argmax, majority)
    final = _Round(annotations, probs, n_per_item, consensus, **shared, keep_probas=keep_probas)
    return temperature, consensus, final


class CrowdLab(BaseAggregator):
    """Consensus labels from annotators and a model, with per-item and per-annotator quality.

    CROWDLAB (Goh, Tkachenko & Mueller 2022): a weighted ensemble of the model's out-of-sample
    ``pred_probs`` and one likelihood vector per annotation (``P`` on the chosen class,
    ``(1 - P) / (K - 1)`` elsewhere). Two passes, as cleanlab's ``"best_quality"`` consensus:
    weights are first estimated around the majority vote, the consensus becomes the
    ensemble's most probable class (the majority vote where that is tied), and the weights and
    the ensemble are estimated again around that consensus.

    Parameters
    ----------
    calibrate : bool, default=False
        Temperature-scale ``pred_probs`` first, choosing the temperature that best fits the
        annotators' vote shares (soft cross-entropy, cleanlab's grid search).

    Attributes
    ----------
    probas_ : ndarray of shape (n_items, K)
        The ensemble's consensus distribution (columns in ``annotations.classes`` order).
    labels_ : ndarray of shape (n_items,)
        Consensus label per item, in the data's own class names. As in cleanlab, this is the
        first pass's most probable class, so in rare near-ties it can differ from the argmax
        of ``probas_``; ``predict`` returns it.
    consensus_quality_ : ndarray of shape (n_items,)
        ``probas_`` at the consensus label, in [0, 1]; lower means more likely wrong.
    source_quality_ : ndarray of shape (n_sources,)
        Per-annotator quality in [0, 1]: a blend (by the model's share of the total weight) of
        the mean ensemble probability of the annotator's labels and its agreement with the
        consensus on items with two or more annotations (NaN for an annotator with no such item).
    source_weights_ : ndarray of shape (n_sources,)
        Annotator weights in the ensemble.
    model_weight_ : float
        Weight of the model in the ensemble.
    likelihood_ : float
        ``P``: mean share of annotators agreeing with the consensus (items with 2+ annotations).
    temperature_ : float
        Temperature applied to ``pred_probs`` (1.0 without ``calibrate``).
    n_iter_ : int
        Number of passes (2).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.aggregate import CrowdLab
    >>> ann = Annotations.from_matrix([[0, 0, 1], [1, 1, -1], [0, 1, 1], [1, -1, 1]])
    >>> pred_probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.1, 0.9]])
    >>> model = CrowdLab().fit(ann, pred_probs)
    >>> model.labels_
    array([0, 1, 1, 1], dtype=object)
    >>> bool(np.all((model.consensus_quality_ >= 0) & (model.consensus_quality_ <= 1)))
    True
    """

    def __init__(self, *, calibrate: bool = False) -> None:
        self.calibrate = calibrate

    def _fit(self, annotations: Annotations, pred_probs: Any) -> np.ndarray:
        calibrate = check_bool(self.calibrate, "calibrate")
        if pred_probs is None:
            fail(
                "pred_probs",
                "a model's out-of-sample probabilities of shape (n_items, n_classes) "
                "(CrowdLab combines the annotators with a model)",
                "None",
                kind=TypeError,
            )
        probs = np.ascontiguousarray(check_pred_probs(pred_probs), dtype=np.float64)
        expected = (annotations.n_items, annotations.n_classes)
        if probs.shape != expected:
            fail("pred_probs", f"of shape {expected} (n_items, n_classes)", f"shape {probs.shape}")
        n_per_item = annotations.item_counts().astype(np.float64)
        if not (n_per_item >= 2).any():
            fail(
                "annotations",
                "at least one item labelled two or more times (CrowdLab estimates "
                "annotator quality from overlaps)",
                f"at most {int(n_per_item.max())} annotation per item",
            )
        self.temperature_, consensus, final = crowdlab_rounds(
            annotations, probs, n_per_item, calibrate=calibrate
        )
        self.probas_ = final.probas
        self.consensus_quality_ = final.quality
        self.source_weights_ = final.source_weights
        self.model_weight_ = final.model_weight
        self.likelihood_ = final.likelihood
        self.source_quality_ = self._source_quality(annotations, final, n_per_item)
        self.n_iter_ = 2
        return consensus

    @staticmethod
    def _source_quality(
        annotations: Annotations, final: _Round, n_per_item: np.ndarray
    ) -> np.ndarray:
        m = annotations.n_sources
        # per source (bincounts in one pass): annotations, their ensemble probability, and
        # among those on items with 2+ annotations, how many and how many agree
        seen = np.zeros(m, dtype=np.int64)
        score = np.zeros(m)
        tries = np.zeros(m, dtype=np.int64)
        hits = np.zeros(m)
        source_quality_sums(
            annotations.item,
            annotations.source,
            annotations.label,
            final.probas,
            final.consensus,
            n_per_item,
            seen,
            score,
            tries,
            hits,
        )
        mean_score = np.divide(score, seen, out=np.full(m, np.nan), where=seen > 0)
        agreement = np.divide(hits, tries, out=np.full(m, np.nan), where=tries > 0)
        others = final.source_weights.sum() * n_per_item.mean() / m
        share = final.model_weight / (final.model_weight + others)
        quality: np.ndarray = share * mean_score + (1.0 - share) * agreement
        return quality
