"""Acquisition: uncertainty scores, diverse batches, representative context sets."""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture

from labelwise._validation import (
    check_choice,
    check_features,
    check_fraction,
    check_pred_probs,
    fail,
)
from labelwise._validation.active import check_batch_size, check_features_rows, check_scores

UNCERTAINTY_METHODS = ("least_confidence", "margin", "entropy")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def uncertainty_scores(pred_probs: object, *, method: str = "least_confidence") -> np.ndarray:
    """Model certainty per item in [0, 1]; lower means more uncertain (label next).

    The classic uncertainty-sampling criteria (Lewis & Gale 1994; Settles 2009, "Active
    Learning Literature Survey", §3.1), turned so that, as with every labelwise score, lower
    means "look here":

    - ``"least_confidence"``: the top probability ``max_k p_k``;
    - ``"margin"``: the gap between the two largest probabilities;
    - ``"entropy"``: ``1 - H(p) / log K``.

    Parameters
    ----------
    pred_probs : array-like of shape (n, K)
        Probability rows.
    method : {"least_confidence", "margin", "entropy"}, default="least_confidence"

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.active import uncertainty_scores
    >>> p = np.array([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05], [1 / 3, 1 / 3, 1 / 3]])
    >>> uncertainty_scores(p).round(3)
    array([0.5  , 0.9  , 0.333])
    >>> uncertainty_scores(p, method="margin").round(3)
    array([0.2 , 0.85, 0.  ])
    >>> uncertainty_scores(p, method="entropy").round(3)
    array([0.063, 0.641, 0.   ])
    """
    checked = check_choice(method, "method", UNCERTAINTY_METHODS)
    probs = check_pred_probs(pred_probs)
    if checked == "least_confidence":
        return np.asarray(probs.max(axis=1), dtype=np.float64)
    if checked == "margin":
        top2 = np.partition(probs, probs.shape[1] - 2, axis=1)[:, -2:]
        return np.asarray(top2[:, 1] - top2[:, 0], dtype=np.float64)
    safe = np.where(probs > 0, probs, 1.0)
    entropy = -(probs * np.log(safe)).sum(axis=1, dtype=np.float64)
    out: np.ndarray = np.clip(1.0 - entropy / np.log(probs.shape[1]), 0.0, 1.0)
    return out


def select_batch(
    scores: object, k: int, *, features: object = None, diversity: float = 0.0
) -> np.ndarray:
    """The ``k`` items to label next: the lowest scores, optionally spread out in feature space.

    With ``diversity = 0`` this is the ``k`` lowest scores. Otherwise items are picked greedily:
    each step takes the item maximising

    ``(1 - diversity) * u_i + diversity * d_i / max_j d_j``

    where ``u_i`` in [0, 1] is the score's rank-free utility ``(max s - s_i) / (max s - min s)``
    and ``d_i`` the Euclidean distance from item ``i`` to the nearest item already picked.
    ``diversity = 1`` is pure k-center greedy (Sener & Savarese 2018, "Active Learning for
    Convolutional Neural Networks: A Core-Set Approach") started at the lowest score, so a
    batch is not ``k`` near-duplicates of one uncertain region.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Any labelwise score (lower = label next), e.g. from :func:`relabel_scores` or
        :func:`uncertainty_scores`.
    k : int
        Batch size, ``1 <= k <= n``.
    features : array-like of shape (n, d), optional
        Embeddings of the items; required when ``diversity > 0``.
    diversity : float in [0, 1], default=0.0

    Returns
    -------
    ndarray of shape (k,)
        Positions into ``scores`` in the order picked.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.active import select_batch
    >>> scores = np.array([0.10, 0.11, 0.12, 0.50, 0.90])
    >>> features = np.array([[0.0], [0.01], [0.02], [5.0], [10.0]])
    >>> select_batch(scores, 2)
    array([0, 1])
    >>> select_batch(scores, 2, features=features, diversity=0.7)
    array([0, 4])
    """
    values = check_scores(scores)
    size = check_batch_size(k, values.size)
    weight = check_fraction(diversity, "diversity", allow_zero=True)
    if weight == 0.0:
        lowest = np.argpartition(values, size - 1)[:size] if size < values.size else np.arange(size)
        return np.asarray(lowest[np.lexsort((lowest, values[lowest]))], dtype=np.int64)
    if features is None:
        fail("features", "an (n, d) array when diversity > 0", "None", kind=TypeError)
    points = check_features_rows(features, values.size)
    span = values.max() - values.min()
    utility = (values.max() - values) / span if span > 0 else np.ones(values.size)
    nearest = np.full(values.size, np.inf)
    taken = np.zeros(values.size, dtype=bool)
    picked = np.empty(size, dtype=np.int64)
    for step in range(size):  # one pass over the items per pick (k is the batch size)
        if step == 0:
            gain = utility.copy()
        else:
            top = nearest.max()
            spread = nearest / top if top > 0 else np.zeros(values.size)
            gain = (1.0 - weight) * utility + weight * spread
        gain[taken] = -np.inf
        best = int(np.argmax(gain))
        picked[step], taken[best] = best, True
        diff = points - points[best]
        nearest = np.minimum(nearest, np.sqrt(np.einsum("ij,ij->i", diff, diff)))
    return picked


