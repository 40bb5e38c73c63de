"""GLAD (Whitehill et al. 2009) and MACE (Hovy et al. 2013) on simulated and real crowd data."""

from __future__ import annotations

import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from labelwise import Annotations
from labelwise.aggregate import GLAD, MACE, ConvergenceWarning
from labelwise.datasets import data_dir

SEEDS = range(5)


def simulate(
    seed: int,
    *,
    n_items: int = 600,
    n_good: int = 8,
    n_spam: int = 4,
    per_item: int = 5,
    k: int = 3,
) -> tuple[Annotations, np.ndarray, np.ndarray, np.ndarray]:
    """GLAD-style crowd: ``per_item`` distinct sources per item, good sources with abilities in
    [1, 3], spammers with ability ~0 that answer one favourite class half the time, item
    log-difficulties ~ N(0, 0.8). Returns annotations, truth, spammer mask, item difficulty."""
    rng = np.random.default_rng(seed)
    n_sources = n_good + n_spam
    truth = rng.integers(0, k, n_items)
    ability = np.concatenate([rng.uniform(1.0, 3.0, n_good), np.zeros(n_spam)])
    difficulty = np.exp(rng.normal(0.0, 0.8, n_items))
    sources = np.argsort(rng.random((n_items, n_sources)), axis=1)[:, :per_item].ravel()
    items = np.repeat(np.arange(n_items), per_item)
    p_correct = 1.0 / (1.0 + np.exp(-ability[sources] / difficulty[items]))
    correct = rng.random(items.size) < p_correct
    wrong = (truth[items] + rng.integers(1, k, items.size)) % k
    labels = np.where(correct, truth[items], wrong)
    is_spam = ability == 0
    favourite = rng.integers(0, k, n_sources)
    spam_answer = np.where(
        rng.random(items.size) < 0.5, favourite[sources], rng.integers(0, k, items.size)
    )
    labels = np.where(is_spam[sources], spam_answer, labels)
    table = pd.DataFrame({"item": items, "source": sources, "label": labels})
    ann = Annotations.from_long(
        table, classes=range(k), items=range(n_items), sources=range(n_sources)
    )
    return ann, truth, is_spam, difficulty


def majority_accuracy(ann: Annotations, truth: np.ndarray, seed: int) -> float:
    counts = ann.vote_counts().toarray().astype(np.float64)
    counts += 1e-3 * np.random.default_rng(seed).random(counts.shape)  # random tie-break
    return float((counts.argmax(axis=1) == truth).mean())


def accuracy(model: GLAD | MACE, truth: np.ndarray) -> float:
    return float((model.labels_.astype(np.int64) == truth).mean())


# ----------------------------------------------------------------- accuracy on simulated data


@pytest.mark.parametrize("seed", SEEDS)
def test_both_beat_majority_vote(seed: int) -> None:
    ann, truth, _, _ = simulate(seed)
    mv = majority_accuracy(ann, truth, seed)
    glad = GLAD().fit(ann)
    mace = MACE(random_state=seed).fit(ann)
    assert accuracy(glad, truth) > mv + 0.01
    assert accuracy(mace, truth) > mv + 0.01


