"""EM + APL: entropy maximisation with asymmetric pseudo-labelling (Zhou et al., ECCV 2022)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from labelwise._validation import check_fraction, check_int, check_positive, fail
from labelwise.losses._common import (
    binary_entropy,
    check_indices,
    check_matrix,
    check_reduction,
    log_probs_binary,
    reduce,
)


class EntropyMaximizationAPLLoss(nn.Module):
    """EM with asymmetric pseudo-labelling (EM+APL) of confident negatives.

    The loss of :class:`~labelwise.losses.EntropyMaximizationLoss` (``-log p`` on observed
    positives, ``-log(1-p)`` on observed negatives, ``-α H(p)`` on unknowns), except that
    unknown entries given a soft negative pseudo-label ``t`` cost ``β ℓ_BCE(p, t)`` instead.

    Pseudo-labels are added by :meth:`update_pseudo_labels`, which the training loop calls at
    the end of every epoch after ``warmup_epochs``: for each class c the
    ``⌊fraction · U_c / (n_epochs - warmup_epochs)⌋`` still-unlabelled unknown entries with the
    lowest ``p`` become soft negatives with target ``t = p`` (``U_c`` = the initial number of
    unknowns of class c). As in the authors' released code, no positive pseudo-labels are made
    (Zhou et al., "Acknowledging the Unknown for Multi-label Learning with Single Positive
    Labels", ECCV 2022; β = 0.02 / 0.9 / 0.2 / 0.4 for VOC / COCO / NUS / CUB).

    Parameters
    ----------
    targets : Tensor of shape (N, L)
        The training targets (1 / 0 / -1).
    alpha : float >= 0, default=0.1
    beta : float >= 0, default=0.2
    n_epochs : int, default=10
        Epochs of training (E), which sets how many pseudo-labels each update adds.
    warmup_epochs : int, default=1
    fraction : float in (0, 1], default=0.9
        Share of each class's unknowns that end up pseudo-labelled.
    reduction : {"mean", "sum", "none"}, default="mean"

    Attributes
    ----------
    pseudo_targets : Tensor of shape (N, L)
        Soft negative targets, NaN where none was assigned.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import EntropyMaximizationAPLLoss
    >>> targets = torch.tensor([[1, -1], [-1, 1]])
    >>> loss = EntropyMaximizationAPLLoss(targets, n_epochs=2, warmup_epochs=1, fraction=1.0)
    >>> loss.update_pseudo_labels(torch.tensor([[0.9, 0.2], [0.3, 0.8]]))
    2
    >>> loss.pseudo_targets
    tensor([[   nan, 0.2000],
            [0.3000,    nan]])
    """

    unknown: Tensor
    pseudo_targets: Tensor

    def __init__(
        self,
        targets: Tensor,
        alpha: float = 0.1,
        beta: float = 0.2,
        n_epochs: int = 10,
        warmup_epochs: int = 1,
        fraction: float = 0.9,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if targets.ndim != 2:
            fail(
                "targets",
                "a 2-D tensor of shape (n_examples, n_classes)",
                f"shape {tuple(targets.shape)}",
            )
        self.alpha = check_positive(alpha, "alpha", allow_zero=True)
        self.beta = check_positive(beta, "beta", allow_zero=True)
        self.n_epochs = check_int(n_epochs, "n_epochs", minimum=1)
        self.warmup_epochs = check_int(warmup_epochs, "warmup_epochs", minimum=0)
        if self.warmup_epochs >= self.n_epochs:
            fail("warmup_epochs", f"less than n_epochs ({self.n_epochs})", repr(warmup_epochs))
        self.fraction = check_fraction(fraction, "fraction")
        self.reduction = check_reduction(reduction)
        unknown = targets.cpu() < 0
        self.register_buffer("unknown", unknown)
        self.register_buffer("pseudo_targets", torch.full(targets.shape, float("nan")))
        per_step = self.fraction * unknown.sum(dim=0).float() / (self.n_epochs - self.warmup_epochs)
        self.per_step = [math.floor(v) for v in per_step.tolist()]

    def update_pseudo_labels(self, probs: Tensor) -> int:
        """Pseudo-label the lowest-``p`` unknowns of each class; the number added.

        ``probs`` (N, L): the current ``sigmoid`` outputs on every training example, in the
        order of ``targets``.
        """
        if probs.shape != self.pseudo_targets.shape:
            fail(
                "probs",
                f"a tensor of shape {tuple(self.pseudo_targets.shape)}",
                f"shape {tuple(probs.shape)}",
            )
        probs = probs.detach().to(self.pseudo_targets.device, torch.float32)
        free = self.unknown & torch.isnan(self.pseudo_targets)
        added = 0
        for c, count in enumerate(self.per_step):
            candidates = torch.nonzero(free[:, c]).flatten()
            take = min(count, candidates.numel())
            if take == 0:
                continue
            order = torch.argsort(probs[candidates, c])[:take]
            rows = candidates[order]
            self.pseudo_targets[rows, c] = probs[rows, c]
            added += take
        return added

    def forward(self, logits: Tensor, targets: Tensor, indices: Tensor) -> Tensor:
        check_matrix(logits, targets)
        rows = check_indices(indices, logits.shape[0], self.pseudo_targets.shape[0], "EM+APL")
        pseudo = self.pseudo_targets[rows.to(self.pseudo_targets.device)].to(logits.device)
        has_pseudo = ~torch.isnan(pseudo)
        t = torch.nan_to_num(pseudo, nan=0.0)
        pos, neg = (targets == 1).float(), (targets == 0).float()
        unk = (targets < 0) & ~has_pseudo
        log_p, log_q = log_probs_binary(logits)
        matrix = -(pos * log_p + neg * log_q) - self.alpha * unk.float() * binary_entropy(logits)
        matrix = matrix - self.beta * has_pseudo.float() * (t * log_p + (1 - t) * log_q)
        return reduce(matrix, self.reduction)
