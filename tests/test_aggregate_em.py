"""MajorityVote, WeightedMajorityVote, DawidSkene, OneCoinDawidSkene and the annotator simulator."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from labelwise import Annotations
from labelwise.aggregate import (
    ConvergenceWarning,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    WeightedMajorityVote,
)
from labelwise.datasets import data_dir
from labelwise.simulate import SimulatedAnnotations, simulate_annotations

ALL = [MajorityVote, WeightedMajorityVote, DawidSkene, OneCoinDawidSkene]


def fit_quiet(model, annotations):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(annotations)


# ---------------------------------------------------------------------------- simulator


def test_simulate_shapes_and_distinct_sources():
    sim = simulate_annotations(300, 7, 4, labels_per_item=5, random_state=1)
    assert isinstance(sim, SimulatedAnnotations)
    ann = sim.annotations
    assert (ann.n_items, ann.n_sources, ann.n_classes, ann.n_annotations) == (300, 7, 4, 1500)
    assert (ann.item_counts() == 5).all()
    pairs = ann.item * ann.n_sources + ann.source
    assert np.unique(pairs).size == pairs.size  # a source labels an item at most once
    assert sim.true_labels.shape == (300,)
    np.testing.assert_allclose(sim.confusions.sum(axis=2), 1.0)
    diagonal = np.einsum("skk->sk", sim.confusions)
    assert ((diagonal >= 0.55) & (diagonal <= 0.95)).all()
    assert np.allclose(diagonal, diagonal[:, :1])  # one accuracy per source


def test_simulate_is_seeded_and_many_sources_path():
    a = simulate_annotations(50, 200, 3, random_state=7)
    b = simulate_annotations(50, 200, 3, random_state=7)
    np.testing.assert_array_equal(a.annotations.label, b.annotations.label)
    np.testing.assert_array_equal(a.annotations.source, b.annotations.source)
    pairs = a.annotations.item * 200 + a.annotations.source
    assert np.unique(pairs).size == pairs.size


def test_simulate_full_confusion_is_followed():
    sim = simulate_annotations(
        20000,
        4,
        3,
        labels_per_item=4,
        confusion="full",
        class_prior=[0.5, 0.3, 0.2],
        random_state=3,
    )
    ann = sim.annotations
    counts = np.zeros((4, 3, 3))
    np.add.at(counts, (ann.source, sim.true_labels[ann.item], ann.label), 1)
    empirical = counts / counts.sum(axis=2, keepdims=True)
    assert np.abs(empirical - sim.confusions).max() < 0.03
    off = sim.confusions[:, ~np.eye(3, dtype=bool)]
    assert off.std() > 0.01  # class-dependent errors, not one coin
    np.testing.assert_allclose(np.bincount(sim.true_labels) / 20000, [0.5, 0.3, 0.2], atol=0.02)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"labels_per_item": 9},
            ValueError,
            r"^`labels_per_item` must be at most n_sources=5 \(each item's sources are distinct\); got 9\.$",
        ),
        (
            {"accuracy": (0.9, 0.5)},
            ValueError,
            r"^`accuracy` must be a number in \[0, 1\] or a pair \(low, high\) with 0 <= low <= high <= 1; got \(0\.9, 0\.5\)\.$",
        ),
        ({"accuracy": "high"}, TypeError, r"^`accuracy` must be a number in \[0, 1\] or a pair"),
        (
            {"confusion": "two_coin"},
            ValueError,
            r"^`confusion` must be one of 'one_coin', 'full'; got 'two_coin'\.$",
        ),
        (
            {"class_prior": [0.5, 0.5]},
            ValueError,
            r"^`class_prior` must be None or 3 non-negative numbers summing to 1; got shape \(2,\)\.$",
        ),
        (
            {"class_prior": [0.5, 0.5, 0.5]},
            ValueError,
            r"^`class_prior` must be None or 3 non-negative numbers summing to 1; got \[0\.5, 0\.5, 0\.5\] \(sum 1\.5\)\.$",
        ),
    ],
)
def test_simulate_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulate_annotations(10, 5, 3, **kwargs)


def test_simulate_bad_sizes():
    with pytest.raises(ValueError, match=r"^`n_classes` must be an integer >= 2; got 1\.$"):
        simulate_annotations(10, 5, 1)
    with pytest.raises(TypeError, match=r"^`n_items` must be an integer >= 1; got float 10\.0\.$"):
        simulate_annotations(10.0, 5, 3)


# ---------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("seed", range(12))
def test_dawid_skene_recovers_confusions_and_beats_majority_vote(seed):
    # 2000 items x 5 labels over 10 sources: ~330 answers per (source, true class) row, so a
    # cell's standard error is <= 0.03. Tolerance: every cell within 0.15, mean cell error 0.03.
    sim = simulate_annotations(2000, 10, 3, confusion="full", random_state=seed)
    ds = DawidSkene().fit(sim.annotations)
    error = np.abs(ds.confusions_ - sim.confusions)
    assert error.max() < 0.15
    assert error.mean() < 0.03
    np.testing.assert_allclose(ds.confusions_.sum(axis=2), 1.0)
    truth_accuracy = np.einsum("k,skk->s", np.bincount(sim.true_labels) / 2000, sim.confusions)
    assert np.abs(ds.source_quality_ - truth_accuracy).max() < 0.08
    ds_accuracy = (ds.labels_ == sim.true_labels).mean()
    mv_accuracy = (
        MajorityVote(random_state=seed).fit(sim.annotations).labels_ == sim.true_labels
    ).mean()
    assert ds_accuracy >= mv_accuracy


@pytest.mark.parametrize("seed", range(8))
def test_one_coin_recovers_accuracies(seed):
    sim = simulate_annotations(2000, 10, 4, random_state=seed)
    oc = OneCoinDawidSkene().fit(sim.annotations)
    assert np.abs(oc.source_quality_ - sim.confusions[:, 0, 0]).max() < 0.08
    assert np.abs(oc.confusions_ - sim.confusions).max() < 0.08
    oc_accuracy = (oc.labels_ == sim.true_labels).mean()
    mv_accuracy = (
        MajorityVote(random_state=seed).fit(sim.annotations).labels_ == sim.true_labels
    ).mean()
    wmv_accuracy = (
        fit_quiet(WeightedMajorityVote(random_state=seed), sim.annotations).labels_
        == sim.true_labels
    ).mean()
    assert oc_accuracy >= mv_accuracy
    assert wmv_accuracy >= mv_accuracy - 0.005


# ---------------------------------------------------------------------------- hand cases


def tie_case() -> Annotations:
    # item 0: tie 0/1; item 1: two votes for 1; item 2: one vote for 1; item 3: nobody.
    return Annotations.from_matrix(np.array([[0, 1, -1], [1, 1, -1], [1, -1, -1], [-1, -1, -1]]))


def test_majority_vote_ties_by_prior_and_unlabelled_items():
    mv = MajorityVote(tie_break="prior").fit(tie_case())
    np.testing.assert_allclose(mv.prior_, [0.2, 0.8])
    assert mv.labels_.tolist() == [1, 1, 1, 1]  # the tie and the empty item go to class 1
    np.testing.assert_allclose(mv.probas_, [[0.5, 0.5], [0, 1], [0, 1], [0.5, 0.5]])
    np.testing.assert_allclose(mv.source_quality_, [2 / 3, 1.0, np.nan])
    assert mv.n_iter_ == 0
    np.testing.assert_array_equal(mv.predict(tie_case()), mv.labels_)


def test_majority_vote_random_ties_are_seeded_and_only_touch_ties():
    picks = {}
    for seed in range(30):
        labels = MajorityVote(random_state=seed).fit(tie_case()).labels_
        assert labels[1] == 1 and labels[2] == 1
        picks.setdefault((labels[0], labels[3]), 0)
        again = MajorityVote(random_state=seed).fit(tie_case()).labels_
        np.testing.assert_array_equal(labels, again)
    assert {first for first, _ in picks} == {0, 1}


def test_labels_in_the_data_vocabulary_and_a_class_nobody_chose():
    table = pd.DataFrame(
        {
            "item": ["x", "x", "x", "y", "y", "y", "z", "z", "z"],
            "source": ["a", "b", "c"] * 3,
            "label": ["cat", "cat", "dog", "dog", "dog", "dog", "cat", "cat", "cat"],
        }
    )
    ann = Annotations.from_long(table, classes=["cat", "dog", "cow"], items=["x", "y", "z", "w"])
    for cls in ALL:
        model = fit_quiet(cls(), ann)
        assert model.probas_.shape == (4, 3)
        np.testing.assert_allclose(model.probas_.sum(axis=1), 1.0)
        assert model.labels_[:3].tolist() == ["cat", "dog", "cat"], cls.__name__
        assert model.probas_[:3, 2].max() < 1e-6, cls.__name__  # nobody chose "cow"
        assert model.predict(ann)[1] == "dog"
    ds = DawidSkene().fit(ann)
    assert ds.priors_[2] < 1e-6
    np.testing.assert_allclose(ds.probas_[3], ds.priors_, atol=1e-3)  # unlabelled: the prior
    np.testing.assert_allclose(MajorityVote().fit(ann).probas_[3], 1 / 3)


def test_a_source_that_never_answered():
    M = np.array([[0, 0, -1, 1], [1, 1, -1, 1], [0, 0, -1, 0], [1, 0, -1, 1]])
    ann = Annotations.from_matrix(M)
    for cls in ALL:
        model = fit_quiet(cls(), ann)
        assert np.isnan(model.source_quality_[2]), cls.__name__
        assert np.isfinite(np.delete(model.source_quality_, 2)).all(), cls.__name__
    # With no answers, its confusion rows are the Dirichlet prior's mean: (2*0.9 + 0.01) / 2.02
    # on the diagonal; with no prior at all, uniform.
    ds = DawidSkene().fit(ann)
    np.testing.assert_allclose(np.diag(ds.confusions_[2]), 1.81 / 2.02)
    plain = DawidSkene(prior_strength=0).fit(ann)
    np.testing.assert_allclose(plain.confusions_[2], 0.5)


def test_unanimous_sources_are_trusted():
    M = np.tile(np.array([[0], [1], [2], [1], [0]]), (1, 4))
    ann = Annotations.from_matrix(M)
    for cls in (DawidSkene, OneCoinDawidSkene):
        for strength, floor in ((0.0, 0.95), (2.0, 0.9)):  # the default prior pulls toward 0.9
            model = cls(prior_strength=strength).fit(ann)
            assert model.labels_.tolist() == [0, 1, 2, 1, 0]
            assert model.probas_.max(axis=1).min() > 0.99
            assert model.source_quality_.min() > floor, (cls.__name__, strength)


def test_weighted_vote_ignores_an_adversary():
    # Sources 0-2 are right; source 3 always says the other class; items have 2 or 4 votes.
    truth = np.array([0, 1, 0, 1, 1, 0, 0, 1])
    M = np.stack([truth, truth, truth, 1 - truth], axis=1)
    M[::2, 1:3] = -1  # even items: one good source against the adversary → a tie for MV
    ann = Annotations.from_matrix(M)
    wmv = WeightedMajorityVote(random_state=0).fit(ann)
    assert wmv.labels_.tolist() == truth.tolist()
    assert wmv.weights_[3] == 0.0
    assert wmv.source_quality_[3] == 0.0


def test_dawid_skene_warns_at_max_iter_and_refits():
    sim = simulate_annotations(200, 6, 3, confusion="full", random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=1"):
        ds = DawidSkene(max_iter=1).fit(sim.annotations)
    assert ds.n_iter_ == 1
    ds.set_params(max_iter=200)
    ds.fit(sim.annotations)
    assert 1 < ds.n_iter_ < 200
    assert np.isfinite(ds.log_likelihood_)
    other = simulate_annotations(50, 4, 2, labels_per_item=3, random_state=1)
    ds.fit(other.annotations)
    assert ds.confusions_.shape == (4, 2, 2) and ds.probas_.shape == (50, 2)


# ---------------------------------------------------------------------------- sklearn life cycle


@pytest.mark.parametrize("cls", ALL)
def test_clone_and_get_params(cls):
    model = cls(random_state=3)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy.get_params()["random_state"] == 3
    sim = simulate_annotations(100, 5, 3, random_state=0)
    fitted = fit_quiet(cls(random_state=0), sim.annotations)
    assert not hasattr(clone(fitted), "probas_")
    proba = fitted.fit_predict_proba(sim.annotations)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert fitted.fit_predict(sim.annotations).shape == (100,)


def test_init_only_stores():
    assert DawidSkene(max_iter=-5, tol="x").get_params()["max_iter"] == -5


@pytest.mark.parametrize("cls", ALL)
def test_predict_before_fit_names_both_steps(cls):
    ann = simulate_annotations(10, 3, 2, labels_per_item=2, random_state=0).annotations
    name = cls.__name__
    with pytest.raises(
        ValueError,
        match=rf"^{name}\.fit\(\.\.\.\) must come before \.predict_proba\(\.\.\.\); got \.predict_proba on an unfitted aggregator\.$",
    ):
        cls().predict(ann)


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        (
            MajorityVote(tie_break="coin"),
            ValueError,
            r"^`tie_break` must be one of 'random', 'prior'; got 'coin'\.$",
        ),
        (
            WeightedMajorityVote(n_iter=0),
            ValueError,
            r"^`n_iter` must be an integer >= 1; got 0\.$",
        ),
        (DawidSkene(max_iter=0), ValueError, r"^`max_iter` must be an integer >= 1; got 0\.$"),
        (
            DawidSkene(max_iter=2.5),
            TypeError,
            r"^`max_iter` must be an integer >= 1; got float 2\.5\.$",
        ),
        (DawidSkene(tol=-1.0), ValueError, r"^`tol` must be a finite number >= 0; got -1\.0\.$"),
        (
            OneCoinDawidSkene(smoothing="a"),
            TypeError,
            r"^`smoothing` must be a finite number >= 0; got str 'a'\.$",
        ),
    ],
)
def test_bad_options(model, error, match):
    ann = simulate_annotations(10, 3, 2, labels_per_item=2, random_state=0).annotations
    with pytest.raises(error, match=match):
        model.fit(ann)


@pytest.mark.parametrize("cls", ALL)
def test_bad_inputs(cls):
    ann = simulate_annotations(10, 3, 2, labels_per_item=2, random_state=0).annotations
    with pytest.raises(
        ValueError,
        match=rf"^`pred_probs` must be None for {cls.__name__} \(it uses the annotations only; CrowdLab adds a model\); got ndarray\.$",
    ):
        cls().fit(ann, np.full((10, 2), 0.5))
    with pytest.raises(
        TypeError, match=r"^`annotations` must be a labelwise\.Annotations .*; got ndarray\.$"
    ):
        cls().fit(np.zeros((3, 3)))
    fitted = fit_quiet(cls(), ann)
    other = simulate_annotations(12, 3, 2, labels_per_item=2, random_state=0).annotations
    with pytest.raises(
        ValueError,
        match=r"^`annotations` must be the annotations the aggregator was fitted on \(aggregators are transductive\); got 12 items, fitted on 10\.$",
    ):
        fitted.predict(other)


# ---------------------------------------------------------------------------- against crowd-kit


def _crowd_product():
    root = data_dir()
    folder = None if root is None else root / "crowd_product"
    if folder is None or not (folder / "label.csv").is_file():
        pytest.skip("crowd_product data not found (set LABELWISE_DATA to ../shared/data)")
    return pd.read_csv(folder / "label.csv"), pd.read_csv(folder / "truth.csv")


@pytest.mark.slow
def test_same_accuracy_as_crowd_kit_on_crowd_product():
    crowdkit = pytest.importorskip("crowdkit.aggregation", reason="pip install 'labelwise[bench]'")
    labels, truth = _crowd_product()
    gold = truth.set_index("item")["truth"]
    ann = Annotations.from_long(labels, source="worker", duplicates="keep")
    ck_data = labels.rename(columns={"item": "task"})
    pairs = [
        (MajorityVote(random_state=0), crowdkit.MajorityVote()),
        (DawidSkene(), crowdkit.DawidSkene(n_iter=100, tol=1e-5)),
        (OneCoinDawidSkene(), crowdkit.OneCoinDawidSkene(n_iter=100, tol=1e-5)),
    ]
    for ours, theirs in pairs:
        with warnings.catch_warnings():  # crowd-kit's pandas deprecations
            warnings.simplefilter("ignore")
            their_labels = theirs.fit_predict(ck_data)
        their_accuracy = (their_labels.reindex(gold.index) == gold).mean()
        our_labels = pd.Series(ours.fit(ann).labels_, index=ann.items)
        our_accuracy = (our_labels.reindex(gold.index) == gold).mean()
        assert our_accuracy >= their_accuracy - 0.002, (
            type(ours).__name__,
            our_accuracy,
            their_accuracy,
        )
