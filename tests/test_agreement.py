"""annotator_agreement (kappa, alpha, pairwise agreement) and majority_vote_is_sufficient."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from labelwise import Annotations
from labelwise.aggregate import (
    AgreementSummary,
    MajorityVoteCheck,
    annotator_agreement,
    majority_vote_is_sufficient,
)


def crowd(
    seed: int, accuracies: list[float], *, n: int = 800, k: int = 3, coverage: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(items x sources) one-coin annotations with -1 for missing, and the truth."""
    rng = np.random.default_rng(seed)
    acc = np.asarray(accuracies)
    truth = rng.integers(0, k, n)
    right = rng.random((n, acc.size)) < acc
    wrong = (truth[:, None] + rng.integers(1, k, (n, acc.size))) % k
    votes = np.where(right, truth[:, None], wrong)
    missing = rng.random(votes.shape) >= coverage
    missing[missing.all(axis=1), 0] = False
    return np.where(missing, -1, votes), truth


# ---------------------------------------------------------------- Krippendorff's alpha


def test_alpha_textbook_example() -> None:
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 observers x
    12 units example with missing values: nominal alpha = 0.743."""
    n = -1
    observers = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    summary = annotator_agreement(Annotations.from_matrix(np.array(observers).T))
    assert round(summary.krippendorff_alpha, 3) == 0.743
    # by hand: 40 pairable values, class totals n_c = 9, 13, 10, 5, 3, and an off-diagonal
    # coincidence sum of 8, so alpha = 1 - (n - 1) * 8 / (n**2 - sum n_c**2) = 1 - 312 / 1216
    np.testing.assert_allclose(summary.krippendorff_alpha, 1 - 312 / 1216, rtol=1e-12)


def _alpha_by_pairs(matrix: np.ndarray) -> float:
    """Reference: alpha = 1 - (n - 1) * D_o / D_e over ordered pairs, with explicit loops."""
    units = [[v for v in row if v >= 0] for row in matrix]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    disagree = sum(
        sum(a != b for a, b in itertools.permutations(u, 2)) / (len(u) - 1) for u in units
    )
    expected = sum(a != b for a, b in itertools.permutations(values, 2))
    return 1 - (n - 1) * disagree / expected


@pytest.mark.parametrize("seed", range(5))
def test_alpha_matches_pairwise_definition(seed: int) -> None:
    matrix, _ = crowd(seed, [0.9, 0.7, 0.6, 0.5], n=60, k=4, coverage=0.6)
    alpha = annotator_agreement(Annotations.from_matrix(matrix)).krippendorff_alpha
    assert alpha == pytest.approx(_alpha_by_pairs(matrix), rel=1e-10)


def test_alpha_perfect_and_chance() -> None:
    truth = np.repeat([0, 1, 2], 50)
    perfect = Annotations.from_matrix(np.column_stack([truth, truth, truth]))
    assert annotator_agreement(perfect).krippendorff_alpha == pytest.approx(1.0)
    alphas = [
        annotator_agreement(
            Annotations.from_matrix(np.random.default_rng(s).integers(0, 3, (2000, 3)))
        ).krippendorff_alpha
        for s in range(5)
    ]
    assert max(abs(a) for a in alphas) < 0.03


# ---------------------------------------------------------------- Cohen's kappa and agreement


@pytest.mark.parametrize("seed", range(5))
def test_kappa_matches_sklearn_on_every_pair(seed: int) -> None:
    matrix, _ = crowd(seed, [0.9, 0.8, 0.6, 0.4, 0.34], k=3, coverage=0.5)
    summary = annotator_agreement(Annotations.from_matrix(matrix))
    kappas = []
    for s, t in itertools.combinations(range(matrix.shape[1]), 2):
        both = (matrix[:, s] >= 0) & (matrix[:, t] >= 0)
        expected = cohen_kappa_score(matrix[both, s], matrix[both, t])
        kappas.append(expected)
        assert summary.pairwise_kappa[s, t] == pytest.approx(expected, abs=1e-12)
        assert summary.pairwise_kappa[t, s] == pytest.approx(expected, abs=1e-12)
        assert summary.overlap[s, t] == both.sum()
        agreement = np.mean(matrix[both, s] == matrix[both, t])
        assert summary.pairwise_agreement[s, t] == pytest.approx(agreement)
    assert summary.mean_kappa == pytest.approx(np.mean(kappas))
    # the near-random last source has the lowest mean kappa with the others
    row_means = np.nanmean(np.where(np.eye(5, dtype=bool), np.nan, summary.pairwise_kappa), 1)
    assert np.argmin(row_means) == 4


def test_undefined_pairs_are_nan() -> None:
    # sources 0 and 2 never share an item; sources 0 and 1 only ever say class 0 together
    matrix = np.array([[0, 0, -1], [0, 0, -1], [-1, 1, 1], [-1, 0, 1]])
    summary = annotator_agreement(Annotations.from_matrix(matrix))
    assert summary.overlap[0, 2] == 0
    assert np.isnan(summary.pairwise_agreement[0, 2]) and np.isnan(summary.pairwise_kappa[0, 2])
    assert summary.pairwise_agreement[0, 1] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(cohen_kappa_score([0, 0], [0, 0]))
    assert np.isnan(summary.pairwise_kappa[0, 1])
    assert summary.pairwise_kappa[1, 2] == pytest.approx(cohen_kappa_score([1, 0], [1, 1]))
    assert summary.mean_kappa == pytest.approx(summary.pairwise_kappa[1, 2])


def test_duplicates_use_the_last_answer_pairwise() -> None:
    table = pd.DataFrame(
        {"item": [0, 0, 0, 1, 1], "source": ["a", "a", "b", "a", "b"], "label": [1, 0, 0, 1, 1]}
    )
    ann = Annotations.from_long(table, duplicates="keep")
    summary = annotator_agreement(ann)
    assert summary.pairwise_agreement[0, 1] == 1.0  # a's last answer on item 0 is 0, as b
    assert summary.overlap[0, 1] == 2
    assert isinstance(summary, AgreementSummary)
    with pytest.raises(AttributeError):
        summary.mean_kappa = 0.0  # type: ignore[misc]


def test_agreement_bad_input() -> None:
    with pytest.raises(
        TypeError, match=r"^`annotations` must be a labelwise\.Annotations .*; got list\.$"
    ):
        annotator_agreement([[0, 1]])  # type: ignore[arg-type]


# ---------------------------------------------------------------- majority vote sufficiency


def _true_gap(matrix: np.ndarray, truth: np.ndarray, accuracies: list[float], k: int) -> float:
    """Accuracy of the MAP rule with the true accuracies minus majority vote's (random ties)."""
    acc = np.asarray(accuracies)
    weights = np.log(acc * (k - 1) / (1 - acc))
    onehot = (matrix[:, :, None] == np.arange(k)).astype(float)
    scores = (onehot * weights[None, :, None]).sum(axis=1)
    map_right = np.argmax(scores, axis=1) == truth
    counts = onehot.sum(axis=1)
    tied = counts == counts.max(axis=1, keepdims=True)
    mv_right = tied[np.arange(truth.size), truth] / tied.sum(axis=1)
    return float(np.mean(map_right) - np.mean(mv_right))


