"""A PU-MLC-style positive-unlabeled loss for multi-label data (after Yuan et al., 2023)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from labelwise._validation import check_positive
from labelwise.losses._common import (
    BATCH_REDUCTIONS,
    check_matrix,
    check_reduction,
    log_probs_binary,
    reduce,
    safe_log,
)


class PUMultilabelLoss(nn.Module):
    """Positive-unlabeled multi-label loss in the variational (VPU) form of PU-MLC.

    Each class is a PU problem whose unlabeled set is the whole batch. Per class c, with a
    temperature ``τ_c = min(1, α·std_batch(f_c))`` (no gradient) and ``s = sigmoid(f / τ_c)``:

    ``L_c = w_c · log((1/B) Σ_i s_ic) - (1/|P_c|) Σ_{i∈P_c} log s_ic``, ``w_c = (mean_i s_ic)^γ``
    (no gradient),

    averaged over the classes that have an observed positive in the batch. Observed negatives
    (``0``) add ``-log(1 - s)``. This follows the loss of Yuan et al., "Positive Label Is All You
    Need for Multi-Label Classification" (arXiv 2306.16016, 2023) without its mixup regulariser
    and its local-global convolution, which belong to the model; ``alpha`` and ``gamma``
    defaults are ours.

    Parameters
    ----------
    alpha : float > 0, default=1.0
        Scale of the per-class temperature.
    gamma : float >= 0, default=1.0
        Exponent of the class weight (0: unweighted VPU).
    reduction : {"mean", "sum"}, default="mean"
        Over the classes with a positive in the batch.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import PUMultilabelLoss
    >>> logits = torch.tensor([[2.0, -1.0], [-2.0, 1.0]])
    >>> targets = torch.tensor([[1, -1], [-1, 1]])
    >>> PUMultilabelLoss()(logits, targets).shape
    torch.Size([])
    """

    def __init__(self, alpha: float = 1.0, gamma: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        self.alpha = check_positive(alpha, "alpha")
        self.gamma = check_positive(gamma, "gamma", allow_zero=True)
        self.reduction = check_reduction(reduction, BATCH_REDUCTIONS)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        check_matrix(logits, targets)
        pos, neg = (targets == 1).float(), (targets == 0).float()
        if logits.shape[0] > 1:
            spread = logits.detach().std(dim=0)
        else:
            spread = torch.ones_like(logits[0])
        tau = (self.alpha * spread).clamp(min=1e-3, max=1.0)
        scaled = logits / tau
        log_s, log_not_s = log_probs_binary(scaled)
        mean_s = torch.sigmoid(scaled).mean(dim=0)
        weight = mean_s.detach() ** self.gamma
        n_pos = pos.sum(dim=0)
        positive = -(pos * log_s).sum(dim=0) / n_pos.clamp(min=1)
        per_class = weight * safe_log(mean_s) + positive
        per_class = per_class - (neg * log_not_s).sum(dim=0) / logits.shape[0]
        has_pos = n_pos > 0
        if not bool(has_pos.any()):
            return (logits * 0).sum()
        return reduce(per_class[has_pos], self.reduction)
