"""ActiveLab: which items to label or re-label next, for labelled and unlabeled items on one scale.

Goh & Mueller (2023), "ActiveLab: Active Learning with Re-Labeling by Multiple Annotators"
(arXiv:2301.11856). A labelled item's score is the CROWDLAB consensus quality pulled toward
``1/K`` (the score of a coin toss) by the weight of one more average annotator; an unlabeled
item's score is the same blend of the model's confidence alone. Items whose consensus rests on
little weight, or on a weak model, score low: one more annotation there is worth most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise._validation import check_int
from labelwise._validation.active import check_relabel_annotations, check_relabel_probs
from labelwise.aggregate.crowdlab import crowdlab_rounds, temperature_scaled_confidence
from labelwise.annotations import Annotations


@dataclass(frozen=True)
class RelabelScores:
    """ActiveLab scores; lower means "ask for a label here next".

    Attributes
    ----------
    scores : ndarray of shape (n_items,)
        One score in [0, 1] per item of the annotations (the value of one more annotation).
        An item without any annotation gets the unlabeled-item score.
    scores_unlabeled : ndarray of shape (n_unlabeled,)
        One score per row of ``pred_probs_unlabeled`` (the value of a first annotation), on
        the same scale as ``scores``; empty when no unlabeled items were given.
    """

    scores: np.ndarray
    scores_unlabeled: np.ndarray

    def combined(self) -> np.ndarray:
        """``scores`` then ``scores_unlabeled`` in one array of length n_items + n_unlabeled."""
        return np.concatenate([self.scores, self.scores_unlabeled])

    def lowest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` lowest scores overall, split into (annotated item codes, unlabeled rows).

        Ties go to the lower position (annotated items first).
        """
        combined = self.combined()
        k = min(check_int(k, "k", minimum=1), combined.size)
        order = np.argsort(combined, kind="stable")[:k]
        n = self.scores.size
        return np.sort(order[order < n]), np.sort(order[order >= n] - n)


@dataclass(frozen=True)
class _OneTask:
    scores: np.ndarray
    scores_unlabeled: np.ndarray


def _unlabeled_scores(
    probs: np.ndarray, temperature: float, model_weight: float, mean_weight: float
) -> np.ndarray:
    k = probs.shape[1]
    confidence = temperature_scaled_confidence(probs, temperature)
    out: np.ndarray = (model_weight * confidence + mean_weight / k) / (model_weight + mean_weight)
    return out


def _activelab(
    annotations: Annotations, probs: np.ndarray, probs_unlabeled: np.ndarray | None
) -> _OneTask:
    """ActiveLab for one multi-class task; items without annotations count as unlabeled."""
    k = probs.shape[1]
    per_item = annotations.item_counts()
    annotated = per_item > 0
    everyone = bool(annotated.all())
    codes = np.cumsum(annotated) - 1  # item code among the annotated items
    item_codes = annotations.item if everyone else codes[annotations.item]
    if per_item.max() == 1:
        # one annotation per item: no overlaps to weigh annotators, so every weight is 1
        temperature, model_weight = 1.0, 1.0
        source_weights = np.ones(annotations.n_sources)
        quality = np.zeros(annotations.n_items)
        quality[annotations.item] = probs[annotations.item, annotations.label]
        quality = quality[annotated]
    else:
        sub, sub_probs = annotations, probs  # no copies when every item is annotated
        sub_counts = per_item
        if not everyone:
            sub = Annotations(
                item_codes,
                annotations.source,
                annotations.label,
                annotations.items[annotated],
                annotations.sources,
                annotations.classes,
            )
            sub_probs = probs[annotated]
            sub_counts = per_item[annotated]
        # CrowdLab(calibrate=True) without the parts scores do not need (the (n, K) consensus
        # distribution, per-annotator quality)
        temperature, _, final = crowdlab_rounds(
            sub,
            np.ascontiguousarray(sub_probs, dtype=np.float64),
            sub_counts.astype(np.float64),
            calibrate=True,
            keep_probas=False,
        )
        model_weight = final.model_weight
        source_weights = final.source_weights
        quality = final.quality
    mean_weight = float(source_weights.mean())
    weight_sum = np.bincount(
        item_codes,
        weights=source_weights[annotations.source],
        minlength=int(annotated.sum()),
    )
    own = weight_sum + model_weight
    scores = np.empty(annotations.n_items)
    if not everyone:  # the model alone speaks for items nobody labelled
        scores[~annotated] = _unlabeled_scores(
            probs[~annotated], temperature, model_weight, mean_weight
        )
    scores[annotated] = (own * quality + mean_weight / k) / (own + mean_weight)
    unlabeled = (
        np.empty(0)
        if probs_unlabeled is None
        else _unlabeled_scores(probs_unlabeled, temperature, model_weight, mean_weight)
    )
    return _OneTask(scores, unlabeled)


