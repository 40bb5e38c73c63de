"""Synthetic embeddings with planted outliers and near-duplicates (shared by the tests)."""

from __future__ import annotations

import numpy as np


def embeddings_with_issues(
    n: int,
    d: int,
    *,
    seed: int = 0,
    n_clusters: int = 10,
    spread: float = 0.5,
    outlier_frac: float = 0.01,
    duplicate_frac: float = 0.01,
    dtype: type = np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian clusters (label = cluster) with planted outliers and near copies.

    Each row is its cluster's centre (standard normal) plus ``spread`` times standard normal
    noise. Outliers are replaced by fresh standard normal vectors of the same typical norm,
    which point away from every cluster. Each copy row repeats a source row (and its label):
    exactly for even pair numbers, plus noise 1e-3 * spread for odd ones.

    Returns ``(features, labels, outlier_rows, pairs)`` where ``pairs[:, 0]`` are the sources
    and ``pairs[:, 1]`` the copies; outliers, sources and copies are disjoint.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d))
    labels = rng.integers(0, n_clusters, n)
    features = centres[labels] + spread * rng.standard_normal((n, d))
    order = rng.permutation(n)
    n_out, n_dup = int(n * outlier_frac), int(n * duplicate_frac)
    outliers = np.sort(order[:n_out])
    sources, copies = order[n_out : n_out + n_dup], order[n_out + n_dup : n_out + 2 * n_dup]
    features[outliers] = rng.standard_normal((n_out, d)) * np.sqrt(1 + spread**2)
    noise = np.where(np.arange(n_dup)[:, None] % 2 == 0, 0.0, 1e-3 * spread)
    features[copies] = features[sources] + noise * rng.standard_normal((n_dup, d))
    labels[copies] = labels[sources]
    return features.astype(dtype), labels, outliers, np.stack([sources, copies], axis=1)
