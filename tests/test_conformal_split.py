"""SplitConformal: kernels against a brute-force definition, guarantees, errors, real data."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from labelwise import LabelwiseWarning
from labelwise.conformal import SplitConformal
from labelwise.conformal._kernels import (
    APS,
    conformal_quantile,
    min_calibration_size,
    prefix_sets,
    true_label_scores,
)
from labelwise.datasets import load_label_errors


def softmax_probs(n: int, k: int, *, margin: float = 2.0, seed: int = 0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) + margin * np.eye(k)[labels]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(dtype), labels


def ranking(row: np.ndarray) -> list[int]:
    return sorted(range(row.size), key=lambda j: (-float(row[j]), j))


def reference_score(
    row: np.ndarray, y: int, u: float, lam: float, k_reg: int, order: list[int] | None = None
) -> float:
    """The APS/RAPS score by definition: exactly rounded sum of the mass above plus u p_y."""
    order = ranking(row) if order is None else order
    o = order.index(y)
    mass = math.fsum([float(row[j]) for j in order[:o]] + [u * float(row[y])])
    return mass + lam * max(0, o + 1 - k_reg)


def reference_sets(probs, q, u, lam, k_reg, allow_empty=True):
    n, k = probs.shape
    out = np.zeros((n, k), dtype=bool)
    for i in range(n):  # brute force, one label at a time
        order = ranking(probs[i])
        for y in range(k):
            out[i, y] = reference_score(probs[i], y, u[i], lam, k_reg, order) <= q
        if not allow_empty and not out[i].any():
            out[i, ranking(probs[i])[0]] = True
    return out


def awkward_probs(rng: np.random.Generator, n: int, k: int, kind: int) -> np.ndarray:
    if kind == 0:  # smooth
        return rng.dirichlet(np.full(k, 0.5), size=n)
    if kind == 1:  # rounded: ties everywhere
        p = np.round(rng.dirichlet(np.ones(k), size=n), 2)
        return p / p.sum(axis=1, keepdims=True)
    if kind == 2:  # float32
        return rng.dirichlet(np.full(k, 2.0), size=n).astype(np.float32)
    # one-hot rows with exact zeros and ones, mixed with rounded rows (like mnist's)
    p = np.eye(k)[rng.integers(0, k, n)]
    mixed = rng.random(n) < 0.5
    rounded = np.round(rng.dirichlet(np.full(k, 0.2), size=int(mixed.sum())), 3)
    p[mixed] = rounded / rounded.sum(axis=1, keepdims=True)
    return p


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_prefix_kernel_equals_the_definition(kind: int) -> None:
    rng = np.random.default_rng(kind)
    rows = np.arange(30)
    for trial in range(12):
        k = int(rng.integers(2, 30))
        probs = awkward_probs(rng, 30, k, kind)
        u = rng.random(30) if trial % 2 else np.ones(30)
        lam = float(rng.choice([0.0, 0.01, 0.2]))
        k_reg = int(rng.integers(1, 5))
        allow_empty = bool(trial % 3)
        for q in (0.0, 0.3, 0.9, 1.0, float(np.nextafter(1.0, 0.0)), 1.7, np.inf):
            out = np.zeros(probs.shape, dtype=bool)
            prefix_sets(probs, rows, q, u, True, lam, k_reg, allow_empty, out)
            np.testing.assert_array_equal(
                out, reference_sets(probs, q, u, lam, k_reg, allow_empty), err_msg=f"q={q}"
            )
        labels = rng.integers(0, k, 30)
        scores, ranks = true_label_scores(probs, rows, labels, u, True, lam, k_reg, APS)
        for i in range(30):
            assert scores[i] == reference_score(probs[i], labels[i], u[i], lam, k_reg)
            assert ranks[i] == ranking(probs[i]).index(labels[i]) + 1


def test_prefix_kernel_handles_many_classes() -> None:
    rng = np.random.default_rng(9)
    probs = rng.dirichlet(np.full(300, 0.05), size=20).astype(np.float32)
    u = rng.random(20)
    for q in (0.2, 0.6, 0.95):
        out = np.zeros(probs.shape, dtype=bool)
        prefix_sets(probs, np.arange(20), q, u, True, 0.0, 1, True, out)
        np.testing.assert_array_equal(out, reference_sets(probs, q, u, 0.0, 1))


def test_conformal_quantile_is_the_finite_sample_order_statistic() -> None:
    scores = np.arange(1.0, 20.0)  # n = 19
    assert conformal_quantile(scores, 0.9) == 18.0  # ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(scores, 0.95) == 19.0
    assert conformal_quantile(scores, 0.96) == np.inf  # ceil(20 * 0.96) = 20 > n
    assert conformal_quantile(np.arange(1.0, 10.0), 0.9) == 9.0  # (n+1) * 0.9 = 9 exactly
    assert min_calibration_size(0.9) == 9 and min_calibration_size(0.95) == 19


@pytest.mark.parametrize("score", ["lac", "aps", "raps"])
@pytest.mark.parametrize("randomized", [False, True])
def test_sets_are_the_scores_below_the_threshold(score: str, randomized: bool) -> None:
    probs, labels = softmax_probs(1500, 6, seed=1)
    cp = SplitConformal(score=score, randomized=randomized, random_state=3)
    cp.calibrate(probs[:1000], labels[:1000])
    n_used = cp.calibration_scores_.size
    assert n_used == (700 if score == "raps" else 1000)
    rank = math.ceil((n_used + 1) * 0.9)
    assert cp.threshold_ == np.sort(cp.calibration_scores_)[rank - 1]
    sets = cp.predict_set(probs[1000:])
    if score == "lac":
        np.testing.assert_array_equal(sets, 1.0 - probs[1000:] <= cp.threshold_)
    else:
        u = cp._streams()[2].random(500) if randomized else np.ones(500)
        for y in range(6):  # membership is exactly "score of that label <= threshold"
            s, _ = true_label_scores(
                probs[1000:],
                np.arange(500),
                np.full(500, y),
                u,
                randomized,
                cp.lam_,
                cp.k_reg_,
                APS,
            )
            np.testing.assert_array_equal(sets[:, y], s <= cp.threshold_)


def test_raps_tuning_follows_the_reference_procedure() -> None:
    probs, labels = softmax_probs(2000, 10, margin=1.0, seed=2)
    cp = SplitConformal(score="raps", random_state=5).calibrate(probs, labels)
    tune_rng = np.random.default_rng(5).spawn(3)[0]
    rows = tune_rng.permutation(2000)
    tune = np.sort(rows[:600])
    _, ranks = true_label_scores(probs, tune, labels[tune], np.ones(1), False, 0.0, 1, APS)
    assert cp.k_reg_ == int(np.quantile(ranks - 1, 0.9, method="higher")) + 1
    sizes = {}
    for lam in (0.001, 0.01, 0.1, 0.2, 0.5):
        fixed = SplitConformal(score="raps", k_reg=cp.k_reg_, lam=lam).calibrate(
            probs[tune], labels[tune]
        )
        sizes[lam] = fixed.predict_set(probs[tune]).sum() / tune.size
    assert cp.lam_ == min(sizes, key=lambda lam: (sizes[lam], lam))
    assert cp.n_calibration_ == 1400
    given = SplitConformal(score="raps", k_reg=2, lam=0.1).calibrate(probs, labels)
    assert (given.k_reg_, given.lam_, given.n_calibration_) == (2, 0.1, 2000)


def test_coverage_holds_on_synthetic_data_including_float32() -> None:
    probs, labels = softmax_probs(40_000, 20, margin=2.5, seed=4, dtype=np.float32)
    rng = np.random.default_rng(0)
    for score in ("lac", "aps", "raps"):
        covered = []
        for split in range(10):
            rows = rng.permutation(labels.size)
            cal, test = rows[:2000], rows[2000:]
            cp = SplitConformal(score=score, randomized=True, random_state=split)
            sets = cp.calibrate(probs[cal], labels[cal]).predict_set(probs[test])
            covered.append(sets[np.arange(test.size), labels[test]].mean())
        assert 0.895 <= np.mean(covered) <= 0.91, score


def test_class_conditional_coverage_holds_per_class() -> None:
    rng = np.random.default_rng(6)
    k = 4
    labels = rng.integers(0, k, 10_000)
    margin = np.array([0.5, 1.0, 2.0, 3.0])[labels]  # classes of very different difficulty
    z = rng.normal(size=(10_000, k)) + margin[:, None] * np.eye(k)[labels]
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    for score in ("lac", "aps"):
        cp = SplitConformal(score=score, class_conditional=True, randomized=True, random_state=1)
        sets = cp.calibrate(probs[:4000], labels[:4000]).predict_set(probs[4000:])
        assert cp.threshold_.shape == (k,)
        hit = sets[np.arange(6000), labels[4000:]]
        per_class = np.array([hit[labels[4000:] == c].mean() for c in range(k)])
        assert np.all(per_class >= 0.87), per_class
        marginal = SplitConformal(score=score).calibrate(probs[:4000], labels[:4000])
        hit_m = marginal.predict_set(probs[4000:])[np.arange(6000), labels[4000:]]
        assert hit_m[labels[4000:] == 0].mean() < per_class[0]  # the hard class gains


def test_class_conditional_warns_about_small_classes() -> None:
    probs, labels = softmax_probs(200, 3, seed=7)
    labels[:] = 0
    labels[:5] = 1  # class 1 has 5 examples, class 2 none
    with pytest.warns(LabelwiseWarning, match=r"classes \[1, 2\] have fewer than 9 calibration"):
        cp = SplitConformal(class_conditional=True).calibrate(probs, labels)
    assert np.isinf(cp.threshold_[1:]).all()
    assert cp.predict_set(probs)[:, 1:].all()


def test_allow_empty_adds_the_top_label() -> None:
    probs, labels = softmax_probs(2000, 5, margin=4.0, seed=8)
    for score in ("lac", "aps"):
        empty = SplitConformal(score=score, confidence_level=0.5).calibrate(probs, labels)
        never = clone(empty).set_params(allow_empty=False).calibrate(probs, labels)
        a, b = empty.predict_set(probs), never.predict_set(probs)
        assert (~a.any(axis=1)).any()
        assert b.any(axis=1).all()
        rows = ~a.any(axis=1)
        np.testing.assert_array_equal(b[rows].argmax(axis=1), probs[rows].argmax(axis=1))
        np.testing.assert_array_equal(a[~rows], b[~rows])


def test_float32_input_is_read_in_place() -> None:
    """No float64 (or any full) copy of a float32 input: peak allocation ~ the bool output."""
    probs, labels = softmax_probs(20_000, 50, seed=9, dtype=np.float32)
    for score in ("lac", "aps", "raps"):
        cp = SplitConformal(score=score, randomized=True, random_state=0)
        cp.calibrate(probs[:500], labels[:500]).predict_set(probs[:500])  # compile first
        tracemalloc.start()
        sets = cp.calibrate(probs, labels).predict_set(probs)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 0.5 * probs.nbytes, (score, peak, probs.nbytes)  # output: 0.25 x input
        wide = clone(cp).calibrate(probs.astype(np.float64), labels)
        np.testing.assert_array_equal(sets, wide.predict_set(probs.astype(np.float64)))


def test_estimator_life_cycle_and_errors() -> None:
    probs, labels = softmax_probs(300, 4, seed=10)
    cp = SplitConformal(score="raps", random_state=0)
    assert clone(cp).get_params()["score"] == "raps"
    with pytest.raises(
        NotFittedError,
        match=r"`SplitConformal.predict_set` must be called after SplitConformal.calibrate\(...\); got a call to .predict_set\(...\) before .calibrate\(...\).",
    ):
        cp.predict_set(probs)
    with pytest.raises(
        ValueError, match=r"`score` must be one of 'lac', 'aps', 'raps'; got 'thr'."
    ):
        SplitConformal(score="thr").calibrate(probs, labels)
    with pytest.raises(
        ValueError, match=r"`confidence_level` must be a number in \(0, 1\); got 1.0."
    ):
        SplitConformal(confidence_level=1.0).calibrate(probs, labels)
    with pytest.raises(
        TypeError, match=r"`confidence_level` must be a number in \(0, 1\); got str '0.9'."
    ):
        SplitConformal(confidence_level="0.9").calibrate(probs, labels)
    with pytest.raises(
        ValueError, match=r'`k_reg and lam` must be None unless score="raps"; got score=\'aps\'.'
    ):
        SplitConformal(score="aps", lam=0.1).calibrate(probs, labels)
    with pytest.raises(ValueError, match=r"`k_reg` must be an integer >= 1; got 0."):
        SplitConformal(score="raps", k_reg=0, lam=0.1).calibrate(probs, labels)
    with pytest.raises(ValueError, match=r"`lam` must be a finite number >= 0; got -0.5."):
        SplitConformal(score="raps", k_reg=1, lam=-0.5).calibrate(probs, labels)
    with pytest.raises(
        ValueError, match=r"`tuning_fraction` must be a number in \(0, 1\); got 1.0."
    ):
        SplitConformal(score="raps", tuning_fraction=1.0).calibrate(probs, labels)
    with pytest.raises(TypeError, match=r"`randomized` must be True or False; got str 'yes'."):
        SplitConformal(randomized="yes").calibrate(probs, labels)
    with pytest.raises(
        ValueError,
        match=r"`labels` must be at least 19 calibration examples for confidence_level=0.95 \(else every set is the full label set\); got 10.",
    ):
        SplitConformal(confidence_level=0.95).calibrate(probs[:10], labels[:10])
    with pytest.raises(ValueError, match=r"`pred_probs` must be rows that sum to 1"):
        SplitConformal().calibrate(probs * 2, labels)
    with pytest.raises(ValueError, match=r"`labels` must be class ids in 0..3"):
        SplitConformal().calibrate(probs, labels + 4)
    fitted = SplitConformal().calibrate(probs, labels)
    with pytest.raises(
        ValueError, match=r"`pred_probs` must be 4 columns, as in calibrate; got shape \(300, 3\)."
    ):
        fitted.predict_set(probs[:, :3] / probs[:, :3].sum(axis=1, keepdims=True))


# --------------------------------------------------------------------------- real data

ALPHAS = (0.05, 0.1, 0.2)
SCORES = (("lac", False), ("aps", True), ("raps", True))


@pytest.mark.parametrize("name", ["mnist", "cifar10", "imdb"])
def test_coverage_and_set_size_on_real_pred_probs(name: str, real_data_dir) -> None:
    """100 random half/half calibration/test splits per alpha, for LAC, APS and RAPS.

    The mean coverage over the splits must lie in [1 - alpha, 1 - alpha + 0.01] up to its Monte
    Carlo error: the lower end is relaxed by 3 standard errors of the mean (about 0.001-0.003
    here), because the expected coverage is ceil((n + 1)(1 - alpha)) / (n + 1), only
    ~1/(n + 1) above 1 - alpha, and a finite number of splits scatters around it.
    """
    data = load_label_errors(name)
    if data is None:
        pytest.skip(f"label_errors_{name}/pred_probs.npy not found")
    probs, labels = data.pred_probs, data.labels
    n = labels.size
    rng = np.random.default_rng(2024)
    splits = [rng.permutation(n) for _ in range(100)]
    report = []
    for alpha in ALPHAS:
        sizes = {}
        for score, randomized in SCORES:
            cov, size = np.empty(100), np.empty(100)
            for s, rows in enumerate(splits):
                cal, test = rows[: n // 2], rows[n // 2 :]
                cp = SplitConformal(
                    score=score, confidence_level=1 - alpha, randomized=randomized, random_state=s
                )
                sets = cp.calibrate(probs[cal], labels[cal]).predict_set(probs[test])
                cov[s] = sets[np.arange(test.size), labels[test]].mean()
                size[s] = sets.sum(axis=1).mean()
            mean, se = cov.mean(), cov.std(ddof=1) / 10
            report.append(
                f"{name} a={alpha} {score}: coverage {mean:.4f} (se {se:.4f}) size {size.mean():.3f}"
            )
            assert 1 - alpha - 3 * se <= mean <= 1 - alpha + 0.01, report[-1]
            sizes[score] = size.mean()
        if probs.shape[1] > 2:
            assert sizes["raps"] < sizes["aps"], (alpha, sizes)
        else:  # two classes leave RAPS nothing to cut: at most as large, within noise
            assert sizes["raps"] <= sizes["aps"] + 0.005, (alpha, sizes)
    print("\n".join(report))
