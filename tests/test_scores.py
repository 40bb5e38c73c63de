"""label_quality_scores: cleanlab's formulas, range [0, 1], and the one deliberate deviation."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise import label_quality_scores

cleanlab_rank = pytest.importorskip("cleanlab.rank", reason="anchor cleanlab is in the bench extra")

METHODS = ["self_confidence", "normalized_margin", "confidence_weighted_entropy"]


# Adjusted entropy scores are undefined (in cleanlab too) and refused: see test_validation.
@pytest.mark.parametrize(
    ("method", "adjust"), [(m, False) for m in METHODS] + [(m, True) for m in METHODS[:2]]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_equal_cleanlab(synthetic, method, adjust, dtype):
    labels, probs, _, _ = synthetic(3000, 7, margin=2.0, seed=4, dtype=dtype)
    ours = label_quality_scores(labels, probs, method=method, adjust_pred_probs=adjust)
    theirs = cleanlab_rank.get_label_quality_scores(
        labels, probs, method=method, adjust_pred_probs=adjust
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert ours.dtype == np.float64 and ours.min() >= 0 and ours.max() <= 1


def test_scores_rank_flipped_labels_low(synthetic):
    labels, probs, _, flipped = synthetic(4000, 10, seed=6)
    truth = np.zeros(labels.size, bool)
    truth[flipped] = True
    for method in METHODS:
        scores = label_quality_scores(labels, probs, method=method)
        # AUROC via the rank-sum statistic: flipped rows must score lower.
        ranks = np.argsort(np.argsort(scores)) + 1
        auroc = 1 - (ranks[truth].sum() - truth.sum() * (truth.sum() + 1) / 2) / (
            truth.sum() * (~truth).sum()
        )
        assert auroc > 0.98, method


def test_confident_correct_prediction_scores_best_under_entropy():
    # cleanlab gives a one-hot, correct prediction an entropy score of 0 (worst); the limit of
    # log(1 + x) / x as x -> 0 is 1, which is what labelwise returns.
    probs = np.array([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]])
    scores = label_quality_scores(np.array([0, 0, 1]), probs, method="confidence_weighted_entropy")
    assert scores[0] == 1.0 and scores[2] == 1.0 and scores[1] < 1.0
