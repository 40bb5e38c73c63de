"""Calibration: scalers against reference optimisers, ECE against hand computations, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq, minimize
from scipy.special import expit, log_softmax, softmax
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from labelwise.calibration import (
    MatrixScaling,
    PlattScaling,
    SigmoidTemperatureScaling,
    TemperatureScaling,
    VectorScaling,
    classwise_calibration_error,
    expected_calibration_error,
    reliability_curve,
)
from labelwise.datasets import load_label_errors


def overconfident(n: int = 3000, k: int = 5, scale: float = 3.0, seed: int = 0):
    """Logits of a model whose softmax is too sharp by ``scale`` (so T* is near ``scale``)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels]
    return scale * z, labels


def nll(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(-log_softmax(logits, axis=1)[np.arange(labels.size), labels].mean())


def reference_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """T* from the first-order condition in beta = 1/T (a root of a monotone function)."""
    z = logits.astype(np.float64)
    zy = z[np.arange(labels.size), labels]

    def gradient(beta: float) -> float:
        return float(((softmax(beta * z, axis=1) * z).sum(axis=1) - zy).mean())

    return 1.0 / brentq(gradient, 1e-2, 1e2, xtol=1e-14)


# --------------------------------------------------------------------------- temperature


def test_temperature_equals_reference_optimum() -> None:
    logits, labels = overconfident()
    fitted = TemperatureScaling().fit(logits, labels).temperature_
    assert fitted == pytest.approx(reference_temperature(logits, labels), rel=1e-5)
    assert fitted > 1.5  # the logits were made over-confident


def test_temperature_lowers_nll_and_keeps_the_argmax() -> None:
    logits, labels = overconfident(seed=1)
    ts = TemperatureScaling().fit(logits, labels)
    probs = ts.transform(logits)
    assert nll(np.log(probs), labels) < nll(logits, labels)
    np.testing.assert_array_equal(probs.argmax(axis=1), logits.argmax(axis=1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs, softmax(logits / ts.temperature_, axis=1), rtol=1e-12)


def test_temperature_from_flagged_probabilities_equals_logits() -> None:
    logits, labels = overconfident(seed=2)
    probs = softmax(logits, axis=1)
    a = TemperatureScaling().fit(logits, labels)
    b = TemperatureScaling(inputs="probs").fit(probs, labels)
    assert b.temperature_ == pytest.approx(a.temperature_, rel=1e-6)
    np.testing.assert_allclose(b.transform(probs), a.transform(logits), atol=1e-8)


def test_temperature_keeps_float32() -> None:
    logits, labels = overconfident(n=500)
    out = (
        TemperatureScaling()
        .fit(logits.astype(np.float32), labels)
        .transform(logits.astype(np.float32))
    )
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_temperature_on_chunked_rows_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    logits, labels = overconfident(n=2000, k=8, seed=3)
    whole = TemperatureScaling().fit(logits, labels)
    monkeypatch.setattr("labelwise.calibration._common.CHUNK_ENTRIES", 100)  # 12 rows a chunk
    chunked = TemperatureScaling().fit(logits, labels)
    assert chunked.temperature_ == pytest.approx(whole.temperature_, rel=1e-6)
    np.testing.assert_allclose(chunked.transform(logits), whole.transform(logits), rtol=1e-5)


# --------------------------------------------------------------------------- vector / matrix


def test_vector_and_matrix_scaling_reach_the_reference_minimum() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 2000)
    logits = rng.normal(size=(2000, 3)) + 2.0 * np.eye(3)[labels] + np.array([1.5, 0.0, -1.0])
    vs = VectorScaling().fit(logits, labels)
    ms = MatrixScaling().fit(logits, labels)
    assert vs.converged_ and ms.converged_

    def vector_nll(theta: np.ndarray) -> float:
        return nll(logits * theta[:3] + theta[3:], labels)

    def matrix_nll(theta: np.ndarray) -> float:
        return nll(logits @ theta[:9].reshape(3, 3) + theta[9:], labels)

    ref_v = minimize(
        vector_nll,
        np.r_[np.ones(3), np.zeros(3)],
        method="Nelder-Mead",
        options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12},
    )
    ref_m = minimize(matrix_nll, np.r_[np.eye(3).ravel(), np.zeros(3)], method="BFGS")
    assert vector_nll(np.r_[vs.weights_, vs.bias_]) <= ref_v.fun + 1e-7
    assert matrix_nll(np.r_[ms.weights_.ravel(), ms.bias_]) <= ref_m.fun + 1e-7
    # more freedom, lower in-sample NLL: temperature >= vector >= matrix
    t_nll = nll(np.log(TemperatureScaling().fit(logits, labels).transform(logits)), labels)
    assert t_nll >= vector_nll(np.r_[vs.weights_, vs.bias_]) - 1e-9
    assert vector_nll(np.r_[vs.weights_, vs.bias_]) >= ref_m.fun - 1e-6


