"""Class-prior estimation for positive-unlabeled data (labels: 1 labelled positive, 0 unlabeled).

Under SCAR (labelled positives are a random subset of the positives) the labelled share is
``P(s=1) = c · π``, with ``c = P(s=1 | y=1)`` the label frequency and ``π = P(y=1)`` the class
prior; estimating one gives the other. Two estimators:

- :func:`elkan_noto_prior`: ``c = mean_{labelled} ĝ(x)`` with ``ĝ ≈ P(s=1 | x)`` out-of-sample
  (Elkan & Noto, "Learning Classifiers from Only Positive and Unlabeled Data", KDD 2008).
- :func:`tice_prior`: a tree-induced lower bound on ``c`` (TIcE, Bekker & Davis, "Estimating
  the Class Prior in Positive and Unlabeled Data through Decision Tree Induction", AAAI 2018).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labelwise._validation import (
    check_choice,
    check_features,
    check_fraction,
    check_int,
    check_pu_labels,
    check_real_vector,
    fail,
)
from labelwise.issues.cross_validation import cross_val_pred_probs

METHODS = ("elkan_noto", "tice")


@dataclass(frozen=True)
class ClassPriorEstimate:
    """An estimated class prior.

    Attributes
    ----------
    prior : float
        ``π = P(y=1)``, in ``[P(s=1), 1]``.
    label_frequency : float
        ``c = P(s=1 | y=1) = P(s=1) / π``.
    method : str
    """

    prior: float
    label_frequency: float
    method: str


def _from_frequency(labels: np.ndarray, c: float, method: str) -> ClassPriorEstimate:
    labelled = float(labels.mean())
    c = float(np.clip(c, labelled, 1.0))
    return ClassPriorEstimate(prior=labelled / c, label_frequency=c, method=method)


def elkan_noto_prior(labels: object, scores: object) -> ClassPriorEstimate:
    """Elkan–Noto estimate from out-of-sample ``scores ≈ P(s=1 | x)``.

    Parameters
    ----------
    labels : array-like of shape (n,)
        1 = labelled positive, 0 = unlabeled.
    scores : array-like of shape (n,)
        Out-of-sample (e.g. cross-validated) probabilities that each example is *labelled*.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.class_prior import elkan_noto_prior
    >>> labels = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    >>> scores = np.array([0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0])
    >>> elkan_noto_prior(labels, scores).prior  # c = 0.5, P(s=1) = 0.25
    0.5
    """
    s = check_pu_labels(labels, np.asarray(labels).shape[0])
    g = check_real_vector(scores, "scores", length=s.size, length_of="labels")
    if (g < 0).any() or (g > 1).any():
        fail("scores", "probabilities in [0, 1]", f"values from {g.min():.4g} to {g.max():.4g}")
    return _from_frequency(s, float(g[s == 1].mean()), "elkan_noto")


def _cantelli_lower(labelled: int, size: int, c: float, delta: float) -> float:
    """One-sided bound: ``L/|S| - sqrt(c(1-c)(1-δ) / (δ|S|))``."""
    return labelled / size - np.sqrt(c * (1 - c) * (1 - delta) / (delta * size))


def tice_prior(
    labels: object,
    features: object,
    *,
    delta: float = 0.2,
    max_splits: int = 500,
    min_size: int = 10,
    n_iter: int = 2,
    random_state: int | None = 0,
) -> ClassPriorEstimate:
    """TIcE-style estimate: the largest lower bound on ``c`` over subsets found by a tree.

    In any subset S of the data, ``|labelled ∩ S| / |S| = c · P(y=1 | S) ≤ c``, with equality in
    a purely positive subset. Half of the data grows a tree on decile-split features, always
    expanding the node with the highest labelled share and splitting on the feature that
    isolates the most labelled child; the other half scores each node with the one-sided
    (Cantelli) bound ``L/|S| - sqrt(c(1-c)(1-δ)/(δ|S|))``. ``c`` is the best bound, refined
    ``n_iter`` times with the variance at the previous estimate. This is our implementation of
    the idea of Bekker & Davis (AAAI 2018), not a port of their code.

    Parameters
    ----------
    labels : array-like of shape (n,)
        1 = labelled positive, 0 = unlabeled.
    features : array-like of shape (n, d)
    delta : float in (0, 1], default=0.2
        Confidence of each node's bound (smaller: more cautious, larger prior).
    max_splits : int, default=500
    min_size : int, default=10
        Smallest node (in each half) that is scored or split.
    n_iter : int, default=2
    random_state : int, optional
        Seed of the split into halves.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.class_prior import tice_prior
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(4000) < 0.4
    >>> X = rng.normal(size=(4000, 5)) + 3 * y[:, None]
    >>> s = (y & (rng.random(4000) < 0.5)).astype(int)
    >>> round(tice_prior(s, X).prior, 1)
    0.4
    """
    s = check_pu_labels(labels, np.asarray(labels).shape[0])
    x = check_features(features, name="features").features
    if x.shape[0] != s.size:
        fail("features", f"one row per label ({s.size})", f"{x.shape[0]} rows")
    delta = check_fraction(delta, "delta")
    max_splits = check_int(max_splits, "max_splits", minimum=0)
    min_size = check_int(min_size, "min_size", minimum=1)
    n_iter = check_int(n_iter, "n_iter", minimum=1)
    cuts = np.quantile(x, np.linspace(0.1, 0.9, 9), axis=0)  # decile splits of every feature
    binary = (x[:, None, :] > cuts[None]).reshape(x.shape[0], -1)
    binary = binary[:, binary.any(axis=0) & ~binary.all(axis=0)]
    rng = np.random.default_rng(random_state)
    grow = np.zeros(s.size, dtype=bool)
    grow[rng.permutation(s.size)[: s.size // 2]] = True
    c = 0.5
    for _ in range(n_iter):
        c = _tice_once(binary, s.astype(bool), grow, c, delta, max_splits, min_size)
    return _from_frequency(s, c, "tice")


def _tice_once(
    binary: np.ndarray,
    s: np.ndarray,
    grow: np.ndarray,
    c: float,
    delta: float,
    max_splits: int,
    min_size: int,
) -> float:
    score = ~grow
    best = float(s[score].mean())
    c = float(np.clip(c, 1e-3, 1 - 1e-3))
    root = np.ones(s.size, dtype=bool)
    heap: list[tuple[float, int, np.ndarray]] = [(-float(s[grow].mean()), 0, root)]
    counter = 1
    for _ in range(max_splits):
        if not heap:
            break
        _, _, node = heapq.heappop(heap)
        in_score = node & score
        if in_score.sum() >= min_size:
            best = max(best, _cantelli_lower(int(s[in_score].sum()), int(in_score.sum()), c, delta))
        in_grow = node & grow
        n_grow = int(in_grow.sum())
        if n_grow < 2 * min_size or binary.shape[1] == 0:
            continue
        on = binary[in_grow]
        labelled = s[in_grow]
        n_on = on.sum(axis=0)
        l_on = (on & labelled[:, None]).sum(axis=0)
        n_off, l_off = n_grow - n_on, int(labelled.sum()) - l_on
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_on = np.where(n_on >= min_size, l_on / n_on, -1.0)
            ratio_off = np.where(n_off >= min_size, l_off / n_off, -1.0)
        gain = np.maximum(ratio_on, ratio_off)
        feature = int(np.argmax(gain))
        if gain[feature] < 0:
            continue
        for side, ratio in (
            (binary[:, feature], ratio_on[feature]),
            (~binary[:, feature], ratio_off[feature]),
        ):
            child = node & side
            if ratio >= 0:
                heapq.heappush(heap, (-float(ratio), counter, child))
                counter += 1
    return best


def estimate_class_prior(
    labels: object,
    features: object,
    *,
    method: str = "elkan_noto",
    random_state: int | None = 0,
) -> ClassPriorEstimate:
    """Estimate ``π = P(y=1)`` from PU labels and features.

    ``"elkan_noto"`` (the default) fits a standardised logistic regression of labelled vs
    unlabeled, takes its 5-fold out-of-fold probabilities and runs :func:`elkan_noto_prior` on
    them; ``"tice"`` runs :func:`tice_prior`. On the real data of the incomplete-labels
    benchmark Elkan–Noto is the more accurate of the two (see docs/benchmarks.md).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.class_prior import estimate_class_prior
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(2000) < 0.3
    >>> X = rng.normal(size=(2000, 3)) + 4 * y[:, None]
    >>> s = (y & (rng.random(2000) < 0.6)).astype(int)
    >>> round(estimate_class_prior(s, X, method="elkan_noto").prior, 1)
    0.3
    """
    check_choice(method, "method", METHODS)
    if method == "tice":
        return tice_prior(labels, features, random_state=random_state)
    s = check_pu_labels(labels, np.asarray(labels).shape[0])
    x = check_features(features, name="features").features
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probs = cross_val_pred_probs(model, x, s, cv=5, random_state=random_state, progress=False)
    return elkan_noto_prior(s, probs[:, 1])
