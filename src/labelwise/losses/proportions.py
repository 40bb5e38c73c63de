"""Learning from label proportions: bags of examples, each with known class proportions.

A batch holds whole bags: ``bag_index`` (B,) gives each row's bag as ``0..M-1`` within the
batch, and ``proportions`` (M, K) each bag's class proportions (rows sum to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor, nn

from labelwise._validation import check_fraction, check_int, fail
from labelwise.losses._common import EPS, check_reduction, reduce, safe_log


def bag_means(logits: Tensor, bag_index: Tensor, n_bags: int) -> Tensor:
    """``p̄_B = (1/|B|) Σ_{i∈B} softmax(f(x_i))``, shape (n_bags, K)."""
    if logits.ndim != 2:
        fail("logits", "a 2-D tensor of shape (batch, n_classes)", f"shape {tuple(logits.shape)}")
    if bag_index.ndim != 1 or bag_index.shape[0] != logits.shape[0]:
        fail(
            "bag_index",
            f"a 1-D tensor of length {logits.shape[0]}",
            f"shape {tuple(bag_index.shape)}",
        )
    index = bag_index.long().to(logits.device)
    probs = torch.softmax(logits, dim=1)
    sums = torch.zeros(n_bags, logits.shape[1], dtype=probs.dtype, device=probs.device)
    sums = sums.index_add(0, index, probs)
    counts = torch.bincount(index, minlength=n_bags).to(probs.dtype).clamp(min=1)
    return sums / counts[:, None]


class DLLPLoss(nn.Module):
    """DLLP: cross-entropy between each bag's proportions and its mean prediction.

    ``L = -(1/M) Σ_B Σ_k π_Bk log p̄_Bk`` with ``p̄_B`` the mean softmax output over the bag
    (Ardehaly & Culotta, "Co-training for Demographic Classification Using Deep Learning from
    Label Proportions", ICDM Workshops 2017).

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default="mean"
        Over bags; ``"none"`` returns (M,).

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import DLLPLoss
    >>> logits = torch.tensor([[10.0, -10.0], [-10.0, 10.0]])
    >>> bag_index = torch.tensor([0, 0])
    >>> round(DLLPLoss()(logits, bag_index, torch.tensor([[0.5, 0.5]])).item(), 4)  # log 2
    0.6931
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, bag_index: Tensor, proportions: Tensor) -> Tensor:
        if proportions.ndim != 2 or proportions.shape[1] != logits.shape[-1]:
            fail(
                "proportions",
                f"a 2-D tensor of shape (n_bags, {logits.shape[-1]})",
                f"shape {tuple(proportions.shape)}",
            )
        mean = bag_means(logits, bag_index, proportions.shape[0])
        target = proportions.to(mean.dtype)
        return reduce(-(target * safe_log(mean, EPS)).sum(dim=1), self.reduction)


class ProportionIntervalLoss(nn.Module):
    """MixBag's confidence-interval loss: no penalty while ``p̄_B`` lies in ``[lower, upper]``.

    Outside the interval the penalty is the distance to it, summed over classes:
    ``Σ_k max(0, lower_k - p̄_Bk) + max(0, p̄_Bk - upper_k)``. MixBag (Asanomi et al.,
    "MixBag: Bag-Level Data Augmentation for Learning from Label Proportions", ICCV 2023)
    ignores proportion errors inside the sampling confidence interval of a mixed bag; the
    linear penalty outside it is our choice.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import ProportionIntervalLoss
    >>> logits = torch.tensor([[0.0, 0.0]])
    >>> lower, upper = torch.tensor([[0.6, 0.2]]), torch.tensor([[0.8, 0.4]])
    >>> round(ProportionIntervalLoss()(logits, torch.tensor([0]), lower, upper).item(), 4)
    0.2
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, bag_index: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
        if lower.shape != upper.shape or lower.ndim != 2:
            fail(
                "upper",
                f"a 2-D tensor of the shape of lower {tuple(lower.shape)}",
                f"shape {tuple(upper.shape)}",
            )
        mean = bag_means(logits, bag_index, lower.shape[0])
        below = torch.clamp(lower.to(mean.dtype) - mean, min=0)
        above = torch.clamp(mean - upper.to(mean.dtype), min=0)
        return reduce((below + above).sum(dim=1), self.reduction)


@dataclass(frozen=True)
class MixedBag:
    """One MixBag sample: member rows, the mixed proportions and their confidence interval.

    Attributes
    ----------
    rows : ndarray of shape (m,), int64
    proportions : ndarray of shape (K,)
    lower, upper : ndarray of shape (K,)
    """

    rows: np.ndarray
    proportions: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def mixbag(
    bag_rows: list[np.ndarray],
    proportions: np.ndarray,
    *,
    confidence: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> MixedBag:
    """Mix two random bags into a new one (MixBag, Asanomi et al., ICCV 2023).

    Draws two distinct bags i and j and a ratio γ ~ U(0, 1), then ``⌈γ n_i⌉`` rows of bag i
    and ``⌈(1-γ) n_j⌉`` rows of bag j without replacement. The mixed proportions are the
    size-weighted mean of the two; the interval is ``± z σ`` around it, with σ² the
    finite-population (hypergeometric) variance of the sampled shares and z the normal
    quantile of ``confidence``.

    Parameters
    ----------
    bag_rows : list of int arrays
        The rows of each bag.
    proportions : ndarray of shape (n_bags, K)
    confidence : float in (0, 1), default=0.95
    random_state : int or Generator, optional

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.losses import mixbag
    >>> bags = [np.arange(0, 10), np.arange(10, 20)]
    >>> mixed = mixbag(bags, np.array([[1.0, 0.0], [0.0, 1.0]]), random_state=0)
    >>> bool(np.isclose(mixed.proportions.sum(), 1.0)), bool((mixed.lower <= mixed.upper).all())
    (True, True)
    """
    level = check_fraction(confidence, "confidence")
    if level >= 1:
        fail("confidence", "a number in (0, 1)", repr(confidence))
    n_bags = check_int(len(bag_rows), "len(bag_rows)", minimum=2)
    props = np.asarray(proportions, dtype=np.float64)
    if props.ndim != 2 or props.shape[0] != n_bags:
        fail("proportions", f"an array of shape ({n_bags}, n_classes)", f"shape {props.shape}")
    rng = np.random.default_rng(random_state)
    i, j = rng.choice(n_bags, size=2, replace=False)
    gamma = rng.uniform()
    parts, weights, variances = [], [], []
    for bag, share in ((i, gamma), (j, 1.0 - gamma)):
        rows = np.asarray(bag_rows[bag])
        size = rows.size
        take = min(max(int(np.ceil(share * size)), 1), size)
        parts.append(rng.choice(rows, size=take, replace=False))
        weights.append(take)
        p = props[bag]
        correction = (size - take) / (size - 1) if size > 1 else 0.0
        variances.append(p * (1 - p) / take * correction)
    total = sum(weights)
    mixed = (weights[0] * props[i] + weights[1] * props[j]) / total
    variance = (weights[0] ** 2 * variances[0] + weights[1] ** 2 * variances[1]) / total**2
    z = NormalDist().inv_cdf(0.5 + level / 2)
    half = z * np.sqrt(variance)
    return MixedBag(
        rows=np.concatenate(parts).astype(np.int64),
        proportions=mixed,
        lower=np.clip(mixed - half, 0.0, 1.0),
        upper=np.clip(mixed + half, 0.0, 1.0),
    )
