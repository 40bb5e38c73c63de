"""Ask: what to label or re-label next, and how good a model is from few test labels.

- :func:`relabel_scores`: ActiveLab (Goh & Mueller 2023) scores for annotated items (value of
  one more annotation) and unlabeled items (value of a first one) on one scale; multi-class or
  multi-label (one-vs-rest), one or many annotators.
- :func:`uncertainty_scores`, :func:`select_batch`: uncertainty sampling and diverse top-k
  batches (k-center greedy on features).
- :func:`select_representative`: a context set from the points nearest Gaussian-mixture means.
- :class:`ActiveTester`: active testing (Kossen et al. 2021) with LURE weights.
"""

from labelwise.active._relabel import RelabelScores, relabel_scores
from labelwise.active._select import select_batch, select_representative, uncertainty_scores
from labelwise.active._testing import ActiveTester, RiskEstimate, lure_weights

__all__ = [
    "ActiveTester",
    "RelabelScores",
    "RiskEstimate",
    "lure_weights",
    "relabel_scores",
    "select_batch",
    "select_representative",
    "uncertainty_scores",
]
