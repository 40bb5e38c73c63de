"""Aggregate: many noisy voices (annotators, labeling functions, models) into one label."""

from labelwise.aggregate._base import BaseAggregator, ConvergenceWarning
from labelwise.aggregate.agreement import (
    AgreementSummary,
    MajorityVoteCheck,
    annotator_agreement,
    majority_vote_is_sufficient,
)
from labelwise.aggregate.crowdlab import CrowdLab
from labelwise.aggregate.dawid_skene import DawidSkene, OneCoinDawidSkene
from labelwise.aggregate.glad import GLAD
from labelwise.aggregate.label_model import DependentPairs, LabelModel, dependent_source_pairs
from labelwise.aggregate.mace import MACE
from labelwise.aggregate.majority_vote import MajorityVote, WeightedMajorityVote
from labelwise.aggregate.multilabel import MultilabelAggregation, aggregate_multilabel
from labelwise.aggregate.regression_label_model import RegressionLabelModel

__all__ = ["BaseAggregator", "ConvergenceWarning"]
__all__ += ["DawidSkene", "MajorityVote", "OneCoinDawidSkene", "WeightedMajorityVote"]
__all__ += ["CrowdLab"]
__all__ += ["AgreementSummary", "MajorityVoteCheck", "annotator_agreement"]
__all__ += ["majority_vote_is_sufficient"]
__all__ += ["GLAD", "MACE"]
__all__ += ["MultilabelAggregation", "aggregate_multilabel"]
__all__ += ["DependentPairs", "LabelModel", "dependent_source_pairs"]
__all__ += ["RegressionLabelModel"]
