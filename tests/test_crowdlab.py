"""CrowdLab: agreement with cleanlab 2.9's CROWDLAB, behaviour on simulated crowds, input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from labelwise import Annotations
from labelwise.aggregate import CrowdLab
from labelwise.aggregate.crowdlab import TEMPERATURE_GRID, temperature_scale

multiannotator = pytest.importorskip("cleanlab.multiannotator")
multiannotator_utils = pytest.importorskip("cleanlab.internal.multiannotator_utils")


def simulate(
    seed: int,
    *,
    n: int = 400,
    m: int = 6,
    k: int = 3,
    coverage: float = 0.5,
    accuracies: np.ndarray | None = None,
    margin: float = 1.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items x annotators) matrix with -1 for missing, model pred_probs, true labels."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    acc = rng.uniform(0.5, 0.95, m) if accuracies is None else np.asarray(accuracies)
    labelled = rng.random((n, m)) < coverage
    labelled[labelled.sum(axis=1) == 0, 0] = True
    correct = rng.random((n, m)) < acc[None, :]
    wrong = (true[:, None] + rng.integers(1, k, (n, m))) % k
    matrix = np.where(labelled, np.where(correct, true[:, None], wrong), -1)
    logits = rng.standard_normal((n, k))
    logits[np.arange(n), true] += margin
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return matrix, probs, true


def cleanlab_crowdlab(matrix: np.ndarray, probs: np.ndarray) -> dict:
    wide = matrix.astype(float)
    wide[matrix < 0] = np.nan
    return dict(
        multiannotator.get_label_quality_multiannotator(
            wide, probs, verbose=False, return_weights=True
        )
    )


# ---------------------------------------------------------------- agreement with cleanlab


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [2, 4])
def test_matches_cleanlab(seed: int, k: int) -> None:
    matrix, probs, _ = simulate(seed, k=k, coverage=0.3 + 0.1 * (seed % 3))
    ours = CrowdLab().fit(Annotations.from_matrix(matrix), probs)
    theirs = cleanlab_crowdlab(matrix, probs)
    quality = theirs["label_quality"]
    np.testing.assert_array_equal(ours.labels_.astype(int), quality["consensus_label"].to_numpy())
    np.testing.assert_allclose(
        ours.consensus_quality_, quality["consensus_quality_score"].to_numpy(), atol=1e-12
    )
    stats = theirs["annotator_stats"].sort_index()
    np.testing.assert_allclose(ours.source_quality_, stats["annotator_quality"], atol=1e-12)
    np.testing.assert_allclose(ours.model_weight_, theirs["model_weight"], rtol=1e-12)
    np.testing.assert_allclose(ours.source_weights_, theirs["annotator_weight"], rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_calibrated_matches_cleanlab_at_the_same_temperature(seed: int) -> None:
    """cleanlab 2.9's own temperature search mis-counts float-coded labels (its ``value_counts``
    returned [2, 0, 0] for two votes of class 2 here), so we compare the rest of the pipeline at
    our temperature, and check that temperature against a direct scan of the loss."""
    matrix, probs, _ = simulate(seed, margin=4.0)
    ours = CrowdLab(calibrate=True).fit(Annotations.from_matrix(matrix), probs)
    scaled = multiannotator_utils.temp_scale_pred_probs(probs, ours.temperature_)
    theirs = cleanlab_crowdlab(matrix, scaled)
    quality = theirs["label_quality"]
    np.testing.assert_array_equal(ours.labels_.astype(int), quality["consensus_label"].to_numpy())
    np.testing.assert_allclose(
        ours.consensus_quality_, quality["consensus_quality_score"].to_numpy(), atol=1e-10
    )
    counts = Annotations.from_matrix(matrix).vote_counts().toarray()
    shares = counts / counts.sum(axis=1, keepdims=True)

    def loss(temp: float) -> float:
        scaled_probs = temperature_scale(probs, temp)
        return float(-(shares * np.log(scaled_probs)).sum(axis=1).mean())

    assert all(loss(ours.temperature_) <= loss(t) + 1e-9 for t in TEMPERATURE_GRID)
    # confident pred_probs (margin 4) are overconfident for noisy annotators: smoothed
    assert ours.temperature_ > 1.0


# ---------------------------------------------------------------- behaviour on simulated crowds


def test_beats_majority_vote_with_a_good_model() -> None:
    gains = []
    for seed in range(8):
        matrix, probs, true = simulate(seed, n=600, coverage=0.35, margin=3.0)
        ann = Annotations.from_matrix(matrix)
        counts = ann.vote_counts().toarray()
        majority = np.argmax(counts + 1e-3 * probs, axis=1)
        ours = CrowdLab().fit(ann, probs).labels_.astype(int)
        gains.append(np.mean(ours == true) - np.mean(majority == true))
    assert np.mean(gains) > 0.02
    assert min(gains) > -0.01


def test_useless_model_gets_little_weight() -> None:
    for seed in range(5):
        matrix, probs, true = simulate(seed, n=600, k=4, margin=3.0)
        ann = Annotations.from_matrix(matrix)
        good = CrowdLab().fit(ann, probs)
        noise = np.random.default_rng(seed).dirichlet(np.ones(4), size=probs.shape[0])
        useless = CrowdLab().fit(ann, noise)
        assert useless.model_weight_ < 0.2 * good.model_weight_
        assert np.mean(useless.labels_.astype(int) == true) > 0.8


def test_spammer_has_lowest_quality_and_weight() -> None:
    for seed in range(5):
        acc = np.array([0.9, 0.85, 0.8, 0.9, 0.25])  # K=4: 0.25 is a random guesser
        matrix, probs, _ = simulate(seed, n=500, m=5, k=4, coverage=0.6, accuracies=acc)
        model = CrowdLab().fit(Annotations.from_matrix(matrix), probs)
        assert np.argmin(model.source_quality_) == 4
        assert np.argmin(model.source_weights_) == 4
        assert model.source_weights_[4] < 0.1
        assert np.all((model.source_quality_ >= 0) & (model.source_quality_ <= 1))


def test_probas_are_distributions_and_quality_reads_them() -> None:
    matrix, probs, _ = simulate(3, k=5)
    model = CrowdLab().fit(Annotations.from_matrix(matrix), probs.astype(np.float32))
    np.testing.assert_allclose(model.probas_.sum(axis=1), 1.0, rtol=1e-5)
    codes = model.labels_.astype(int)
    np.testing.assert_allclose(model.consensus_quality_, model.probas_[np.arange(400), codes])
    assert model.n_iter_ == 2
    assert model.temperature_ == 1.0


def test_class_names_unlabelled_items_and_silent_sources() -> None:
    table = pd.DataFrame(
        {
            "item": ["a", "a", "b", "b", "c", "c", "c"],
            "source": ["x", "y", "x", "y", "x", "y", "z"],
            "label": ["cat", "cat", "dog", "cat", "dog", "dog", "dog"],
        }
    )
    ann = Annotations.from_long(table, items=["a", "b", "c", "d"], sources=["x", "y", "z", "w"])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.35, 0.65]])
    model = CrowdLab().fit(ann, probs)
    assert list(model.labels_) == ["cat", "dog", "dog", "dog"]
    assert list(model.predict(ann)) == list(model.labels_)
    np.testing.assert_allclose(model.probas_[3], probs[3])  # nobody labelled "d": the model
    assert np.isnan(model.source_quality_[3])  # "w" never answered


def test_sklearn_life_cycle() -> None:
    model = CrowdLab(calibrate=True)
    assert clone(model).get_params() == {"calibrate": True}
    matrix, probs, _ = simulate(0)
    ann = Annotations.from_matrix(matrix)
    first = CrowdLab().fit(ann, probs).probas_.copy()
    again = CrowdLab().fit(ann, probs)
    np.testing.assert_array_equal(first, again.probas_)
    np.testing.assert_array_equal(again.fit_predict(ann, probs), again.labels_)


# ---------------------------------------------------------------- input errors

ANN = Annotations.from_matrix([[0, 1], [1, 1], [0, -1]])
PROBS = np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])


def test_pred_probs_required() -> None:
    with pytest.raises(
        TypeError, match=r"^`pred_probs` must be a model's out-of-sample .*; got None\.$"
    ):
        CrowdLab().fit(ANN, None)


def test_pred_probs_shape_named() -> None:
    with pytest.raises(
        ValueError,
        match=r"^`pred_probs` must be of shape \(3, 2\) \(n_items, n_classes\); got shape \(2, 2\)\.$",
    ):
        CrowdLab().fit(ANN, PROBS[:2])


def test_pred_probs_rows_checked() -> None:
    with pytest.raises(ValueError, match=r"^`pred_probs` must be"):
        CrowdLab().fit(ANN, PROBS * 0.5)


def test_needs_an_overlap() -> None:
    single = Annotations.from_matrix([[0, -1], [-1, 1]])
    with pytest.raises(
        ValueError,
        match=r"^`annotations` must be at least one item labelled two or more times .*; "
        r"got at most 1 annotation per item\.$",
    ):
        CrowdLab().fit(single, PROBS[:2])


def test_calibrate_must_be_bool() -> None:
    with pytest.raises(TypeError, match=r"^`calibrate` must be True or False; got str 'yes'\.$"):
        CrowdLab(calibrate="yes").fit(ANN, PROBS)  # type: ignore[arg-type]


def test_annotations_type() -> None:
    with pytest.raises(TypeError, match=r"^`annotations` must be a labelwise.Annotations"):
        CrowdLab().fit(np.zeros((3, 2)), PROBS)  # type: ignore[arg-type]


def test_predict_before_fit() -> None:
    with pytest.raises(
        ValueError, match=r"CrowdLab\.fit\(\.\.\.\) must come before \.predict_proba"
    ):
        CrowdLab().predict(ANN)
