"""The confident joint and the noise estimates derived from it.

Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels",
JAIR 70 (2021). An example with given label ``i`` is counted into cell ``(i, j)`` of the
confident joint when its predicted probability of class ``j`` reaches class ``j``'s threshold
``t_j`` (the mean self-confidence of the examples labelled ``j``); when several classes reach
their thresholds the argmax wins. Calibration rescales each row to the number of examples
given that label, so the matrix estimates counts of (given, true) pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from labelwise._numerics import (
    FUZZ,
    TINY,
    clip_noise_rates,
    clip_to_simplex,
    normalize_columns,
    round_preserving_row_totals,
    serial_when_small,
)
from labelwise._validation import (
    ROW_SUM_TOLERANCE,
    check_classification,
    check_probability_rows,
)
from labelwise.issues._kernels import confident_pass, exact_sums_to_float, self_confidence_sums

#: Thresholds never fall below this, so a class predicted with ~0 probability is never "confident".
THRESHOLD_FLOOR = 2 * FUZZ


@dataclass(frozen=True)
class ConfidentPass:
    """Per-example facts from one pass over ``pred_probs`` (internal)."""

    thresholds: np.ndarray  # (K,) float64
    self_confidence: np.ndarray  # (n,) float64, p[i, labels[i]]
    guess: np.ndarray  # (n,) int32, confident true-class guess or -1
    top: np.ndarray  # (n,) int32, argmax
    peak: np.ndarray  # (n,) input dtype, largest probability
    label_is_top: np.ndarray  # (n,) bool, given label is the argmax (1e-6 head start)
    joint: np.ndarray  # (K, K) int64, raw confident joint (diagonal floored at 1)


def class_thresholds(class_sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-class confident thresholds: mean self-confidence of the examples given that class."""
    return np.clip(class_sums / np.maximum(counts, 1), THRESHOLD_FLOOR, None)


