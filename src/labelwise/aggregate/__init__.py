"""Aggregate: many noisy voices (annotators, labeling functions, models) into one label."""

from labelwise.aggregate._base import BaseAggregator, ConvergenceWarning

__all__ = ["BaseAggregator", "ConvergenceWarning"]
