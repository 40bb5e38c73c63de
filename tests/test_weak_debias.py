"""Zero-shot prior debiasing (Liusie et al. 2024), votes from probabilities, ModelLF."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelwise.aggregate import ConvergenceWarning
from labelwise.weak import (
    ABSTAIN,
    ModelLF,
    apply,
    debias_probs,
    debias_weights,
    labeling_function,
    probs_to_votes,
)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def random_probs(seed: int, n: int, k: int, scale: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return softmax_rows(scale * rng.standard_normal((n, k)) + rng.normal(0, 1.5, k))


@pytest.mark.parametrize("seed", range(6))
def test_mean_reweighted_prob_equals_the_prior(seed):
    rng = np.random.default_rng(100 + seed)
    k = int(rng.integers(2, 7))
    probs = random_probs(seed, int(rng.integers(20, 3000)), k, scale=float(rng.uniform(0.5, 5)))
    for prior in (None, rng.dirichlet(np.full(k, 2.0))):
        debiased = debias_probs(probs, prior=prior)
        target = np.full(k, 1.0 / k) if prior is None else prior
        assert debiased.shape == probs.shape and debiased.dtype == np.float64
        np.testing.assert_allclose(debiased.mean(axis=0), target, rtol=0, atol=1e-8)
        np.testing.assert_allclose(debiased.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        # It is a reweighting: q ∝ w ⊙ p with one w for all rows.
        w = debias_weights(probs, prior=prior)
        assert w.shape == (k,) and (w > 0).all() and w.max() == 1.0
        np.testing.assert_allclose(debiased, probs * w / (probs @ w)[:, None], rtol=1e-12)


def test_matches_plain_iterative_proportional_fitting():
    probs = random_probs(7, 400, 4)
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    w = np.ones(4)
    for _ in range(20000):  # the textbook fixed point w_k <- w_k prior_k / mean_k
        q = probs * w / (probs @ w)[:, None]
        w = w * prior / q.mean(axis=0)
    np.testing.assert_allclose(debias_weights(probs, prior=prior), w / w.max(), rtol=1e-6)


def test_identity_when_the_mean_is_already_the_prior():
    base = random_probs(3, 50, 3)
    # All cyclic shifts of the columns: each class gets the same total, so the mean is uniform.
    probs = np.concatenate([np.roll(base, shift, axis=1) for shift in range(3)])
    assert np.abs(probs.mean(axis=0) - 1 / 3).max() < 1e-15
    np.testing.assert_array_equal(debias_weights(probs), np.ones(3))
    np.testing.assert_allclose(debias_probs(probs), probs, rtol=0, atol=1e-15)
    # And debiasing twice changes nothing more.
    once = debias_probs(random_probs(4, 300, 5))
    np.testing.assert_allclose(debias_probs(once), once, rtol=0, atol=1e-9)


def test_float32_stays_float32():
    probs = random_probs(5, 1000, 3).astype(np.float32)
    out = debias_probs(probs)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=0, dtype=np.float64), 1 / 3, atol=1e-6)


def test_debiasing_recovers_accuracy_of_a_biased_zero_shot_model():
    rng = np.random.default_rng(0)
    n, k = 3000, 3
    truth = rng.integers(0, k, n)
    logits = rng.standard_normal((n, k))
    logits[np.arange(n), truth] += 2.0
    logits[:, 0] += 2.5  # word bias: the prompt favours class 0
    probs = softmax_rows(logits)
    before = (probs.argmax(axis=1) == truth).mean()
    after = (debias_probs(probs).argmax(axis=1) == truth).mean()
    assert before < 0.6 and after > before + 0.15


def test_unreachable_prior_warns_and_missing_class_fails():
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    with pytest.warns(
        ConvergenceWarning,
        match=r"debias_weights stopped after \d+ Newton step\(s\) \(max_iter=5\) with the mean reweighted probability .* from the prior \(tol=1e-10\); the prior may be unreachable",
    ):
        debias_weights(probs, prior=[0.1, 0.9], max_iter=5)
    with pytest.raises(
        ValueError,
        match=r"^`probs` must be some probability on every class the prior asks for; got class\(es\) 1 with probability 0 on every row\.$",
    ):
        debias_probs(np.array([[1.0, 0.0], [1.0, 0.0]]))


def test_argument_errors():
    probs = random_probs(0, 10, 3)
    with pytest.raises(
        ValueError,
        match=r"^`prior` must be an array of shape \(3,\), one share per class; got shape \(2,\)\.$",
    ):
        debias_probs(probs, prior=[0.5, 0.5])
    with pytest.raises(
        ValueError, match=r"^`prior` must be positive finite class shares; got 0\.0, 0\.5, 0\.5\.$"
    ):
        debias_probs(probs, prior=[0.0, 0.5, 0.5])
    with pytest.raises(
        ValueError, match=r"^`prior` must be class shares that sum to 1; got sum 1\.2\.$"
    ):
        debias_probs(probs, prior=[0.4, 0.4, 0.4])
    with pytest.raises(ValueError, match=r"^`max_iter` must be an integer >= 1; got 0\.$"):
        debias_probs(probs, max_iter=0)
    with pytest.raises(ValueError, match=r"^`tol` must be a finite number > 0; got 0\.$"):
        debias_probs(probs, tol=0)
    with pytest.raises(
        ValueError,
        match=r"^`probs` must be rows that sum to 1 \(within 0\.001\); normalise them first; got 1 row\(s\) off, first at row 0 summing to 2\.$",
    ):
        debias_probs(np.array([[1.0, 1.0], [0.5, 0.5]]))
    with pytest.raises(
        ValueError,
        match=r"^`probs` must be a 2-D array of shape \(n_examples, n_classes\); got shape \(3,\)\.$",
    ):
        probs_to_votes(np.array([0.2, 0.3, 0.5]))


def test_probs_to_votes():
    probs = np.array([[0.5, 0.5], [0.2, 0.8], [0.6, 0.4]])
    assert probs_to_votes(probs).tolist() == [0, 1, 0]
    assert probs_to_votes(probs, threshold=0.6).tolist() == [ABSTAIN, 1, 0]
    assert probs_to_votes(probs, threshold=0.0).tolist() == [0, 1, 0]
    assert probs_to_votes(probs).dtype == np.int64
    with pytest.raises(ValueError, match=r"^`threshold` must be a number in \[0, 1\]; got 1\.5\.$"):
        probs_to_votes(probs, threshold=1.5)


def biased_model(df):
    p1 = 0.5 * df["x"].to_numpy()
    return np.column_stack([1 - p1, p1])


def test_model_lf_debiases_then_votes():
    frame = pd.DataFrame({"x": [0.1, 0.3, 0.7, 0.9, 0.95, 0.05]})
    assert probs_to_votes(biased_model(frame)).tolist() == [0] * 6  # never says 1 undebiased
    lf = ModelLF(biased_model, classes=["no", "yes"], name="model")
    assert lf.vectorized and lf.name == "model"
    assert lf(frame).tolist() == ["no", "no", "yes", "yes", "yes", "no"]
    assert lf.weights_.shape == (2,) and lf.weights_[0] < 1.0
    cautious = ModelLF(biased_model, classes=["no", "yes"], threshold=0.75)
    assert cautious(frame).tolist() == ["no", ABSTAIN, ABSTAIN, "yes", "yes", "no"]
    raw = ModelLF(biased_model, debias=False)
    assert raw(frame).tolist() == [0] * 6 and raw.weights_.tolist() == [1.0, 1.0]
    skewed = ModelLF(biased_model, prior=[0.7, 0.3])  # fewer "yes" than the uniform prior
    assert skewed(frame).tolist() == [0, 0, 0, 1, 1, 0]

    @labeling_function(vectorized=True)
    def big_x(df):
        return np.where(df["x"] > 0.8, "yes", None)

    ann = apply([lf, big_x], frame, progress=False)
    assert list(ann.classes) == ["no", "yes"] and list(ann.sources) == ["model", "big_x"]


def test_model_lf_errors():
    frame = pd.DataFrame({"x": [0.1, 0.9]})
    with pytest.raises(
        ValueError,
        match=r"^`classes` must be one class per column of predict_proba's output \(2\); got 3 classes\.$",
    ):
        ModelLF(biased_model, classes=["a", "b", "c"])(frame)
    with pytest.raises(
        ValueError,
        match=r"^`prior` must be None when debias=False \(it is the target of the debiasing\); got a prior\.$",
    ):
        ModelLF(biased_model, debias=False, prior=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"^`predict_proba` must be rows that sum to 1"):
        ModelLF(lambda df: np.ones((len(df), 2)))(frame)
    with pytest.raises(
        ValueError, match=r"^`threshold` must be a number in \[0, 1\]; got -0\.1\.$"
    ):
        ModelLF(biased_model, threshold=-0.1)
    with pytest.raises(TypeError, match=r"^`debias` must be True or False; got str 'yes'\.$"):
        ModelLF(biased_model, debias="yes")