@pytest.mark.parametrize("seed", range(5))
def test_homogeneous_crowd_majority_vote_suffices(seed: int) -> None:
    accuracies = [0.7] * 5
    matrix, truth = crowd(seed, accuracies)
    check = majority_vote_is_sufficient(Annotations.from_matrix(matrix))
    assert isinstance(check, MajorityVoteCheck)
    assert check.sufficient
    np.testing.assert_allclose(check.accuracies, 0.7, atol=0.04)
    assert check.accuracy_spread < 0.03
    assert check.reason.startswith("majority vote is sufficient:")
    assert abs(check.excess_error - _true_gap(matrix, truth, accuracies, 3)) < 0.02


@pytest.mark.parametrize("seed", range(5))
def test_heterogeneous_crowd_needs_more(seed: int) -> None:
    accuracies = [0.92, 0.9, 0.9, 0.4, 0.36]
    matrix, truth = crowd(seed, accuracies)
    check = majority_vote_is_sufficient(Annotations.from_matrix(matrix))
    assert not check.sufficient
    np.testing.assert_allclose(check.accuracies, accuracies, atol=0.05)
    assert check.accuracy_spread > 0.2
    assert "not sufficient" in check.reason
    gap = _true_gap(matrix, truth, accuracies, 3)
    assert gap > 0.03  # the verdict is right: the optimal rule is really better
    assert abs(check.excess_error - gap) < 0.03


