"""Calibration: make predicted probabilities mean what they say.

Post-hoc scalers fitted on held-out labelled data (``fit(logits, labels)`` then
``transform(logits)``), for multi-class softmax models (:class:`TemperatureScaling`,
:class:`VectorScaling`, :class:`MatrixScaling`) and for binary or multi-label sigmoid models
(:class:`SigmoidTemperatureScaling`, :class:`PlattScaling`); and the metrics that show whether
it worked (:func:`expected_calibration_error`, :func:`classwise_calibration_error`,
:func:`reliability_curve`). See ``docs/trust.md``.
"""

from labelwise.calibration._metrics import (
    ReliabilityCurve,
    classwise_calibration_error,
    expected_calibration_error,
    reliability_curve,
)
from labelwise.calibration._scaling import MatrixScaling, TemperatureScaling, VectorScaling
from labelwise.calibration._sigmoid import PlattScaling, SigmoidTemperatureScaling

__all__ = [
    "MatrixScaling",
    "PlattScaling",
    "ReliabilityCurve",
    "SigmoidTemperatureScaling",
    "TemperatureScaling",
    "VectorScaling",
    "classwise_calibration_error",
    "expected_calibration_error",
    "reliability_curve",
]
