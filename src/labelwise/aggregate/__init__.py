"""Aggregate: many noisy voices (annotators, labeling functions, models) into one label."""

from labelwise.aggregate._base import BaseAggregator, ConvergenceWarning
from labelwise.aggregate.crowdlab import CrowdLab

__all__ = ["BaseAggregator", "ConvergenceWarning"]
__all__ += ["CrowdLab"]
