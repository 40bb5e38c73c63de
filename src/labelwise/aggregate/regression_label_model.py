"""Label model for labeling functions (or annotators) that output numbers.

Each source ``j`` reports ``y + e_j`` for an item with true value ``y``, with independent
zero-mean Gaussian noise ``e_j ~ N(0, sigma_j^2)`` (the Gaussian case of Shin et al. 2022).
Then ``E[(v_a - v_b)^2] = sigma_a^2 + sigma_b^2`` over the items both sources labelled, so
the noise variances follow from the pairwise mean squared differences alone, without any
ground truth, once three or more sources overlap; each item's posterior is then the
precision-weighted mean of its values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import nnls
from sklearn.base import BaseEstimator

from labelwise._numerics import threads_for
from labelwise._validation import check_choice, check_positive, fail
from labelwise._validation.regression import check_real_vector
from labelwise.aggregate._kernels import group_by_item, n_chunks_for
from labelwise.aggregate._label_model_kernels import pair_squared_differences
from labelwise.aggregate._pairs import DENSE_MAX_SOURCES

PRIORS = ("estimate", "none")


def _ids(values: Any, name: str, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (sorted ids) of a 1-D sequence of hashable ids."""
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        fail(name, "a 1-D sequence of ids", f"shape {array.shape}")
    if n is not None and array.size != n:
        fail(name, f"the same length as items ({n})", f"length {array.size}")
    if array.size == 0:
        fail(name, "non-empty", "length 0")
    try:
        codes, uniques = pd.factorize(array, sort=True)
    except TypeError:  # ids that do not compare
        codes, uniques = pd.factorize(array, sort=False)
    return codes.astype(np.int64), np.asarray(uniques)


