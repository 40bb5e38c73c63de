"""labelwise.distributed on a two-process LocalCluster: identical to the in-memory results."""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

import dask
import dask.array as da
import dask.dataframe as dd
import pandas as pd
from dask.distributed import Client, LocalCluster

import labelwise as lw
from labelwise import distributed as dl
from labelwise.aggregate import GLAD, DawidSkene, MajorityVote, OneCoinDawidSkene, _pairs
from labelwise.aggregate.label_model import LabelModel
from labelwise.simulate import simulate_annotations, simulate_labeling_functions

METHODS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_self_confidence",
    "low_normalized_margin",
)


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None
        )
    with cluster, Client(cluster) as c:
        yield c


def _noisy(n: int, k: int, dtype: type, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pred_probs = rng.dirichlet(np.full(k, 0.4), size=n).astype(dtype)
    labels = np.where(rng.random(n) < 0.8, pred_probs.argmax(axis=1), rng.integers(0, k, n))
    return labels, pred_probs


def _uneven(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[da.Array, da.Array]:
    """Uneven row blocks with empty ones, and label blocks that differ from them."""
    n, k = pred_probs.shape
    rows = (n // 3, 0, 1, n // 2, 0, n - n // 3 - n // 2 - 1)
    probs = da.from_array(pred_probs, chunks=(rows, (k,)))
    given = da.from_array(labels, chunks=((n // 4, n - n // 4),))
    return given, probs


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return _noisy(6_000, 4, np.float32, 0)


def _same_issues(a: lw.LabelIssues, b: lw.LabelIssues) -> None:
    np.testing.assert_array_equal(a.is_issue, b.is_issue)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.ranking, b.ranking)
    np.testing.assert_array_equal(a.suggested_label, b.suggested_label)
    np.testing.assert_array_equal(a.given_label, b.given_label)


@pytest.mark.parametrize("method", METHODS)
def test_find_label_issues_identical(client, data, method):
    labels, pred_probs = data
    rank_by = "normalized_margin" if method == "both" else "self_confidence"
    expected = lw.find_label_issues(labels, pred_probs, method=method, rank_by=rank_by)
    got = dl.find_label_issues(*_uneven(labels, pred_probs), method=method, rank_by=rank_by)
    assert got.n_issues == expected.n_issues > 0
    _same_issues(got.compute(), expected)


def test_find_label_issues_float64_frac_noise(client):
    labels, pred_probs = _noisy(5_000, 7, np.float64, 1)
    kwargs = {"frac_noise": 0.5, "min_examples_per_class": 5}
    expected = lw.find_label_issues(labels, pred_probs, **kwargs)
    got = dl.find_label_issues(*_uneven(labels, pred_probs), **kwargs)
    _same_issues(got.compute(), expected)


def test_confident_joint_and_noise_identical(client, data):
    labels, pred_probs = data
    given, probs = _uneven(labels, pred_probs)
    for calibrate in (True, False):
        np.testing.assert_array_equal(
            dl.confident_joint(given, probs, calibrate=calibrate),
            lw.confident_joint(labels, pred_probs, calibrate=calibrate),
        )
    expected = lw.estimate_noise(labels, pred_probs)
    got = dl.estimate_noise(given, probs)
    for field in ("prior", "noise_matrix", "inverse_noise_matrix", "confident_joint"):
        np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))


@pytest.mark.parametrize(
    ("method", "adjust"),
    [
        ("self_confidence", False),
        ("self_confidence", True),
        ("normalized_margin", True),
        ("confidence_weighted_entropy", False),
    ],
)
def test_label_quality_scores_identical(client, data, method, adjust):
    labels, pred_probs = data
    expected = lw.label_quality_scores(labels, pred_probs, method=method, adjust_pred_probs=adjust)
    got = dl.label_quality_scores(
        *_uneven(labels, pred_probs), method=method, adjust_pred_probs=adjust
    )
    np.testing.assert_array_equal(got.compute(), expected)


def test_memmap_input(tmp_path, data):
    labels, pred_probs = data
    path = tmp_path / "pred_probs.npy"
    np.save(path, pred_probs)
    mapped = np.load(path, mmap_mode="r")
    probs = da.from_array(mapped, chunks=(1_000, -1))
    expected = lw.find_label_issues(labels, pred_probs)
    got = dl.find_label_issues(da.from_array(labels, chunks=1_000), probs)
    np.testing.assert_array_equal(got.ranking, expected.ranking)


def test_input_errors_are_the_in_memory_ones(client, data):
    labels, pred_probs = data
    bad = pred_probs.copy()
    bad[4_500, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"`pred_probs` must be finite and non-negative; got 1 row"
    ):
        dl.find_label_issues(*_uneven(labels, bad))
    off = pred_probs.astype(np.float64)
    off[5_999] *= 2
    with pytest.raises(ValueError, match=r"first at row 5999 summing to 2"):
        dl.confident_joint(*_uneven(labels, off))
    wrong = labels.copy()
    wrong[3_001] = 9
    with pytest.raises(
        ValueError, match=r"`labels` must be class ids in 0..3 .*first 9 at index 3001"
    ):
        dl.estimate_noise(*_uneven(wrong, pred_probs))
    with pytest.raises(ValueError, match=r"no examples of class\(es\) 3"):
        dl.confident_joint(*_uneven(np.minimum(labels, 2), pred_probs))
    with pytest.raises(TypeError, match=r"`labels` must be integer class ids"):
        dl.find_label_issues(da.from_array(labels.astype(str)), pred_probs)
    with pytest.raises(ValueError, match=r"`labels` must be the same length as pred_probs"):
        dl.find_label_issues(labels[:10], pred_probs)
    with pytest.raises(TypeError, match=r"`pred_probs` must be a dask.array.Array"):
        dl.find_label_issues(labels, pred_probs.tolist())


def _tags(n: int, k: int, dtype: type, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 0/1 tags and probabilities on a coarse grid, so that keys tie often."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < 0.25
    probs = np.clip(np.where(truth, 0.75, 0.15) + rng.normal(0, 0.2, (n, k)), 0, 1)
    probs = (np.round(probs * 40) / 40).astype(dtype)
    return (truth ^ (rng.random((n, k)) < 0.05)).astype(np.int8), probs


def _uneven_tags(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[da.Array, da.Array]:
    n, k = pred_probs.shape
    rows = (n // 3, 0, 1, n // 2, 0, n - n // 3 - n // 2 - 1)
    probs = da.from_array(pred_probs, chunks=(rows, (k,)))
    given = da.from_array(labels, chunks=((n // 4, n - n // 4), (k // 2, k - k // 2)))
    return given, probs


@pytest.fixture(scope="module")
def tags() -> tuple[np.ndarray, np.ndarray]:
    return _tags(4_000, 6, np.float32, 0)


def _same_multilabel(a: lw.MultilabelIssues, b: lw.MultilabelIssues) -> None:
    for field in ("is_issue", "score", "ranking", "per_class_issue", "given"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.method == b.method and a.classes == b.classes


@pytest.mark.parametrize("method", METHODS)
def test_find_multilabel_issues_identical(client, tags, method):
    labels, pred_probs = tags
    rank_by = "normalized_margin" if method == "both" else "self_confidence"
    expected = lw.find_multilabel_issues(labels, pred_probs, method=method, rank_by=rank_by)
    got = dl.find_multilabel_issues(
        *_uneven_tags(labels, pred_probs), method=method, rank_by=rank_by
    )
    assert got.n_issues == expected.n_issues > 0
    _same_multilabel(got.compute(), expected)


def test_find_multilabel_issues_float64_frac_noise_classes(client):
    labels, pred_probs = _tags(3_000, 5, np.float64, 1)
    for method, frac in (("both", 0.5), ("low_normalized_margin", 1.0)):
        kwargs = {"frac_noise": frac, "min_examples_per_class": 5, "classes": list("abcde")}
        expected = lw.find_multilabel_issues(labels, pred_probs, method=method, **kwargs)
        got = dl.find_multilabel_issues(
            *_uneven_tags(labels.astype(bool), pred_probs), method=method, **kwargs
        )
        _same_multilabel(got.compute(), expected)


def test_multilabel_thresholds_are_exact_sums():
    """The per-class threshold sums are exact: the same for any split of the rows."""
    from fractions import Fraction

    from labelwise.issues import _multilabel_kernels as kernels

    labels, pred_probs = _tags(400, 3, np.float64, 2)
    pred_probs[::5, 0] = 1e-30 * np.arange(pred_probs[::5, 0].size)  # bits below 2**-93
    rows, cols = np.nonzero(labels)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=400))])
    for n_chunks in (1, 3, 7):
        sums, _, broken = kernels.threshold_sums(pred_probs, indptr, cols, n_chunks)
        positives, negatives = kernels.exact_totals(sums)
        assert not broken
        for j in range(3):
            tagged = labels[:, j] == 1
            assert positives[j] == float(sum(map(Fraction, pred_probs[tagged, j].tolist())))
            exact = sum(map(Fraction, (1.0 - pred_probs[~tagged, j]).tolist()))
            assert negatives[j] == float(exact)


@pytest.mark.parametrize(
    ("method", "aggregator", "adjust"),
    [
        ("self_confidence", "exponential_moving_average", False),
        ("self_confidence", "softmin", True),
        ("normalized_margin", "mean", True),
        ("confidence_weighted_entropy", "min", False),
    ],
)
def test_multilabel_quality_scores_identical(client, tags, method, aggregator, adjust):
    labels, pred_probs = tags
    kwargs = {"method": method, "aggregator": aggregator, "adjust_pred_probs": adjust}
    expected = lw.multilabel_quality_scores(labels, pred_probs, **kwargs)
    got = dl.multilabel_quality_scores(*_uneven_tags(labels, pred_probs), **kwargs)
    np.testing.assert_array_equal(got.compute(), expected)


def test_multilabel_input_errors_are_the_in_memory_ones(client, tags):
    labels, pred_probs = tags
    bad = pred_probs.copy()
    bad[3_500, 2] = 1.5
    bad[3_600, 1] = -0.5
    message = r"`pred_probs` must be independent per-class probabilities in \[0, 1\]; got 1 row"
    pattern = message + r"\(s\) with negative values, first at row 3600"
    with pytest.raises(ValueError, match=pattern):
        lw.find_multilabel_issues(labels, bad)
    with pytest.raises(ValueError, match=pattern):
        dl.find_multilabel_issues(*_uneven_tags(labels, bad))
    wrong = labels.copy()
    wrong[2_001, 4] = 2
    wrong[3_000, 0] = 3
    with pytest.raises(
        ValueError,
        match=r"binary \(0/1\) indicators; got 2 other value\(s\), first 2 at \(2001, 4\)",
    ):
        dl.multilabel_quality_scores(*_uneven_tags(wrong, pred_probs))
    with pytest.raises(
        ValueError, match=r"`labels` must be an indicator matrix of shape \(4000, 6\)"
    ):
        dl.find_multilabel_issues(labels[:, :5], pred_probs)
    with pytest.raises(TypeError, match=r"`labels` must be a numeric 0/1 indicator matrix"):
        dl.find_multilabel_issues(labels.astype(str), pred_probs)
    with pytest.raises(ValueError, match=r"`classes` must be 6 names"):
        dl.find_multilabel_issues(labels, pred_probs, classes=["a"])


def _table(n_items: int, seed: int) -> tuple[pd.DataFrame, lw.Annotations]:
    sim = simulate_annotations(n_items, 12, 3, confusion="full", random_state=seed)
    frame = sim.annotations.to_long()
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame["item"] = "item-" + frame["item"].astype(str)
    return frame, lw.Annotations.from_long(frame)


def _partitioned(frame: pd.DataFrame) -> dd.DataFrame:
    """Uneven partitions, one of them empty."""
    n = len(frame)
    cuts = [0, n // 5, n // 5, n // 2, n]
    pieces = [frame.iloc[a:b] for a, b in itertools.pairwise(cuts)]
    return dd.from_delayed([dask.delayed(p) for p in pieces], meta=frame.iloc[:0])


@pytest.mark.parametrize(
    "estimator",
    [
        DawidSkene(prior_strength=0.0, tol=1e-4),
        OneCoinDawidSkene(tol=1e-4),
        MajorityVote(tie_break="prior"),
        MajorityVote(random_state=3),
    ],
    ids=["ds-ml", "one-coin", "mv-prior", "mv-random"],
)
def test_fit_matches_in_memory(client, estimator):
    frame, annotations = _table(1_500, 0)
    expected = type(estimator)(**estimator.get_params()).fit(annotations)
    got = dl.fit(estimator, _partitioned(frame))
    assert got is estimator
    np.testing.assert_array_equal(got.items_, expected.items_)
    np.testing.assert_array_equal(got.classes_, expected.classes_)
    np.testing.assert_allclose(got.probas_, expected.probas_, atol=1e-9)
    np.testing.assert_array_equal(got.labels_, expected.labels_)
    np.testing.assert_allclose(got.source_quality_, expected.source_quality_, atol=1e-9)
    assert got.n_iter_ == expected.n_iter_
    if isinstance(estimator, DawidSkene):
        np.testing.assert_allclose(got.confusions_, expected.confusions_, atol=1e-9)
        np.testing.assert_allclose(got.priors_, expected.priors_, atol=1e-12)
        assert got.log_likelihood_ == pytest.approx(expected.log_likelihood_, abs=1e-12)


def test_fit_errors(client):
    frame, _ = _table(50, 1)
    table = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(TypeError, match=r"`estimator` must be one of 'MajorityVote'"):
        dl.fit(GLAD(), table)
    with pytest.raises(TypeError, match=r"`annotations` must be a dask.dataframe.DataFrame"):
        dl.fit(DawidSkene(), frame)
    with pytest.raises(ValueError, match=r"no column\(s\) 'worker'; it has 'item', 'source'"):
        dl.fit(DawidSkene(), table, source="worker")
    doubled = dd.from_pandas(pd.concat([frame, frame.iloc[:3]]), npartitions=2)
    with pytest.raises(ValueError, match=r"`annotations` must be a table without repeated"):
        dl.fit(DawidSkene(), doubled)


def _lf_table(n: int, seed: int) -> pd.DataFrame:
    """Labeling-function votes with two copies of one LF, named classes and sources, rows
    shuffled (so partitions do not follow the item order)."""
    sim = simulate_labeling_functions(
        n, 8, 3, class_balance=[0.6, 0.3, 0.1], n_duplicates=2, random_state=seed
    )
    frame = sim.annotations.to_long()
    frame["source"] = "lf" + frame["source"].astype(str)
    frame["label"] = np.array(["ham", "spam", "eggs"])[frame["label"].to_numpy()]
    frame["item"] = frame["item"] * 7 % (10 * n)  # ids not in code order
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _same_label_model(got: LabelModel, expected: LabelModel) -> None:
    np.testing.assert_array_equal(got.items_, expected.items_)
    np.testing.assert_array_equal(got.classes_, expected.classes_)
    np.testing.assert_allclose(got.probas_, expected.probas_, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(got.labels_, expected.labels_)
    np.testing.assert_allclose(got.accuracies_, expected.accuracies_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.confusions_, expected.confusions_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.coverages_, expected.coverages_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.class_balance_, expected.class_balance_, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(got.source_weights_, expected.source_weights_)
    pd.testing.assert_frame_equal(
        got.dependent_pairs_.to_frame(), expected.dependent_pairs_.to_frame()
    )
    assert got.n_iter_ == expected.n_iter_


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"dependencies": "merge"},
        {"dependencies": "ignore", "method": "em"},
        {"confusion": "full", "coverage": "by_class"},
        {"method": "triplet", "class_balance": [0.2, 0.5, 0.3]},
        {"class_balance": [0.2, 0.5, 0.3], "coverage": "shared"},
    ],
    ids=["downweight", "merge", "ignore-em", "full-by-class", "triplet-given", "given"],
)
def test_fit_label_model_matches_in_memory(client, params):
    frame = _lf_table(2_000, 0)
    expected = LabelModel(**params).fit(lw.Annotations.from_long(frame))
    assert len(expected.dependent_pairs_) >= 1  # the copies are found
    got = dl.fit(LabelModel(**params), _partitioned(frame))
    _same_label_model(got, expected)


def test_fit_label_model_sampled_and_sparse_pair_tables(client, monkeypatch):
    """Pair statistics on every stride-th item (by sorted item order) and the sparse pair
    tables of many sources use the same items and counts as in memory."""
    frame = _lf_table(1_500, 1)
    monkeypatch.setattr(_pairs, "PAIR_MAX_ITEMS", 300)
    for dense_max in (4096, 4):
        monkeypatch.setattr(_pairs, "DENSE_MAX_SOURCES", dense_max)
        expected = LabelModel().fit(lw.Annotations.from_long(frame))
        assert expected.dependent_pairs_  # found on the sampled items
        got = dl.fit(LabelModel(), dd.from_pandas(frame, npartitions=3))
        _same_label_model(got, expected)


def test_fit_label_model_errors(client):
    table = dd.from_pandas(_lf_table(200, 2), npartitions=2)
    with pytest.raises(ValueError, match=r"`class_balance` must be None or 3 non-negative"):
        dl.fit(LabelModel(class_balance=[0.5, 0.5]), table)
    with pytest.raises(ValueError, match=r"`dependencies`"):
        dl.fit(LabelModel(dependencies="drop"), table)


def test_import_labelwise_does_not_import_dask():
    code = "import sys, labelwise; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_predict_set_and_transform_map_rows(client):
    from labelwise.calibration import TemperatureScaling
    from labelwise.conformal import SplitConformal

    rng = np.random.default_rng(5)
    logits = 2 * rng.standard_normal((3_000, 5))
    labels = np.where(rng.random(3_000) < 0.7, logits.argmax(axis=1), rng.integers(0, 5, 3_000))
    rows = ((700, 0, 1_300), (5,))
    scaler = TemperatureScaling().fit(logits[:1_000], labels[:1_000])
    calibrated = dl.transform(scaler, da.from_array(logits[1_000:], chunks=rows)).compute()
    np.testing.assert_array_equal(calibrated, scaler.transform(logits[1_000:]))
    probs = scaler.transform(logits)
    for score in ("lac", "aps"):
        sets = SplitConformal(score=score).calibrate(probs[:1_000], labels[:1_000])
        got = dl.predict_set(sets, da.from_array(probs[1_000:], chunks=rows)).compute()
        np.testing.assert_array_equal(got, sets.predict_set(probs[1_000:]))
    with pytest.raises(ValueError, match=r"calibrate"):
        dl.predict_set(SplitConformal(), da.from_array(probs, chunks=(500, 5)))
    with pytest.raises(TypeError, match=r"`logits` must be a dask.array.Array"):
        dl.transform(scaler, logits)


def test_apply_then_fit(client):
    from labelwise.weak import ABSTAIN, apply, labeling_function

    @labeling_function()
    def short(row):
        return "ham" if len(row["text"]) < 6 else ABSTAIN

    @labeling_function()
    def link(row):
        return "spam" if "http" in row["text"] else ABSTAIN

    @labeling_function()
    def shout(row):
        return "spam" if row["text"].isupper() else "ham"

    texts = ["hi", "GO http://x", "thanks a lot", "http://y", "OK", "see http://z NOW"] * 50
    frame = pd.DataFrame({"text": texts}, index=np.arange(1_000, 1_000 + len(texts)))
    votes = dl.apply([short, link, shout], dd.from_pandas(frame, npartitions=4))
    in_memory = apply([short, link, shout], frame, progress=False)
    expected = lw.Annotations.from_long(in_memory.to_long())  # sources in sorted order
    got = lw.Annotations.from_long(votes.compute())
    for field in ("items", "sources", "classes"):
        np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))
    np.testing.assert_array_equal(got.to_matrix(), expected.to_matrix())
    fitted = dl.fit(MajorityVote(tie_break="prior"), votes)
    np.testing.assert_array_equal(
        fitted.labels_, MajorityVote(tie_break="prior").fit(in_memory).labels_
    )