@pytest.mark.parametrize("seed", SEEDS)
def test_mace_ranks_spammers_lowest(seed: int) -> None:
    ann, _, is_spam, _ = simulate(seed)
    mace = MACE(random_state=seed).fit(ann)
    lowest = np.argsort(mace.competence_)[: is_spam.sum()]
    assert set(lowest) == set(np.flatnonzero(is_spam))
    np.testing.assert_array_equal(mace.source_quality_, mace.competence_)
    assert mace.spam_distribution_.shape == (ann.n_sources, ann.n_classes)
    np.testing.assert_allclose(mace.spam_distribution_.sum(axis=1), 1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_glad_recovers_difficulty_and_spammers(seed: int) -> None:
    ann, _, is_spam, difficulty = simulate(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        glad = GLAD().fit(ann)
    rho = pd.Series(glad.difficulty_).corr(pd.Series(difficulty), method="spearman")
    assert rho > 0.3
    assert glad.ability_[is_spam].max() < glad.ability_[~is_spam].min()
    assert glad.source_quality_[is_spam].max() < glad.source_quality_[~is_spam].min()
    assert np.all(glad.difficulty_ > 0)
    assert glad.difficulty_.shape == (ann.n_items,)
    assert glad.n_iter_ >= 1


def test_probabilities_are_rows_summing_to_one() -> None:
    ann, _, _, _ = simulate(0, n_items=100)
    for model in (GLAD(), MACE(random_state=0)):
        proba = model.fit_predict_proba(ann)
        assert proba.shape == (ann.n_items, ann.n_classes)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert np.all(proba >= 0)
        np.testing.assert_allclose(model.priors_.sum(), 1.0)


# ----------------------------------------------------------------- determinism, life cycle


def test_determinism_under_random_state() -> None:
    ann, _, _, _ = simulate(3, n_items=200)
    a, b = MACE(random_state=7).fit(ann), MACE(random_state=7).fit(ann)
    np.testing.assert_array_equal(a.probas_, b.probas_)
    np.testing.assert_array_equal(a.competence_, b.competence_)
    g1, g2 = GLAD(random_state=1).fit(ann), GLAD(random_state=2).fit(ann)
    np.testing.assert_array_equal(g1.probas_, g2.probas_)  # GLAD draws nothing


def test_clone_and_params() -> None:
    model = MACE(n_restarts=3, smoothing=0.1, random_state=0)
    assert clone(model).get_params() == model.get_params()
    assert GLAD(m_step_iter=5).get_params()["m_step_iter"] == 5


@pytest.mark.parametrize("model", [GLAD(), MACE()])
def test_predict_before_fit_names_both_steps(model: GLAD | MACE) -> None:
    ann, _, _, _ = simulate(0, n_items=20)
    name = type(model).__name__
    with pytest.raises(ValueError, match=rf"{name}\.fit\(\.\.\.\) must come before \.predict"):
        model.predict(ann)


def test_refit_replaces_state() -> None:
    small, _, _, _ = simulate(0, n_items=30)
    large, _, _, _ = simulate(1, n_items=60)
    model = GLAD()
    model.fit(small)
    model.fit(large)
    assert model.probas_.shape[0] == 60
    assert model.difficulty_.shape == (60,)
    np.testing.assert_array_equal(model.predict(large), model.labels_)


def test_glad_warns_at_max_iter() -> None:
    ann, _, _, _ = simulate(0, n_items=100)
    with pytest.warns(ConvergenceWarning, match="GLAD stopped at max_iter=1"):
        model = GLAD(max_iter=1, tol=0.0).fit(ann)
    assert model.n_iter_ == 1


# ----------------------------------------------------------------- small exact cases


def test_small_exact_case() -> None:
    # sources 0 and 1 agree on everything; source 2 answers 1 whatever the truth
    votes = np.array([[0, 0, 1], [1, 1, 1], [0, 0, 1], [1, 1, 1], [0, 0, 1], [0, 0, 1]])
    ann = Annotations.from_matrix(votes)
    expected = np.array([0, 1, 0, 1, 0, 0])
    glad = GLAD().fit(ann)
    mace = MACE(random_state=0).fit(ann)
    np.testing.assert_array_equal(glad.labels_.astype(int), expected)
    np.testing.assert_array_equal(mace.labels_.astype(int), expected)
    assert np.argmin(mace.competence_) == 2
    assert mace.spam_distribution_[2, 1] > 0.9
    assert np.argmin(glad.ability_) == 2


def test_glad_hand_computed_posterior() -> None:
    # one EM iteration from the prior means gives the closed-form E-step posterior:
    # log P(z = k) = sum over answers of log sigmoid(+-alpha beta) (- log(K-1) for wrong ones)
    ann = Annotations.from_matrix(np.array([[0, 0, 1]]), classes=[0, 1])
    model = GLAD(max_iter=1, tol=0.0, m_step_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(ann)
    a, beta = model.ability_, 1.0 / model.difficulty_[0]
    s = a * beta
    log_right = -np.logaddexp(0, -s)
    log_wrong = -np.logaddexp(0, s)
    z0 = log_right[0] + log_right[1] + log_wrong[2]
    z1 = log_wrong[0] + log_wrong[1] + log_right[2]
    expected = np.exp([z0, z1] - np.logaddexp(z0, z1))
    np.testing.assert_allclose(model.probas_[0], expected, rtol=1e-10)


def test_item_nobody_labelled_and_silent_source() -> None:
    table = pd.DataFrame(
        {"item": ["a", "a", "b"], "source": ["x", "y", "x"], "label": ["p", "p", "q"]}
    )
    ann = Annotations.from_long(table, items=["a", "b", "c"], sources=["x", "y", "z"])
    for model in (GLAD(), MACE(random_state=0)):
        model.fit(ann)
        assert np.all(np.isfinite(model.probas_))
        np.testing.assert_allclose(model.probas_[2], model.priors_)
        assert np.all(np.isfinite(model.source_quality_))
        assert list(model.labels_[:2]) == ["p", "q"]


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        (GLAD(max_iter=0), ValueError, "`max_iter` must be an integer >= 1; got 0."),
        (GLAD(tol=-1.0), ValueError, "`tol` must be a finite number >= 0; got -1.0."),
        (GLAD(m_step_iter=2.5), TypeError, "`m_step_iter` must be an integer >= 1; got float 2.5."),
        (
            GLAD(class_prior="learn"),
            ValueError,
            "`class_prior` must be one of 'uniform', 'estimate'; got 'learn'.",
        ),
        (
            GLAD(ability_prior_mean=np.inf),
            ValueError,
            "`ability_prior_mean` must be a finite number; got inf.",
        ),
        (GLAD(prior_scale=0.0), ValueError, "`prior_scale` must be a finite number > 0; got 0.0."),
        (MACE(n_restarts=0), ValueError, "`n_restarts` must be an integer >= 1; got 0."),
        (MACE(alpha=0.0), ValueError, "`alpha` must be a finite number > 0; got 0.0."),
        (MACE(beta="1"), TypeError, "`beta` must be a finite number > 0; got str '1'."),
        (MACE(smoothing=-0.1), ValueError, "`smoothing` must be a finite number >= 0; got -0.1."),
        (MACE(method="gibbs"), ValueError, "`method` must be one of 'em', 'vb'; got 'gibbs'."),
        (
            MACE(class_prior=None),
            ValueError,
            "`class_prior` must be one of 'estimate', 'uniform'; got None.",
        ),
    ],
)
def test_bad_options_are_named(model: GLAD | MACE, error: type[Exception], message: str) -> None:
    ann, _, _, _ = simulate(0, n_items=10)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        model.fit(ann)


@pytest.mark.parametrize("model", [GLAD(), MACE()])
def test_bad_annotations_and_pred_probs(model: GLAD | MACE) -> None:
    with pytest.raises(TypeError, match=r"^`annotations` must be a labelwise\.Annotations"):
        model.fit(np.zeros((3, 3)))
    ann, _, _, _ = simulate(0, n_items=10)
    name = type(model).__name__
    with pytest.raises(
        TypeError, match=rf"^`pred_probs` must be None \({name} uses the annotations only\)"
    ):
        model.fit(ann, np.full((10, 3), 1 / 3))


# ----------------------------------------------------------------- real data vs crowd-kit


def _product() -> tuple[pd.DataFrame, pd.Series]:
    root = data_dir()
    folder = root / "crowd_product" if root is not None else None
    if folder is None or not (folder / "label.csv").is_file():
        pytest.skip("real crowd data crowd_product not found (set LABELWISE_DATA)")
    labels = pd.read_csv(folder / "label.csv")
    truth = pd.read_csv(folder / "truth.csv").set_index("item")["truth"]
    return labels, truth


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ours", "theirs", "published"),
    [(GLAD, "GLAD", 0.928), (MACE, "MACE", 0.929)],
)
def test_real_product_data_against_crowdkit(
    ours: type[GLAD] | type[MACE], theirs: str, published: float
) -> None:
    labels, truth = _product()
    ann = Annotations.from_long(labels, source="worker", duplicates="keep")
    start = time.perf_counter()
    model = ours(random_state=0).fit(ann)
    our_seconds = time.perf_counter() - start
    pred = pd.Series(model.labels_, index=ann.items).loc[truth.index].astype(np.int64)
    our_accuracy = float((pred == truth).mean())
    # crowd-kit's published D_Product accuracy (JOSS 2024), reproduced by us within 0.001
    assert our_accuracy >= published - 0.002
    aggregation = pytest.importorskip("crowdkit.aggregation")
    frame = labels.rename(columns={"item": "task"})
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        their_pred = getattr(aggregation, theirs)().fit_predict(frame)
    their_seconds = time.perf_counter() - start
    their_accuracy = float((their_pred.loc[truth.index].astype(np.int64) == truth).mean())
    print(
        f"{theirs}: labelwise {our_accuracy:.4f} in {our_seconds:.2f} s; "
        f"crowd-kit {their_accuracy:.4f} in {their_seconds:.2f} s"
    )
    assert our_accuracy >= their_accuracy - 0.002
