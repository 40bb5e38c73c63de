"""Outlier scores: the same numbers as cleanlab 2.9, planted outliers found, bad input refused."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from _embeddings import embeddings_with_issues
from scipy import sparse, stats

from labelwise import LabelwiseWarning
from labelwise.issues import _neighbors
from labelwise.issues.outliers import Outliers, find_outliers, outlier_scores


def cleanlab_ood(**kwargs):
    outlier = pytest.importorskip(
        "cleanlab.outlier", reason="anchor cleanlab is in the bench extra"
    )
    params = kwargs.pop("params", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return outlier.OutOfDistribution(params).fit_score(verbose=False, **kwargs)


def confident_probs(n, k, *, seed=0):
    """Softmax of logits with a margin on a random class, and those classes as labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.standard_normal((n, k))
    logits[np.arange(n), labels] += 3.0
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True), labels


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize(
    ("n", "d", "dtype"),
    [(1500, 16, np.float32), (1500, 16, np.float64), (800, 64, np.float32), (600, 3, np.float64)],
)
def test_feature_scores_equal_cleanlab(n, d, dtype):
    features, *_ = embeddings_with_issues(n, d, seed=d, dtype=dtype)
    ours = outlier_scores(features=features)
    theirs = cleanlab_ood(features=features)
    # cleanlab's distances come from scikit-learn in the input dtype (float32: ~1e-7 error);
    # ours are recomputed in float64. Measured: max difference 2e-7 (float32), 1e-15 (float64).
    np.testing.assert_allclose(ours, theirs, atol=1e-6 if dtype == np.float32 else 1e-9)
    assert stats.spearmanr(ours, theirs).statistic > 0.99999


def test_small_euclidean_scores_equal_cleanlab():
    # At n <= 100 cleanlab switches to scipy's euclidean; duplicates exercise its correction.
    rng = np.random.default_rng(3)
    features = rng.normal(size=(60, 2))
    features[10] = features[11] = features[12]
    np.testing.assert_allclose(
        outlier_scores(features=features, n_neighbors=5),
        cleanlab_ood(features=features, params={"k": 5}),
        atol=1e-12,
    )


@pytest.mark.parametrize("method", ["entropy", "least_confidence"])
@pytest.mark.parametrize("with_labels", [True, False])
def test_pred_probs_scores_equal_cleanlab(method, with_labels):
    probs, labels = confident_probs(3000, 7, seed=1)
    labels[:300] = (labels[:300] + 1) % 7  # some noise, so the thresholds differ per class
    params = {"method": method, "adjust_pred_probs": with_labels}
    ours = outlier_scores(
        pred_probs=probs, labels=labels if with_labels else None, pred_probs_method=method
    )
    theirs = cleanlab_ood(pred_probs=probs, labels=labels if with_labels else None, params=params)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_flags_equal_datalab_outlier_check():
    pytest.importorskip("datasets", reason="Datalab needs cleanlab[datalab]")
    from cleanlab import Datalab

    features, labels, _, _ = embeddings_with_issues(2000, 24, seed=5)
    lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(features=features, issue_types={"outlier": {}})
    theirs = lab.get_issues("outlier")
    ours = find_outliers(features=features)
    np.testing.assert_array_equal(ours.is_outlier, theirs["is_outlier_issue"].to_numpy())
    np.testing.assert_allclose(ours.score, theirs["outlier_score"].to_numpy(), atol=1e-6)
    assert ours.distance_cutoff == pytest.approx(lab.get_info("outlier")["issue_threshold"], 1e-5)


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("d", "min_recall"), [(16, 0.8), (64, 1.0)])
def test_planted_outliers_rank_lowest(seed, d, min_recall):
    features, _, outliers, _ = embeddings_with_issues(3000, d, seed=seed, outlier_frac=0.01)
    found = find_outliers(features=features)
    lowest = np.argsort(found.score, kind="stable")[: outliers.size]
    # Measured over seeds 0-7: recall among the 30 lowest 0.83-0.97 at d=16 (10 clusters in
    # 16 dimensions leave random directions fairly close to some cluster), 1.0 at d >= 32;
    # the Datalab rule flags >= 29 of the 30.
    assert np.isin(outliers, lowest).mean() >= min_recall
    assert found.is_outlier[outliers].mean() >= 0.95