def _n_chunks(n: int) -> int:
    # A few chunks per thread balance the load; tiny inputs stay in one chunk.
    return max(1, min(4 * numba.get_num_threads(), n // 10_000))


def self_confidence(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pred_probs[i, labels[i]]`` as float64, and its (exactly rounded) sum per class."""
    own, digits, special = self_confidence_sums(pred_probs, labels, _n_chunks(labels.size))
    return own, exact_sums_to_float(digits, special)


def confident_cutoffs(thresholds: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds lowered by the fuzz, and the given label's head start, in the input dtype."""
    return (thresholds - FUZZ).astype(dtype), np.array([FUZZ], dtype=dtype)


def finish_joint(raw: np.ndarray) -> np.ndarray:
    """The raw confident joint in its stored layout, with the diagonal floored at 1."""
    # Stored transposed, as cleanlab's confusion matrix is: the memory layout fixes the order
    # of the float sums in calibration, where exact .5 ties are common.
    joint = np.ascontiguousarray(raw.T).T
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    return joint


def run_confident_pass(
    labels: np.ndarray, pred_probs: np.ndarray, counts: np.ndarray
) -> ConfidentPass:
    """Compute every per-example fact confident learning needs, checking the rows on the way.

    ``labels`` and the shape of ``pred_probs`` are already validated; the values of
    ``pred_probs`` are checked from the row statistics of this same pass (one read of the data).
    """
    own, class_sums = self_confidence(labels, pred_probs)
    thresholds = class_thresholds(class_sums, counts)
    cutoffs, fuzz = confident_cutoffs(thresholds, pred_probs.dtype)
    guess, top, peak, label_is_top, joint, defects = confident_pass(
        pred_probs, labels, cutoffs, fuzz, ROW_SUM_TOLERANCE, _n_chunks(labels.size)
    )
    check_probability_rows(pred_probs, defects)
    return ConfidentPass(thresholds, own, guess, top, peak, label_is_top, finish_joint(joint))


def calibrate_joint(joint: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Rescale rows to the given-label counts and the total to n, keeping integer counts."""
    # Written as cleanlab writes it (on the transpose): the float sums then match bit for bit,
    # so the rounded counts do too.
    scaled = (joint.T / np.clip(joint.sum(axis=1), TINY, None) * counts).T
    scaled = scaled / max(float(np.sum(scaled)), TINY) * float(np.sum(counts))
    return round_preserving_row_totals(scaled)


@serial_when_small
def confident_joint(
    labels: Any,
    pred_probs: Any,
    *,
    calibrate: bool = True,
    classes: Sequence[Any] | None = None,
) -> np.ndarray:
    """Estimate the joint counts of (given label, true label) by confident learning.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Given labels: class ids ``0..K-1`` or class names (see ``classes``).
    pred_probs : array-like of shape (n, K)
        Out-of-sample predicted probabilities; rows sum to one.
    calibrate : bool, default=True
        Rescale so that row ``i`` sums to the number of examples labelled ``i`` and the whole
        matrix to ``n`` (Northcutt et al. 2021, Eq. 3). ``False`` returns the raw counts.
    classes : sequence, optional
        Class names in the column order of ``pred_probs``, when ``labels`` holds names.

    Returns
    -------
    ndarray of shape (K, K), int64
        ``joint[i, j]`` = number of examples given label ``i`` whose true label is likely ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import confident_joint
    >>> labels = np.array([0, 0, 0, 1, 1, 1])
    >>> pred_probs = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.9, .1]])
    >>> confident_joint(labels, pred_probs)
    array([[2, 1],
           [1, 2]])
    """
    data = check_classification(labels, pred_probs, classes=classes, check_rows=False)
    facts = run_confident_pass(data.labels, data.pred_probs, data.class_counts)
    return calibrate_joint(facts.joint, data.class_counts) if calibrate else facts.joint.copy()


@dataclass(frozen=True)
class NoiseEstimate:
    """Latent label-noise estimates from the confident joint.

    Attributes
    ----------
    prior : ndarray of shape (K,)
        Estimated prior of the true labels, ``P(true = j)``.
    noise_matrix : ndarray of shape (K, K)
        ``noise_matrix[i, j] = P(given = i | true = j)``; columns sum to one.
    inverse_noise_matrix : ndarray of shape (K, K)
        ``inverse_noise_matrix[j, i] = P(true = j | given = i)``; columns sum to one.
    confident_joint : ndarray of shape (K, K), int64
        The calibrated confident joint the estimates come from.
    """

    prior: np.ndarray
    noise_matrix: np.ndarray
    inverse_noise_matrix: np.ndarray
    confident_joint: np.ndarray

    @property
    def noise_rate(self) -> float:
        """Estimated fraction of examples whose given label is wrong (off-diagonal mass)."""
        joint = self.confident_joint
        return float(1.0 - np.trace(joint) / max(joint.sum(), 1))


def _prior_from_diagonals(
    given_prior: np.ndarray, noise: np.ndarray, inverse: np.ndarray
) -> np.ndarray:
    # P(true=j) = P(true=j | given=j) P(given=j) / P(given=j | true=j)  ("cnt" method).
    prior = inverse.diagonal() / np.clip(noise.diagonal(), TINY, None) * given_prior
    return clip_to_simplex(prior, FUZZ)


def latent_estimates(
    joint: np.ndarray, counts: np.ndarray, *, converge: bool = True
) -> NoiseEstimate:
    """Prior, noise matrix and inverse noise matrix from a calibrated confident joint."""
    given_prior = counts / counts.sum()
    noise = normalize_columns(joint.astype(np.float64))
    inverse = joint.T / np.clip(joint.sum(axis=1), TINY, None)
    prior = _prior_from_diagonals(given_prior, noise, inverse)
    noise, inverse = clip_noise_rates(noise), clip_noise_rates(inverse)
    if converge:
        # Alternate the three estimates until they agree (cleanlab's fixed 3 x 5 schedule).
        for _ in range(3):
            for _ in range(5):
                inverse = clip_noise_rates((noise * prior).T / np.clip(given_prior, TINY, None))
                prior = _prior_from_diagonals(given_prior, noise, inverse)
            noise = clip_noise_rates((inverse * given_prior).T / np.clip(prior, TINY, None))
        prior = clip_to_simplex(prior, 1e-5)
        noise, inverse = clip_noise_rates(noise), clip_noise_rates(inverse)
    return NoiseEstimate(prior, noise, inverse, joint)


@serial_when_small
def estimate_noise(
    labels: Any,
    pred_probs: Any,
    *,
    converge: bool = True,
    classes: Sequence[Any] | None = None,
) -> NoiseEstimate:
    """Estimate the true-label prior and the label-noise matrices by confident learning.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Given labels: class ids ``0..K-1`` or class names (see ``classes``).
    pred_probs : array-like of shape (n, K)
        Out-of-sample predicted probabilities; rows sum to one.
    converge : bool, default=True
        Iterate the prior / noise / inverse-noise estimates until they are mutually consistent.
    classes : sequence, optional
        Class names in the column order of ``pred_probs``, when ``labels`` holds names.

    Returns
    -------
    NoiseEstimate

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import estimate_noise
    >>> labels = np.array([0, 0, 0, 1, 1, 1])
    >>> pred_probs = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.9, .1]])
    >>> est = estimate_noise(labels, pred_probs)
    >>> est.noise_matrix.sum(axis=0)
    array([1., 1.])
    >>> round(est.noise_rate, 3)
    0.333
    """
    data = check_classification(labels, pred_probs, classes=classes, check_rows=False)
    facts = run_confident_pass(data.labels, data.pred_probs, data.class_counts)
    joint = facts.joint
    return latent_estimates(
        calibrate_joint(joint, data.class_counts), data.class_counts, converge=converge
    )
