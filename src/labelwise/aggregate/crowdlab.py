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
from labelwise.annotations import Annotations

#: Lower clip of the relative weights (cleanlab's ``CLIPPING_LOWER_BOUND``).
WEIGHT_FLOOR = 1e-6
#: Floor on probabilities before taking logs during calibration (cleanlab's ``SMALL_CONST``).
PROB_FLOOR = 1e-30
#: Coarse temperature grid of the calibration search (as in cleanlab).
TEMPERATURE_GRID = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0, 3.0, 5.0, 8.0)


def _sum_by_item_class(annotations: Annotations, values: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_items, K) dense sums of ``values`` (one per annotation) per item and class."""
    return np.asarray(
        sparse.csr_matrix(
            (values, (annotations.item, annotations.label)),
            shape=(annotations.n_items, n_classes),
        ).toarray()
    )


def _mask_argmax(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Candidates that reach the row maximum of ``scores`` among the candidates."""
    masked = np.where(candidates, scores, -np.inf)
    return candidates & (masked == masked.max(axis=1, keepdims=True))


def majority_vote_with_ties(
    annotations: Annotations, counts: np.ndarray, pred_probs: np.ndarray
) -> np.ndarray:
    """Majority vote with cleanlab's tie-break order, vectorised.

    Ties among the most voted classes go, in turn, to the class with the highest
    ``pred_probs``; the class with the fewest votes over the whole data set; the class whose
    voters agree most with the untied majority votes (mean over its voters); and finally the
    lowest class id (cleanlab draws at random here).
    """
    tied = counts == counts.max(axis=1, keepdims=True)
    untied = tied.sum(axis=1) == 1
    tied = _mask_argmax(pred_probs, tied)
    tied = _mask_argmax(-counts.sum(axis=0)[None, :], tied)
    still = tied.sum(axis=1) > 1
    if still.any() and untied.any():
        # quality of each voter: agreement with the majority vote on items without a tie
        on_untied = untied[annotations.item]
        winner = np.argmax(counts, axis=1)[annotations.item]
        agree = np.bincount(
            annotations.source[on_untied],
            weights=(annotations.label == winner)[on_untied],
            minlength=annotations.n_sources,
        )
        seen = np.bincount(annotations.source[on_untied], minlength=annotations.n_sources)
        quality = np.divide(agree, seen, out=np.full(agree.shape, np.nan), where=seen > 0)
        quality[seen == 0] = np.nanmean(quality)
        sums = _sum_by_item_class(annotations, quality[annotations.source], counts.shape[1])
        mean = np.divide(sums, counts, out=np.full(sums.shape, -np.inf), where=counts > 0)
        tied[still] = _mask_argmax(mean[still], tied[still])
    return np.argmax(tied, axis=1)


def calibration_temperature(pred_probs: np.ndarray, shares: np.ndarray) -> float:
    """Temperature minimising the soft cross-entropy between vote shares and scaled probs.

    The coarse-then-fine grid search of cleanlab's ``find_best_temp_scaler``; items without
    annotations (all-zero ``shares`` rows) do not count.
    """
    k = pred_probs.shape[1]
    labelled = shares.sum(axis=1) > 0
    n_labelled = int(labelled.sum())
    probs = pred_probs[labelled]
    log_p = np.log(probs, where=probs > 0, out=np.full(probs.shape, -np.inf))
    # Dividing by T > 0 keeps each row's largest finite logit largest: shift once, not per T.
    top = np.max(np.where(np.isfinite(log_p), log_p, -np.inf), axis=1, keepdims=True)
    shifted = log_p - top
    # Only the (item, class) cells with a vote share enter the cross-entropy.
    rows, cols = np.nonzero(shares[labelled])
    weights = shares[labelled][rows, cols]
    picked = shifted[rows, cols]
    log_floor = np.log(PROB_FLOOR)

    def loss(temp: float) -> float:
        inverse = 1.0 / max(temp, WEIGHT_FLOOR)
        log_norm = np.log(np.exp(shifted * inverse).sum(axis=1))
        # log(clip(softmax, floor)) = max(log softmax, log floor), on the voted cells only.
        log_q = np.maximum(picked * inverse - log_norm[rows], log_floor)
        return float(-(weights * log_q).sum() / np.log(k) / n_labelled)

    coarse = list(TEMPERATURE_GRID)
    best = int(np.argmin([loss(t) for t in coarse]))
    fine: list[float] = []
    if best > 0:
        fine += list(np.linspace(coarse[best - 1], coarse[best], 4, endpoint=False))
    if best < len(coarse) - 1:
        fine += list(np.linspace(coarse[best], coarse[best + 1], 5, endpoint=True))
    return float(fine[int(np.argmin([loss(t) for t in fine]))])