@pytest.mark.parametrize("seed", range(5))
def test_uncertain_predictions_rank_lowest(seed):
    probs, labels = confident_probs(2000, 5, seed=seed)
    odd = np.arange(0, 2000, 100)
    probs[odd] = np.random.default_rng(seed).dirichlet(np.full(5, 20.0), size=odd.size)
    found = find_outliers(pred_probs=probs, labels=labels)
    order = np.argsort(found.score, kind="stable")
    # Measured over seeds 0-5: 16-19 of the 20 among the 20 lowest, all among the 40 lowest.
    assert np.isin(odd, order[: odd.size]).mean() >= 0.8
    assert np.isin(odd, order[: 2 * odd.size]).all()
    assert found.is_outlier[odd].all()
    assert found.score_cutoff == pytest.approx(0.13 * np.median(found.pred_probs_score))


def test_threshold_adjustment_stops_a_class_the_model_is_unsure_of_looking_atypical():
    # The model is systematically unsure about class 2 (its examples peak at ~0.5). Unadjusted,
    # every class-2 example is an outlier; adjusted by the confident thresholds, none is.
    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], [900, 900, 200])
    probs = np.full((2000, 3), 0.05)
    probs[np.arange(2000), labels] = 0.9
    probs[labels == 2] = [0.25, 0.25, 0.5]
    probs += rng.uniform(0, 0.02, probs.shape)
    probs /= probs.sum(axis=1, keepdims=True)
    plain = find_outliers(pred_probs=probs)
    adjusted = find_outliers(pred_probs=probs, labels=labels)
    assert plain.is_outlier[labels == 2].all() and not plain.is_outlier[labels != 2].any()
    assert not adjusted.is_outlier.any()


# --------------------------------------------------------------------------- the formula


def test_feature_score_formula_by_hand():
    features = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    # Mean distance to the 2 nearest other rows: 1.5, 1, 1, 1.5, 7.5; median 1.5.
    expected = np.exp(-np.array([1.5, 1.0, 1.0, 1.5, 7.5]) / 1.5)
    np.testing.assert_allclose(outlier_scores(features=features, n_neighbors=2), expected)


def test_cosine_distance_by_hand():
    features = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [1.0, 1.0, 0, 0], [2.0, 2.0, 0, 0]])
    # Rows 2 and 3 point the same way (distance 0); rows 0/1 are 1 - cos(45 deg) from them.
    mean = np.array([1 - np.sqrt(0.5)] * 2 + [0.0] * 2)
    scale = np.median(mean)
    expected = np.where(mean == 0, 1.0, np.exp(-mean / scale))
    np.testing.assert_allclose(outlier_scores(features=features, n_neighbors=1), expected)


def test_combined_score_is_the_geometric_mean_and_flags_are_the_union():
    features, labels, _, _ = embeddings_with_issues(1000, 16, seed=1)
    probs, _ = confident_probs(1000, 10, seed=3)
    both = find_outliers(features=features, pred_probs=probs, labels=labels)
    only_f = find_outliers(features=features)
    only_p = find_outliers(pred_probs=probs, labels=labels)
    np.testing.assert_allclose(both.score, np.sqrt(only_f.score * only_p.score))
    np.testing.assert_array_equal(both.is_outlier, only_f.is_outlier | only_p.is_outlier)
    np.testing.assert_allclose(
        outlier_scores(features=features, pred_probs=probs, labels=labels), both.score
    )


def test_scores_are_in_unit_interval_and_copies_score_one():
    features, *_ = embeddings_with_issues(500, 10, seed=2)
    features[:12] = features[0]  # 12 identical rows: every one's 10 neighbours are copies
    scores = outlier_scores(features=features)
    assert ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_array_equal(scores[:12], 1.0)


