"""Regression label issues: formulas, invariances, error messages, and quality against cleanlab.

Statistical claims are checked over many seeds on synthetic data whose corrupted targets are
known; cleanlab's ``regression.rank.get_label_quality_scores(..., method="residual")``, which
scores ``exp(-|y_pred - y|)``, is the anchor.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control, norm, spearmanr
from sklearn.metrics import roc_auc_score

from labelwise.issues.regression import (
    NOISE_MODELS,
    RegressionIssues,
    find_regression_issues,
    regression_quality_scores,
)

SEEDS = range(30)


def simulate(kind: str, n: int, seed: int, frac: float = 0.1, bias: float = 0.0):
    """Targets with known corruptions: ``(y, y_pred, uncertainty or None, corrupted, signal)``.

    - "symmetric": N(0, 1) noise, predictions off by N(0, 0.5^2) (+ ``bias``); corrupted
      targets moved up or down by 3 to 8.
    - "hetero": per-example noise sd from 0.2 to 3 (log-uniform), the uncertainty is that sd
      (times a 10% random error); corrupted targets moved up or down by 1 to 4.
    - "lower": sensor magnitudes 2..12 with N(0, 1) noise; corrupted targets captured only
      20% to 80% of the signal; predictions sit 0.35 low, as after learning from such data.
    """
    rng = np.random.default_rng(seed)
    signal = rng.uniform(2.0, 12.0, n)
    bad = np.zeros(n, dtype=bool)
    bad[rng.choice(n, int(frac * n), replace=False)] = True
    k = int(bad.sum())
    uncertainty = None
    if kind == "symmetric":
        y = signal + rng.standard_normal(n)
        y_pred = signal + bias + 0.5 * rng.standard_normal(n)
        y[bad] += rng.choice([-1.0, 1.0], k) * rng.uniform(3.0, 8.0, k)
    elif kind == "hetero":
        sd = np.exp(rng.uniform(np.log(0.2), np.log(3.0), n))
        y = signal + sd * rng.standard_normal(n)
        y_pred = signal + 0.3 * sd * rng.standard_normal(n)
        uncertainty = np.sqrt(1.09) * sd * np.exp(0.1 * rng.standard_normal(n))
        y[bad] += rng.choice([-1.0, 1.0], k) * rng.uniform(1.0, 4.0, k)
    else:
        y = signal + rng.standard_normal(n)
        y_pred = signal - 0.35 + 0.5 * rng.standard_normal(n)
        y[bad] *= rng.uniform(0.2, 0.8, k)
    return y, y_pred, uncertainty, bad, signal


def r_precision(bad: np.ndarray, score: np.ndarray) -> float:
    """Fraction of corrupted targets among the ``bad.sum()`` lowest scores (ties: row order)."""
    lowest = np.argsort(score, kind="stable")[: int(bad.sum())]
    return float(bad[lowest].mean())


# --------------------------------------------------------------------------- formulas


def test_symmetric_score_is_two_sided_normal_tail_of_modified_z():
    rng = np.random.default_rng(0)
    y, y_pred = rng.normal(size=500), rng.normal(size=500)
    r = y - y_pred
    z = (r - np.median(r)) / (np.median(np.abs(r - np.median(r))) / norm.ppf(0.75))
    np.testing.assert_allclose(regression_quality_scores(y, y_pred), 2 * norm.sf(np.abs(z)))


def test_symmetric_flags_are_benjamini_hochberg_on_the_scores():
    for seed in range(5):
        y, y_pred, _, _, _ = simulate("symmetric", 3000, seed, frac=0.05)
        for fdr in (0.01, 0.1, 0.3):
            issues = find_regression_issues(y, y_pred, fdr=fdr)
            adjusted = false_discovery_control(issues.score, method="bh")
            np.testing.assert_array_equal(issues.is_issue, adjusted <= fdr)


@pytest.mark.parametrize("noise", ["lower", "upper"])
def test_one_sided_flags_are_benjamini_hochberg_on_one_sided_scores(noise):
    y, y_pred, _, _, _ = simulate("lower", 3000, 1)
    if noise == "upper":
        y, y_pred = -y, -y_pred
    issues = find_regression_issues(y, y_pred, noise=noise, fdr=0.1)
    z = (issues.residual - issues.offset) / issues.scale
    expected = norm.cdf(z) if noise == "lower" else norm.sf(z)
    np.testing.assert_allclose(issues.score, expected, atol=1e-12)
    np.testing.assert_array_equal(
        issues.is_issue, false_discovery_control(issues.score, method="bh") <= 0.1
    )
    assert issues.n_issues > 100


def test_uncertainty_without_calibration_is_used_as_given():
    rng = np.random.default_rng(3)
    y, y_pred = rng.normal(size=300), rng.normal(size=300)
    u = rng.uniform(0.5, 2.0, 300)
    r = y - y_pred
    expected = 2 * norm.sf(np.abs(r - np.median(r)) / u)
    got = regression_quality_scores(y, y_pred, uncertainty=u, calibrate_uncertainty=False)
    np.testing.assert_allclose(got, expected)
    issues = find_regression_issues(y, y_pred, uncertainty=u, calibrate_uncertainty=False)
    assert issues.scale == 1.0


def test_calibrated_uncertainty_only_its_relative_values_matter():
    y, y_pred, u, _, _ = simulate("hetero", 2000, 4)
    a = find_regression_issues(y, y_pred, uncertainty=u)
    b = find_regression_issues(y, y_pred, uncertainty=7.5 * u)
    np.testing.assert_allclose(a.score, b.score, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(a.is_issue, b.is_issue)
    assert b.scale == pytest.approx(a.scale / 7.5)


@pytest.mark.parametrize(
    ("frac", "offset_error", "scale_error"), [(0.1, 0.06, 0.03), (0.2, 0.12, 0.06)]
)
def test_lower_noise_recovers_the_centre_and_scale_of_the_clean_residuals(
    frac, offset_error, scale_error
):
    # Predictions sit 0.35 low; the clean residual sd is sqrt(1 + 0.25). The median and MAD of
    # all residuals are dragged down and widened by the drops; the one-sided fit much less so
    # (what is left comes from drops too small to tell from noise).
    fits = []
    for seed in range(10):
        y, y_pred, _, _, _ = simulate("lower", 20_000, seed, frac=frac)
        lower = find_regression_issues(y, y_pred, noise="lower")
        naive = find_regression_issues(y, y_pred)
        fits.append((lower.offset, lower.scale, naive.offset, naive.scale))
    offset, scale, median, mad = np.mean(fits, axis=0)
    assert abs(offset - 0.35) < offset_error and abs(scale - np.sqrt(1.25)) < scale_error
    assert abs(offset - 0.35) < 0.7 * abs(median - 0.35)
    assert abs(scale - np.sqrt(1.25)) < 0.3 * abs(mad - np.sqrt(1.25))


# --------------------------------------------------------------------------- invariances


@pytest.mark.parametrize("noise", NOISE_MODELS)
def test_affine_change_of_units_changes_nothing(noise):
    y, y_pred, u, _, _ = simulate("hetero", 1500, 5)
    if noise == "lower":
        y, y_pred, _, _, _ = simulate("lower", 1500, 5)
        u = None
    a = find_regression_issues(y, y_pred, noise=noise, uncertainty=u)
    b = find_regression_issues(
        1000 * y - 3.0,
        1000 * y_pred - 3.0,
        noise=noise,
        uncertainty=None if u is None else 1000 * u,
    )
    np.testing.assert_allclose(a.score, b.score, rtol=1e-7, atol=1e-12)
    np.testing.assert_array_equal(a.ranking, b.ranking)
    assert b.offset == pytest.approx(1000 * a.offset, rel=1e-7, abs=1e-6)
    np.testing.assert_allclose(b.suggested_value, 1000 * a.suggested_value - 3.0, rtol=1e-9)


def test_upper_is_the_mirror_image_of_lower():
    y, y_pred, _, _, _ = simulate("lower", 2000, 6)
    low = find_regression_issues(y, y_pred, noise="lower")
    up = find_regression_issues(-y, -y_pred, noise="upper")
    np.testing.assert_allclose(up.score, low.score, atol=1e-12)
    np.testing.assert_array_equal(up.ranking, low.ranking)
    assert up.offset == pytest.approx(-low.offset)
    np.testing.assert_allclose(up.suggested_value, -low.suggested_value)


def test_one_sided_noise_never_flags_the_other_side():
    y, y_pred, _, bad, _ = simulate("lower", 3000, 7)
    y[~bad] += np.where(np.arange(3000)[~bad] % 50 == 0, 9.0, 0.0)  # big clean positive residuals
    low = find_regression_issues(y, y_pred, noise="lower")
    assert np.all(low.residual[low.is_issue] < low.offset)
    assert np.all(low.score[low.residual >= low.offset] >= 0.5)
    sym = find_regression_issues(y, y_pred)
    assert np.any(sym.is_issue & (sym.residual > 5))  # the symmetric model does flag them


# --------------------------------------------------------------------------- result object


def test_result_is_well_formed():
    y, y_pred, _, _, _ = simulate("symmetric", 400, 8)
    issues = find_regression_issues(y, y_pred)
    assert isinstance(issues, RegressionIssues)
    n = y.size
    for name in ("is_issue", "score", "residual", "suggested_value", "given_value"):
        array = getattr(issues, name)
        assert array.shape == (n,)
        assert not array.flags.writeable
    assert not issues.ranking.flags.writeable
    assert issues.is_issue.dtype == bool and issues.ranking.dtype == np.int64
    assert issues.score.dtype == np.float64 and np.all((issues.score >= 0) & (issues.score <= 1))
    assert issues.n_issues == issues.is_issue.sum() == issues.ranking.size
    assert np.array_equal(np.sort(issues.ranking), np.flatnonzero(issues.is_issue))
    key = -np.abs(issues.residual[issues.ranking] - issues.offset)
    assert np.all(np.diff(key) >= 0)  # worst first
    np.testing.assert_allclose(issues.residual, y - y_pred)
    flagged = issues.is_issue
    np.testing.assert_array_equal(issues.suggested_value[~flagged], y[~flagged])
    np.testing.assert_allclose(issues.suggested_value[flagged], y_pred[flagged] + issues.offset)
    with pytest.raises(dataclasses.FrozenInstanceError):
        issues.noise = "lower"  # type: ignore[misc]


def test_ranking_ties_keep_row_order_even_when_scores_underflow():
    y_pred = np.zeros(200)
    y = np.tile([0.1, -0.1, 0.2, -0.2], 50)
    y[[150, 7, 90]] = [1e3, 1e3, -1e3]  # scores underflow to 0: ranked by |z|, then row
    y[42] = 1e4
    issues = find_regression_issues(y, y_pred)
    assert issues.ranking.tolist() == [42, 7, 90, 150]
    assert np.all(issues.score[issues.ranking] == 0.0)


def test_to_frame():
    y = np.array([2.3, 2.8, 4.1, 1.0, 6.4, 6.7, 9.5, 8.9, 10.2, 10.6, 12.0, 13.5])
    issues = find_regression_issues(y, np.arange(2.0, 14.0), noise="lower")
    frame = issues.to_frame()
    assert list(frame.columns) == [
        "index",
        "given_value",
        "suggested_value",
        "residual",
        "label_quality",
        "is_label_issue",
    ]
    assert len(frame) == 12 and frame["is_label_issue"].sum() == issues.n_issues
    only = issues.to_frame(only_issues=True)
    assert only["index"].tolist() == issues.ranking.tolist() == [3]


def test_scores_function_equals_result_scores():
    for noise in NOISE_MODELS:
        y, y_pred, u, _, _ = simulate("hetero", 500, 9)
        np.testing.assert_array_equal(
            regression_quality_scores(y, y_pred, noise=noise, uncertainty=u),
            find_regression_issues(y, y_pred, noise=noise, uncertainty=u).score,
        )


def test_accepts_lists_series_ints_float32_and_numeric_objects_without_touching_them():
    y, y_pred, _, _, _ = simulate("symmetric", 300, 10)
    reference = find_regression_issues(y, y_pred).score
    y_copy = y.copy()
    for given in (y.tolist(), pd.Series(y), y.astype(object)):
        np.testing.assert_allclose(find_regression_issues(given, y_pred).score, reference)
    assert y.flags.writeable and np.array_equal(y, y_copy)
    ints = find_regression_issues(np.round(y * 100).astype(np.int32), np.round(y_pred * 100))
    assert ints.score.dtype == np.float64
    single = find_regression_issues(y.astype(np.float32), y_pred.astype(np.float32))
    np.testing.assert_allclose(single.score, reference, atol=1e-5)


def test_tiny_input_with_uncertainty_as_given():
    # Three residuals cannot give a spread worth trusting, but a known uncertainty can.
    issues = find_regression_issues(
        [0.1, -0.1, 10.0], [0.0, 0.0, 0.0], uncertainty=[1.0, 1.0, 1.0], calibrate_uncertainty=False
    )
    assert issues.ranking.tolist() == [2] and issues.offset == pytest.approx(0.1)


# --------------------------------------------------------------------------- detection quality


@pytest.mark.parametrize("kind", ["symmetric", "hetero", "lower"])
def test_false_discovery_rate_is_controlled(kind):
    noise = "lower" if kind == "lower" else "symmetric"
    for frac, bound in ((0.0, 0.15), (0.1, 0.07)):
        fdps = []
        for seed in range(40):
            y, y_pred, u, bad, _ = simulate(kind, 2000, seed, frac=frac)
            flagged = find_regression_issues(y, y_pred, noise=noise, uncertainty=u).is_issue
            fdps.append((flagged & ~bad).sum() / max(flagged.sum(), 1))
        # Without corruption, FDP is 1 whenever anything is flagged: the bound is then on how
        # often that happens (about fdr; estimating the scale adds a little).
        assert np.mean(fdps) <= bound, (frac, np.mean(fdps))


def test_suggested_values_repair_incomplete_observations():
    ratios = []
    for seed in range(10):
        y, y_pred, _, bad, signal = simulate("lower", 3000, seed)
        issues = find_regression_issues(y, y_pred, noise="lower")
        repaired = issues.is_issue & bad
        before = np.abs(y[repaired] - signal[repaired]).mean()
        after = np.abs(issues.suggested_value[repaired] - signal[repaired]).mean()
        ratios.append(after / before)
        assert np.all(issues.suggested_value[issues.is_issue] > y[issues.is_issue])
    # What is left is the prediction error (sd 0.5): about a tenth of the drops.
    assert np.mean(ratios) < 0.15


# --------------------------------------------------------------------------- against cleanlab


@pytest.fixture(scope="module")
def cleanlab_residual():
    rank = pytest.importorskip(
        "cleanlab.regression.rank", reason="anchor cleanlab is in the bench extra"
    )
    return lambda y, y_pred: rank.get_label_quality_scores(y, y_pred, method="residual")


def test_cleanlab_residual_score_is_exp_minus_abs_residual(cleanlab_residual):
    y, y_pred, _, _, _ = simulate("symmetric", 200, 11)
    np.testing.assert_allclose(cleanlab_residual(y, y_pred), np.exp(-np.abs(y_pred - y)))


def test_same_ranking_as_cleanlab_on_unbiased_symmetric_residuals(cleanlab_residual):
    rhos = []
    for seed in range(10):
        y, y_pred, _, _, _ = simulate("symmetric", 2000, seed)
        rhos.append(
            spearmanr(find_regression_issues(y, y_pred).score, cleanlab_residual(y, y_pred))[0]
        )
    assert np.mean(rhos) > 0.995 and min(rhos) > 0.98


def test_at_least_as_good_as_cleanlab_on_symmetric_corruption(cleanlab_residual):
    # Non-inferiority over seeds: the paired AUROC difference is not significantly negative
    # and its mean is above -0.001; the same for the precision among the k lowest scores.
    auroc_diff, rprec_diff = [], []
    for seed in SEEDS:
        y, y_pred, _, bad, _ = simulate("symmetric", 2000, seed)
        ours, theirs = regression_quality_scores(y, y_pred), cleanlab_residual(y, y_pred)
        auroc_diff.append(roc_auc_score(bad, -ours) - roc_auc_score(bad, -theirs))
        rprec_diff.append(r_precision(bad, ours) - r_precision(bad, theirs))
    for diffs in (np.array(auroc_diff), np.array(rprec_diff)):
        sem = diffs.std(ddof=1) / np.sqrt(diffs.size)
        assert diffs.mean() > -0.001
        assert diffs.mean() + 2.5 * sem >= 0.0


def test_better_than_cleanlab_when_predictions_are_biased(cleanlab_residual):
    # A model that over-predicts by one noise sd: |residual| flags the low side too readily.
    wins = []
    for seed in SEEDS:
        y, y_pred, _, bad, _ = simulate("symmetric", 2000, seed, bias=1.0)
        wins.append(
            r_precision(bad, regression_quality_scores(y, y_pred))
            - r_precision(bad, cleanlab_residual(y, y_pred))
        )
    assert np.mean(wins) > 0.01 and np.mean(np.array(wins) > 0) >= 0.8


def test_clearly_better_than_cleanlab_with_uncertainty(cleanlab_residual):
    diffs = []
    for seed in SEEDS:
        y, y_pred, u, bad, _ = simulate("hetero", 2000, seed)
        ours = regression_quality_scores(y, y_pred, uncertainty=u)
        diffs.append(r_precision(bad, ours) - r_precision(bad, cleanlab_residual(y, y_pred)))
    assert np.mean(diffs) > 0.1 and min(diffs) > 0


def test_clearly_better_than_cleanlab_on_one_sided_drops(cleanlab_residual):
    auroc_diff, rprec_diff = [], []
    for seed in SEEDS:
        y, y_pred, _, bad, _ = simulate("lower", 2000, seed)
        ours = regression_quality_scores(y, y_pred, noise="lower")
        theirs = cleanlab_residual(y, y_pred)
        auroc_diff.append(roc_auc_score(bad, -ours) - roc_auc_score(bad, -theirs))
        rprec_diff.append(r_precision(bad, ours) - r_precision(bad, theirs))
    assert min(auroc_diff) > 0.03 and np.mean(auroc_diff) > 0.06
    assert min(rprec_diff) > 0 and np.mean(rprec_diff) > 0.08


def test_units_do_not_matter_unlike_cleanlab(cleanlab_residual):
    # exp(-|r|) underflows to 0 for residuals above ~745: in grams instead of kilograms,
    # cleanlab's scores of most rows tie at zero; labelwise's do not change.
    y, y_pred, _, bad, _ = simulate("symmetric", 2000, 12)
    ours_kg, ours_g = (
        regression_quality_scores(y, y_pred),
        regression_quality_scores(1e3 * y, 1e3 * y_pred),
    )
    np.testing.assert_allclose(ours_kg, ours_g, rtol=1e-7, atol=1e-12)
    theirs_g = cleanlab_residual(1e3 * y, 1e3 * y_pred)
    assert roc_auc_score(bad, -ours_g) > roc_auc_score(bad, -theirs_g) + 0.01


def test_labelwise_never_imports_cleanlab():
    code = "import sys, labelwise.issues.regression; print('cleanlab' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- bad input

GOOD_Y = np.array([1.0, 2.0, 3.5, 4.0, 5.25])
GOOD_P = np.array([1.1, 2.2, 3.0, 4.1, 5.0])


@pytest.mark.parametrize("func", [find_regression_issues, regression_quality_scores])
@pytest.mark.parametrize("arg", ["y", "y_pred", "uncertainty"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values(func, arg, value):
    values = {"y": GOOD_Y.copy(), "y_pred": GOOD_P.copy(), "uncertainty": np.ones(5)}
    values[arg][3] = value
    shown = {np.nan: "nan", np.inf: "inf", -np.inf: "-inf"}[value]
    with pytest.raises(
        ValueError,
        match=rf"`{arg}` must be finite \(no NaN or inf\); got 1 non-finite value\(s\), first at index 3: {shown}\.",
    ):
        func(values["y"], values["y_pred"], uncertainty=values["uncertainty"])


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        (
            {"y_pred": GOOD_P[:4]},
            ValueError,
            r"`y_pred` must be the same length as y \(5\); got length 4\.",
        ),
        (
            {"uncertainty": np.ones(6)},
            ValueError,
            r"`uncertainty` must be the same length as y \(5\); got length 6\.",
        ),
        (
            {"y": GOOD_Y.reshape(-1, 1)},
            ValueError,
            r"`y` must be a 1-D array of shape \(n,\) \(flatten a single column with \.ravel\(\)\); got shape \(5, 1\)\.",
        ),
        (
            {"y_pred": np.ones((5, 2))},
            ValueError,
            r"`y_pred` must be a 1-D array of shape \(n,\) \(flatten a single column with \.ravel\(\)\); got shape \(5, 2\)\.",
        ),
        ({"y": [], "y_pred": []}, ValueError, r"`y` must be non-empty; got length 0\."),
        (
            {"y": np.array(["1", "2", "3", "4", "5"])},
            TypeError,
            r"`y` must be a 1-D array of real numbers; got dtype <U1\.",
        ),
        (
            {"y_pred": np.array([1.0, 2.0, "x", 4.0, 5.0], dtype=object)},
            TypeError,
            r"`y_pred` must be a 1-D array of real numbers; got non-numeric value 'x' \(str\) at index 2\.",
        ),
        (
            {"y": [1.0, None, 3.0, 4.0, 5.0]},
            TypeError,
            r"`y` must be a 1-D array of real numbers; got non-numeric value None \(NoneType\) at index 1\.",
        ),
        (
            {"y": np.array([True, False, True, True, False])},
            TypeError,
            r"`y` must be a 1-D array of real numbers; got dtype bool\.",
        ),
        (
            {"y": GOOD_Y + 1j},
            TypeError,
            r"`y` must be a 1-D array of real numbers; got dtype complex128\.",
        ),
        (
            {"uncertainty": np.array([1.0, 0.5, 0.0, -2.0, 1.0])},
            ValueError,
            r"`uncertainty` must be positive \(standard deviations > 0\); got 2 value\(s\) <= 0, first at index 2: 0\.0\.",
        ),
        (
            {"noise": "both"},
            ValueError,
            r"`noise` must be one of 'symmetric', 'lower', 'upper'; got 'both'\.",
        ),
        (
            {"calibrate_uncertainty": "yes"},
            TypeError,
            r"`calibrate_uncertainty` must be True or False; got str 'yes'\.",
        ),
    ],
)
@pytest.mark.parametrize("func", [find_regression_issues, regression_quality_scores])
def test_bad_input_messages(func, kwargs, kind, message):
    args = {"y": GOOD_Y, "y_pred": GOOD_P, **kwargs}
    y, y_pred = args.pop("y"), args.pop("y_pred")
    with pytest.raises(kind, match=message):
        func(y, y_pred, **args)


@pytest.mark.parametrize(
    ("fdr", "kind", "message"),
    [
        (0.0, ValueError, r"`fdr` must be a number in \(0, 1\]; got 0\.0\."),
        (1.5, ValueError, r"`fdr` must be a number in \(0, 1\]; got 1\.5\."),
        ("0.1", TypeError, r"`fdr` must be a number in \(0, 1\]; got str '0\.1'\."),
    ],
)
def test_bad_fdr(fdr, kind, message):
    with pytest.raises(kind, match=message):
        find_regression_issues(GOOD_Y, GOOD_P, fdr=fdr)


ADVICE = (
    r"`y - y_pred` must be residuals that vary, so that their spread can standardise them; "
    r"pass out-of-sample predictions \(not a fit to y itself\), or `uncertainty` with "
    r"calibrate_uncertainty=False; got "
)


@pytest.mark.parametrize("noise", NOISE_MODELS)
@pytest.mark.parametrize("func", [find_regression_issues, regression_quality_scores])
def test_constant_residuals(func, noise):
    whole = np.arange(5.0)
    with pytest.raises(ValueError, match=ADVICE + r"every residual equal to 0\.5\."):
        func(whole + 0.5, whole, noise=noise)
    with pytest.raises(ValueError, match=ADVICE + r"every residual equal to 0\.0\."):
        func(whole, whole, noise=noise, uncertainty=np.ones(5))


@pytest.mark.parametrize(
    ("noise", "side", "sign"), [("lower", "above", 1.0), ("upper", "below", -1.0)]
)
def test_no_spread_on_the_uncorrupted_side(noise, side, sign):
    residual = sign * np.array([0.0, 0.0, 0.0, 0.0, -1.0, -3.0, -0.5])
    with pytest.raises(
        ValueError,
        match=ADVICE
        + rf"every residual at or {side} their centre 0\.0 equal to it, so nothing measures the "
        r"noise on the side that corruptions never reach\.",
    ):
        find_regression_issues(residual, np.zeros(7), noise=noise)
    # The symmetric model sees the spread below, and as-given uncertainty needs none.
    assert find_regression_issues(residual, np.zeros(7)).score.shape == (7,)
    as_given = find_regression_issues(
        residual, np.zeros(7), noise=noise, uncertainty=np.ones(7), calibrate_uncertainty=False
    )
    assert as_given.scale == 1.0


def test_zero_median_deviation_falls_back_to_the_mean_deviation():
    y = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 2.0])
    issues = find_regression_issues(y, np.zeros(9))
    assert issues.scale == pytest.approx(np.mean(np.abs(y)) * np.sqrt(np.pi / 2))