def select_representative(
    features: object,
    k: int,
    *,
    covariance_type: str = "diag",
    random_state: int | np.random.Generator | None = None,
) -> np.ndarray:
    """``k`` items that represent the data: the nearest item to each Gaussian-mixture mean.

    For a few-shot or meta-learning context set, Bae, Wang & Sutherland (ECCV 2024),
    "Exploring Active Learning in Meta-Learning: Enhancing Context Set Labeling", fit a
    ``k``-component Gaussian mixture to the unlabeled pool and label the point nearest each
    component mean. Each component gets a distinct item (the next nearest when its nearest
    is taken by an earlier component).

    Parameters
    ----------
    features : array-like of shape (n, d)
    k : int
        Number of items, ``1 <= k <= n``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="diag"
        Passed to :class:`sklearn.mixture.GaussianMixture`.
    random_state : int, Generator or None
        Seeds the mixture's initialisation.

    Returns
    -------
    ndarray of shape (k,)
        Item positions, one per component (components ordered by decreasing weight).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.active import select_representative
    >>> rng = np.random.default_rng(0)
    >>> blobs = np.concatenate([rng.normal(c, 0.1, size=(20, 2)) for c in (0.0, 5.0, 10.0)])
    >>> picked = select_representative(blobs, 3, random_state=0)
    >>> sorted(int(i) // 20 for i in picked)  # one item from each blob
    [0, 1, 2]
    """
    points = check_features(features, min_rows=1).features
    size = check_batch_size(k, points.shape[0])
    covariance = check_choice(covariance_type, "covariance_type", COVARIANCE_TYPES)
    seed = _seed(random_state)
    mixture = GaussianMixture(
        n_components=size, covariance_type=covariance, random_state=seed, reg_covar=1e-6
    ).fit(points)
    means = mixture.means_[np.argsort(-mixture.weights_, kind="stable")]
    squared = (
        (points**2).sum(axis=1)[:, None] - 2.0 * points @ means.T + (means**2).sum(axis=1)[None, :]
    )
    picked = np.empty(size, dtype=np.int64)
    taken = np.zeros(points.shape[0], dtype=bool)
    for c in range(size):  # one pick per component
        column = np.where(taken, np.inf, squared[:, c])
        picked[c] = int(np.argmin(column))
        taken[picked[c]] = True
    return picked


def _seed(random_state: int | np.random.Generator | None) -> int:
    rng = np.random.default_rng(random_state)
    return int(rng.integers(2**31 - 1))