def test_tolerance_moves_the_verdict() -> None:
    matrix, _ = crowd(0, [0.92, 0.9, 0.9, 0.4, 0.36])
    ann = Annotations.from_matrix(matrix)
    strict = majority_vote_is_sufficient(ann)
    lax = majority_vote_is_sufficient(ann, tolerance=0.5)
    assert not strict.sufficient and lax.sufficient
    assert strict.excess_error == lax.excess_error


def test_silent_source_has_nan_accuracy() -> None:
    matrix, _ = crowd(1, [0.8, 0.8, 0.8], n=200)
    matrix = np.column_stack([matrix, np.full(200, -1)])
    check = majority_vote_is_sufficient(Annotations.from_matrix(matrix))
    assert np.isnan(check.accuracies[3]) and np.all(np.isfinite(check.accuracies[:3]))
    assert check.mean_labels_per_item == 3.0


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        ({"tolerance": 1.5}, ValueError, r"^`tolerance` must be a number in \[0, 1\]; got 1\.5\.$"),
        ({"max_iter": 0}, ValueError, r"^`max_iter` must be an integer >= 1; got 0\.$"),
        ({"max_iter": 2.5}, TypeError, r"^`max_iter` must be an integer >= 1; got float 2\.5\.$"),
        ({"tol": -1.0}, ValueError, r"^`tol` must be a finite number > 0; got -1\.0\.$"),
    ],
)
def test_sufficiency_bad_options(kwargs: dict, kind: type[Exception], message: str) -> None:
    ann = Annotations.from_matrix([[0, 1], [1, 1]])
    with pytest.raises(kind, match=message):
        majority_vote_is_sufficient(ann, **kwargs)


def test_sufficiency_needs_two_classes() -> None:
    with pytest.raises(ValueError, match=r"^`annotations` must be at least 2 classes"):
        majority_vote_is_sufficient(Annotations.from_matrix([[0, 0], [0, -1]]))


def _skewed_crowd(seed: int, share: float, accuracy: float, n: int = 4000) -> np.ndarray:
    """Three binary annotators of equal ``accuracy`` on items whose class 1 has ``share``."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < share).astype(int)
    right = rng.random((n, 3)) < accuracy
    return np.where(right, truth[:, None], 1 - truth[:, None])


def _map_equals_mv_on_every_pattern(prior: np.ndarray, accuracy: float) -> bool:
    """Brute force over 3 binary votes: the equal-accuracy MAP label is the majority label."""
    weight = np.log(accuracy / (1 - accuracy))
    for ones in range(4):
        score = np.log(prior) + weight * np.array([3 - ones, ones])
        if np.argmax(score) != int(ones >= 2):
            return False
    return True


@pytest.mark.parametrize(("share", "expected"), [(0.5, True), (0.08, False)])
def test_prior_within_one_vote_is_the_papers_equal_accuracy_condition(share, expected) -> None:
    # Purificato et al.: with equal accuracies MV = MAP iff rho < nu < 1 - rho.
    for seed in range(3):
        check = majority_vote_is_sufficient(
            Annotations.from_matrix(_skewed_crowd(seed, share, 0.75))
        )
        assert check.prior_within_one_vote is expected
        mean_acc = float(np.mean(check.accuracies))
        assert check.prior_within_one_vote == _map_equals_mv_on_every_pattern(
            check.class_prior, mean_acc
        )
        assert check.sufficient is expected  # here the closed form and the excess error agree
        assert ("stays within" if expected else "outweighs") in check.reason
