"""Partial-label learning: each example comes with a set of candidate labels.

``candidates`` is a bool tensor (N, K) (or (B, K) for the stateless losses), ``True`` where the
class is a candidate; the true label is assumed to be among them (ALIM relaxes this).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labelwise._validation import check_fraction, check_int, check_positive, fail
from labelwise.losses._common import check_indices, check_matrix, check_reduction, reduce


def _check_candidates(candidates: Tensor) -> Tensor:
    if candidates.ndim != 2:
        fail(
            "candidates",
            "a 2-D bool tensor of shape (n_examples, n_classes)",
            f"shape {tuple(candidates.shape)}",
        )
    candidates = candidates.bool()
    empty = ~candidates.any(dim=1)
    if bool(empty.any()):
        fail("candidates", "at least one candidate per row", f"{int(empty.sum())} empty row(s)")
    return candidates


class CandidateAverageLoss(nn.Module):
    """The naive baseline: cross-entropy averaged over the candidates, ``-(1/|S|) Σ_{j∈S} log p_j``.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import CandidateAverageLoss
    >>> logits = torch.zeros(1, 4)
    >>> candidates = torch.tensor([[True, True, False, False]])
    >>> round(CandidateAverageLoss()(logits, candidates).item(), 4)  # log 4
    1.3863
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, candidates: Tensor) -> Tensor:
        check_matrix(logits, candidates, name="candidates")
        mask = candidates.to(logits.dtype)
        per_row = -(mask * F.log_softmax(logits, dim=1)).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        return reduce(per_row, self.reduction)


class PRODENLoss(nn.Module):
    """PRODEN: progressive identification of the true label among the candidates.

    ``L = -(1/B) Σ_i Σ_{j∈S_i} w_ij log p_ij``, with confidences ``w`` uniform on each candidate
    set at the start and, after every training step, ``w_ij ← p_ij [j∈S_i] / Σ_{k∈S_i} p_ik``
    (Lv et al., "Progressive Identification of True Labels for Partial-Label Learning", ICML
    2020). The update happens inside ``forward`` while the module is in training mode.

    Parameters
    ----------
    candidates : Tensor of shape (N, K), bool
        The training candidate sets, in the order the ``indices`` refer to.
    reduction : {"mean", "sum", "none"}, default="mean"

    Attributes
    ----------
    confidence : Tensor of shape (N, K)
        The current weights ``w``.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import PRODENLoss
    >>> candidates = torch.tensor([[True, True, False]])
    >>> loss = PRODENLoss(candidates)
    >>> value = loss(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
    >>> loss.confidence.round(decimals=3)
    tensor([[0.8810, 0.1190, 0.0000]])
    """

    candidates: Tensor
    confidence: Tensor

    def __init__(self, candidates: Tensor, reduction: str = "mean") -> None:
        super().__init__()
        candidates = _check_candidates(candidates)
        self.reduction = check_reduction(reduction)
        self.register_buffer("candidates", candidates.clone())
        counts = candidates.sum(dim=1, keepdim=True).float()
        self.register_buffer("confidence", candidates.float() / counts)

    def _update(self, rows: Tensor, logits: Tensor) -> None:
        mask = self.candidates[rows].to(logits.device)
        probs = torch.softmax(logits.detach(), dim=1) * mask
        weights = probs / probs.sum(dim=1, keepdim=True).clamp(min=1e-12)
        self.confidence[rows] = weights.to(self.confidence.device, self.confidence.dtype)

    def forward(self, logits: Tensor, indices: Tensor) -> Tensor:
        rows = check_indices(
            indices, logits.shape[0], self.confidence.shape[0], type(self).__name__
        )
        rows = rows.to(self.confidence.device)
        if logits.ndim != 2 or logits.shape[1] != self.confidence.shape[1]:
            fail(
                "logits",
                f"a tensor of shape (batch, {self.confidence.shape[1]})",
                f"shape {tuple(logits.shape)}",
            )
        weights = self.confidence[rows].to(logits.device, logits.dtype)
        per_row = -(weights * F.log_softmax(logits, dim=1)).sum(dim=1)
        if self.training:
            self._update(rows, logits)
        return reduce(per_row, self.reduction)