def test_invariances():
    features, *_ = embeddings_with_issues(600, 12, seed=3, dtype=np.float64)
    perm = np.random.default_rng(0).permutation(600)
    base = outlier_scores(features=features)
    np.testing.assert_allclose(outlier_scores(features=features[perm]), base[perm], atol=1e-12)
    scaled = features * np.random.default_rng(1).uniform(0.5, 4.0, (600, 1))  # cosine: per row
    np.testing.assert_allclose(outlier_scores(features=scaled), base, atol=1e-9)
    euclid = outlier_scores(features=features, metric="euclidean")
    shifted = outlier_scores(features=features + 5.0, metric="euclidean")
    np.testing.assert_allclose(shifted, euclid, atol=1e-9)


def test_chunked_search_gives_the_same_neighbours(monkeypatch):
    features, *_ = embeddings_with_issues(1200, 20, seed=4)
    whole = _neighbors.nearest_neighbors(features, 7, "cosine")
    monkeypatch.setattr(_neighbors, "SEARCH_ROWS", 100)
    monkeypatch.setattr(_neighbors, "CHUNK_BYTES", 1)  # -> 256-row refinement chunks
    chunked = _neighbors.nearest_neighbors(features, 7, "cosine")
    np.testing.assert_array_equal(chunked.index, whole.index)
    np.testing.assert_array_equal(chunked.distance, whole.distance)


def test_float32_and_float64_agree():
    features, *_ = embeddings_with_issues(800, 32, seed=6, dtype=np.float64)
    np.testing.assert_allclose(
        outlier_scores(features=features.astype(np.float32)),
        outlier_scores(features=features),
        atol=1e-6,
    )


def test_result_is_well_formed():
    features, *_ = embeddings_with_issues(700, 16, seed=7)
    found = find_outliers(features=features)
    assert isinstance(found, Outliers)
    assert np.all(np.diff(found.score[found.ranking]) >= 0)
    assert set(found.ranking) == set(np.flatnonzero(found.is_outlier))
    assert found.n_outliers == found.is_outlier.sum() > 0
    assert found.pred_probs_score is None and found.metric == "cosine"
    assert np.all(found.mean_distance[found.is_outlier] > found.distance_cutoff)
    with pytest.raises(ValueError, match="read-only"):
        found.score[0] = 1.0
    frame = found.to_frame(only_outliers=True)
    assert isinstance(frame, pd.DataFrame)
    assert frame["index"].tolist() == found.ranking.tolist()
    assert list(frame.columns) == ["index", "score", "is_outlier", "feature_score"]


def test_auto_metric_follows_cleanlab_rule():
    rng = np.random.default_rng(0)
    assert find_outliers(features=rng.normal(size=(50, 3))).metric == "euclidean"
    assert find_outliers(features=rng.normal(size=(50, 4))).metric == "cosine"


def test_larger_iqr_factor_flags_fewer():
    features, *_ = embeddings_with_issues(1000, 8, seed=8)
    counts = [find_outliers(features=features, iqr_factor=f).n_outliers for f in (0, 1.7, 5)]
    assert counts[0] > counts[1] > counts[2]


# --------------------------------------------------------------------------- bad input

X = np.random.default_rng(0).normal(size=(20, 5))
PROBS = np.full((20, 2), 0.5)


