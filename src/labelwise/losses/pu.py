"""Positive-unlabeled risks: uPU, nnPU, the naive baseline and the SAR-weighted risk.

``labels`` (B,): ``1`` for a labelled positive, ``0`` for an unlabeled example; ``logits``
(B,) or (B, 1) score the positive class. ``prior`` is the class prior π of the unlabeled
sample, which depends on how the data were collected (``unlabeled=``):

- ``"all"`` (single training set, "censoring"; the default): the examples come from one
  sample and a random subset of its positives was labelled (SCAR). The unlabeled sample is
  then the *whole batch*, labelled rows included, and π is the positive fraction of the data.
- ``"unlabeled"`` (case-control): positives and an unlabeled sample drawn separately from the
  marginal; the unlabeled sample is the ``0`` rows and π its positive fraction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labelwise._validation import check_choice, check_fraction, check_positive, fail
from labelwise.losses._common import check_vector

SURROGATES = ("sigmoid", "logistic")
UNLABELED = ("all", "unlabeled")


def surrogate_loss(margin: Tensor, name: str) -> Tensor:
    """``ℓ(z)`` of a margin z = ±logit: ``sigmoid(-z)`` or ``log(1 + exp(-z))``."""
    return torch.sigmoid(-margin) if name == "sigmoid" else F.softplus(-margin)


def _check_prior(prior: object) -> float:
    value = check_fraction(prior, "prior")
    if value >= 1:
        fail("prior", "a class prior in (0, 1)", repr(prior))
    return value


class _PURisk(nn.Module):
    def __init__(self, prior: float, loss: str, unlabeled: str) -> None:
        super().__init__()
        self.prior = _check_prior(prior)
        self.loss = check_choice(loss, "loss", SURROGATES)
        self.unlabeled = check_choice(unlabeled, "unlabeled", UNLABELED)

    def _parts(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(E_P[ℓ(g)], E_P[ℓ(-g)], E_U[ℓ(-g)])``; an empty side contributes 0."""
        logits = check_vector(logits, labels)
        positive = (labels == 1).to(logits.dtype)
        unlabeled = torch.ones_like(positive) if self.unlabeled == "all" else 1 - positive
        n_p, n_u = positive.sum().clamp(min=1), unlabeled.sum().clamp(min=1)
        as_positive = surrogate_loss(logits, self.loss)
        as_negative = surrogate_loss(-logits, self.loss)
        return (
            (positive * as_positive).sum() / n_p,
            (positive * as_negative).sum() / n_p,
            (unlabeled * as_negative).sum() / n_u,
        )


class UPULoss(_PURisk):
    """Unbiased PU risk (uPU): ``π E_P[ℓ(g)] - π E_P[ℓ(-g)] + E_U[ℓ(-g)]``.

    du Plessis, Niu & Sugiyama, "Convex Formulation for Learning from Positive and Unlabeled
    Data", ICML 2015 (and NeurIPS 2014). With a flexible model the estimate goes negative and
    the model overfits; :class:`NNPULoss` fixes that.

    Parameters
    ----------
    prior : float in (0, 1)
        Class prior π (see the module docstring for which one).
    loss : {"sigmoid", "logistic"}, default="sigmoid"
        The surrogate ℓ(z): ``sigmoid(-z)`` or ``log(1 + exp(-z))``.
    unlabeled : {"all", "unlabeled"}, default="all"
        Which rows form the unlabeled sample.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import UPULoss
    >>> logits, labels = torch.zeros(4), torch.tensor([1, 0, 0, 0])
    >>> UPULoss(prior=0.5)(logits, labels).item()  # 0.5·0.5 - 0.5·0.5 + 0.5
    0.5
    """

    def __init__(self, prior: float, loss: str = "sigmoid", unlabeled: str = "all") -> None:
        super().__init__(prior, loss, unlabeled)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        pos_pos, pos_neg, unl_neg = self._parts(logits, labels)
        return self.prior * pos_pos - self.prior * pos_neg + unl_neg


