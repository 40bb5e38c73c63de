"""Soft labels and distillation: temperature KD, multi-label KD, and LogitNorm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labelwise._validation import check_positive, fail
from labelwise.losses._common import check_class_logits, check_matrix, check_reduction, reduce
from labelwise.losses.noisy import kl_divergence_rows


class DistillationLoss(nn.Module):
    """Knowledge distillation: ``τ² KL(softmax(t/τ) ‖ softmax(s/τ))`` per example.

    Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network" (2015). The τ²
    factor keeps the gradient scale independent of τ. Combine with a hard-label term as needed.

    Parameters
    ----------
    temperature : float > 0, default=4.0
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import DistillationLoss
    >>> student = torch.tensor([[0.0, 0.0]])
    >>> DistillationLoss(temperature=2.0)(student, student.clone()).item()
    0.0
    """

    def __init__(self, temperature: float = 4.0, reduction: str = "mean") -> None:
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.reduction = check_reduction(reduction)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        check_matrix(student_logits, teacher_logits, name="teacher_logits")
        t = self.temperature
        kl = kl_divergence_rows(teacher_logits.detach() / t, student_logits / t)
        return reduce(t**2 * kl, self.reduction)


class MultilabelDistillationLoss(nn.Module):
    """Multi-label KD: a binary KD term per class, ``τ² KL(Bern(σ(t/τ)) ‖ Bern(σ(s/τ)))``.

    Each class is distilled as its own binary problem (averaged over B·L entries with
    ``"mean"``); it is zero when the student matches the teacher.

    Parameters
    ----------
    temperature : float > 0, default=1.0
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import MultilabelDistillationLoss
    >>> loss = MultilabelDistillationLoss()
    >>> round(loss(torch.zeros(1, 1), torch.tensor([[20.0]])).item(), 4)  # KL(1 ‖ ½) = log 2
    0.6931
    """

    def __init__(self, temperature: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.reduction = check_reduction(reduction)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        check_matrix(student_logits, teacher_logits, name="teacher_logits")
        t = self.temperature
        s, teacher = student_logits / t, teacher_logits.detach() / t
        p_t = torch.sigmoid(teacher)
        log_t, log_not_t = F.logsigmoid(teacher), F.logsigmoid(-teacher)
        log_s, log_not_s = F.logsigmoid(s), F.logsigmoid(-s)
        kl = p_t * (log_t - log_s) + (1 - p_t) * (log_not_t - log_not_s)
        return reduce(t**2 * kl, self.reduction)


class LogitNormLoss(nn.Module):
    """LogitNorm: cross-entropy of ``softmax(f / (τ ‖f‖₂))``.

    Normalising the logit vector stops training from inflating its norm, which makes the
    max-softmax score a better signal for selective classification and out-of-distribution
    detection (Wei et al., "Mitigating Neural Network Overconfidence with Logit Normalization",
    ICML 2022; τ ≈ 0.04 on CIFAR-10).

    Parameters
    ----------
    temperature : float > 0, default=0.04
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import LogitNormLoss
    >>> logits, labels = torch.tensor([[3.0, 4.0]]), torch.tensor([1])
    >>> round(LogitNormLoss(temperature=1.0)(logits, labels).item(), 4)  # CE of [0.6, 0.8]
    0.5981
    """

    def __init__(self, temperature: float = 0.04, reduction: str = "mean") -> None:
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        check_class_logits(logits, labels)
        norms = logits.norm(p=2, dim=1, keepdim=True).clamp(min=1e-7)
        if not bool(torch.isfinite(norms).all()):
            fail("logits", "finite", "non-finite values")
        scaled = logits / (norms * self.temperature)
        return reduce(F.cross_entropy(scaled, labels.long(), reduction="none"), self.reduction)