def _with(row, col, value):
    bad = X.copy()
    bad[row, col] = value
    return bad


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        (
            {"features": _with(3, 2, np.nan)},
            ValueError,
            "`features` must be finite (no NaN or inf); got 1 row(s) with non-finite values, first at row 3:",
        ),
        (
            {"features": _with(7, 0, -np.inf)},
            ValueError,
            "`features` must be finite (no NaN or inf); got 1 row(s) with non-finite values, first at row 7:",
        ),
        (
            {"features": np.ones((20, 5))},
            ValueError,
            "`features` must be rows that are not all identical (outlier scores compare rows with each other); got 20 identical rows: 1.0, 1.0,",
        ),
        (
            {"features": _with(4, slice(None), 0.0)},
            ValueError,
            "`features` must be rows with a non-zero norm for metric='cosine' (a zero row has no direction; drop it or pass metric='euclidean'); got 1 all-zero row(s), first at row 4.",
        ),
        (
            {"features": X, "n_neighbors": 20},
            ValueError,
            "`n_neighbors` must be less than the number of rows (20); got 20.",
        ),
        (
            {"features": X, "n_neighbors": 0},
            ValueError,
            "`n_neighbors` must be an integer >= 1; got 0.",
        ),
        (
            {"features": X, "n_neighbors": 2.5},
            TypeError,
            "`n_neighbors` must be an integer >= 1; got float 2.5.",
        ),
        (
            {},
            ValueError,
            "`features` must be an array when pred_probs is None (give either or both); got None.",
        ),
        (
            {"features": X, "labels": np.zeros(20)},
            ValueError,
            "`labels` must be None when pred_probs is None (labels only adjust the pred_probs score); got ndarray of shape (20,).",
        ),
        (
            {"features": X, "pred_probs": PROBS[:19]},
            ValueError,
            "`pred_probs` must be one row per row of features (20 rows); got 19 rows.",
        ),
        (
            {"pred_probs": PROBS, "labels": np.zeros(19, int)},
            ValueError,
            "`labels` must be the same length as pred_probs (20 rows); got length 19.",
        ),
        (
            {"features": X[0]},
            ValueError,
            "`features` must be a dense 2-D numeric array of shape (n_examples, n_features); got shape (5,).",
        ),
        (
            {"features": X[:1]},
            ValueError,
            "`features` must be an array with at least 2 rows; got shape (1, 5).",
        ),
        (
            {"features": X[:, :0]},
            ValueError,
            "`features` must be an array with at least 1 column; got shape (20, 0).",
        ),
        (
            {"features": sparse.csr_matrix(X)},
            TypeError,
            "`features` must be a dense 2-D numeric array of shape (n_examples, n_features) (call .toarray() on a sparse matrix); got a sparse matrix.",
        ),
        (
            {"features": X.astype(str)},
            TypeError,
            "`features` must be a dense 2-D numeric array of shape (n_examples, n_features); got dtype <U",
        ),
        (
            {"features": X, "metric": "manhattan"},
            ValueError,
            "`metric` must be one of 'auto', 'cosine', 'euclidean'; got 'manhattan'.",
        ),
        (
            {"pred_probs": PROBS, "pred_probs_method": "gen"},
            ValueError,
            "`pred_probs_method` must be one of 'entropy', 'least_confidence'; got 'gen'.",
        ),
        (
            {"pred_probs": PROBS * 2},
            ValueError,
            "`pred_probs` must be rows that sum to 1 (within 0.001); normalise them first; got 20 row(s) off",
        ),
    ],
)
def test_bad_input_is_refused(kwargs, kind, message):
    with pytest.raises(kind, match=re.escape(message)):
        outlier_scores(**kwargs)
    with pytest.raises(kind, match=re.escape(message)):
        find_outliers(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        ({"iqr_factor": -1}, ValueError, "`iqr_factor` must be a finite number >= 0; got -1."),
        ({"iqr_factor": "1"}, TypeError, "`iqr_factor` must be a finite number >= 0; got str '1'."),
        (
            {"score_fraction": 1.5},
            ValueError,
            "`score_fraction` must be a number in (0, 1]; got 1.5.",
        ),
    ],
)
def test_bad_cutoffs_are_refused(kwargs, kind, message):
    with pytest.raises(kind, match=re.escape(message)):
        find_outliers(features=X, **kwargs)


def test_constant_offset_column_warns_under_cosine_only():
    shifted = X.copy()
    shifted[:, 1] = 3.0
    with pytest.warns(
        LabelwiseWarning,
        match=re.escape("features has 1 constant non-zero column(s) (1); under the cosine metric"),
    ):
        outlier_scores(features=shifted)
    # No warning here: pytest turns a LabelwiseWarning into an error.
    outlier_scores(features=shifted, metric="euclidean")
    zeros = X.copy()
    zeros[:, 1] = 0.0
    outlier_scores(features=zeros)  # an all-zero column changes no distance


def test_integer_and_dataframe_features_are_accepted():
    ints = np.random.default_rng(1).integers(-5, 5, (40, 6))
    np.testing.assert_allclose(
        outlier_scores(features=pd.DataFrame(ints)), outlier_scores(features=ints.astype(float))
    )
