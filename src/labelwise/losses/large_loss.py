"""Large-loss rejection and correction, LL-R / LL-Ct / LL-Cp (Kim et al., CVPR 2022)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from labelwise._validation import check_choice, check_fraction, check_int, fail
from labelwise.losses._common import (
    check_indices,
    check_matrix,
    check_reduction,
    log_probs_binary,
    reduce,
)

MODES = ("rejection", "temporary", "permanent")


class LargeLossLoss(nn.Module):
    """Assume-negative BCE that rejects or corrects the unknown entries with the largest loss.

    Under AN, an unknown entry that is really positive is a false negative, and the model
    memorises it late: its loss stays large. At epoch ``t`` (1-based) the ``k`` unknown entries
    of the batch with the largest loss are

    - ``"rejection"`` (LL-R): dropped (loss 0), ``k = ⌈B·L·(t-1)·Δ⌉``;
    - ``"temporary"`` (LL-Ct): given target 1 for this step, same ``k``;
    - ``"permanent"`` (LL-Cp): given target 1 and remembered as positive for the rest of
      training, ``k = ⌈B·L·Δ⌉`` from epoch 2 on (needs ``n_examples`` and the batch ``indices``).

    Δ = ``delta_rel`` is the fraction per epoch (the paper's Δ_rel in %, e.g. 0.2 % → 0.002).
    The loss is the mean over B·L entries (Kim et al., "Large Loss Matters in Weakly
    Supervised Multi-Label Classification", CVPR 2022).

    Parameters
    ----------
    mode : {"rejection", "temporary", "permanent"}, default="rejection"
    delta_rel : float in (0, 1], default=0.002
    n_examples, n_classes : int, optional
        The training-set shape; needed by ``"permanent"`` to remember corrections.
    reduction : {"mean", "sum", "none"}, default="mean"

    Attributes
    ----------
    corrected : Tensor of shape (n_examples, n_classes), bool
        ``"permanent"`` only: entries switched to positive so far.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import LargeLossLoss
    >>> logits = torch.tensor([[0.0, 3.0, -1.0]])
    >>> targets = torch.tensor([[1, -1, -1]])
    >>> loss = LargeLossLoss("rejection", delta_rel=0.5, reduction="none")
    >>> loss(logits, targets, epoch=2)  # k = ceil(3 * 1 * 0.5) = 2 largest unknown losses dropped
    tensor([[0.6931, 0.0000, 0.0000]])
    """

    corrected: Tensor | None

    def __init__(
        self,
        mode: str = "rejection",
        delta_rel: float = 0.002,
        n_examples: int | None = None,
        n_classes: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.mode = check_choice(mode, "mode", MODES)
        self.delta_rel = check_fraction(delta_rel, "delta_rel")
        self.reduction = check_reduction(reduction)
        if self.mode == "permanent":
            if n_examples is None or n_classes is None:
                fail("n_examples", 'the training-set size with mode="permanent"', "None")
            shape = (
                check_int(n_examples, "n_examples", minimum=1),
                check_int(n_classes, "n_classes", minimum=1),
            )
            self.register_buffer("corrected", torch.zeros(shape, dtype=torch.bool))
        else:
            self.corrected = None

    def _k(self, n_entries: int, epoch: int) -> int:
        if self.mode == "permanent":
            return math.ceil(n_entries * self.delta_rel) if epoch >= 2 else 0
        return math.ceil(n_entries * (epoch - 1) * self.delta_rel)

    def forward(
        self, logits: Tensor, targets: Tensor, epoch: int, indices: Tensor | None = None
    ) -> Tensor:
        check_matrix(logits, targets)
        epoch = check_int(epoch, "epoch", minimum=1)
        pos = targets == 1
        unknown = targets < 0
        rows = None
        if self.corrected is not None:
            rows = check_indices(indices, logits.shape[0], self.corrected.shape[0], "LL-Cp")
            remembered = self.corrected[rows.to(self.corrected.device)].to(logits.device)
            pos = pos | (remembered & unknown)
            unknown = unknown & ~remembered
        log_p, log_q = log_probs_binary(logits)
        negative = -log_q
        matrix = torch.where(pos, -log_p, negative)
        k = min(self._k(logits.numel(), epoch), int(unknown.sum()))
        if k > 0:
            scores = torch.where(unknown, negative.detach(), torch.full_like(negative, -math.inf))
            top = torch.topk(scores.flatten(), k).indices
            chosen = torch.zeros(logits.numel(), dtype=torch.bool, device=logits.device)
            chosen[top] = True
            chosen = chosen.view_as(logits)
            if self.mode == "rejection":
                matrix = torch.where(chosen, torch.zeros_like(matrix), matrix)
            else:
                matrix = torch.where(chosen, -log_p, matrix)
            if self.corrected is not None and rows is not None and self.training:
                hit = torch.nonzero(chosen)
                self.corrected[
                    rows[hit[:, 0]].to(self.corrected.device), hit[:, 1].to(self.corrected.device)
                ] = True
        return reduce(matrix, self.reduction)
