"""What the losses share: reductions, shape checks and numerically safe logs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from labelwise._validation import check_choice, fail

REDUCTIONS = ("mean", "sum", "none")
#: Reductions of losses with a batch-level term (a regulariser) that has no per-entry value.
BATCH_REDUCTIONS = ("mean", "sum")
#: Floor inside logs of probabilities that are not available as a log-sigmoid/log-softmax.
EPS = 1e-8


def check_reduction(reduction: object, allowed: tuple[str, ...] = REDUCTIONS) -> str:
    return check_choice(reduction, "reduction", allowed)


def reduce(loss: Tensor, reduction: str) -> Tensor:
    """Mean or sum over every entry, or ``loss`` itself for ``"none"``."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def check_matrix(logits: Tensor, targets: Tensor, *, name: str = "targets") -> None:
    """``logits`` (B, L) and ``targets`` of the same shape."""
    if logits.ndim != 2:
        fail("logits", "a 2-D tensor of shape (batch, n_classes)", f"shape {tuple(logits.shape)}")
    if targets.shape != logits.shape:
        fail(
            name,
            f"a tensor of the logits' shape {tuple(logits.shape)}",
            f"shape {tuple(targets.shape)}",
        )


def check_class_logits(logits: Tensor, labels: Tensor, *, name: str = "labels") -> None:
    """``logits`` (B, K) and integer ``labels`` (B,)."""
    if logits.ndim != 2:
        fail("logits", "a 2-D tensor of shape (batch, n_classes)", f"shape {tuple(logits.shape)}")
    if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        fail(
            name,
            f"a 1-D tensor of length {logits.shape[0]} (the logits' batch size)",
            f"shape {tuple(labels.shape)}",
        )


def check_vector(logits: Tensor, labels: Tensor, *, name: str = "labels") -> Tensor:
    """Binary ``logits`` as (B,) (a (B, 1) column is flattened) and ``labels`` of length B."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.ndim != 1:
        fail("logits", "a tensor of shape (batch,) or (batch, 1)", f"shape {tuple(logits.shape)}")
    if labels.shape != logits.shape:
        fail(name, f"a 1-D tensor of length {logits.shape[0]}", f"shape {tuple(labels.shape)}")
    return logits


def check_indices(indices: Tensor | None, batch: int, n_examples: int, who: str) -> Tensor:
    """Row indices (B,) into the ``n_examples`` training examples a stateful loss tracks."""
    if indices is None:
        fail(
            "indices", f"the batch's row indices into the training set ({who} keeps state)", "None"
        )
    if indices.ndim != 1 or indices.shape[0] != batch:
        fail("indices", f"a 1-D tensor of length {batch}", f"shape {tuple(indices.shape)}")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= n_examples):
        fail(
            "indices",
            f"row indices in 0..{n_examples - 1}",
            f"values from {int(indices.min())} to {int(indices.max())}",
        )
    return indices.long()


def log_probs_binary(logits: Tensor) -> tuple[Tensor, Tensor]:
    """``(log p, log(1 - p))`` of ``p = sigmoid(logits)``, finite for any finite logit."""
    return F.logsigmoid(logits), F.logsigmoid(-logits)


def binary_entropy(logits: Tensor) -> Tensor:
    """``H(p) = -p log p - (1-p) log(1-p)`` of ``p = sigmoid(logits)``, from log-sigmoids."""
    log_p, log_q = log_probs_binary(logits)
    p = torch.sigmoid(logits)
    return -(p * log_p + (1 - p) * log_q)


def safe_log(p: Tensor, eps: float = EPS) -> Tensor:
    """``log(max(p, eps))``."""
    return torch.log(p.clamp_min(eps))