def test_matrix_scaling_regularisation_shrinks_to_identity() -> None:
    logits, labels = overconfident(n=300, k=4, seed=5)
    free = MatrixScaling().fit(logits, labels)
    tied = MatrixScaling(reg=10.0).fit(logits, labels)
    assert np.abs(tied.weights_ - np.eye(4)).sum() < np.abs(free.weights_ - np.eye(4)).sum()
    assert clone(tied).get_params()["reg"] == 10.0


# --------------------------------------------------------------------------- sigmoid


def multilabel_logits(n: int = 3000, k: int = 4, scale: float = 3.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.random((n, k)) < 0.3
    return scale * (rng.normal(size=(n, k)) + np.where(y, 1.0, -1.0)), y


def sigmoid_reference_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """T* from the first-order condition of the summed BCE in beta = 1/T."""

    def gradient(beta: float) -> float:
        return float(((expit(beta * z) - y) * z).sum())

    return 1.0 / brentq(gradient, 1e-2, 1e2, xtol=1e-14)


def test_sigmoid_temperature_matches_reference() -> None:
    z, y = multilabel_logits()
    shared = SigmoidTemperatureScaling().fit(z, y)
    per_class = SigmoidTemperatureScaling(per_class=True).fit(z, y)
    assert shared.temperature_[0] == pytest.approx(sigmoid_reference_temperature(z, y), rel=1e-5)
    assert np.ptp(shared.temperature_) == 0 and shared.temperature_[0] > 1.2
    for j in range(z.shape[1]):
        ref = sigmoid_reference_temperature(z[:, j], y[:, j])
        assert per_class.temperature_[j] == pytest.approx(ref, rel=1e-5)
    np.testing.assert_allclose(shared.transform(z), expit(z / shared.temperature_[0]))


def test_platt_scaling_recovers_a_known_map_and_accepts_probabilities() -> None:
    rng = np.random.default_rng(6)
    z = rng.normal(size=(20000, 2)) * 2
    a, b = np.array([0.5, 2.0]), np.array([-1.0, 0.5])
    y = rng.random((20000, 2)) < expit(a * z + b)
    platt = PlattScaling().fit(z, y)
    np.testing.assert_allclose(platt.coef_, a, atol=0.08)
    np.testing.assert_allclose(platt.intercept_, b, atol=0.08)
    from_probs = PlattScaling(inputs="probs").fit(expit(z), y)
    np.testing.assert_allclose(from_probs.coef_, platt.coef_, atol=1e-5)
    binary = PlattScaling().fit(z[:, :1], y[:, :1])  # one column: a binary model
    assert binary.transform(z[:5, :1]).shape == (5, 1)


# --------------------------------------------------------------------------- metrics


def test_ece_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [0.2, 0.8], [0.45, 0.55]])
    labels = [0, 1, 1, 1, 0]
    # bins of width 1/15: 0.9 -> (0.8667, 0.9333], 0.8 -> (0.7333, 0.8], 0.55 -> (0.5333, 0.6]
    expected = (2 * abs(0.5 - 0.9) + 2 * abs(1.0 - 0.8) + abs(0.0 - 0.55)) / 5
    assert expected_calibration_error(probs, labels) == pytest.approx(expected)
    curve = reliability_curve(probs, labels)
    assert curve.counts.sum() == 5 and curve.ece == pytest.approx(expected)
    assert np.isnan(curve.accuracy[0]) and curve.bin_edges.size == 16
    np.testing.assert_allclose(curve.gap[~np.isnan(curve.gap)], [0.55 * -1, 0.2, -0.4])


def test_quantile_bins_hold_equal_counts() -> None:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(3), size=3000)
    labels = rng.integers(0, 3, 3000)
    curve = reliability_curve(probs, labels, n_bins=10, strategy="quantile")
    assert curve.counts.min() >= 295 and curve.counts.max() <= 305
    one_bin = expected_calibration_error(probs, labels, n_bins=1)
    conf = probs.max(axis=1)
    assert one_bin == pytest.approx(abs((probs.argmax(1) == labels).mean() - conf.mean()))


def test_classwise_ece_by_hand() -> None:
    probs = np.array([[0.7, 0.3], [0.7, 0.3]])
    # class 0: p=0.7 twice, label 0 once -> |0.5 - 0.7| = 0.2; class 1 the same
    assert classwise_calibration_error(probs, [0, 1], n_bins=10) == pytest.approx(0.2)
    assert classwise_calibration_error(np.eye(3), [0, 1, 2]) == 0.0


# --------------------------------------------------------------------------- errors


def test_transform_before_fit_names_both_steps() -> None:
    with pytest.raises(
        NotFittedError,
        match=r"`TemperatureScaling.transform` must be called after TemperatureScaling.fit\(...\); got a call to .transform\(...\) before .fit\(...\).",
    ):
        TemperatureScaling().transform(np.zeros((2, 3)))
    with pytest.raises(NotFittedError, match=r"PlattScaling.fit"):
        PlattScaling().transform(np.zeros((2, 3)))