class NNPULoss(_PURisk):
    """Non-negative PU risk (nnPU): ``π E_P[ℓ(g)] + max(0, E_U[ℓ(-g)] - π E_P[ℓ(-g)])``.

    Kiryo, Niu, du Plessis & Sugiyama, "Positive-Unlabeled Learning with Non-Negative Risk
    Estimator", NeurIPS 2017. ``forward`` returns the quantity to *minimise* in this step: the
    risk, or, when the negative-class part ``r_- = E_U[ℓ(-g)] - π E_P[ℓ(-g)]`` falls below
    ``-beta``, ``-gamma · r_-`` (the paper's defocusing step, which pushes ``r_-`` back up).
    :meth:`risk` returns the nnPU risk itself.

    Parameters
    ----------
    prior : float in (0, 1)
    loss : {"sigmoid", "logistic"}, default="sigmoid"
    beta : float >= 0, default=0.0
    gamma : float in (0, 1], default=1.0
    unlabeled : {"all", "unlabeled"}, default="all"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import NNPULoss
    >>> logits, labels = torch.tensor([4.0, 4.0]), torch.tensor([1, 0])
    >>> loss = NNPULoss(prior=0.5, unlabeled="unlabeled")
    >>> round(loss.risk(logits, labels).item(), 4)  # π ℓ(4) + max(0, ℓ(-4) - π ℓ(-4))
    0.5
    """

    def __init__(
        self,
        prior: float,
        loss: str = "sigmoid",
        beta: float = 0.0,
        gamma: float = 1.0,
        unlabeled: str = "all",
    ) -> None:
        super().__init__(prior, loss, unlabeled)
        self.beta = check_positive(beta, "beta", allow_zero=True)
        self.gamma = check_fraction(gamma, "gamma")

    def risk(self, logits: Tensor, labels: Tensor) -> Tensor:
        """The nnPU risk estimate ``π E_P[ℓ(g)] + max(0, r_-)``."""
        pos_pos, pos_neg, unl_neg = self._parts(logits, labels)
        return self.prior * pos_pos + torch.clamp(unl_neg - self.prior * pos_neg, min=0)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        pos_pos, pos_neg, unl_neg = self._parts(logits, labels)
        negative_part = unl_neg - self.prior * pos_neg
        if float(negative_part.detach()) < -self.beta:
            return -self.gamma * negative_part
        return self.prior * pos_pos + negative_part


class NaivePULoss(nn.Module):
    """The naive baseline: logistic loss of labelled (1) against unlabeled (0).

    It estimates ``P(s=1 | x)``, which under SCAR is ``c · P(y=1 | x)`` (Elkan & Noto, 2008):
    the ranking is right, the threshold is not.

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import NaivePULoss
    >>> round(NaivePULoss()(torch.zeros(2), torch.tensor([1, 0])).item(), 4)
    0.6931
    """

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        logits = check_vector(logits, labels)
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


class SARPULoss(nn.Module):
    """PU risk with a known propensity score, for labels Selected At Random (SAR).

    When the chance ``e(x) = P(s=1 | y=1, x)`` that a positive gets labelled depends on ``x``,
    each labelled example counts ``1/e(x)`` times as a positive and ``1 - 1/e(x)`` times as a
    negative, and each unlabeled example once as a negative; the expectation equals the fully
    labelled risk (Bekker, Robberechts & Davis, "Beyond the Selected Completely At Random
    Assumption for Learning from Positive and Unlabeled Data", ECML-PKDD 2019). Under SCAR
    ``e(x) = c`` is the label frequency.

    Parameters
    ----------
    loss : {"logistic", "sigmoid"}, default="logistic"

    Examples
    --------
    >>> import torch
    >>> from labelwise.losses import SARPULoss
    >>> logits, labels = torch.zeros(2), torch.tensor([1, 0])
    >>> propensity = torch.tensor([0.5, 0.5])
    >>> round(SARPULoss()(logits, labels, propensity).item(), 4)  # (2 - 1 + 1) · log 2 / 2
    0.6931
    """

    def __init__(self, loss: str = "logistic") -> None:
        super().__init__()
        self.loss = check_choice(loss, "loss", SURROGATES)

    def forward(self, logits: Tensor, labels: Tensor, propensity: Tensor) -> Tensor:
        logits = check_vector(logits, labels)
        if propensity.shape != logits.shape:
            fail(
                "propensity",
                f"a 1-D tensor of length {logits.shape[0]}",
                f"shape {tuple(propensity.shape)}",
            )
        positive = (labels == 1).to(logits.dtype)
        inverse = 1.0 / propensity.to(logits.dtype).clamp(min=1e-6)
        as_positive = surrogate_loss(logits, self.loss)
        as_negative = surrogate_loss(-logits, self.loss)
        labelled = inverse * as_positive + (1 - inverse) * as_negative
        return (positive * labelled + (1 - positive) * as_negative).mean()
