"""Conformal prediction: prediction sets with guarantees, risk control and abstention.

Multi-class: :class:`SplitConformal` (LAC, APS, RAPS sets covering the true label with
probability at least ``confidence_level``). Multi-label: :class:`MultilabelConformal`
(threshold sets controlling the false-negative rate by conformal risk control, or the
precision by Learn-Then-Test), :class:`LabelPowersetConformal` (regions of whole label sets,
LP-ICP with pruning) and :class:`CostControlledSets` (FavMac: value-maximising sets under a cost
bound, with online updates). Abstention: :class:`SelectiveClassifier` (SGR),
:func:`risk_coverage_curve`, :func:`aurc`. See ``docs/trust.md``.
"""

from labelwise.conformal._cost import CostControlledSets
from labelwise.conformal._multilabel import MultilabelConformal
from labelwise.conformal._powerset import LabelPowersetConformal, LabelSetRegion
from labelwise.conformal._selective import (
    RiskCoverageCurve,
    SelectiveClassifier,
    aurc,
    risk_coverage_curve,
)
from labelwise.conformal._split import SplitConformal

__all__ = [
    "CostControlledSets",
    "LabelPowersetConformal",
    "LabelSetRegion",
    "MultilabelConformal",
    "RiskCoverageCurve",
    "SelectiveClassifier",
    "SplitConformal",
    "aurc",
    "risk_coverage_curve",
]
