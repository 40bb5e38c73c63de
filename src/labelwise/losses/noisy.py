"""Losses and helpers for training on noisy class labels.

``logits`` (B, K) and integer ``labels`` (B,) of the given (possibly wrong) classes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labelwise._validation import (
    check_fraction,
    check_int,
    check_positive,
    check_pred_probs,
    fail,
)
from labelwise.losses._common import check_class_logits, check_reduction, reduce


class GeneralizedCrossEntropyLoss(nn.Module):
    """Generalised cross-entropy (GCE): ``L_q = (1 - p_y^q) / q``.

    Between cross-entropy (q → 0) and MAE (q = 1), which is robust to label noise but slow to
    fit (Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with
    Noisy Labels", NeurIPS 2018; q = 0.7). With ``truncation=k`` the loss is the constant
    ``(1 - k^q) / q`` wherever ``p_y ≤ k`` (the truncated ``L_q``), so those examples carry no
    gradient.

    Parameters
    ----------
    q : float in (0, 1], default=0.7
    truncation : float in (0, 1), optional
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import GeneralizedCrossEntropyLoss
    >>> logits, labels = torch.zeros(1, 4), torch.tensor([0])
    >>> round(GeneralizedCrossEntropyLoss(q=1.0)(logits, labels).item(), 4)  # 1 - 1/4
    0.75
    """

    def __init__(
        self, q: float = 0.7, truncation: float | None = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.q = check_fraction(q, "q")
        self.truncation = None if truncation is None else check_fraction(truncation, "truncation")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        check_class_logits(logits, labels)
        log_py = F.log_softmax(logits, dim=1).gather(1, labels.long()[:, None])[:, 0]
        loss = (1 - torch.exp(self.q * log_py)) / self.q
        if self.truncation is not None:
            floor = (1 - self.truncation**self.q) / self.q
            loss = torch.where(log_py.exp() <= self.truncation, torch.full_like(loss, floor), loss)
        return reduce(loss, self.reduction)


class SymmetricCrossEntropyLoss(nn.Module):
    """Symmetric cross-entropy (SCE): ``α CE + β RCE``.

    RCE is the cross-entropy with prediction and label swapped, ``-Σ_k p_k log y_k`` with
    ``log 0 := A``, which for a one-hot label is ``-A (1 - p_y)`` (Wang et al., "Symmetric Cross
    Entropy for Robust Learning with Noisy Labels", ICCV 2019; α = 0.1, β = 1, A = -4 on
    CIFAR-10).

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import SymmetricCrossEntropyLoss
    >>> logits, labels = torch.zeros(1, 2), torch.tensor([0])
    >>> round(SymmetricCrossEntropyLoss(alpha=1.0, beta=1.0)(logits, labels).item(), 4)
    2.6931
    """

    def __init__(
        self, alpha: float = 0.1, beta: float = 1.0, log_zero: float = -4.0, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.alpha = check_positive(alpha, "alpha", allow_zero=True)
        self.beta = check_positive(beta, "beta", allow_zero=True)
        if not log_zero < 0:
            fail("log_zero", "a negative number (A, the value given to log 0)", repr(log_zero))
        self.log_zero = float(log_zero)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        check_class_logits(logits, labels)
        ce = F.cross_entropy(logits, labels.long(), reduction="none")
        p_y = torch.softmax(logits, dim=1).gather(1, labels.long()[:, None])[:, 0]
        rce = -self.log_zero * (1 - p_y)
        return reduce(self.alpha * ce + self.beta * rce, self.reduction)


class LabelSmoothingLoss(nn.Module):
    """Cross-entropy to smoothed labels ``(1 - ε) onehot(y) + ε / K``; ε may be negative.

    A positive ε is the usual label smoothing; a negative ε ("negative label smoothing") pushes
    the model to be more confident than one-hot, which Wei et al. ("To Smooth or Not? When Label
    Smoothing Meets Noisy Labels", ICML 2022) find better at high noise rates.

    Parameters
    ----------
    smoothing : float < 1, default=0.1
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import LabelSmoothingLoss
    >>> logits, labels = torch.zeros(1, 2), torch.tensor([0])
    >>> round(LabelSmoothingLoss(smoothing=-0.5)(logits, labels).item(), 4)  # uniform p: log 2
    0.6931
    """

    def __init__(self, smoothing: float = 0.1, reduction: str = "mean") -> None:
        super().__init__()
        if (
            isinstance(smoothing, bool)
            or not isinstance(smoothing, int | float)
            or not (math.isfinite(smoothing) and smoothing < 1)
        ):
            fail(
                "smoothing",
                "a finite number < 1 (negative for negative label smoothing)",
                repr(smoothing),
            )
        self.smoothing = float(smoothing)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        check_class_logits(logits, labels)
        log_probs = F.log_softmax(logits, dim=1)
        n_classes = logits.shape[1]
        target = F.one_hot(labels.long(), n_classes).to(log_probs.dtype)
        target = (1 - self.smoothing) * target + self.smoothing / n_classes
        return reduce(-(target * log_probs).sum(dim=1), self.reduction)


def _check_transition(transition: object) -> np.ndarray:
    matrix = np.asarray(transition, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        fail("transition", "a square (K, K) matrix with K >= 2", f"shape {matrix.shape}")
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        fail("transition", "finite and non-negative", "negative or non-finite entries")
    sums = matrix.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        row = int(np.argmax(np.abs(sums - 1)))
        fail("transition", "row-stochastic (rows sum to 1)", f"row {row} sums to {sums[row]:.4g}")
    return matrix


class ForwardCorrectedLoss(nn.Module):
    """Forward loss correction: cross-entropy of the *noisy* label under ``Tᵀ p``.

    ``T_ij = P(ỹ = j | y = i)``; the model's clean-class probabilities ``p`` are pushed
    through the noise, ``-log Σ_i p_i T_{i ỹ}``, so the model itself estimates the clean
    posterior (Patrini et al., "Making Deep Neural Networks Robust to Label Noise: a Loss
    Correction Approach", CVPR 2017). ``T`` can come from ``labelwise.estimate_noise``
    (its ``noise_matrix`` is ``P(given | true)`` transposed) or from
    :func:`anchor_transition_matrix`.

    Parameters
    ----------
    transition : array-like of shape (K, K)
        Row-stochastic ``T``.
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import ForwardCorrectedLoss
    >>> loss = ForwardCorrectedLoss([[0.8, 0.2], [0.2, 0.8]])
    >>> round(loss(torch.tensor([[0.0, 0.0]]), torch.tensor([1])).item(), 4)  # -log 0.5
    0.6931
    """

    log_transition: Tensor

    def __init__(self, transition: object, reduction: str = "mean") -> None:
        super().__init__()
        matrix = _check_transition(transition)
        self.register_buffer(
            "log_transition",
            torch.log(torch.as_tensor(matrix, dtype=torch.float32).clamp(min=1e-12)),
        )
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        check_class_logits(logits, labels)
        if logits.shape[1] != self.log_transition.shape[0]:
            fail(
                "logits",
                f"{self.log_transition.shape[0]} columns (the size of transition)",
                f"shape {tuple(logits.shape)}",
            )
        log_probs = F.log_softmax(logits, dim=1)
        columns = self.log_transition.to(logits.device, log_probs.dtype)[:, labels.long()].T
        return reduce(-torch.logsumexp(log_probs + columns, dim=1), self.reduction)


def anchor_transition_matrix(pred_probs: object, *, percentile: float = 97.0) -> np.ndarray:
    """Estimate ``T_ij = P(ỹ = j | y = i)`` from anchor points of a model fit on noisy labels.

    For each class i the anchor is the example at the ``percentile``-th percentile of
    ``p̂(ỹ = i | x)`` (a robust stand-in for the argmax), and row i of T is ``p̂(ỹ | anchor)``
    (Patrini et al., CVPR 2017; 97 there).

    Parameters
    ----------
    pred_probs : array-like of shape (n, K)
        Probabilities of the noisy labels from a model trained on them (out-of-sample).
    percentile : float in (0, 100], default=97.0

    Returns
    -------
    ndarray of shape (K, K)

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.losses import anchor_transition_matrix
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    >>> anchor_transition_matrix(probs, percentile=100)
    array([[0.9, 0.1],
           [0.1, 0.9]])
    """
    probs = check_pred_probs(pred_probs)
    level = check_positive(percentile, "percentile")
    if level > 100:
        fail("percentile", "a number in (0, 100]", repr(percentile))
    matrix = np.empty((probs.shape[1], probs.shape[1]))
    for i in range(probs.shape[1]):
        column = probs[:, i]
        threshold = np.percentile(column, level, method="higher")
        anchor = int(np.flatnonzero(column >= threshold)[np.argmin(column[column >= threshold])])
        matrix[i] = probs[anchor]
    return matrix / matrix.sum(axis=1, keepdims=True)


def coteaching_keep_rate(epoch: int, forget_rate: float, warmup_epochs: int = 10) -> float:
    """Co-teaching's ``R(T) = 1 - min(τ·T / T_k, τ)``: the share of each batch kept at epoch T.

    ``epoch`` counts from 0 (Han et al., NeurIPS 2018: τ = the noise rate, T_k = 10).

    Examples
    --------
    >>> from labelwise.losses import coteaching_keep_rate
    >>> coteaching_keep_rate(0, 0.2), coteaching_keep_rate(5, 0.2), coteaching_keep_rate(50, 0.2)
    (1.0, 0.9, 0.8)
    """
    epoch = check_int(epoch, "epoch", minimum=0)
    tau = check_fraction(forget_rate, "forget_rate", allow_zero=True)
    ramp = check_int(warmup_epochs, "warmup_epochs", minimum=1)
    return round(1.0 - min(tau * epoch / ramp, tau), 12)


class CoTeachingLoss(nn.Module):
    """Co-teaching: two networks teach each other with their small-loss examples.

    Each network ranks the batch by its own cross-entropy, keeps the ``keep_rate`` share with
    the smallest loss, and its *peer* is trained on those; the returned value is the sum of both
    networks' mean losses on the examples their peer picked, so one backward pass updates both
    (Han et al., "Co-teaching: Robust Training of Deep Neural Networks with Extremely Noisy
    Labels", NeurIPS 2018). :func:`coteaching_keep_rate` gives the schedule.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import CoTeachingLoss
    >>> logits_a = torch.tensor([[3.0, 0.0], [0.0, 2.0]])
    >>> logits_b = torch.tensor([[0.0, 2.0], [0.0, 2.0]])
    >>> labels = torch.tensor([0, 1])
    >>> # a keeps row 0 (its smaller loss) for b; b keeps row 1 for a
    >>> round(CoTeachingLoss()(logits_a, logits_b, labels, keep_rate=0.5).item(), 4)
    2.2539
    """

    def forward(
        self, logits_a: Tensor, logits_b: Tensor, labels: Tensor, keep_rate: float
    ) -> Tensor:
        check_class_logits(logits_a, labels)
        check_class_logits(logits_b, labels)
        rate = check_fraction(keep_rate, "keep_rate")
        loss_a = F.cross_entropy(logits_a, labels.long(), reduction="none")
        loss_b = F.cross_entropy(logits_b, labels.long(), reduction="none")
        n_keep = max(1, math.ceil(rate * labels.shape[0]))
        picked_by_a = torch.argsort(loss_a.detach())[:n_keep]
        picked_by_b = torch.argsort(loss_b.detach())[:n_keep]
        return loss_a[picked_by_b].mean() + loss_b[picked_by_a].mean()


class SelfDistillationLoss(nn.Module):
    """Self-distillation on noisy labels: ``(1 - a) CE(p, ỹ) + a τ² KL(p_T^τ ‖ p^τ)``.

    ``p_T^τ`` is the teacher's (e.g. the previous generation of the same model) softened
    output. The weight ``a`` may exceed 1: Das & Sanghavi ("Understanding Self-Distillation in
    the Presence of Label Noise", ICML 2023) show that weights above 1, which push the student
    *away* from the noisy labels, are optimal at high noise.

    Parameters
    ----------
    weight : float >= 0, default=0.5
        ``a``.
    temperature : float > 0, default=1.0
        ``τ``.
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import SelfDistillationLoss
    >>> logits, labels = torch.zeros(1, 2), torch.tensor([0])
    >>> round(SelfDistillationLoss(weight=2.0)(logits, labels, torch.zeros(1, 2)).item(), 4)
    -0.6931
    """

    def __init__(
        self, weight: float = 0.5, temperature: float = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.weight = check_positive(weight, "weight", allow_zero=True)
        self.temperature = check_positive(temperature, "temperature")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, labels: Tensor, teacher_logits: Tensor) -> Tensor:
        check_class_logits(logits, labels)
        if teacher_logits.shape != logits.shape:
            fail(
                "teacher_logits",
                f"a tensor of the logits' shape {tuple(logits.shape)}",
                f"shape {tuple(teacher_logits.shape)}",
            )
        ce = F.cross_entropy(logits, labels.long(), reduction="none")
        kl = kl_divergence_rows(
            teacher_logits.detach() / self.temperature, logits / self.temperature
        )
        loss = (1 - self.weight) * ce + self.weight * self.temperature**2 * kl
        return reduce(loss, self.reduction)


def kl_divergence_rows(teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
    """``KL(softmax(t) ‖ softmax(s))`` per row."""
    log_t = F.log_softmax(teacher_logits, dim=1)
    log_s = F.log_softmax(student_logits, dim=1)
    return (log_t.exp() * (log_t - log_s)).sum(dim=1)