def _binary(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p, p])


def relabel_scores(
    annotations: Annotations | list[Annotations] | tuple[Annotations, ...],
    pred_probs: object,
    *,
    pred_probs_unlabeled: object = None,
) -> RelabelScores:
    """ActiveLab scores: which items should get one more (or a first) annotation.

    Goh & Mueller (2023), "ActiveLab: Active Learning with Re-Labeling by Multiple Annotators"
    (arXiv:2301.11856). With CROWDLAB's consensus quality ``q_i``, model weight ``w_m`` and
    annotator weights ``w_a`` (:class:`labelwise.aggregate.CrowdLab` with ``calibrate=True``),
    a labelled item scores

    .. math:: s_i = \\frac{(\\sum_{a \\in A_i} w_a + w_m)\\, q_i + \\bar w / K}
                          {\\sum_{a \\in A_i} w_a + w_m + \\bar w}

    (``A_i``: its annotators, ``\\bar w``: the mean annotator weight) and an unlabeled item
    scores the same blend of the temperature-scaled model confidence ``max_k p_ik`` with weight
    ``w_m`` alone. When every item has exactly one annotation, all weights are 1, no
    temperature is fitted and ``q_i`` is the model's probability of the given label. The
    numbers match cleanlab 2.9's ``multiannotator.get_active_learning_scores`` at the same
    temperature (cleanlab's own temperature search miscounts votes coded as floats, see
    ``labelwise.aggregate.CrowdLab``).

    Multi-label data (several tags per item) are scored one tag at a time (one-vs-rest: "tag
    present?" as a binary task) and the per-tag scores are averaged.

    Parameters
    ----------
    annotations : Annotations or sequence of Annotations
        Multi-class annotations, or for multi-label data one binary ``Annotations`` per tag
        (classes: absent, present), all over the same items. Items with no annotation are
        scored as unlabeled.
    pred_probs : array-like of shape (n_items, K)
        Out-of-sample model probabilities for the annotated items: rows summing to one
        (multi-class) or one independent probability per tag (multi-label).
    pred_probs_unlabeled : array-like of shape (n_unlabeled, K), optional
        Model probabilities for items nobody has labelled yet.

    Returns
    -------
    RelabelScores
        ``scores`` (per annotated item) and ``scores_unlabeled`` on one scale in [0, 1];
        lower means label next.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import Annotations
    >>> from labelwise.active import relabel_scores
    >>> ann = Annotations.from_matrix([[0, 0, -1], [1, 0, 1], [0, -1, 1], [1, 1, 1]])
    >>> pred_probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5], [0.2, 0.8]])
    >>> result = relabel_scores(ann, pred_probs, pred_probs_unlabeled=[[0.55, 0.45]])
    >>> result.scores.round(3)
    array([0.9  , 0.699, 0.516, 0.881])
    >>> result.scores_unlabeled.round(3)
    array([0.621])
    >>> result.lowest(2)
    (array([2]), array([0]))
    """
    tasks = check_relabel_annotations(annotations)
    multilabel = not isinstance(annotations, Annotations)
    n_items = tasks[0].n_items
    width = len(tasks) if multilabel else tasks[0].n_classes
    probs = check_relabel_probs(
        pred_probs, n_items, width, multilabel=multilabel, name="pred_probs"
    )
    unlabeled = None
    if pred_probs_unlabeled is not None:
        unlabeled = check_relabel_probs(
            pred_probs_unlabeled, -1, width, multilabel=multilabel, name="pred_probs_unlabeled"
        )
    if not multilabel:
        one = _activelab(tasks[0], probs, unlabeled)
        return RelabelScores(one.scores, one.scores_unlabeled)
    parts = [
        _activelab(
            tag,
            _binary(probs[:, j]),
            None if unlabeled is None else _binary(unlabeled[:, j]),
        )
        for j, tag in enumerate(tasks)  # one binary task per tag (K is small)
    ]
    scores = np.mean([part.scores for part in parts], axis=0)
    rest = (
        np.mean([part.scores_unlabeled for part in parts], axis=0)
        if unlabeled is not None
        else np.empty(0)
    )
    return RelabelScores(scores, rest)