def _pair_statistics(
    item: np.ndarray, source: np.ndarray, value: np.ndarray, n_items: int, n_sources: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(a, b, n_both, mean_squared_difference)`` for the source pairs ``a < b`` that share
    items."""
    if n_sources <= DENSE_MAX_SOURCES:
        indptr, order = group_by_item(item, n_items)
        both, squared = pair_squared_differences(
            indptr, source[order], value[order], n_sources, n_chunks_for(item.size)
        )
        a, b = np.nonzero(np.triu(both, 1))
        return a, b, both[a, b], squared[a, b] / both[a, b]
    # Many sources: (v_a - v_b)^2 = v_a^2 + v_b^2 - 2 v_a v_b, summed by sparse products.
    shape = (n_items, n_sources)
    voted = sparse.csr_matrix((np.ones(item.size), (item, source)), shape=shape)
    values = sparse.csr_matrix((value, (item, source)), shape=shape)
    squares = sparse.csr_matrix((value**2, (item, source)), shape=shape)
    both_m = sparse.triu(voted.T @ voted, 1).tocoo()
    a, b = both_m.row.astype(np.int64), both_m.col.astype(np.int64)
    cross = (squares.T @ voted).tocsr()
    products = (values.T @ values).tocsr()
    total = (
        np.asarray(cross[a, b]).ravel()
        + np.asarray(cross[b, a]).ravel()
        - 2.0 * np.asarray(products[a, b]).ravel()
    )
    n_both = both_m.data.astype(np.int64)
    return a, b, n_both, np.maximum(total, 0.0) / n_both


def _has_odd_cycle(a: np.ndarray, b: np.ndarray, n_sources: int) -> np.ndarray:
    """(n_sources,) whether each source's connected component of the pair graph contains an
    odd cycle (non-bipartite): exactly the components whose variances the pairwise sums
    determine."""
    # The bipartite double cover of a component is connected iff the component has an odd
    # cycle: node s is (s, 0) and (s, 1); an edge joins opposite sides.
    rows = np.concatenate([a, a + n_sources, b, b + n_sources])
    cols = np.concatenate([b + n_sources, b, a + n_sources, a])
    graph = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(2 * n_sources,) * 2)
    _, labels = sparse.csgraph.connected_components(graph, directed=False)
    return labels[:n_sources] == labels[n_sources:]


class RegressionLabelModel(BaseEstimator):
    """Label model for numeric labels: per-source noise variances from agreement alone, and a
    Gaussian posterior per item.

    Model (Shin, Li, Sala & Ré 2022, the Gaussian case): source ``j``'s value on an item with
    true value ``y`` is ``y + e_j``, ``e_j ~ N(0, sigma_j^2)``, independent across sources and
    items. For two sources on the items both labelled, ``E[(v_a - v_b)^2] = sigma_a^2 +
    sigma_b^2``. ``noise_variance_`` solves these equations over all pairs that share items by
    non-negative least squares, each pair weighted by ``n_ab / D_ab^2`` (its number of common
    items over the squared mean squared difference, the inverse of the statistic's variance
    under the model), then clipped to at least ``min_variance``. With three sources this is the
    triplet formula ``sigma_a^2 = (D_ab + D_ac - D_bc) / 2``. The variances are identified for
    the sources whose pair graph has an odd cycle (three mutually overlapping sources suffice);
    ``fit`` refuses inputs where no source is.

    Each item's posterior is Gaussian: precision ``1 / prior_variance_ + sum_j 1 / sigma_j^2``
    over the values it got, mean ``(prior_mean_ / prior_variance_ + sum_j v_j / sigma_j^2) /
    precision`` (the precision-weighted mean). With ``prior="estimate"`` the prior on ``y`` is
    estimated from the data by moments (mean of the item means, variance of the values minus
    the noise, at least ``min_variance``); an item without values then gets the prior. With
    ``prior="none"`` (a flat prior) the mean is the plain precision-weighted mean and an item
    without values gets NaN and infinite variance.

    Shin, C., Li, W., Vishwakarma, H., Roberts, N. & Sala, F. (2022). Universalizing weak
    supervision. ICLR.

    Parameters
    ----------
    prior : {"estimate", "none"}, default="estimate"
    min_variance : float, default=1e-6
        Floor of the noise and prior variances (a source that agrees perfectly with the others
        would otherwise get an infinite weight).

    Attributes
    ----------
    items_, sources_ : ndarray
        The item and source ids, sorted (codes of the values below).
    mean_, variance_ : ndarray of shape (n_items,)
        Posterior mean and variance of each item's true value.
    noise_variance_ : ndarray of shape (n_sources,)
        Estimated ``sigma_j^2``; NaN for a source whose variance is not identified (it shares
        no odd cycle of overlaps with others), and its values are then not used.
    prior_mean_, prior_variance_ : float
        The prior on true values (0 and inf with ``prior="none"``).
    n_pairs_ : int
        Source pairs that shared items.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.aggregate import RegressionLabelModel
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(size=2000)
    >>> sigma = np.array([0.1, 0.5, 1.0, 2.0])
    >>> items = np.repeat(np.arange(2000), 4)
    >>> sources = np.tile(np.arange(4), 2000)
    >>> values = truth[items] + rng.normal(size=items.size) * sigma[sources]
    >>> model = RegressionLabelModel().fit(items, sources, values)
    >>> np.sqrt(model.noise_variance_).round(1)
    array([0.1, 0.5, 1. , 2. ])
    >>> bool(np.mean((model.mean_ - truth) ** 2) < 0.1**2 * 1.1)
    True
    """

    def __init__(self, *, prior: str = "estimate", min_variance: float = 1e-6) -> None:
        self.prior = prior
        self.min_variance = min_variance

    def fit(self, items: Any, sources: Any, values: Any) -> RegressionLabelModel:
        """Fit on one (item, source, value) triple per row.

        Parameters
        ----------
        items, sources : array-like of shape (n_values,)
            Ids of the labelled item and of the source (hashable; e.g. a DataFrame's columns).
        values : array-like of shape (n_values,)
            The numbers the sources gave (finite).
        """
        check_choice(self.prior, "prior", PRIORS)
        floor = check_positive(self.min_variance, "min_variance")
        item, item_ids = _ids(items, "items", None)
        source, source_ids = _ids(sources, "sources", item.size)
        value = check_real_vector(values, "values", length=item.size, length_of="items")
        n, m = item_ids.size, source_ids.size
        with threads_for(item.size):
            a, b, n_both, msd = _pair_statistics(item, source, value, n, m)
        identified = _has_odd_cycle(a, b, m)
        if not identified.any():
            fail(
                "sources",
                "at least 3 sources whose items overlap in a cycle (e.g. three sources that "
                "share items pairwise), so that their noise variances are identified",
                f"{m} source(s), {a.size} overlapping pair(s), no odd cycle",
            )
        variance = self._solve(a, b, n_both, msd, identified, floor)
        used = np.isfinite(variance[source])
        precision = np.bincount(
            item[used], weights=1.0 / variance[source[used]], minlength=n
        ).astype(np.float64)
        weighted = np.bincount(
            item[used], weights=value[used] / variance[source[used]], minlength=n
        ).astype(np.float64)
        if self.prior == "estimate":
            labelled = precision > 0
            prior_mean = float(np.mean(weighted[labelled] / precision[labelled]))
            spread = np.mean((value[used] - prior_mean) ** 2 - variance[source[used]])
            prior_variance = max(float(spread), floor)
            precision = precision + 1.0 / prior_variance
            weighted = weighted + prior_mean / prior_variance
        else:
            prior_mean, prior_variance = 0.0, np.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            self.mean_ = np.where(precision > 0, weighted / precision, np.nan)
            self.variance_ = np.where(precision > 0, 1.0 / precision, np.inf)
        self.items_ = item_ids
        self.sources_ = source_ids
        self.noise_variance_ = variance
        self.prior_mean_ = prior_mean
        self.prior_variance_ = prior_variance
        self.n_pairs_ = int(a.size)
        return self

    def fit_predict(self, items: Any, sources: Any, values: Any) -> np.ndarray:
        """``fit`` and return ``mean_`` (in the order of ``items_``)."""
        return np.asarray(self.fit(items, sources, values).mean_)

    @staticmethod
    def _solve(
        a: np.ndarray,
        b: np.ndarray,
        n_both: np.ndarray,
        msd: np.ndarray,
        identified: np.ndarray,
        floor: float,
    ) -> np.ndarray:
        """Weighted non-negative least squares of ``msd_ab = s_a + s_b`` over the pairs among
        identified sources; NaN for the others."""
        m = identified.size
        keep = identified[a] & identified[b]
        a, b, n_both, msd = a[keep], b[keep], n_both[keep], msd[keep]
        columns = np.flatnonzero(identified)
        position = np.full(m, -1)
        position[columns] = np.arange(columns.size)
        design = np.zeros((a.size, columns.size))
        rows = np.arange(a.size)
        design[rows, position[a]] = 1.0
        design[rows, position[b]] = 1.0
        # Var(msd) ~ 2 (s_a + s_b)^2 / n_ab: weight each equation by its inverse.
        scale = np.sqrt(n_both) / np.maximum(msd, floor)
        solution, _ = nnls(design * scale[:, None], msd * scale)
        variance = np.full(m, np.nan)
        variance[columns] = np.maximum(solution, floor)
        return variance
