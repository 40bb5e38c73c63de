"""Multi-label conformal sets: CRC / LTT thresholds, LP-ICP regions, FavMac cost control."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from labelwise import LabelwiseWarning
from labelwise.conformal import (
    CostControlledSets,
    LabelPowersetConformal,
    MultilabelConformal,
)
from labelwise.conformal._multilabel import hoeffding_bentkus_p_values, holm_rejections


def multilabel_data(n: int, k: int, *, signal: float = 1.5, seed: int = 0, rate: float = 0.3):
    rng = np.random.default_rng(seed)
    y = rng.random((n, k)) < rate
    z = rng.normal(size=(n, k)) + np.where(y, signal, -signal)
    return 1.0 / (1.0 + np.exp(-z)), y


def fnr(sets: np.ndarray, y: np.ndarray) -> np.ndarray:
    positives = y.sum(axis=1)
    return np.where(positives > 0, (y & ~sets).sum(axis=1) / np.maximum(positives, 1), 0.0)


def precision_loss(sets: np.ndarray, y: np.ndarray) -> np.ndarray:
    size = sets.sum(axis=1)
    return np.where(size > 0, 1.0 - (y & sets).sum(axis=1) / np.maximum(size, 1), 1.0)


# --------------------------------------------------------------------------- CRC (FNR)


def brute_force_crc(probs, y, target, candidates):
    n = probs.shape[0]
    best = None
    for t in candidates:  # the largest threshold whose CRC bound holds
        risk = fnr(probs >= t, y).mean()
        if (n * risk + 1) / (n + 1) <= target and (best is None or t > best):
            best = t
    return best


def test_crc_exact_threshold_equals_brute_force() -> None:
    for seed, target in [(0, 0.1), (1, 0.05), (2, 0.3)]:
        probs, y = multilabel_data(300, 5, seed=seed)
        probs = np.round(probs, 2)  # ties between classes and rows
        crc = MultilabelConformal(risk="fnr", target=target).calibrate(probs, y)
        candidates = [*np.unique(probs).tolist(), np.inf]
        assert crc.threshold_ == brute_force_crc(probs, y, target, candidates)
        assert crc.risk_ == pytest.approx(fnr(probs >= crc.threshold_, y).mean())
        grid = np.linspace(0, 1, 41)
        on_grid = MultilabelConformal(risk="fnr", target=target, thresholds=grid)
        assert on_grid.calibrate(probs, y).threshold_ == brute_force_crc(probs, y, target, grid)


def test_crc_extremes() -> None:
    probs, y = multilabel_data(50, 3, seed=3)
    tiny = MultilabelConformal(risk="fnr", target=0.01).calibrate(probs, y)
    assert tiny.threshold_ == 0.0 and tiny.predict_set(probs).all()  # (0 + 1) / 51 > 0.01
    none = np.zeros_like(y)
    empty = MultilabelConformal(risk="fnr", target=0.5).calibrate(probs, none)
    assert empty.threshold_ == np.inf and not empty.predict_set(probs).any()


def test_crc_controls_fnr_over_random_splits() -> None:
    probs, y = multilabel_data(4000, 8, signal=1.0, seed=4)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(100):
        rows = rng.permutation(4000)
        cal, test = rows[:1000], rows[1000:]
        crc = MultilabelConformal(risk="fnr", target=0.1).calibrate(probs[cal], y[cal])
        losses.append(fnr(crc.predict_set(probs[test]), y[test]).mean())
    mean, se = np.mean(losses), np.std(losses, ddof=1) / 10
    assert 0.09 <= mean <= 0.1 + 3 * se


# --------------------------------------------------------------------------- LTT (precision)


def test_hoeffding_bentkus_p_values_by_formula() -> None:
    risk = np.array([0.0, 0.05, 0.1, 0.2, 0.5])
    got = hoeffding_bentkus_p_values(risk, 200, 0.2)
    for r, p in zip(risk, got, strict=True):
        a = min(r, 0.2)
        h = (a * np.log(a / 0.2) if a > 0 else 0.0) + (1 - a) * np.log((1 - a) / 0.8)
        expected = min(np.exp(-200 * h), np.e * stats.binom.cdf(np.ceil(200 * r), 200, 0.2))
        assert p == pytest.approx(expected, rel=1e-12)


def test_holm_by_loop() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        p = rng.random(12) ** 3
        active, rejected = list(range(12)), []
        while active:  # the step-down procedure, one hypothesis at a time
            i = min(active, key=lambda j: (p[j], j))
            if p[i] > 0.1 / len(active):
                break
            rejected.append(i)
            active.remove(i)
        np.testing.assert_array_equal(holm_rejections(p, 0.1), np.sort(rejected))


def test_ltt_picks_the_smallest_certified_threshold() -> None:
    probs, y = multilabel_data(1500, 6, signal=2.0, seed=6)
    ltt = MultilabelConformal(risk="precision", target=0.8, confidence_level=0.9)
    ltt.calibrate(probs, y)
    grid = np.round(np.arange(100) * 0.01, 2)
    risk = np.array([precision_loss(probs >= t, y).mean() for t in grid])
    p_values = hoeffding_bentkus_p_values(risk, 1500, 0.2)
    valid = holm_rejections(p_values, 0.1)
    assert ltt.threshold_ == grid[valid[0]]
    assert ltt.risk_ == pytest.approx(risk[valid[0]])


def test_ltt_controls_precision_with_high_probability() -> None:
    probs, y = multilabel_data(6000, 6, signal=2.0, seed=7)
    rng = np.random.default_rng(1)
    misses = 0
    for _ in range(60):
        rows = rng.permutation(6000)
        cal, test = rows[:2500], rows[2500:]
        ltt = MultilabelConformal(risk="precision", target=0.8, confidence_level=0.9)
        sets = ltt.calibrate(probs[cal], y[cal]).predict_set(probs[test])
        misses += precision_loss(sets, y[test]).mean() > 0.2
    assert misses <= 12  # P(miss) <= 0.1; 12 of 60 has probability < 0.05 under 0.1


def test_ltt_warns_when_nothing_is_certified() -> None:
    probs, y = multilabel_data(100, 4, signal=0.2, seed=8)
    with pytest.warns(LabelwiseWarning, match=r"no threshold certifies precision >= 0.99"):
        ltt = MultilabelConformal(risk="precision", target=0.99).calibrate(probs, y)
    assert ltt.threshold_ == np.inf and not ltt.predict_set(probs).any()


def test_multilabel_conformal_errors() -> None:
    probs, y = multilabel_data(40, 3, seed=9)
    with pytest.raises(
        NotFittedError,
        match=r"`MultilabelConformal.predict_set` must be called after MultilabelConformal.calibrate",
    ):
        MultilabelConformal().predict_set(probs)
    with pytest.raises(
        ValueError, match=r"`risk` must be one of 'fnr', 'precision'; got 'recall'."
    ):
        MultilabelConformal(risk="recall").calibrate(probs, y)
    with pytest.raises(ValueError, match=r"`target` must be a number in \(0, 1\); got 1.5."):
        MultilabelConformal(target=1.5).calibrate(probs, y)
    with pytest.raises(ValueError, match=r"`thresholds` must be strictly increasing thresholds"):
        MultilabelConformal(thresholds=[0.5, 0.2]).calibrate(probs, y)
    with pytest.raises(
        ValueError,
        match=r"`thresholds` must be thresholds in \[0, 1\]; got values from 0.0 to 2.0.",
    ):
        MultilabelConformal(thresholds=[0.0, 2.0]).calibrate(probs, y)
    with pytest.raises(
        ValueError,
        match=r"`pred_probs` must be independent per-class probabilities in \[0, 1\]; got 1 row\(s\) with above 1 values",
    ):
        bad = probs.copy()
        bad[3, 1] = 1.2
        MultilabelConformal().calibrate(bad, y)
    with pytest.raises(
        ValueError,
        match=r"`labels` must be an indicator matrix of shape \(40, 3\); got shape \(40, 2\).",
    ):
        MultilabelConformal().calibrate(probs, y[:, :2])
    fitted = MultilabelConformal().calibrate(probs, y)
    with pytest.raises(
        ValueError, match=r"`pred_probs` must be 3 columns, as in calibrate; got shape \(40, 2\)."
    ):
        fitted.predict_set(probs[:, :2])


# --------------------------------------------------------------------------- LP-ICP


def region_as_lists(region) -> list[list[tuple[tuple[bool, ...], float]]]:
    return [
        sorted(
            (tuple(region.sets[j].tolist()), float(region.p_values[j]))
            for j in range(region.indptr[i], region.indptr[i + 1])
        )
        for i in range(region.indptr.size - 1)
    ]


def brute_force_region(lp, probs, eps):
    """Every label set scored from its definition (the per-class costs summed in class order),
    kept when its p-value exceeds eps."""
    cal = lp.calibration_scores_
    on, off = lp._costs(probs)
    out = []
    for i in range(probs.shape[0]):
        sets = []
        for bits in itertools.product([False, True], repeat=probs.shape[1]):
            score = 0.0
            for j, bit in enumerate(bits):
                score += on[i, j] if bit else off[i, j]
            if ((cal >= score).sum() + 1) / (cal.size + 1) > eps:
                sets.append(bits)
        out.append(sorted(sets))
    return out


@pytest.mark.parametrize("score", ["l1", "log"])
@pytest.mark.parametrize("level", [0.5, 0.8, 0.95])
def test_pruned_region_equals_exhaustive_enumeration(score: str, level: float) -> None:
    for k, seed in [(3, 0), (6, 1), (9, 2)]:
        probs, y = multilabel_data(400, k, signal=1.0, seed=seed)
        probs[:, 0] = 0.5  # a class at exactly one half: a free flip
        probs[::7] = np.round(probs[::7], 1)  # ties
        lp = LabelPowersetConformal(score=score, confidence_level=level)
        lp.calibrate(probs[:300], y[:300])
        pruned = lp.predict_region(probs[300:])
        exhaustive = lp.predict_region(probs[300:], method="exhaustive")
        np.testing.assert_array_equal(pruned.indptr, exhaustive.indptr)
        np.testing.assert_array_equal(pruned.sets, exhaustive.sets)
        np.testing.assert_array_equal(pruned.p_values, exhaustive.p_values)
        if k <= 6:
            brute = brute_force_region(lp, probs[300:340], 1 - level)
            got = [sorted(s for s, _ in row) for row in region_as_lists(pruned)[:40]]
            assert got == brute
        # p-values of the sets in the region are the p-values of those label sets
        owners = np.repeat(np.arange(100), pruned.n_sets)
        np.testing.assert_allclose(lp.p_value(probs[300:][owners], pruned.sets), pruned.p_values)


def test_region_properties_by_brute_force() -> None:
    probs, y = multilabel_data(300, 5, signal=1.0, seed=3)
    lp = LabelPowersetConformal(confidence_level=0.8).calibrate(probs[:200], y[:200])
    region = lp.predict_region(probs[200:])
    for i in range(100):
        rows = region.sets[region.indptr[i] : region.indptr[i + 1]]
        np.testing.assert_array_equal(region.union[i], rows.any(axis=0))
        np.testing.assert_array_equal(region.intersection[i], rows.all(axis=0) & (len(rows) > 0))
        contained = any(np.array_equal(r, y[200 + i]) for r in rows)
        assert region.contains(y[200:])[i] == contained
    assert np.all(np.diff(region.p_values[region.indptr[0] : region.indptr[1]]) <= 0)
    p_true = lp.p_value(probs[200:], y[200:])
    np.testing.assert_array_equal(region.contains(y[200:]), p_true > 0.2 + 1e-12)


def test_lp_region_errors() -> None:
    probs, y = multilabel_data(100, 21, seed=4)
    lp = LabelPowersetConformal(max_sets=5).calibrate(probs, y)
    with pytest.raises(
        NotFittedError,
        match=r"`LabelPowersetConformal.predict_region` must be called after LabelPowersetConformal.calibrate",
    ):
        LabelPowersetConformal().predict_region(probs)
    with pytest.raises(
        ValueError,
        match=r'`method` must be "pruned" for more than 20 classes \(2\^K sets per example\); got "exhaustive" with K = 21.',
    ):
        lp.predict_region(probs, method="exhaustive")
    with pytest.raises(
        ValueError,
        match=r"`max_sets` must be at least the largest region's size \(\d+ sets, example \d+\); raise it or lower confidence_level; got 5.",
    ):
        lp.predict_region(probs)
    with pytest.raises(ValueError, match=r"`score` must be one of 'l1', 'log'; got 'hamming'."):
        LabelPowersetConformal(score="hamming").calibrate(probs, y)


# --------------------------------------------------------------------------- FavMac


def brute_force_expected_threshold(probs, y, max_cost):
    """The largest t (over all proxies, plus inf) with (sum_i C_i(t) + K) / (n + 1) <= c."""
    n, k = probs.shape
    ratio = np.where(probs >= 1, np.inf, probs / (1 - probs))
    order = np.argsort(-ratio, axis=1, kind="stable")
    proxy = np.cumsum(np.take_along_axis(1 - probs, order, axis=1), axis=1)
    wrong = ~np.take_along_axis(y, order, axis=1)
    best = 0.0
    for t in [*np.unique(proxy), np.inf]:
        cost = (wrong & (proxy < t)).sum()
        if (cost + k) / (n + 1) <= max_cost:
            best = max(best, t)
    return best


def test_cost_threshold_equals_brute_force_and_update_equals_batch() -> None:
    probs, y = multilabel_data(400, 6, signal=1.0, seed=5)
    probs = np.round(probs, 2)
    fav = CostControlledSets(max_cost=0.8).calibrate(probs, y)
    assert fav.threshold_ == brute_force_expected_threshold(probs, y, 0.8)
    online = CostControlledSets(max_cost=0.8).calibrate(probs[:100], y[:100])
    for start in range(100, 400, 60):  # labelled examples arrive in batches
        online.update(probs[start : start + 60], y[start : start + 60])
    assert online.n_calibration_ == 400
    assert online.threshold_ == fav.threshold_
    np.testing.assert_array_equal(online.jump_proxies_, fav.jump_proxies_)
    np.testing.assert_array_equal(online.predict_set(probs), fav.predict_set(probs))


def test_cost_sets_are_greedy_prefixes() -> None:
    probs, y = multilabel_data(200, 5, seed=6)
    value = np.array([1.0, 2.0, 1.0, 1.0, 5.0])
    cost = np.array([1.0, 1.0, 3.0, 1.0, 1.0])
    fav = CostControlledSets(max_cost=1.0, value_weights=value, cost_weights=cost)
    sets = fav.calibrate(probs, y).predict_set(probs)
    ratio = value * probs / (cost * (1 - probs))
    for i in range(200):
        order = np.argsort(-ratio[i], kind="stable")
        chosen = sets[i, order]
        assert not np.any(chosen[1:] & ~chosen[:-1])  # a prefix of the greedy order
        proxy = np.cumsum(cost[order] * (1 - probs[i, order]))
        np.testing.assert_array_equal(chosen, proxy < fav.threshold_)


def test_cost_control_holds_over_random_splits() -> None:
    probs, y = multilabel_data(5000, 8, signal=1.2, seed=7)
    rng = np.random.default_rng(2)
    expected, violations = [], []
    for _ in range(60):
        rows = rng.permutation(5000)
        cal, test = rows[:1500], rows[1500:]
        fav = CostControlledSets(max_cost=0.5).calibrate(probs[cal], y[cal])
        sets = fav.predict_set(probs[test])
        expected.append((sets & ~y[test]).sum(axis=1).mean())
        vio = CostControlledSets(max_cost=1.0, control="violation", delta=0.1)
        sets = vio.calibrate(probs[cal], y[cal]).predict_set(probs[test])
        violations.append(((sets & ~y[test]).sum(axis=1) > 1.0).mean())
    se = np.std(expected, ddof=1) / np.sqrt(60)
    assert 0.4 <= np.mean(expected) <= 0.5 + 3 * se
    assert 0.07 <= np.mean(violations) <= 0.1 + 3 * np.std(violations, ddof=1) / np.sqrt(60)


def test_cost_errors() -> None:
    probs, y = multilabel_data(30, 3, seed=8)
    with pytest.raises(
        NotFittedError,
        match=r"`CostControlledSets.update` must be called after CostControlledSets.calibrate",
    ):
        CostControlledSets().update(probs, y)
    with pytest.raises(
        ValueError,
        match=r"`cost_weights` must be None or 3 positive weights, one per class; got shape \(2,\).",
    ):
        CostControlledSets(cost_weights=[1.0, 2.0]).calibrate(probs, y)
    with pytest.raises(
        ValueError, match=r"`value_weights` must be finite weights > 0; got 0.0 at class 1."
    ):
        CostControlledSets(value_weights=[1.0, 0.0, 1.0]).calibrate(probs, y)
    with pytest.raises(
        ValueError, match=r"`control` must be one of 'expected', 'violation'; got 'max'."
    ):
        CostControlledSets(control="max").calibrate(probs, y)
    with pytest.raises(ValueError, match=r"`max_cost` must be a finite number > 0; got 0.0."):
        CostControlledSets(max_cost=0.0).calibrate(probs, y)
    fav = CostControlledSets().calibrate(probs, y)
    with pytest.raises(
        ValueError, match=r"`pred_probs` must be 3 columns, as in calibrate; got shape \(30, 2\)."
    ):
        fav.update(probs[:, :2], y[:, :2])


# --------------------------------------------------------------------------- real data


def out_of_fold_probs(folder) -> tuple[np.ndarray, np.ndarray]:
    """Cross-validated per-class probabilities of a quick model (SVD + one-vs-rest logistic)."""
    parts = [np.load(folder / f"{p}.npy") for p in ("X_train", "X_test", "Y_train", "Y_test")]
    x = np.concatenate(parts[:2]).astype(np.float64)
    y = np.concatenate(parts[2:]).astype(bool)
    model = make_pipeline(
        TruncatedSVD(n_components=min(50, x.shape[1] - 1), random_state=0),
        StandardScaler(),
        OneVsRestClassifier(LogisticRegression(max_iter=300)),
    )
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels constant in a fold (enron)
        probs = cross_val_predict(
            model, x, y, cv=KFold(5, shuffle=True, random_state=0), method="predict_proba"
        )
    return probs, y


@pytest.fixture(scope="module")
def multilabel_sets(real_data_dir) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    found = {}
    for name in ("scene", "yeast", "enron"):
        folder = real_data_dir / f"multilabel_{name}"
        if (folder / "X_train.npy").exists():
            found[name] = out_of_fold_probs(folder)
    if not found:
        pytest.skip("multilabel_{scene,yeast,enron} not found in the data folder")
    return found


def test_fnr_control_on_real_multilabel_data(multilabel_sets) -> None:
    """200 random half/half splits per dataset; the mean test FNR stays at most 0.1."""
    for name, (probs, y) in multilabel_sets.items():
        n = y.shape[0]
        rng = np.random.default_rng(3)
        losses = []
        for _ in range(200):
            rows = rng.permutation(n)
            cal, test = rows[: n // 2], rows[n // 2 :]
            crc = MultilabelConformal(risk="fnr", target=0.1).calibrate(probs[cal], y[cal])
            losses.append(fnr(crc.predict_set(probs[test]), y[test]).mean())
        mean, se = np.mean(losses), np.std(losses, ddof=1) / np.sqrt(200)
        print(f"{name} (K={y.shape[1]}): mean FNR {mean:.4f} (se {se:.4f})")
        assert 0.085 <= mean <= 0.1 + 3 * se, name


def test_lp_icp_on_real_multilabel_data(multilabel_sets) -> None:
    """Valid over 50 splits (true label set's p-value above eps), same regions as exhaustive
    enumeration for K <= 14, and a pruned region at K = 53 (enron)."""
    for name, (probs, y) in multilabel_sets.items():
        n, k = y.shape
        rng = np.random.default_rng(4)
        covered = []
        for _ in range(50):
            rows = rng.permutation(n)
            cal, test = rows[: n // 2], rows[n // 2 :]
            lp = LabelPowersetConformal(confidence_level=0.9).calibrate(probs[cal], y[cal])
            covered.append((lp.p_value(probs[test], y[test]) > 0.1).mean())
        mean, se = np.mean(covered), np.std(covered, ddof=1) / np.sqrt(50)
        print(f"{name} (K={k}): LP-ICP coverage {mean:.4f} (se {se:.4f})")
        assert 0.9 - 3 * se <= mean <= 0.93, name
        level = 0.9 if k <= 14 else 0.5
        lp = LabelPowersetConformal(confidence_level=level).calibrate(probs[cal], y[cal])
        pruned = lp.predict_region(probs[test[:60]])
        assert pruned.n_sets.sum() > 0
        np.testing.assert_array_equal(
            pruned.contains(y[test[:60]]),
            lp.p_value(probs[test[:60]], y[test[:60]]) > 1 - level + 1e-12,
        )
        if k <= 14:
            exhaustive = lp.predict_region(probs[test[:60]], method="exhaustive")
            np.testing.assert_array_equal(pruned.sets, exhaustive.sets)
            np.testing.assert_array_equal(pruned.p_values, exhaustive.p_values)
