"""The trainers of labelwise.models: fit/predict life cycle, learning on small data, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402

from labelwise.class_prior import elkan_noto_prior, estimate_class_prior, tice_prior  # noqa: E402
from labelwise.models import (  # noqa: E402
    NoisyLabelClassifier,
    PartialLabelClassifier,
    PartialMultilabelClassifier,
    ProportionClassifier,
    PUClassifier,
)
from labelwise.models._base import average_precision  # noqa: E402

FAST = {"max_epochs": 8, "random_state": 0, "device": "cpu"}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def multilabel():
    rng = np.random.default_rng(0)
    n, d, k = 300, 6, 4
    X = rng.normal(size=(n, d))
    Y = (X[:, :k] + 0.3 * rng.normal(size=(n, k)) > 0.3).astype(np.int8)
    Y[Y.sum(axis=1) == 0, 0] = 1
    targets = np.full((n, k), -1, dtype=np.int8)
    for i in range(n):
        targets[i, rng.choice(np.flatnonzero(Y[i]))] = 1
    return X, Y, targets


def mean_ap(probs: np.ndarray, Y: np.ndarray) -> float:
    return float(np.nanmean(average_precision(probs, Y.astype(bool))))


def test_import_labelwise_does_not_import_torch() -> None:
    code = "import sys, labelwise; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_average_precision_matches_sklearn() -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(1)
    scores, truth = rng.random((50, 3)), rng.random((50, 3)) < 0.3
    expected = [average_precision_score(truth[:, j], scores[:, j]) for j in range(3)]
    np.testing.assert_allclose(average_precision(scores, truth), expected)


@pytest.mark.parametrize(
    "loss",
    [
        "an",
        "wan",
        "an_ls",
        "epr",
        "role",
        "em",
        "em_apl",
        "asl",
        "ll_r",
        "ll_ct",
        "ll_cp",
        "pu_mlc",
    ],
)
def test_partial_multilabel_losses_all_learn(loss, multilabel) -> None:
    X, Y, targets = multilabel
    model = PartialMultilabelClassifier(loss, **FAST).fit(X, targets)
    probs = model.predict_proba(X)
    assert probs.shape == Y.shape and np.isfinite(probs).all()
    assert mean_ap(probs, Y) > 0.7  # chance is about 0.35
    assert model.predict(X).dtype == np.int8
    assert 1 <= model.best_epoch_ <= model.n_epochs_ <= 8


def test_partial_multilabel_is_seeded_and_clonable(multilabel) -> None:
    X, _, targets = multilabel
    a = PartialMultilabelClassifier("an", **FAST).fit(X, targets).predict_proba(X)
    b = clone(PartialMultilabelClassifier("an", **FAST)).fit(X, targets).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    params = PartialMultilabelClassifier("em", loss_options={"alpha": 0.2}).get_params()
    assert params["loss"] == "em" and params["loss_options"] == {"alpha": 0.2}


def test_partial_multilabel_hidden_layers_and_no_validation(multilabel) -> None:
    X, _, targets = multilabel
    model = PartialMultilabelClassifier(
        "an", hidden_layer_sizes=(16,), validation_fraction=0.0, max_epochs=3, random_state=0
    ).fit(X, targets)
    assert model.n_epochs_ == 3 and len(model.history_) == 3


def test_partial_multilabel_errors(multilabel) -> None:
    X, _, targets = multilabel
    with pytest.raises(
        ValueError, match=r"`loss` must be one of 'an', 'wan', .*'pu_mlc'; got 'bce'\."
    ):
        PartialMultilabelClassifier("bce").fit(X, targets)
    bad = targets.copy()
    bad[0, 0] = 2
    with pytest.raises(
        ValueError,
        match=r"`targets` must be values in \{1, 0, -1\}; got 1 other value\(s\), first 2 at \(0, 0\)\.",
    ):
        PartialMultilabelClassifier().fit(X, bad)
    with pytest.raises(
        ValueError,
        match=r"`targets` must be a matrix with one row per example \(300\); got 299 rows\.",
    ):
        PartialMultilabelClassifier().fit(X, targets[:-1])
    with pytest.raises(
        TypeError,
        match=r"`loss_options` must be keyword arguments of the 'em' loss; got \['gamma'\]",
    ):
        PartialMultilabelClassifier("em", loss_options={"gamma": 1.0}).fit(X, targets)
    with pytest.raises(
        ValueError, match=r"`device` must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got 'gpu'\."
    ):
        PartialMultilabelClassifier(device="gpu").fit(X, targets)
    with pytest.raises(
        ValueError,
        match=r"PartialMultilabelClassifier.fit\(...\) must come before .predict_proba\(...\); got .predict_proba on an unfitted trainer\.",
    ):
        PartialMultilabelClassifier().predict_proba(X)
    if not torch.cuda.is_available():
        with pytest.raises(
            ValueError,
            match=r"`device` must be 'cpu' or 'auto' on a machine without CUDA; got 'cuda'\.",
        ):
            PartialMultilabelClassifier(device="cuda").fit(X, targets)


# --------------------------------------------------------------------------- PU


@pytest.fixture(scope="module")
def pu_data():
    rng = np.random.default_rng(3)
    n = 1500
    y = rng.random(n) < 0.4
    X = rng.normal(size=(n, 4)) + 2.5 * y[:, None]
    s = (y & (rng.random(n) < 0.3)).astype(np.int8)
    return X, y, s


def test_nnpu_beats_the_naive_classifier(pu_data) -> None:
    X, y, s = pu_data
    nnpu = PUClassifier("nnpu", prior=0.4, **FAST).fit(X, s)
    naive = PUClassifier("naive", **FAST).fit(X, s)
    acc_nnpu = (nnpu.predict(X) == y).mean()
    acc_naive = (naive.predict(X) == y).mean()
    assert acc_nnpu > 0.9 and acc_nnpu > acc_naive + 0.1
    proba = nnpu.predict_proba(X)
    assert proba.shape == (X.shape[0], 2) and np.allclose(proba.sum(axis=1), 1)


def test_pu_estimates_the_prior_when_not_given(pu_data) -> None:
    X, y, s = pu_data
    model = PUClassifier("upu", **FAST).fit(X, s)
    assert model.prior_estimate_ is not None and model.prior_estimate_.method == "elkan_noto"
    assert abs(model.prior_ - y.mean()) < 0.1


def test_prior_estimators(pu_data) -> None:
    X, y, s = pu_data
    for method in ("tice", "elkan_noto"):
        estimate = estimate_class_prior(s, X, method=method)
        assert abs(estimate.prior - y.mean()) < 0.1, (method, estimate)
        assert estimate.label_frequency == pytest.approx(s.mean() / estimate.prior)
    assert tice_prior(s, X, random_state=1).prior == pytest.approx(
        tice_prior(s, X, random_state=1).prior
    )


def test_pu_errors(pu_data) -> None:
    X, _, s = pu_data
    with pytest.raises(
        ValueError,
        match=r"`labels` must be both labelled positives \(1\) and unlabeled examples \(0\); got only 0s\.",
    ):
        PUClassifier(prior=0.3).fit(X, np.zeros_like(s))
    with pytest.raises(
        ValueError,
        match=r"`labels` must be 1 \(labelled positive\) or 0 \(unlabeled\); got values -1, 0, 1\.",
    ):
        PUClassifier(prior=0.3).fit(X, np.where(s == 1, 1, -1) + (np.arange(s.size) == 0))
    with pytest.raises(ValueError, match=r"`prior` must be a class prior in \(0, 1\); got 1\.0\."):
        PUClassifier(prior=1.0).fit(X, s)
    with pytest.raises(
        ValueError, match=r"`scores` must be probabilities in \[0, 1\]; got values from -1 to 0\."
    ):
        elkan_noto_prior(s, -np.ones(s.size) + (s == 1))


# --------------------------------------------------------------------------- partial labels


@pytest.fixture(scope="module")
def candidate_data():
    rng = np.random.default_rng(4)
    n, k = 600, 4
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, 5)) + 2.5 * np.eye(k, 5)[y]
    candidates = np.eye(k, dtype=bool)[y] | (rng.random((n, k)) < 0.4)
    return X, y, candidates


@pytest.mark.parametrize("loss", ["proden", "pop", "alim", "cc_average"])
def test_partial_label_losses_learn(loss, candidate_data) -> None:
    X, y, candidates = candidate_data
    options = {
        "pop": {"warmup_epochs": 2, "window": 2, "threshold": 0.1},
        "alim": {"noise_rate": 0.0},
    }.get(loss)
    model = PartialLabelClassifier(loss, loss_options=options, **FAST).fit(X, candidates)
    assert (model.predict(X) == y).mean() > 0.8
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_alim_trains_on_candidate_sets_that_miss_the_label(candidate_data) -> None:
    X, y, candidates = candidate_data
    noisy = candidates.copy()
    rng = np.random.default_rng(0)
    drop = rng.random(y.size) < 0.15
    noisy[drop, y[drop]] = False
    noisy[drop & ~noisy.any(axis=1), (y[drop & ~noisy.any(axis=1)] + 1) % 4] = True
    options = {"noise_rate": 0.15, "warmup_epochs": 3}
    alim = PartialLabelClassifier("alim", loss_options=options, max_epochs=12, random_state=0).fit(
        X, noisy
    )
    assert (alim.predict(X) == y).mean() > 0.7
    assert 0 < alim.loss_.lam <= 1


def test_partial_label_errors(candidate_data) -> None:
    X, _, candidates = candidate_data
    empty = candidates.copy()
    empty[5] = False
    with pytest.raises(
        ValueError,
        match=r"`candidates` must be at least one candidate per row; got 1 empty row\(s\), first at row 5\.",
    ):
        PartialLabelClassifier().fit(X, empty)


# --------------------------------------------------------------------------- proportions


@pytest.fixture(scope="module")
def bag_data():
    rng = np.random.default_rng(5)
    n, k, size = 960, 3, 16
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, 4)) + 2.5 * np.eye(k, 4)[y]
    bag_ids = np.repeat(np.arange(n // size), size)
    proportions = np.stack(
        [np.bincount(y[bag_ids == b], minlength=k) / size for b in range(n // size)]
    )
    return X, y, bag_ids, proportions


@pytest.mark.parametrize("loss", ["dllp", "mixbag"])
def test_proportion_losses_learn(loss, bag_data) -> None:
    X, y, bag_ids, proportions = bag_data
    model = ProportionClassifier(loss, max_epochs=15, random_state=0, device="cpu").fit(
        X, bag_ids, proportions
    )
    assert (model.predict(X) == y).mean() > 0.8


def test_proportion_errors(bag_data) -> None:
    X, _, bag_ids, proportions = bag_data
    bad = proportions.copy()
    bad[2] = [0.5, 0.0, 0.0]
    with pytest.raises(
        ValueError, match=r"`proportions` must be rows that sum to 1; got row 2 sums to 0\.5\."
    ):
        ProportionClassifier().fit(X, bag_ids, bad)
    with pytest.raises(
        ValueError,
        match=r"`bag_ids` must be bag ids in 0..59 \(rows of proportions\); got values from 0 to 60\.",
    ):
        ProportionClassifier().fit(X, bag_ids + (bag_ids == 59), proportions)


# --------------------------------------------------------------------------- noisy labels


@pytest.fixture(scope="module")
def noisy_data():
    rng = np.random.default_rng(6)
    n, k = 600, 3
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, 4)) + 3 * np.eye(k, 4)[y]
    flip = rng.random(n) < 0.3
    noisy = np.where(flip, (y + 1) % k, y)  # class-conditional: i -> i+1
    return X, y, noisy


@pytest.mark.parametrize(
    "loss",
    [
        "ce",
        "gce",
        "sce",
        "label_smoothing",
        "forward",
        "coteaching",
        "self_distillation",
        "logitnorm",
    ],
)
def test_noisy_losses_learn(loss, noisy_data) -> None:
    X, y, noisy = noisy_data
    model = NoisyLabelClassifier(loss, **FAST).fit(X, noisy)
    assert (model.predict(X) == y).mean() > (0.75 if loss == "logitnorm" else 0.8)
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_forward_correction_estimates_the_transition(noisy_data) -> None:
    X, _, noisy = noisy_data
    model = NoisyLabelClassifier("forward", **FAST).fit(X, noisy)
    assert model.transition_.shape == (3, 3)
    assert (np.diag(model.transition_) > 0.5).all()
    given = np.array([[0.7, 0.3, 0.0], [0.0, 0.7, 0.3], [0.3, 0.0, 0.7]])
    fixed = NoisyLabelClassifier("forward", loss_options={"transition": given}, **FAST).fit(
        X, noisy
    )
    np.testing.assert_array_equal(fixed.transition_, given)


def test_noisy_pred_probs_feed_find_label_issues(noisy_data) -> None:
    from labelwise import find_label_issues

    X, y, noisy = noisy_data
    probs = NoisyLabelClassifier("ce", **FAST).fit(X, noisy).predict_proba(X)
    issues = find_label_issues(noisy, probs)
    assert issues.is_issue.shape == noisy.shape
    flipped = noisy != y
    assert issues.score[flipped].mean() < issues.score[~flipped].mean()


def test_noisy_errors(noisy_data) -> None:
    X, _, noisy = noisy_data
    with pytest.raises(
        ValueError, match=r"`labels` must be class ids in 0..1 \(pred_probs has 2 columns\); got"
    ):
        NoisyLabelClassifier(n_classes=2).fit(X, noisy)
    with pytest.raises(
        ValueError, match=r"`validation_fraction` must be a number in \[0, 1\); got 1\.0\."
    ):
        NoisyLabelClassifier(validation_fraction=1.0).fit(X, noisy)


def test_training_input_checks() -> None:
    from labelwise._validation import check_bags, check_candidates, check_hidden_layer_sizes

    with pytest.raises(
        TypeError,
        match=r"`hidden_layer_sizes` must be a tuple of positive ints \(\(\) for a linear model\); got \(0,\)\.",
    ):
        check_hidden_layer_sizes((0,))
    assert check_hidden_layer_sizes(16) == (16,)
    with pytest.raises(
        TypeError,
        match=r"`candidates` must be a bool matrix of shape \(n_examples, n_classes\) \(True = candidate\); got dtype float64\.",
    ):
        check_candidates(np.full((2, 2), 0.5), 2)
    with pytest.raises(
        ValueError,
        match=r"`bag_ids` must be every bag \(row of proportions\) used at least once; got 1 empty bag\(s\), first 1\.",
    ):
        check_bags(np.array([0, 0, 2]), np.full((3, 2), 0.5), 3)
    with pytest.raises(
        ValueError,
        match=r"`candidates` must be a matrix with one row per example \(3\); got 2 rows\.",
    ):
        check_candidates(np.ones((2, 2), dtype=bool), 3)


def test_trainer_outputs_feed_conformal_prediction(multilabel, noisy_data) -> None:
    from labelwise.conformal import MultilabelConformal, SplitConformal

    X, Y, targets = multilabel
    probs = (
        PartialMultilabelClassifier("em", **FAST).fit(X[:150], targets[:150]).predict_proba(X[150:])
    )
    crc = MultilabelConformal(risk="fnr", target=0.2).calibrate(probs[:75], Y[150:225].astype(bool))
    sets = crc.predict_set(probs[75:])
    assert sets.shape == (75, Y.shape[1]) and sets.dtype == bool
    Xn, y, noisy = noisy_data
    probs = NoisyLabelClassifier("gce", **FAST).fit(Xn[:300], noisy[:300]).predict_proba(Xn[300:])
    cp = SplitConformal(score="aps", randomized=False).calibrate(probs[:150], y[300:450])
    covered = cp.predict_set(probs[150:])[np.arange(150), y[450:]]
    assert covered.mean() > 0.8
