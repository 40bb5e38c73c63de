"""scikit-learn-style trainers for incomplete labels (needs ``pip install 'labelwise[torch]'``).

Each trainer fits a linear head or a small MLP on a feature matrix (frozen embeddings, tabular
features) with a loss from :mod:`labelwise.losses`, on CPU or CUDA, seeded, with early stopping
on a validation split. ``predict_proba`` returns NumPy arrays in the conventions of
:mod:`labelwise.issues` and :mod:`labelwise.conformal`.
"""

from __future__ import annotations

import labelwise.losses  # noqa: F401  (the one door to torch: a clear ImportError without it)
from labelwise.models.noisy import NoisyLabelClassifier
from labelwise.models.partial_label import PartialLabelClassifier
from labelwise.models.partial_multilabel import PartialMultilabelClassifier
from labelwise.models.proportions import ProportionClassifier
from labelwise.models.pu import PUClassifier

__all__ = [
    "NoisyLabelClassifier",
    "PUClassifier",
    "PartialLabelClassifier",
    "PartialMultilabelClassifier",
    "ProportionClassifier",
]
