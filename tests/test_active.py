"""labelwise.active: ActiveLab against cleanlab 2.9, acquisition, active testing, input errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from labelwise import Annotations
from labelwise.active import (
    ActiveTester,
    RelabelScores,
    lure_weights,
    relabel_scores,
    select_batch,
    select_representative,
    uncertainty_scores,
)
from labelwise.aggregate import CrowdLab

multiannotator = pytest.importorskip("cleanlab.multiannotator")


def crowd(
    seed: int, *, n: int = 300, m: int = 6, k: int = 3, coverage: float = 0.4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items x annotators) matrix with -1 for missing (every item labelled), probs, truth."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    acc = rng.uniform(0.5, 0.95, m)
    correct = rng.random((n, m)) < acc
    wrong = (truth[:, None] + rng.integers(1, k, (n, m))) % k
    labelled = rng.random((n, m)) < coverage
    labelled[np.arange(n), rng.integers(0, m, n)] = True
    matrix = np.where(labelled, np.where(correct, truth[:, None], wrong), -1)
    logits = rng.standard_normal((n, k))
    logits[np.arange(n), truth] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return matrix, probs, truth


def wide(matrix: np.ndarray) -> np.ndarray:
    out = matrix.astype(float)
    out[matrix < 0] = np.nan
    return out


# ---------------------------------------------------------------- ActiveLab vs cleanlab


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [2, 4])
def test_relabel_scores_match_cleanlab(seed: int, k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same inputs, same numbers. cleanlab's own temperature search miscounts float-coded
    votes, so it is handed the (correctly searched) temperature that CrowdLab finds."""
    matrix, probs, _ = crowd(seed, k=k)
    unlabeled = np.random.default_rng(seed + 100).dirichlet(np.ones(k), 40)
    ann = Annotations.from_matrix(matrix)
    temperature = CrowdLab(calibrate=True).fit(ann, probs).temperature_
    monkeypatch.setattr(multiannotator, "find_best_temp_scaler", lambda *a, **kw: temperature)
    ours = relabel_scores(ann, probs, pred_probs_unlabeled=unlabeled)
    theirs, theirs_unlabeled = multiannotator.get_active_learning_scores(
        wide(matrix), probs, unlabeled
    )
    np.testing.assert_allclose(ours.scores, theirs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.scores_unlabeled, theirs_unlabeled, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_single_annotator_matches_cleanlab(seed: int) -> None:
    """One annotation per item: no temperature, all weights 1 (cleanlab's own path)."""
    matrix, probs, truth = crowd(seed, k=3, coverage=0.0)
    single = np.full_like(matrix, -1)
    rng = np.random.default_rng(seed)
    single[np.arange(truth.size), rng.integers(0, matrix.shape[1], truth.size)] = truth
    unlabeled = probs[:25]
    ours = relabel_scores(Annotations.from_matrix(single), probs, pred_probs_unlabeled=unlabeled)
    theirs, theirs_unlabeled = multiannotator.get_active_learning_scores(
        wide(single), probs, unlabeled
    )
    np.testing.assert_allclose(ours.scores, theirs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.scores_unlabeled, theirs_unlabeled, rtol=0, atol=1e-12)
    # (2 q + 1/K) / 3 with q the model's probability of the given label
    q = probs[np.arange(truth.size), truth]
    np.testing.assert_allclose(ours.scores, (2 * q + 1 / 3) / 3)


def test_items_without_annotations_score_as_unlabeled() -> None:
    matrix, probs, _ = crowd(0)
    blank = matrix.copy()
    blank[:10] = -1
    ann = Annotations.from_matrix(blank)
    with_blanks = relabel_scores(ann, probs)
    rest = Annotations.from_matrix(blank[10:])
    split = relabel_scores(rest, probs[10:], pred_probs_unlabeled=probs[:10])
    np.testing.assert_allclose(with_blanks.scores[10:], split.scores, atol=1e-12)
    np.testing.assert_allclose(with_blanks.scores[:10], split.scores_unlabeled, atol=1e-12)


def test_more_agreeing_votes_raise_the_score() -> None:
    """An item with three agreeing votes needs another less than one with a split vote."""
    matrix = np.array([[0, 0, 0], [0, 1, -1], [1, 1, 1], [1, 0, -1], [0, 0, -1]] * 20)
    probs = np.tile([[0.7, 0.3], [0.5, 0.5], [0.3, 0.7], [0.5, 0.5], [0.7, 0.3]], (20, 1))
    scores = relabel_scores(Annotations.from_matrix(matrix), probs).scores
    assert scores[0] > scores[4] > scores[1]
    assert np.all((scores >= 0) & (scores <= 1))


def test_multilabel_is_the_mean_of_per_tag_scores() -> None:
    rng = np.random.default_rng(3)
    n, m, tags = 200, 4, 3
    truth = rng.random((n, tags)) < 0.4
    answered = rng.random((n, m)) < 0.6
    answered[:, 0] = True
    flips = rng.random((n, m, tags)) < 0.15
    marks = np.where(answered[:, :, None], truth[:, None, :] ^ flips, False)
    per_tag = [
        Annotations.from_matrix(np.where(answered, marks[:, :, j], -1), classes=[False, True])
        for j in range(tags)
    ]
    probs = np.clip(truth + rng.normal(0, 0.3, (n, tags)), 0.01, 0.99)
    unlabeled = rng.random((7, tags))
    result = relabel_scores(per_tag, probs, pred_probs_unlabeled=unlabeled)
    expected = [
        relabel_scores(
            per_tag[j],
            np.column_stack([1 - probs[:, j], probs[:, j]]),
            pred_probs_unlabeled=np.column_stack([1 - unlabeled[:, j], unlabeled[:, j]]),
        )
        for j in range(tags)
    ]
    np.testing.assert_allclose(result.scores, np.mean([e.scores for e in expected], axis=0))
    np.testing.assert_allclose(
        result.scores_unlabeled, np.mean([e.scores_unlabeled for e in expected], axis=0)
    )
    assert result.scores.shape == (n,) and result.scores_unlabeled.shape == (7,)


def test_lowest_splits_annotated_and_unlabeled() -> None:
    result = RelabelScores(np.array([0.5, 0.1, 0.9]), np.array([0.2, 0.05]))
    annotated, unlabeled = result.lowest(3)
    np.testing.assert_array_equal(annotated, [1])
    np.testing.assert_array_equal(unlabeled, [0, 1])
    np.testing.assert_array_equal(result.combined(), [0.5, 0.1, 0.9, 0.2, 0.05])
    with pytest.raises(ValueError, match=r"`k` must be an integer >= 1; got 0\."):
        result.lowest(0)


def test_relabel_errors() -> None:
    ann = Annotations.from_matrix([[0, 1], [1, 1]])
    probs = np.array([[0.6, 0.4], [0.2, 0.8]])
    with pytest.raises(TypeError, match=r"`annotations` must be a labelwise.Annotations"):
        relabel_scores([[0, 1]], probs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`annotations` must be .*; got an empty sequence\."):
        relabel_scores([], probs)
    with pytest.raises(ValueError, match=r"`pred_probs` must be 2 rows \(one per annotated"):
        relabel_scores(ann, probs[:1])
    with pytest.raises(ValueError, match=r"`pred_probs` must be 2 columns"):
        relabel_scores(ann, np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"`pred_probs_unlabeled` must be 2 columns"):
        relabel_scores(ann, probs, pred_probs_unlabeled=np.full((2, 3), 1 / 3))
    three = Annotations.from_matrix([[0, 2], [1, 1]])
    with pytest.raises(ValueError, match=r"`annotations\[1\]` must be binary annotations"):
        relabel_scores([ann, three], probs)
    other = Annotations.from_matrix([[0, 1], [1, 1], [0, 0]])
    with pytest.raises(ValueError, match=r"`annotations\[1\]` must be the same 2 items"):
        relabel_scores([ann, other], probs)
    with pytest.raises(ValueError, match=r"`pred_probs` must be finite and non-negative"):
        relabel_scores(ann, [[0.6, 0.4], [-0.2, 1.2]])
    with pytest.raises(
        ValueError, match=r"`pred_probs` must be independent per-class probabilities in"
    ):
        relabel_scores([ann, ann], [[0.6, 0.4], [0.2, 1.2]])


# ---------------------------------------------------------------- acquisition


def test_uncertainty_scores_orders() -> None:
    probs = np.array([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05], [0.4, 0.4, 0.2], [0.8, 0.2, 0.0]])
    np.testing.assert_allclose(uncertainty_scores(probs), [0.5, 0.9, 0.4, 0.8])
    np.testing.assert_allclose(uncertainty_scores(probs, method="margin"), [0.2, 0.85, 0.0, 0.6])
    entropy = uncertainty_scores(probs, method="entropy")
    h = -np.sum(probs * np.log(np.where(probs > 0, probs, 1)), axis=1) / np.log(3)
    np.testing.assert_allclose(entropy, 1 - h)
    assert np.argmin(entropy) == 2 and np.argmax(entropy) == 1
    with pytest.raises(ValueError, match=r"`method` must be one of 'least_confidence', 'margin'"):
        uncertainty_scores(probs, method="bald")


def test_select_batch_lowest_and_diverse() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    features = np.concatenate([c + rng.normal(0, 0.1, (30, 2)) for c in centers])
    scores = np.concatenate([rng.uniform(0.0, 0.1, 30), rng.uniform(0.2, 0.3, 60)])
    plain = select_batch(scores, 3)
    np.testing.assert_array_equal(plain, np.argsort(scores)[:3])
    assert np.all(plain < 30)  # all from the first, most uncertain, cluster
    diverse = select_batch(scores, 3, features=features, diversity=0.8)
    assert diverse[0] == np.argmin(scores)
    assert sorted(int(i) // 30 for i in diverse) == [0, 1, 2]
    center = select_batch(scores, 3, features=features, diversity=1.0)
    assert len(set(center.tolist())) == 3
    assert sorted(int(i) // 30 for i in center) == [0, 1, 2]


def test_select_batch_errors() -> None:
    scores = np.array([0.3, 0.1, 0.2])
    with pytest.raises(ValueError, match=r"`k` must be an integer in 1..3"):
        select_batch(scores, 4)
    with pytest.raises(ValueError, match=r"`k` must be an integer >= 1; got 0\."):
        select_batch(scores, 0)
    with pytest.raises(TypeError, match=r"`features` must be an \(n, d\) array when diversity"):
        select_batch(scores, 2, diversity=0.5)
    with pytest.raises(ValueError, match=r"`features` must be 3 rows \(one per score\)"):
        select_batch(scores, 2, features=np.zeros((4, 2)), diversity=0.5)
    with pytest.raises(ValueError, match=r"`diversity` must be a number in \[0, 1\]"):
        select_batch(scores, 2, features=np.zeros((3, 2)), diversity=1.5)
    with pytest.raises(ValueError, match=r"`scores` must be finite \(no NaN or inf\)"):
        select_batch([0.1, np.nan], 1)


def test_select_representative_one_per_cluster() -> None:
    rng = np.random.default_rng(1)
    centers = rng.normal(0, 20, (5, 3))
    features = np.concatenate([c + rng.normal(0, 0.5, (40, 3)) for c in centers])
    picked = select_representative(features, 5, random_state=0)
    assert sorted(int(i) // 40 for i in picked) == [0, 1, 2, 3, 4]
    # each pick is close to its cluster's centre
    cluster = picked // 40
    assert np.all(np.linalg.norm(features[picked] - centers[cluster], axis=1) < 1.0)
    again = select_representative(features, 5, random_state=0)
    np.testing.assert_array_equal(picked, again)
    with pytest.raises(ValueError, match=r"`k` must be an integer in 1..200"):
        select_representative(features, 201)
    with pytest.raises(ValueError, match=r"`covariance_type` must be one of 'full'"):
        select_representative(features, 2, covariance_type="none")


# ---------------------------------------------------------------- active testing


def test_lure_weights() -> None:
    n = 10
    uniform = 1.0 / (n - np.arange(4))  # q_m = 1 / (N - m + 1)
    np.testing.assert_allclose(lure_weights(uniform, n), 1.0)
    q = np.array([0.5, 0.2])
    # v_1 = 1 + (10-2)/(10-1) (1/(10*0.5) - 1), v_2 = 1 + (10-2)/(10-2) (1/(9*0.2) - 1)
    np.testing.assert_allclose(lure_weights(q, n), [1 + 8 / 9 * (0.2 - 1), 1 / 1.8])


def pool(seed: int, n: int = 1000, k: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A model's probs (confidence varying between items), a noisier surrogate, and labels
    drawn from the model itself."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.0, (n, k))
    logits[np.arange(n), rng.integers(0, k, n)] += rng.uniform(0, 9, n)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.minimum((rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1), k - 1)
    noisy = np.exp(logits + rng.normal(0, 0.5, (n, k)))
    surrogate = noisy / noisy.sum(axis=1, keepdims=True)
    return probs, surrogate, truth


def run(tester: ActiveTester, truth: np.ndarray, m: int) -> tuple[float, float]:
    for _ in range(m):
        i = tester.propose()
        tester.record(i, truth[i])
    result = tester.estimate()
    return result.risk, result.standard_error


@pytest.mark.parametrize("loss", ["cross_entropy", "zero_one"])
def test_active_testing_is_unbiased_and_beats_uniform(loss: str) -> None:
    """Over many seeds the mean estimate sits within 4 standard errors of the true risk for
    both proposals, the reported standard error matches the spread, and the default proposal
    has a lower variance than random sampling."""
    probs, surrogate, truth = pool(0)
    if loss == "zero_one":
        true_risk = float(np.mean(probs.argmax(axis=1) != truth))
    else:
        true_risk = float(np.mean(-np.log(probs[np.arange(truth.size), truth])))
    testers = {
        name: ActiveTester(probs, surrogate, loss=loss, proposal=name)
        for name in ("root_mean_square", "expected_loss")
    }
    testers["random"] = ActiveTester(probs, surrogate, loss=loss, uniform=1.0)
    seeds = 150
    estimates = {name: np.empty(seeds) for name in testers}
    errors = np.empty(seeds)
    for seed in range(seeds):
        for name, tester in testers.items():
            estimates[name][seed], se = run(tester.reset(seed), truth, 40)
            if name == "root_mean_square":
                errors[seed] = se
    for values in estimates.values():
        assert abs(values.mean() - true_risk) < 4 * values.std() / np.sqrt(seeds)
    assert estimates["root_mean_square"].var() < 0.95 * estimates["random"].var()
    assert 0.7 < errors.mean() / estimates["root_mean_square"].std() < 1.3


def test_labelling_the_whole_pool_gives_the_exact_risk() -> None:
    probs, surrogate, truth = pool(1, n=40, k=3)
    tester = ActiveTester(probs, surrogate, loss="zero_one", random_state=0)
    risk, se = run(tester, truth, 40)
    assert risk == pytest.approx(np.mean(probs.argmax(axis=1) != truth))
    assert se == 0.0
    with pytest.raises(ValueError, match=r"`ActiveTester.propose` must be called while"):
        tester.propose()


def test_active_tester_stages_and_errors() -> None:
    probs, surrogate, truth = pool(2, n=20, k=3)
    tester = ActiveTester(probs, surrogate, random_state=0)
    with pytest.raises(NotFittedError, match=r"`ActiveTester.estimate` must be called after"):
        tester.estimate()
    i = tester.propose()
    other = (i + 1) % 20
    with pytest.raises(ValueError, match=r"`index` must be position\(s\) returned by"):
        tester.record(other, 0)
    with pytest.raises(ValueError, match=r"`label` must be class ids in 0..2"):
        tester.record(i, 3)
    with pytest.raises(ValueError, match=r"`index` must be position\(s\) in 0..19"):
        tester.record(25, 0)
    j = tester.propose()
    tester.record(i, truth[i])
    with pytest.raises(ValueError, match=r"`ActiveTester.estimate` must be called after every"):
        tester.estimate()
    tester.record(j, truth[j])
    assert tester.estimate().n_labelled == 2
    with pytest.raises(ValueError, match=r"`loss` must be one of 'cross_entropy', 'zero_one'"):
        ActiveTester(probs, surrogate, loss="hinge")
    with pytest.raises(ValueError, match=r"`proposal` must be one of 'root_mean_square'"):
        ActiveTester(probs, surrogate, proposal="max")
    with pytest.raises(ValueError, match=r"`surrogate_pred_probs` must be the shape of"):
        ActiveTester(probs, surrogate[:5])
