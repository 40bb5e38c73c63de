"""Synthetic annotators with known confusion matrices, for tests, docs and benchmarks.

Everything is vectorised over items and annotations; the only loop redraws rows whose random
sources collided, a few rounds at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from labelwise._validation import check_choice, check_int, fail
from labelwise.annotations import Annotations

CONFUSION_KINDS = ("one_coin", "full")


@dataclass(frozen=True)
class SimulatedAnnotations:
    """Annotations drawn from known annotators, with the truth that produced them.

    Attributes
    ----------
    annotations : Annotations
        Items ``0..n_items-1``, sources ``0..n_sources-1``, classes ``0..K-1``.
    true_labels : ndarray of shape (n_items,), int64
    confusions : ndarray of shape (n_sources, K, K)
        ``confusions[s, k, l]`` = P(source ``s`` answers ``l`` | true class ``k``).
    """

    annotations: Annotations
    true_labels: np.ndarray
    confusions: np.ndarray


def _check_accuracy(accuracy: Any) -> tuple[float, float]:
    expected = "a number in [0, 1] or a pair (low, high) with 0 <= low <= high <= 1"
    if isinstance(accuracy, Real) and not isinstance(accuracy, bool):
        low = high = float(accuracy)
    elif (
        isinstance(accuracy, tuple | list)
        and len(accuracy) == 2
        and all(isinstance(v, Real) and not isinstance(v, bool) for v in accuracy)
    ):
        low, high = float(accuracy[0]), float(accuracy[1])
    else:
        fail("accuracy", expected, repr(accuracy), kind=TypeError)
    if not (0.0 <= low <= high <= 1.0):
        fail("accuracy", expected, repr(accuracy))
    return low, high


def _check_prior(class_prior: Any, n_classes: int) -> np.ndarray:
    if class_prior is None:
        return np.full(n_classes, 1.0 / n_classes)
    prior = np.asarray(class_prior, dtype=np.float64)
    expected = f"None or {n_classes} non-negative numbers summing to 1"
    if prior.shape != (n_classes,):
        fail("class_prior", expected, f"shape {prior.shape}")
    if not np.all(np.isfinite(prior)) or prior.min() < 0 or abs(prior.sum() - 1.0) > 1e-6:
        fail("class_prior", expected, f"{prior.tolist()!r} (sum {prior.sum():.6g})")
    return prior / prior.sum()


def _distinct_sources(
    n_items: int, n_sources: int, per_item: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_items, per_item) sources, distinct within each row, uniform over such sets."""
    if 2 * per_item > n_sources:
        # Few sources: a random permutation per row fits in memory.
        return np.argsort(rng.random((n_items, n_sources)), axis=1)[:, :per_item]
    chosen = rng.integers(0, n_sources, size=(n_items, per_item))
    while True:  # rounds of redraws; each row collides with probability < 1/2
        ordered = np.sort(chosen, axis=1)
        clash = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)
        if not clash.any():
            return chosen
        chosen[clash] = rng.integers(0, n_sources, size=(int(clash.sum()), per_item))


def simulate_annotations(
    n_items: int,
    n_sources: int,
    n_classes: int,
    *,
    labels_per_item: int = 5,
    accuracy: Any = (0.55, 0.95),
    confusion: str = "one_coin",
    class_prior: Any = None,
    random_state: Any = None,
) -> SimulatedAnnotations:
    """Draw annotations from sources with known confusion matrices.

    True classes are drawn from ``class_prior``; each item is labelled by ``labels_per_item``
    distinct sources chosen uniformly at random; source ``s`` answers ``l`` on an item of class
    ``k`` with probability ``confusions[s, k, l]``. Each source's accuracy (its diagonal) is
    drawn uniformly from ``accuracy``.

    Parameters
    ----------
    n_items, n_sources : int
        At least 1.
    n_classes : int
        At least 2.
    labels_per_item : int, default=5
        Between 1 and ``n_sources``.
    accuracy : float or (float, float), default=(0.55, 0.95)
        A source's probability of the right answer, or the range it is drawn from uniformly.
    confusion : {"one_coin", "full"}, default="one_coin"
        ``"one_coin"``: errors uniform over the other classes. ``"full"``: each row's error mass
        ``1 - accuracy`` spread over the other classes by a flat Dirichlet draw, so mistakes are
        class-dependent.
    class_prior : array-like of shape (n_classes,), optional
        Default uniform.
    random_state : int, numpy Generator or None, default=None

    Returns
    -------
    SimulatedAnnotations

    Examples
    --------
    >>> from labelwise.simulate import simulate_annotations
    >>> sim = simulate_annotations(100, 8, 3, labels_per_item=4, random_state=0)
    >>> sim.annotations.n_annotations, sim.confusions.shape
    (400, (8, 3, 3))
    >>> bool((sim.annotations.item_counts() == 4).all())
    True
    """
    n_items = check_int(n_items, "n_items", minimum=1)
    n_sources = check_int(n_sources, "n_sources", minimum=1)
    k = check_int(n_classes, "n_classes", minimum=2)
    per_item = check_int(labels_per_item, "labels_per_item", minimum=1)
    if per_item > n_sources:
        fail(
            "labels_per_item",
            f"at most n_sources={n_sources} (each item's sources are distinct)",
            repr(labels_per_item),
        )
    low, high = _check_accuracy(accuracy)
    kind = check_choice(confusion, "confusion", CONFUSION_KINDS)
    prior = _check_prior(class_prior, k)
    rng = np.random.default_rng(random_state)

    true_labels = rng.choice(k, size=n_items, p=prior).astype(np.int64)
    correct = rng.uniform(low, high, size=n_sources)
    if kind == "one_coin":
        spread = np.full((n_sources, k, k - 1), 1.0 / (k - 1))
    else:
        spread = rng.dirichlet(np.ones(k - 1), size=(n_sources, k))
    # Place the error shares off the diagonal: row k takes the columns other than k, in order.
    off = ~np.eye(k, dtype=bool)
    confusions = np.empty((n_sources, k, k))
    confusions[:, off] = ((1.0 - correct)[:, None, None] * spread).reshape(n_sources, -1)
    diagonal = np.arange(k)
    confusions[:, diagonal, diagonal] = correct[:, None]

    sources = _distinct_sources(n_items, n_sources, per_item, rng).ravel()
    items = np.repeat(np.arange(n_items, dtype=np.int64), per_item)
    cumulative = np.cumsum(confusions, axis=2)[sources, true_labels[items]]
    draws = rng.random(items.size)
    labels = np.minimum((draws[:, None] >= cumulative).sum(axis=1), k - 1).astype(np.int64)
    annotations = Annotations(
        item=items,
        source=sources.astype(np.int64),
        label=labels,
        items=np.arange(n_items),
        sources=np.arange(n_sources),
        classes=np.arange(k),
    )
    return SimulatedAnnotations(annotations, true_labels, confusions)
