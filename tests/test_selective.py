"""Selective classification (SGR), risk-coverage curves and AURC."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import NotFittedError

from labelwise import LabelwiseWarning
from labelwise.conformal import SelectiveClassifier, aurc, risk_coverage_curve
from labelwise.conformal._selective import binomial_upper_bound
from labelwise.datasets import load_label_errors


def softmax_probs(n: int, k: int, *, margin: float = 2.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) + margin * np.eye(k)[labels]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True), labels


def test_binomial_bound_is_the_clopper_pearson_limit() -> None:
    for errors, n, delta in [(0, 50, 0.01), (3, 100, 0.001), (40, 200, 0.05)]:
        b = binomial_upper_bound(errors, n, delta)
        assert stats.binom.cdf(errors, n, b) == pytest.approx(delta, rel=1e-8)
    assert binomial_upper_bound(10, 10, 0.1) == 1.0


def test_sgr_follows_the_bisection_of_the_paper() -> None:
    probs, labels = softmax_probs(3000, 4, seed=1)
    sel = SelectiveClassifier(target_risk=0.05, delta=0.01).fit(probs, labels)
    kappa = probs.max(axis=1)
    wrong = probs.argmax(axis=1) != labels
    order = np.sort(kappa)
    steps = int(np.ceil(np.log2(3000)))
    z_min, z_max, best = 0, 2999, None
    for _ in range(steps):  # Algorithm 1 of Geifman & El-Yaniv (2017), 0-based positions
        z = (z_min + z_max + 1) // 2
        accepted = kappa >= order[z]
        bound = binomial_upper_bound(int(wrong[accepted].sum()), int(accepted.sum()), 0.01 / steps)
        if bound < 0.05:
            best = (
                (order[z], bound, accepted.mean())
                if best is None or accepted.mean() > best[2]
                else best
            )
            z_max = z
        else:
            z_min = z
    assert (sel.threshold_, sel.risk_bound_, sel.coverage_) == pytest.approx(best)
    assert sel.risk_ == pytest.approx(wrong[kappa >= sel.threshold_].mean())


def test_sgr_guarantee_holds_over_random_splits() -> None:
    probs, labels = softmax_probs(40_000, 5, margin=2.5, seed=2)
    rng = np.random.default_rng(0)
    over = 0
    for _ in range(40):
        rows = rng.permutation(40_000)
        cal, test = rows[:2000], rows[2000:]
        sel = SelectiveClassifier(target_risk=0.1, delta=0.05).fit(probs[cal], labels[cal])
        pred = sel.predict(probs[test])
        kept = pred >= 0
        assert 0.1 < kept.mean() < 1.0
        over += (pred[kept] != labels[test][kept]).mean() > 0.1
    assert over <= 5  # P(risk > target) <= 0.05 per split


def test_predict_accept_and_abstain() -> None:
    probs, labels = softmax_probs(2000, 3, seed=3)
    sel = SelectiveClassifier(target_risk=0.1).fit(probs, labels)
    pred, accepted = sel.predict(probs), sel.accept(probs)
    np.testing.assert_array_equal(pred >= 0, accepted)
    np.testing.assert_array_equal(pred[accepted], probs.argmax(axis=1)[accepted])
    assert accepted.mean() == pytest.approx(sel.coverage_)


def test_sgr_rejects_everything_when_the_target_is_out_of_reach() -> None:
    probs, labels = softmax_probs(200, 3, margin=0.1, seed=4)
    with pytest.warns(
        LabelwiseWarning, match=r"no confidence threshold certifies selective risk < 0.01"
    ):
        sel = SelectiveClassifier(target_risk=0.01).fit(probs, labels)
    assert sel.threshold_ == np.inf and (sel.predict(probs) == -1).all()


def brute_force_curve(probs, labels, confidence=None):
    kappa = probs.max(axis=1) if confidence is None else confidence
    wrong = probs.argmax(axis=1) != labels
    thresholds = np.unique(kappa)[::-1]
    coverage = np.array([(kappa >= t).mean() for t in thresholds])
    risk = np.array([wrong[kappa >= t].mean() for t in thresholds])
    # AURC as the expectation over a random order of tied confidences
    rng = np.random.default_rng(0)
    values = []
    for _ in range(400):
        order = np.lexsort((rng.random(kappa.size), -kappa))
        values.append(np.mean(np.cumsum(wrong[order]) / np.arange(1, kappa.size + 1)))
    return thresholds, coverage, risk, np.mean(values)


def test_risk_coverage_curve_and_aurc_by_brute_force() -> None:
    probs, labels = softmax_probs(300, 3, margin=1.0, seed=5)
    probs = np.round(probs, 1)  # many tied confidences
    probs /= probs.sum(axis=1, keepdims=True)
    curve = risk_coverage_curve(probs, labels)
    thresholds, coverage, risk, expected_aurc = brute_force_curve(probs, labels)
    np.testing.assert_allclose(curve.thresholds, thresholds)
    np.testing.assert_allclose(curve.coverage, coverage)
    np.testing.assert_allclose(curve.risk, risk)
    assert curve.aurc == pytest.approx(expected_aurc, abs=2e-3)
    assert aurc(probs, labels) == curve.aurc
    distinct = softmax_probs(200, 3, margin=1.0, seed=6)
    exact = brute_force_curve(*distinct)
    assert aurc(*distinct) == pytest.approx(exact[3], rel=1e-12)
    margin = np.sort(distinct[0], axis=1)[:, -1] - np.sort(distinct[0], axis=1)[:, -2]
    by_margin = risk_coverage_curve(*distinct, confidence=margin)
    assert by_margin.aurc == pytest.approx(brute_force_curve(*distinct, confidence=margin)[3])


@pytest.mark.parametrize("name", ["cifar10", "imdb"])
def test_selective_risk_on_real_pred_probs(name: str, real_data_dir) -> None:
    data = load_label_errors(name)
    if data is None:
        pytest.skip(f"label_errors_{name}/pred_probs.npy not found")
    probs, labels = data.pred_probs, data.labels
    rng = np.random.default_rng(1)
    rows = rng.permutation(labels.size)
    half = labels.size // 2
    sel = SelectiveClassifier(target_risk=0.02, delta=0.01).fit(
        probs[rows[:half]], labels[rows[:half]]
    )
    pred = sel.predict(probs[rows[half:]])
    kept = pred >= 0
    risk = (pred[kept] != labels[rows[half:]][kept]).mean()
    print(
        f"{name}: coverage {kept.mean():.3f} at selective risk {risk:.4f} (bound {sel.risk_bound_:.4f})"
    )
    assert risk < 0.02 and kept.mean() > 0.3
    full_risk = (probs.argmax(axis=1) != labels).mean()
    assert aurc(probs, labels) < full_risk  # confidence ranks errors late


def test_selective_errors() -> None:
    probs, labels = softmax_probs(100, 3, seed=7)
    with pytest.raises(
        NotFittedError,
        match=r"`SelectiveClassifier.predict` must be called after SelectiveClassifier.fit\(...\)",
    ):
        SelectiveClassifier().predict(probs)
    with pytest.raises(ValueError, match=r"`target_risk` must be a number in \(0, 1\); got 0."):
        SelectiveClassifier(target_risk=0).fit(probs, labels)
    with pytest.raises(ValueError, match=r"`delta` must be a number in \(0, 1\); got 1.5."):
        SelectiveClassifier(delta=1.5).fit(probs, labels)
    with pytest.raises(ValueError, match=r"`confidence` must be the same length as pred_probs"):
        risk_coverage_curve(probs, labels, confidence=np.ones(5))
    sel = SelectiveClassifier(target_risk=0.3).fit(probs, labels)
    with pytest.raises(
        ValueError, match=r"`pred_probs` must be 3 columns, as in fit; got shape \(100, 2\)."
    ):
        sel.accept(probs[:, :2] / probs[:, :2].sum(axis=1, keepdims=True))
