"""ROLE: regularised online label estimation (Cole et al., CVPR 2021)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from labelwise._validation import check_positive, fail
from labelwise.losses._common import (
    BATCH_REDUCTIONS,
    check_indices,
    check_matrix,
    check_reduction,
    log_probs_binary,
    reduce,
)
from labelwise.losses.partial_multilabel import expected_positive_penalty


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class ROLELoss(nn.Module):
    """Regularised online label estimation (ROLE) with a learnable label matrix.

    Alongside the classifier's ``p = sigmoid(logits)``, ROLE learns an estimate
    ``ŷ = sigmoid(θ)`` of every training label, ``θ`` of shape (N, L) (a parameter of this
    module: give it to the optimiser, Cole et al. use 10x the classifier's learning rate).
    For a batch with row ``indices``:

    ``½[-log p - log ŷ]`` on observed positives (``-log(1-p) - log(1-ŷ)`` on observed
    negatives) ``+ ½[ℓ_BCE(p, sg(ŷ)) + ℓ_BCE(ŷ, sg(p))]`` on every entry, averaged over B·L,
    ``+ ½[R(p) + R(ŷ)]`` with R the expected-positive penalty of
    :class:`~labelwise.losses.ExpectedPositiveLoss` and sg a stop-gradient
    (Cole et al., "Multi-Label Learning from Single Positive Labels", CVPR 2021).

    ``θ`` starts at ``logit(0.995)`` on observed positives, ``logit(0.005)`` on observed
    negatives and uniformly in ``[-logit(0.6), logit(0.6)]`` elsewhere.

    Parameters
    ----------
    targets : Tensor of shape (N, L)
        The training targets (1 / 0 / -1), in the order the ``indices`` refer to.
    expected_positives : float > 0
        ``k`` of the expected-positive penalty.
    random_state : int, optional
        Seed of the initial unknown entries of ``θ``.
    reduction : {"mean", "sum"}, default="mean"

    Attributes
    ----------
    label_logits : nn.Parameter of shape (N, L)
        ``θ``; ``torch.sigmoid(label_logits)`` is the current label estimate.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import ROLELoss
    >>> targets = torch.tensor([[1, -1], [-1, 1]])
    >>> loss = ROLELoss(targets, expected_positives=1.0, random_state=0)
    >>> value = loss(torch.zeros(2, 2), targets, torch.tensor([0, 1]))
    >>> value.requires_grad, loss.label_logits.shape
    (True, torch.Size([2, 2]))
    """

    def __init__(
        self,
        targets: Tensor,
        expected_positives: float,
        random_state: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if targets.ndim != 2:
            fail(
                "targets",
                "a 2-D tensor of shape (n_examples, n_classes)",
                f"shape {tuple(targets.shape)}",
            )
        self.expected_positives = check_positive(expected_positives, "expected_positives")
        self.reduction = check_reduction(reduction, BATCH_REDUCTIONS)
        generator = torch.Generator()
        if random_state is not None:
            generator.manual_seed(int(random_state))
        bound = _logit(0.6)
        init = (torch.rand(targets.shape, generator=generator) * 2 - 1) * bound
        init[targets == 1] = _logit(0.995)
        init[targets == 0] = _logit(0.005)
        self.label_logits = nn.Parameter(init.to(torch.float32))

    def forward(self, logits: Tensor, targets: Tensor, indices: Tensor) -> Tensor:
        check_matrix(logits, targets)
        rows = check_indices(indices, logits.shape[0], self.label_logits.shape[0], "ROLELoss")
        if logits.shape[1] != self.label_logits.shape[1]:
            fail(
                "logits",
                f"{self.label_logits.shape[1]} columns (the classes of the label matrix)",
                f"shape {tuple(logits.shape)}",
            )
        theta = self.label_logits[rows.to(self.label_logits.device)]
        pos, neg = (targets == 1).float(), (targets == 0).float()
        log_p, log_q = log_probs_binary(logits)
        log_y, log_not_y = log_probs_binary(theta)
        p, y_hat = torch.sigmoid(logits), torch.sigmoid(theta)
        observed = -pos * (log_p + log_y) - neg * (log_q + log_not_y)
        y_fixed, p_fixed = y_hat.detach(), p.detach()
        cross = -(y_fixed * log_p + (1 - y_fixed) * log_q) - (
            p_fixed * log_y + (1 - p_fixed) * log_not_y
        )
        matrix = 0.5 * observed + 0.5 * cross
        penalty = 0.5 * (
            expected_positive_penalty(p, self.expected_positives)
            + expected_positive_penalty(y_hat, self.expected_positives)
        )
        return reduce(matrix, self.reduction) + penalty
