"""Synthetic annotators and labeling functions with known quality, for tests, docs and benchmarks.

Everything is vectorised over items and annotations; the only loops redraw rows whose random
sources collided (a few rounds at most) and walk over blocks of 65,536 items.
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


def _check_accuracy(accuracy: Any, name: str = "accuracy") -> tuple[float, float]:
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
        fail(name, expected, repr(accuracy), kind=TypeError)
    if not (0.0 <= low <= high <= 1.0):
        fail(name, expected, repr(accuracy))
    return low, high


def _check_prior(class_prior: Any, n_classes: int, name: str = "class_prior") -> np.ndarray:
    if class_prior is None:
        return np.full(n_classes, 1.0 / n_classes)
    prior = np.asarray(class_prior, dtype=np.float64)
    expected = f"None or {n_classes} non-negative numbers summing to 1"
    if prior.shape != (n_classes,):
        fail(name, expected, f"shape {prior.shape}")
    if not np.all(np.isfinite(prior)) or prior.min() < 0 or abs(prior.sum() - 1.0) > 1e-6:
        fail(name, expected, f"{prior.tolist()!r} (sum {prior.sum():.6g})")
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


@dataclass(frozen=True)
class SimulatedLabelingFunctions:
    """Votes of labeling functions with known accuracies and coverages, and the truth.

    Attributes
    ----------
    annotations : Annotations
        Items ``0..n_items-1``, sources ``0..n_lfs + n_duplicates - 1`` (the copies of LF 0
        last), classes ``0..K-1``; an abstain is no annotation.
    true_labels : ndarray of shape (n_items,), int64
    accuracies : ndarray of shape (n_lfs + n_duplicates,)
        P(vote is right | the LF votes); errors are uniform over the other classes.
    coverages : ndarray of shape (n_lfs + n_duplicates,)
        P(the LF votes), the same for every class.
    """

    annotations: Annotations
    true_labels: np.ndarray
    accuracies: np.ndarray
    coverages: np.ndarray


#: Items drawn at a time by ``simulate_labeling_functions`` (bounds its temporaries).
_LF_BLOCK = 1 << 16


def simulate_labeling_functions(
    n_items: int,
    n_lfs: int,
    n_classes: int,
    *,
    accuracy: Any = (0.55, 0.9),
    coverage: Any = (0.1, 0.6),
    class_balance: Any = None,
    n_duplicates: int = 0,
    random_state: Any = None,
) -> SimulatedLabelingFunctions:
    """Draw the votes of conditionally independent labeling functions (LFs).

    True classes are drawn from ``class_balance``. LF ``j`` votes on each item independently
    with probability ``coverages[j]`` (else abstains) and, when it votes, gives the true class
    with probability ``accuracies[j]`` and otherwise a class drawn uniformly from the other
    ``K - 1``. Accuracies and coverages are drawn uniformly from their ranges. The
    ``n_duplicates`` extra LFs are exact copies of LF 0's votes (a dependent group), appended
    after the ``n_lfs`` independent ones.

    Parameters
    ----------
    n_items, n_lfs : int
        At least 1.
    n_classes : int
        At least 2.
    accuracy : float or (float, float), default=(0.55, 0.9)
        An LF's probability of the right vote when it votes, or the range it is drawn from.
    coverage : float or (float, float), default=(0.1, 0.6)
        An LF's probability of voting, or the range it is drawn from.
    class_balance : array-like of shape (n_classes,), optional
        Default uniform.
    n_duplicates : int, default=0
        Copies of LF 0 to append.
    random_state : int, numpy Generator or None, default=None

    Returns
    -------
    SimulatedLabelingFunctions

    Examples
    --------
    >>> from labelwise.simulate import simulate_labeling_functions
    >>> sim = simulate_labeling_functions(1000, 5, 2, n_duplicates=2, random_state=0)
    >>> sim.annotations.n_sources, sim.accuracies.shape
    (7, (7,))
    >>> votes = sim.annotations.to_matrix()
    >>> bool((votes[:, 5] == votes[:, 0]).all() and (votes[:, 6] == votes[:, 0]).all())
    True
    """
    n_items = check_int(n_items, "n_items", minimum=1)
    n_lfs = check_int(n_lfs, "n_lfs", minimum=1)
    k = check_int(n_classes, "n_classes", minimum=2)
    n_dup = check_int(n_duplicates, "n_duplicates", minimum=0)
    acc_low, acc_high = _check_accuracy(accuracy)
    cov_low, cov_high = _check_accuracy(coverage, "coverage")
    prior = _check_prior(class_balance, k, "class_balance")
    rng = np.random.default_rng(random_state)

    accuracies = rng.uniform(acc_low, acc_high, size=n_lfs)
    coverages = rng.uniform(cov_low, cov_high, size=n_lfs)
    true_labels = rng.choice(k, size=n_items, p=prior).astype(np.int64)
    m = n_lfs + n_dup
    columns = np.concatenate([np.arange(n_lfs), np.zeros(n_dup, dtype=np.int64)])
    items, sources, labels = [], [], []
    for start in range(0, n_items, _LF_BLOCK):  # blocks of items, to bound the temporaries
        truth = true_labels[start : start + _LF_BLOCK]
        rows = truth.size
        votes = rng.random((rows, n_lfs)) < coverages
        right = rng.random((rows, n_lfs)) < accuracies
        wrong = (truth[:, None] + rng.integers(1, k, size=(rows, n_lfs))) % k
        drawn = np.where(right, truth[:, None], wrong)
        row, col = np.nonzero(votes[:, columns])
        items.append(row + start)
        sources.append(col)
        labels.append(drawn[row, columns[col]])
    annotations = Annotations(
        item=np.concatenate(items).astype(np.int64),
        source=np.concatenate(sources).astype(np.int64),
        label=np.concatenate(labels).astype(np.int64),
        items=np.arange(n_items),
        sources=np.arange(m),
        classes=np.arange(k),
    )
    return SimulatedLabelingFunctions(
        annotations, true_labels, accuracies[columns], coverages[columns]
    )