class POPLoss(PRODENLoss):
    """POP: PRODEN with progressive purification of the candidate sets.

    PRODEN's loss and confidence updates; in addition, :meth:`end_epoch` (called by the
    training loop once per epoch) records the confidences and, after ``warmup_epochs`` and then
    every ``window`` epochs, removes candidate j of example i when ``w̄_ij / max_k w̄_ik < θ``,
    with ``w̄`` the mean confidence over the last ``window`` epochs. ``θ`` starts at
    ``threshold`` and is multiplied by ``1 + growth`` whenever fewer than ``min_change`` of the
    entries changed, up to ``max_threshold`` (Xu et al., "Progressive Purification for
    Instance-Dependent Partial Label Learning", ICML 2023: θ = 1e-3, growth 1e-3, 0.01 %, 0.4).
    The most confident candidate is never removed.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import POPLoss
    >>> loss = POPLoss(torch.tensor([[True, True, True]]), warmup_epochs=0, window=1, threshold=0.3)
    >>> _ = loss(torch.tensor([[3.0, 0.0, 2.0]]), torch.tensor([0]))
    >>> loss.end_epoch()
    1
    >>> loss.candidates
    tensor([[ True, False,  True]])
    """

    def __init__(
        self,
        candidates: Tensor,
        warmup_epochs: int = 5,
        window: int = 5,
        threshold: float = 1e-3,
        growth: float = 1e-3,
        min_change: float = 1e-4,
        max_threshold: float = 0.4,
        reduction: str = "mean",
    ) -> None:
        super().__init__(candidates, reduction)
        self.warmup_epochs = check_int(warmup_epochs, "warmup_epochs", minimum=0)
        self.window = check_int(window, "window", minimum=1)
        self.threshold = check_fraction(threshold, "threshold")
        self.growth = check_positive(growth, "growth", allow_zero=True)
        self.min_change = check_fraction(min_change, "min_change", allow_zero=True)
        self.max_threshold = check_fraction(max_threshold, "max_threshold")
        self.epochs_seen = 0
        self._history: list[Tensor] = []

    def end_epoch(self) -> int:
        """Record this epoch's confidences and purify when due; the number of candidates removed."""
        self.epochs_seen += 1
        self._history = (
            [*self._history[-(self.window - 1) :], self.confidence.clone()]
            if self.window > 1
            else [self.confidence.clone()]
        )
        if self.epochs_seen < self.warmup_epochs + self.window:
            return 0
        if (self.epochs_seen - self.warmup_epochs) % self.window:
            return 0
        mean = torch.stack(self._history).mean(dim=0) * self.candidates
        ratio = mean / mean.max(dim=1, keepdim=True).values.clamp(min=1e-12)
        drop = self.candidates & (ratio < self.threshold)
        removed = int(drop.sum())
        if removed:
            self.candidates &= ~drop
            kept = self.confidence * self.candidates
            self.confidence.copy_(kept / kept.sum(dim=1, keepdim=True).clamp(min=1e-12))
        if removed < self.min_change * self.candidates.numel():
            self.threshold = min(self.threshold * (1 + self.growth), self.max_threshold)
        return removed


def alim_lambda(logits: Tensor, candidates: Tensor, noise_rate: float) -> float:
    """ALIM's λ for an estimated ``noise_rate`` (share of examples whose label is not a candidate).

    An example's target points outside its candidate set when
    ``λ · max_{j∉S} p_j > max_{j∈S} p_j``; λ is set to the ``noise_rate`` quantile of
    ``max_{j∈S} p_j / max_{j∉S} p_j`` so that about that share of examples do, clipped to
    [0, 1]. This adaptive rule is our reading of Xu et al. (NeurIPS 2023).
    """
    check_matrix(logits, candidates, name="candidates")
    rate = check_fraction(noise_rate, "noise_rate", allow_zero=True)
    if rate == 0:
        return 0.0
    probs = torch.softmax(logits.detach(), dim=1)
    mask = candidates.bool()
    inside = (probs * mask).max(dim=1).values
    outside = (probs * ~mask).max(dim=1).values.clamp(min=1e-12)
    ratio = inside / outside
    return float(torch.quantile(ratio.float(), rate).clamp(0.0, 1.0))


class ALIMLoss(nn.Module):
    """ALIM: adjustable importance of non-candidates, for noisy candidate sets.

    The target of example i is ``t_ij ∝ p_ij · (S_ij + λ(1 - S_ij))`` (no gradient), so a
    non-candidate the model is confident about can take over when the true label was left out
    of the set; the loss is ``-Σ_j t_ij log p_ij``. λ = 0 is the candidate-restricted
    (PRODEN-like) target; :func:`alim_lambda` sets λ from an estimated noise rate (Xu et al.,
    "ALIM: Adjusting Label Importance Mechanism for Noisy Partial Label Learning", NeurIPS 2023).

    Parameters
    ----------
    lam : float in [0, 1], default=0.0
        λ, may be changed between epochs (attribute ``lam``).
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import ALIMLoss
    >>> logits = torch.tensor([[0.0, 0.0]])
    >>> candidates = torch.tensor([[True, False]])
    >>> round(ALIMLoss(lam=1.0)(logits, candidates).item(), 4)  # uniform target: log 2
    0.6931
    """

    def __init__(self, lam: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        self.lam = check_fraction(lam, "lam", allow_zero=True)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, candidates: Tensor) -> Tensor:
        check_matrix(logits, candidates, name="candidates")
        mask = candidates.to(logits.dtype)
        log_probs = F.log_softmax(logits, dim=1)
        with torch.no_grad():
            target = log_probs.exp() * (mask + self.lam * (1 - mask))
            target = target / target.sum(dim=1, keepdim=True).clamp(min=1e-12)
        return reduce(-(target * log_probs).sum(dim=1), self.reduction)