def _softmax(logits: np.ndarray) -> np.ndarray:
    finite_max = np.max(np.where(np.isfinite(logits), logits, -np.inf), axis=1, keepdims=True)
    exp = np.exp(logits - finite_max)
    return exp / exp.sum(axis=1, keepdims=True)


def temperature_scale(pred_probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(pred_probs) / temperature)``, with probabilities floored at 1e-30."""
    clipped = np.clip(pred_probs, PROB_FLOOR, None)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return _softmax(np.log(clipped) / max(temperature, WEIGHT_FLOOR))


class _Round:
    """The ensemble computed around one set of consensus labels."""

    def __init__(
        self,
        annotations: Annotations,
        pred_probs: np.ndarray,
        counts: np.ndarray,
        n_per_item: np.ndarray,
        consensus: np.ndarray,
    ) -> None:
        k = pred_probs.shape[1]
        item, source = annotations.item, annotations.source
        multi = n_per_item >= 2
        # share of each item's annotators that agree with its consensus
        agreeing = counts[np.arange(consensus.size), consensus]
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
        # each annotator's agreement with the other annotators of the items it labelled
        others_agreeing = counts[item, annotations.label] - 1.0
        others = n_per_item[item] - 1.0
        num = np.bincount(source, weights=others_agreeing, minlength=annotations.n_sources)
        den = np.bincount(source, weights=others, minlength=annotations.n_sources)
        agreement = np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)
        if np.isnan(agreement).any():
            agreement[np.isnan(agreement)] = np.nanmean(agreement)
        self.source_weights = np.clip(1.0 - (1.0 - agreement) / baseline, WEIGHT_FLOOR, None)
        model_error = float(np.mean(np.argmax(pred_probs[multi], axis=1) != sub))
        self.model_weight = max(1.0 - model_error / baseline, WEIGHT_FLOOR) * float(
            np.sqrt(n_per_item.mean())
        )
        weight_of = self.source_weights[source]
        per_item = np.bincount(item, weights=weight_of, minlength=annotations.n_items)
        voted = _sum_by_item_class(annotations, weight_of, k)
        numerator = (
            self.model_weight * pred_probs
            + other * per_item[:, None]
            + (self.likelihood - other) * voted
        )
        self.probas = numerator / (self.model_weight + per_item)[:, None]
        self.consensus = consensus
        self.quality = self.probas[np.arange(consensus.size), consensus]


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
        probs = check_pred_probs(pred_probs)
        expected = (annotations.n_items, annotations.n_classes)
        if probs.shape != expected:
            fail("pred_probs", f"of shape {expected} (n_items, n_classes)", f"shape {probs.shape}")
        counts = annotations.dense_vote_counts()
        n_per_item = counts.sum(axis=1)
        if not (n_per_item >= 2).any():
            fail(
                "annotations",
                "at least one item labelled two or more times (CrowdLab estimates "
                "annotator quality from overlaps)",
                f"at most {int(n_per_item.max())} annotation per item",
            )
        self.temperature_ = 1.0
        if calibrate:
            self.temperature_ = calibration_temperature(
                probs, counts / np.maximum(n_per_item, 1.0)[:, None]
            )
            probs = temperature_scale(probs, self.temperature_)
        majority = majority_vote_with_ties(annotations, counts, probs)
        first = _Round(annotations, probs, counts, n_per_item, majority)
        best = first.probas.max(axis=1, keepdims=True)
        unique = (first.probas == best).sum(axis=1) == 1
        consensus = np.where(unique, np.argmax(first.probas, axis=1), majority)
        final = _Round(annotations, probs, counts, n_per_item, consensus)

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
        item, source, m = annotations.item, annotations.source, annotations.n_sources
        seen = np.bincount(source, minlength=m)
        score = final.probas[item, annotations.label]
        mean_score = np.divide(
            np.bincount(source, weights=score, minlength=m),
            seen,
            out=np.full(m, np.nan),
            where=seen > 0,
        )
        overlap = n_per_item[item] >= 2
        agree = annotations.label == final.consensus[item]
        hits = np.bincount(source[overlap], weights=agree[overlap], minlength=m)
        tries = np.bincount(source[overlap], minlength=m)
        agreement = np.divide(hits, tries, out=np.full(m, np.nan), where=tries > 0)
        others = final.source_weights.sum() * n_per_item.mean() / m
        share = final.model_weight / (final.model_weight + others)
        quality: np.ndarray = share * mean_score + (1.0 - share) * agreement
        return quality
