"""Losses for partial and single-positive multi-label targets.

Targets are int8 (or any integer) tensors of shape (B, L): ``1`` observed positive, ``0``
observed negative, ``-1`` unknown. Single-positive multi-label learning (SPML) is the case of one
``1`` per row and ``-1`` elsewhere. Following Cole et al. (2021), a loss matrix (B, L) is averaged
over all B·L entries (``reduction="mean"``); batch-level regularisers are added unscaled.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labelwise._validation import check_fraction, check_positive, fail
from labelwise.losses._common import (
    BATCH_REDUCTIONS,
    binary_entropy,
    check_matrix,
    check_reduction,
    log_probs_binary,
    reduce,
    safe_log,
)


def _masks(targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Float masks of observed positives, observed negatives and unknowns."""
    return (targets == 1).float(), (targets == 0).float(), (targets < 0).float()


def expected_positive_penalty(probs: Tensor, expected_positives: float) -> Tensor:
    """EPR's regulariser ``((1/B) Σ_i Σ_j p_ij - k)² / L²`` (Cole et al., 2021)."""
    n_classes = probs.shape[1]
    return (probs.sum(dim=1).mean() - expected_positives) ** 2 / n_classes**2


class AssumeNegativeLoss(nn.Module):
    """Assume negative (AN): every unknown label is treated as a negative.

    ``ℓ_ij = -log p_ij`` for an observed positive, ``-log(1 - p_ij)`` for an observed negative and
    ``-w log(1 - p_ij)`` for an unknown, with ``w = unknown_weight``. With label smoothing ε
    (AN-LS), every target is smoothed towards the other side: a positive costs
    ``-(1-ε) log p - ε log(1-p)``, a negative or unknown ``-(1-ε) log(1-p) - ε log p``
    (Cole et al., "Multi-Label Learning from Single Positive Labels", CVPR 2021; ε = 0.1 there).

    Parameters
    ----------
    unknown_weight : float, default=1.0
        Weight of an unknown entry (1 is AN; ``1/(L-1)`` is WAN, see
        :class:`WeakAssumeNegativeLoss`).
    label_smoothing : float in [0, 1), default=0.0
        ε of AN-LS.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"none"`` returns the (B, L) loss matrix.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import AssumeNegativeLoss
    >>> logits = torch.zeros(1, 2)
    >>> targets = torch.tensor([[1, -1]], dtype=torch.int8)
    >>> round(AssumeNegativeLoss()(logits, targets).item(), 4)  # log 2
    0.6931
    """

    def __init__(
        self, unknown_weight: float = 1.0, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.unknown_weight = check_positive(unknown_weight, "unknown_weight", allow_zero=True)
        self.label_smoothing = check_fraction(label_smoothing, "label_smoothing", allow_zero=True)
        if self.label_smoothing >= 1:
            fail("label_smoothing", "a number in [0, 1)", repr(label_smoothing))
        self.reduction = check_reduction(reduction)

    def _unknown_weight(self, n_classes: int) -> float:
        return self.unknown_weight

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        check_matrix(logits, targets)
        pos, neg, unk = _masks(targets)
        log_p, log_q = log_probs_binary(logits)
        eps = self.label_smoothing
        positive = -(1 - eps) * log_p - eps * log_q
        negative = -(1 - eps) * log_q - eps * log_p
        weight = neg + self._unknown_weight(logits.shape[1]) * unk
        return reduce(pos * positive + weight * negative, self.reduction)


class WeakAssumeNegativeLoss(AssumeNegativeLoss):
    """Weak assume negative (WAN): AN with each unknown weighted ``γ = 1/(L-1)``.

    Cole et al., CVPR 2021. With ``unknown_weight=None`` (the default) γ is set from the number
    of classes L of each batch's logits.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import WeakAssumeNegativeLoss
    >>> logits = torch.zeros(1, 3)
    >>> targets = torch.tensor([[1, -1, -1]])
    >>> round(WeakAssumeNegativeLoss(reduction="sum")(logits, targets).item(), 4)  # 2 log 2
    1.3863
    """

    def __init__(self, unknown_weight: float | None = None, reduction: str = "mean") -> None:
        super().__init__(0.0 if unknown_weight is None else unknown_weight, 0.0, reduction)
        self.weak_weight = unknown_weight

    def _unknown_weight(self, n_classes: int) -> float:
        if self.weak_weight is not None:
            return self.unknown_weight
        return 1.0 / max(n_classes - 1, 1)


class ExpectedPositiveLoss(nn.Module):
    """Expected positive regularisation (EPR): observed labels only, plus a count prior.

    ``-log p`` on observed positives (and ``-log(1-p)`` on observed negatives; unknowns cost
    nothing), plus ``R = ((1/B) Σ_i Σ_j p_ij - k)² / L²``, which pulls the expected number of
    positives per example towards ``k`` (Cole et al., CVPR 2021; k = 1.5 / 2.9 / 1.9 / 31.4 for
    VOC / COCO / NUS / CUB, the datasets' mean label counts).

    Parameters
    ----------
    expected_positives : float > 0
        ``k``, the expected number of positive labels per example.
    reduction : {"mean", "sum"}, default="mean"
        How the (B, L) matrix is reduced before ``R`` is added.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import ExpectedPositiveLoss
    >>> loss = ExpectedPositiveLoss(expected_positives=1.0)
    >>> logits, targets = torch.zeros(1, 2), torch.tensor([[1, -1]])
    >>> round(loss(logits, targets).item(), 4)  # log(2) / 2 + ((0.5 + 0.5) - 1)² / 4
    0.3466
    """

    def __init__(self, expected_positives: float, reduction: str = "mean") -> None:
        super().__init__()
        self.expected_positives = check_positive(expected_positives, "expected_positives")
        self.reduction = check_reduction(reduction, BATCH_REDUCTIONS)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        check_matrix(logits, targets)
        pos, neg, _ = _masks(targets)
        log_p, log_q = log_probs_binary(logits)
        matrix = -(pos * log_p + neg * log_q)
        penalty = expected_positive_penalty(torch.sigmoid(logits), self.expected_positives)
        return reduce(matrix, self.reduction) + penalty


class EntropyMaximizationLoss(nn.Module):
    """Entropy maximisation (EM) on the unknown labels.

    ``-log p`` on observed positives, ``-log(1-p)`` on observed negatives, and
    ``-α H(p)`` on unknowns, with ``H(p) = -p log p - (1-p) log(1-p)``: instead of guessing a
    label for an unknown entry, keep the prediction uncertain unless the data say otherwise
    (Zhou et al., "Acknowledging the Unknown for Multi-label Learning with Single Positive
    Labels", ECCV 2022; α = 0.2 VOC, 0.1 COCO/NUS, 0.01 CUB).

    Parameters
    ----------
    alpha : float >= 0, default=0.1
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import EntropyMaximizationLoss
    >>> logits, targets = torch.zeros(1, 2), torch.tensor([[1, -1]])
    >>> round(EntropyMaximizationLoss(alpha=1.0, reduction="sum")(logits, targets).item(), 4)
    0.0
    """

    def __init__(self, alpha: float = 0.1, reduction: str = "mean") -> None:
        super().__init__()
        self.alpha = check_positive(alpha, "alpha", allow_zero=True)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        check_matrix(logits, targets)
        pos, neg, unk = _masks(targets)
        log_p, log_q = log_probs_binary(logits)
        matrix = -(pos * log_p + neg * log_q) - self.alpha * unk * binary_entropy(logits)
        return reduce(matrix, self.reduction)


class AsymmetricLoss(nn.Module):
    """Asymmetric loss (ASL) for multi-label data with many negatives.

    With ``p = sigmoid(logit)`` and the shifted negative probability
    ``q = min(1, 1 - p + m)`` (``m = clip``):

    ``ℓ = -y (1-p)^γ+ log p - (1-y) (1-q)^γ- log q``

    Easy negatives are down-weighted (γ- > γ+) and those with ``p < m`` are discarded
    (Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021). Unknown
    entries (``-1``) count as negatives, as in the single-positive benchmarks.

    Parameters
    ----------
    gamma_neg : float >= 0, default=4.0
    gamma_pos : float >= 0, default=1.0
    clip : float in [0, 1), default=0.05
    eps : float > 0, default=1e-8
        Floor of ``q`` inside its log (``log p`` is a log-sigmoid and needs none).
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import AsymmetricLoss
    >>> logits, targets = torch.zeros(1, 2), torch.tensor([[1, 0]])
    >>> # 0.5 log 2 + 0.45⁴ · (-log 0.55)
    >>> round(AsymmetricLoss(reduction="sum")(logits, targets).item(), 4)
    0.3711
    """

    def __init__(
        self,
        gamma_neg: float = 4.0,
        gamma_pos: float = 1.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.gamma_neg = check_positive(gamma_neg, "gamma_neg", allow_zero=True)
        self.gamma_pos = check_positive(gamma_pos, "gamma_pos", allow_zero=True)
        self.clip = check_fraction(clip, "clip", allow_zero=True)
        if self.clip >= 1:
            fail("clip", "a number in [0, 1)", repr(clip))
        self.eps = check_positive(eps, "eps")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        check_matrix(logits, targets)
        pos = (targets == 1).float()
        p = torch.sigmoid(logits)
        q = (1 - p + self.clip).clamp(max=1.0)
        log_q = safe_log(q, self.eps) if self.clip > 0 else F.logsigmoid(-logits)
        positive = -((1 - p) ** self.gamma_pos) * F.logsigmoid(logits)
        negative = -((1 - q) ** self.gamma_neg) * log_q
        return reduce(pos * positive + (1 - pos) * negative, self.reduction)
