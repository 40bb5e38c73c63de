"""PyTorch losses for training with incomplete labels (needs ``pip install 'labelwise[torch]'``).

One module per family, every loss an ``nn.Module`` whose ``forward`` takes logits (never
probabilities), so each log is a log-sigmoid or a log-softmax and stays finite:

- :mod:`~labelwise.losses.partial_multilabel`: partial / single-positive multi-label targets
  (int8, ``1`` observed positive, ``0`` observed negative, ``-1`` unknown): AN, WAN, AN-LS, EPR,
  EM, ASL; :mod:`~labelwise.losses.role`, :mod:`~labelwise.losses.apl`,
  :mod:`~labelwise.losses.large_loss` and :mod:`~labelwise.losses.pu_mlc` hold the stateful ones
  (ROLE, EM+APL, LL-R/Ct/Cp) and the PU-MLC-style loss.
- :mod:`~labelwise.losses.pu`: uPU, nnPU, the naive baseline and the SAR propensity-weighted risk.
- :mod:`~labelwise.losses.partial_label`: candidate sets (PRODEN, POP, ALIM, the naive average).
- :mod:`~labelwise.losses.proportions`: bags with label proportions (DLLP, MixBag).
- :mod:`~labelwise.losses.noisy`: GCE, SCE, label smoothing, forward correction, co-teaching,
  self-distillation.
- :mod:`~labelwise.losses.distillation`: temperature KD, multi-label KD, LogitNorm.

This package is the one door to PyTorch: ``import labelwise`` never imports it, and importing
this package without it raises an ``ImportError`` that names the extra to install.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "labelwise.losses and labelwise.models need PyTorch: pip install 'labelwise[torch]'"
    ) from error

from labelwise.losses.apl import EntropyMaximizationAPLLoss
from labelwise.losses.distillation import (
    DistillationLoss,
    LogitNormLoss,
    MultilabelDistillationLoss,
)
from labelwise.losses.large_loss import LargeLossLoss
from labelwise.losses.noisy import (
    CoTeachingLoss,
    ForwardCorrectedLoss,
    GeneralizedCrossEntropyLoss,
    LabelSmoothingLoss,
    SelfDistillationLoss,
    SymmetricCrossEntropyLoss,
    anchor_transition_matrix,
    coteaching_keep_rate,
)
from labelwise.losses.partial_label import (
    ALIMLoss,
    CandidateAverageLoss,
    POPLoss,
    PRODENLoss,
    alim_lambda,
)
from labelwise.losses.partial_multilabel import (
    AssumeNegativeLoss,
    AsymmetricLoss,
    EntropyMaximizationLoss,
    ExpectedPositiveLoss,
    WeakAssumeNegativeLoss,
)
from labelwise.losses.proportions import (
    DLLPLoss,
    MixedBag,
    ProportionIntervalLoss,
    mixbag,
)
from labelwise.losses.pu import NaivePULoss, NNPULoss, SARPULoss, UPULoss
from labelwise.losses.pu_mlc import PUMultilabelLoss
from labelwise.losses.role import ROLELoss

__all__ = [
    "ALIMLoss",
    "AssumeNegativeLoss",
    "AsymmetricLoss",
    "CandidateAverageLoss",
    "CoTeachingLoss",
    "DLLPLoss",
    "DistillationLoss",
    "EntropyMaximizationAPLLoss",
    "EntropyMaximizationLoss",
    "ExpectedPositiveLoss",
    "ForwardCorrectedLoss",
    "GeneralizedCrossEntropyLoss",
    "LabelSmoothingLoss",
    "LargeLossLoss",
    "LogitNormLoss",
    "MixedBag",
    "MultilabelDistillationLoss",
    "NNPULoss",
    "NaivePULoss",
    "POPLoss",
    "PRODENLoss",
    "PUMultilabelLoss",
    "ProportionIntervalLoss",
    "ROLELoss",
    "SARPULoss",
    "SelfDistillationLoss",
    "SymmetricCrossEntropyLoss",
    "UPULoss",
    "WeakAssumeNegativeLoss",
    "alim_lambda",
    "anchor_transition_matrix",
    "coteaching_keep_rate",
    "mixbag",
]