def test_input_errors_are_pinned() -> None:
    logits, labels = overconfident(n=50, k=3)
    with pytest.raises(
        ValueError, match=r"`inputs` must be one of 'logits', 'probs'; got 'softmax'."
    ):
        TemperatureScaling(inputs="softmax").fit(logits, labels)
    with pytest.raises(
        ValueError,
        match=r"`logits` must be finite \(no NaN or inf\); got 1 non-finite value\(s\), first in row 0",
    ):
        bad = logits.copy()
        bad[0, 1] = np.nan
        TemperatureScaling().fit(bad, labels)
    with pytest.raises(ValueError, match=r"`logits` must be rows that sum to 1"):
        TemperatureScaling(inputs="probs").fit(np.abs(logits), labels)
    with pytest.raises(
        ValueError,
        match=r"`logits` must be a 2-D array of shape \(n_examples, n_classes\); got shape \(50,\).",
    ):
        TemperatureScaling().fit(logits[:, 0], labels)
    with pytest.raises(
        ValueError,
        match=r"`bounds` must be two finite temperatures with 0 < low < high; got \(2.0, 1.0\).",
    ):
        TemperatureScaling(bounds=(2.0, 1.0)).fit(logits, labels)
    with pytest.raises(
        TypeError, match=r"`bounds` must be a pair \(low, high\) of temperatures; got 3."
    ):
        TemperatureScaling(bounds=3).fit(logits, labels)
    ts = TemperatureScaling().fit(logits, labels)
    with pytest.raises(
        ValueError, match=r"`logits` must be 3 columns, as in fit; got shape \(50, 2\)."
    ):
        ts.transform(logits[:, :2])
    with pytest.raises(ValueError, match=r"`labels` must be class ids in 0..2"):
        TemperatureScaling().fit(logits, labels + 5)
    with pytest.raises(ValueError, match=r"`max_iter` must be an integer >= 1; got 0."):
        VectorScaling(max_iter=0).fit(logits, labels)
    with pytest.raises(ValueError, match=r"`reg` must be a finite number >= 0; got -1.0."):
        MatrixScaling(reg=-1.0).fit(logits, labels)
    with pytest.raises(
        ValueError, match=r"`logits` must be independent per-class probabilities in \[0, 1\]"
    ):
        PlattScaling(inputs="probs").fit(logits, logits > 0)
    with pytest.raises(ValueError, match=r"`labels` must be binary \(0/1\) indicators"):
        PlattScaling().fit(logits, logits)
    with pytest.raises(
        ValueError, match=r"`strategy` must be one of 'uniform', 'quantile'; got 'equal'."
    ):
        expected_calibration_error(softmax(logits, axis=1), labels, strategy="equal")
    with pytest.raises(ValueError, match=r"`n_bins` must be an integer >= 1; got 0."):
        reliability_curve(softmax(logits, axis=1), labels, n_bins=0)


# --------------------------------------------------------------------------- real data


@pytest.mark.parametrize("name", ["mnist", "cifar10", "imdb"])
def test_temperature_scaling_lowers_ece_on_real_pred_probs(name: str, real_data_dir) -> None:
    """Fit T on one half, measure ECE on the other half, over 10 random splits."""
    data = load_label_errors(name)
    if data is None:
        pytest.skip(f"label_errors_{name}/pred_probs.npy not found")
    probs, labels = data.pred_probs, data.labels
    rng = np.random.default_rng(0)
    before, after, nll_before, nll_after, temps = [], [], [], [], []
    tiny = np.finfo(np.float64).tiny
    for _ in range(10):
        rows = rng.permutation(labels.size)
        cal, test = rows[: labels.size // 2], rows[labels.size // 2 :]
        ts = TemperatureScaling(inputs="probs").fit(probs[cal], labels[cal])
        scaled = ts.transform(probs[test])
        temps.append(ts.temperature_)
        before.append(expected_calibration_error(probs[test], labels[test]))
        after.append(expected_calibration_error(scaled, labels[test]))
        nll_before.append(nll(np.log(np.maximum(probs[test], tiny)), labels[test]))
        nll_after.append(nll(np.log(np.maximum(scaled, tiny)), labels[test]))
    before_mean, after_mean = np.mean(before), np.mean(after)
    print(
        f"{name}: T = {np.mean(temps):.3f}, held-out ECE {before_mean:.4f} -> {after_mean:.4f}, "
        f"NLL {np.mean(nll_before):.4f} -> {np.mean(nll_after):.4f}"
    )
    assert np.mean(nll_after) < np.mean(nll_before)  # what temperature scaling optimises
    if name == "mnist":
        # Already calibrated (ECE ~0.0035, accuracy 99%): the held-out change is within the
        # binning noise of 5000 examples, in either direction.
        assert abs(after_mean - before_mean) < 0.0005
    else:
        assert after_mean < 0.6 * before_mean
        assert np.all(np.array(after) < np.array(before))
    # the fitted temperature is the reference optimum on the whole set
    whole = TemperatureScaling(inputs="probs").fit(probs, labels)
    logp = np.log(np.maximum(probs, np.finfo(np.float64).tiny))
    assert whole.temperature_ == pytest.approx(reference_temperature(logp, labels), rel=1e-5)
