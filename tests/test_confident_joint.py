"""Confident joint and noise estimates: equal to cleanlab's, and right on known noise."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise import confident_joint, estimate_noise

cleanlab_count = pytest.importorskip(
    "cleanlab.count", reason="anchor cleanlab is in the bench extra"
)


@pytest.mark.parametrize(("n", "k", "margin"), [(500, 2, 1.0), (3000, 10, 3.0), (4000, 40, 4.0)])
@pytest.mark.parametrize("calibrate", [True, False])
def test_confident_joint_equals_cleanlab(synthetic, n, k, margin, calibrate):
    for seed in range(4):
        labels, probs, _, _ = synthetic(n, k, margin=margin, seed=seed)
        ours = confident_joint(labels, probs, calibrate=calibrate)
        theirs = cleanlab_count.compute_confident_joint(labels, probs, calibrate=calibrate)
        np.testing.assert_array_equal(ours, theirs)


def test_calibrated_joint_matches_label_counts(synthetic):
    labels, probs, _, _ = synthetic(2000, 6, seed=1)
    joint = confident_joint(labels, probs)
    np.testing.assert_array_equal(joint.sum(axis=1), np.bincount(labels))
    assert joint.dtype == np.int64


@pytest.mark.parametrize("converge", [True, False])
def test_noise_estimates_equal_cleanlab(synthetic, converge):
    labels, probs, _, _ = synthetic(3000, 5, margin=2.0, seed=3)
    ours = estimate_noise(labels, probs, converge=converge)
    prior, noise, inverse, joint = cleanlab_count.estimate_py_and_noise_matrices_from_probabilities(
        labels, probs, converge_latent_estimates=converge
    )
    np.testing.assert_allclose(ours.prior, prior, rtol=1e-12)
    np.testing.assert_allclose(ours.noise_matrix, noise, rtol=1e-12)
    np.testing.assert_allclose(ours.inverse_noise_matrix, inverse, rtol=1e-12)
    np.testing.assert_array_equal(ours.confident_joint, joint)


def test_noise_matrix_recovers_a_known_transition_matrix():
    """Labels drawn through a known asymmetric noise matrix; its estimate lands close to it."""
    k, n = 3, 6000
    truth = np.array([[0.8, 0.1, 0.0], [0.2, 0.9, 0.3], [0.0, 0.0, 0.7]])  # P(given=i | true=j)
    errors = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        true = rng.integers(0, k, n)
        given = (rng.random(n)[:, None] > np.cumsum(truth[:, true].T, axis=1)).sum(axis=1)
        logits = rng.standard_normal((n, k)) + 4.0 * np.eye(k)[true]
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        estimate = estimate_noise(given, probs)
        errors.append(np.abs(estimate.noise_matrix - truth))
        np.testing.assert_allclose(estimate.noise_matrix.sum(axis=0), 1.0)
        np.testing.assert_allclose(estimate.prior.sum(), 1.0)
    errors_by_cell = np.mean(errors, axis=0)
    # Confident learning is slightly conservative (it under-counts noise), hence the bounds.
    assert errors_by_cell.mean() < 0.03 and errors_by_cell.max() < 0.08, errors_by_cell


def test_noise_rate_matches_injected_rate(synthetic):
    rates = [estimate_noise(*synthetic(4000, 4, seed=s)[:2]).noise_rate for s in range(15)]
    assert abs(np.mean(rates) - 0.10) < 0.015
