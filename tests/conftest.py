"""Shared fixtures: tiny hand-made inputs, a synthetic noisy-label generator, the real data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from labelwise.datasets import data_dir

Generator = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def noisy_classification(
    n: int,
    k: int,
    *,
    margin: float = 3.0,
    noise: float = 0.1,
    seed: int = 0,
    dtype: type = np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Softmax of noisy logits with a margin on the true class; ``noise`` of labels flipped.

    The generator of ``../shared/reference/cleanlab.md`` §3. Returns
    ``(labels, pred_probs, true_labels, flipped_rows)``.
    """
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.standard_normal((n, k)).astype(dtype)
    logits[np.arange(n), true] += margin
    logits *= 1.5
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    flipped = np.sort(rng.choice(n, int(n * noise), replace=False))
    labels = true.copy()
    labels[flipped] = (true[flipped] + rng.integers(1, k, flipped.size)) % k
    return labels, probs, true, flipped


@pytest.fixture
def synthetic() -> Generator:
    return noisy_classification


@pytest.fixture
def tiny() -> tuple[np.ndarray, np.ndarray]:
    """Eight examples, two classes; rows 3 and 7 are mislabelled."""
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    pred_probs = np.array(
        [
            [0.9, 0.1],
            [0.8, 0.2],
            [0.9, 0.1],
            [0.1, 0.9],
            [0.2, 0.8],
            [0.1, 0.9],
            [0.3, 0.7],
            [0.95, 0.05],
        ]
    )
    return labels, pred_probs


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    found = data_dir()
    if found is None:
        pytest.skip("real datasets not found: set LABELWISE_DATA or place them in ../shared/data")
    return found
