"""RegressionLabelModel: noise variances from agreement alone, Gaussian posteriors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from labelwise.aggregate import RegressionLabelModel


def simulate(n_items=3000, sigma=(0.2, 0.5, 1.0, 1.5, 3.0), per_item=None, seed=0):
    """Items with true values N(2, 1.5^2); each source adds N(0, sigma^2) noise. With
    ``per_item``, each item is labelled by that many random sources."""
    rng = np.random.default_rng(seed)
    sigma = np.asarray(sigma)
    m = sigma.size
    truth = 2.0 + 1.5 * rng.normal(size=n_items)
    if per_item is None:
        sources = np.tile(np.arange(m), n_items)
        items = np.repeat(np.arange(n_items), m)
    else:
        sources = np.argsort(rng.random((n_items, m)), axis=1)[:, :per_item].ravel()
        items = np.repeat(np.arange(n_items), per_item)
    values = truth[items] + sigma[sources] * rng.normal(size=items.size)
    return items, sources, values, truth, sigma**2


@pytest.mark.parametrize(
    ("per_item", "sigma", "n_items"),
    [(None, (0.2, 0.5, 1.0, 1.5, 3.0), 3000), (3, (0.3, 0.5, 1.0, 1.5, 2.0), 5000)],
)
def test_recovers_known_noise_variances_over_seeds(per_item, sigma, n_items):
    """Relative error of each estimated noise standard deviation over 20 seeds (measured:
    medians 0.01 to 0.09, the smallest sigma hardest: it is the difference of larger numbers,
    and with 3 of 5 sources per item it is seen in fewer pairs)."""
    relative = []
    for seed in range(20):
        items, sources, values, _, variance = simulate(n_items, sigma, per_item, seed)
        model = RegressionLabelModel().fit(items, sources, values)
        relative.append(np.abs(np.sqrt(model.noise_variance_ / variance) - 1.0))
    relative = np.array(relative)
    assert np.median(relative[:, 0]) < 0.15
    assert relative[:, 1:].max() < 0.1


def test_triplet_formula_with_three_sources():
    items, sources, values, _, _ = simulate(sigma=(0.5, 1.0, 2.0), seed=1)
    model = RegressionLabelModel().fit(items, sources, values)
    by_source = [values[sources == j] for j in range(3)]
    d = {(a, b): np.mean((by_source[a] - by_source[b]) ** 2) for a in range(3) for b in range(3)}
    expected = [
        (d[0, 1] + d[0, 2] - d[1, 2]) / 2,
        (d[0, 1] + d[1, 2] - d[0, 2]) / 2,
        (d[0, 2] + d[1, 2] - d[0, 1]) / 2,
    ]
    np.testing.assert_allclose(model.noise_variance_, expected, rtol=1e-9)


def test_posterior_is_the_precision_weighted_mean_and_calibrated():
    items, sources, values, truth, _ = simulate(n_items=20_000, seed=2)
    flat = RegressionLabelModel(prior="none").fit(items, sources, values)
    weights = 1.0 / flat.noise_variance_
    by_item = values.reshape(-1, weights.size)
    np.testing.assert_allclose(flat.mean_, (by_item * weights).sum(1) / weights.sum())
    np.testing.assert_allclose(flat.variance_, 1.0 / weights.sum())
    assert flat.prior_variance_ == np.inf
    model = RegressionLabelModel().fit(items, sources, values)
    error = np.mean((model.mean_ - truth) ** 2)
    assert error == pytest.approx(np.mean(model.variance_), rel=0.05)
    assert error < np.mean((flat.mean_ - truth) ** 2)  # the estimated prior helps
    assert error < np.mean((by_item.mean(axis=1) - truth) ** 2) / 2  # far better than averaging
    assert model.prior_mean_ == pytest.approx(2.0, abs=0.05)
    assert model.prior_variance_ == pytest.approx(1.5**2, rel=0.05)


def test_ids_frames_and_sparse_path(monkeypatch):
    items, sources, values, _, _ = simulate(n_items=500, per_item=4, seed=3)
    frame = pd.DataFrame(
        {"item": [f"i{i:04d}" for i in items], "who": [f"s{j}" for j in sources], "v": values}
    )
    model = RegressionLabelModel().fit(frame["item"], frame["who"], frame["v"])
    assert model.items_[0] == "i0000" and list(model.sources_) == [f"s{j}" for j in range(5)]
    assert model.mean_.shape == (500,) and model.n_pairs_ == 10
    from labelwise.aggregate import regression_label_model

    monkeypatch.setattr(regression_label_model, "DENSE_MAX_SOURCES", 1)
    sparse_model = RegressionLabelModel().fit(frame["item"], frame["who"], frame["v"])
    np.testing.assert_allclose(sparse_model.noise_variance_, model.noise_variance_, rtol=1e-8)
    np.testing.assert_allclose(sparse_model.mean_, model.mean_, rtol=1e-8)
    np.testing.assert_allclose(
        RegressionLabelModel().fit_predict(frame["item"], frame["who"], frame["v"]), model.mean_
    )


def test_unidentified_sources_are_left_out():
    items, sources, values, _, _ = simulate(n_items=400, sigma=(0.5, 1.0, 1.5), seed=4)
    # a fourth source that labels only items nobody else labels is not identified
    extra_items = np.arange(400, 450)
    items = np.concatenate([items, extra_items])
    sources = np.concatenate([sources, np.full(50, 3)])
    values = np.concatenate([values, np.zeros(50)])
    model = RegressionLabelModel().fit(items, sources, values)
    assert np.isnan(model.noise_variance_[3]) and np.isfinite(model.noise_variance_[:3]).all()
    np.testing.assert_allclose(model.mean_[400:], model.prior_mean_)
    flat = RegressionLabelModel(prior="none").fit(items, sources, values)
    assert np.isnan(flat.mean_[400:]).all() and np.isinf(flat.variance_[400:]).all()


def test_get_params_and_clone():
    model = RegressionLabelModel(prior="none", min_variance=1e-3)
    assert model.get_params() == {"prior": "none", "min_variance": 1e-3}
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "mean_")


def test_bad_inputs_are_refused():
    items, sources, values, _, _ = simulate(n_items=50, sigma=(1.0, 1.0, 1.0), seed=5)
    fit = RegressionLabelModel().fit
    with pytest.raises(ValueError, match=r"`sources` must be at least 3 sources whose items"):
        fit(items[sources < 2], sources[sources < 2], values[sources < 2])
    with pytest.raises(ValueError, match=r"`sources` must be the same length as items \(150\)"):
        fit(items, sources[:-1], values)
    with pytest.raises(ValueError, match=r"`values` must be the same length as items \(150\)"):
        fit(items, sources, values[:-1])
    bad = values.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match=r"`values` must be finite \(no NaN or inf\)"):
        fit(items, sources, bad)
    with pytest.raises(TypeError, match=r"`values` must be a 1-D array of real numbers"):
        fit(items, sources, np.array(["a"] * items.size))
    with pytest.raises(ValueError, match=r"`items` must be a 1-D sequence of ids; got shape"):
        fit(items.reshape(-1, 3), sources, values)
    with pytest.raises(ValueError, match=r"`prior` must be one of 'estimate', 'none'; got 'flat'"):
        RegressionLabelModel(prior="flat").fit(items, sources, values)
    with pytest.raises(ValueError, match=r"`min_variance` must be a finite number > 0; got 0"):
        RegressionLabelModel(min_variance=0).fit(items, sources, values)
