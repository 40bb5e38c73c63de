"""Audit: find wrong labels, score label quality, estimate the label noise."""

from labelwise.issues.confident_joint import NoiseEstimate, confident_joint, estimate_noise
from labelwise.issues.cross_validation import cross_val_pred_probs
from labelwise.issues.label_issues import LabelIssues, find_label_issues
from labelwise.issues.scores import label_quality_scores

__all__ = [
    "LabelIssues",
    "NoiseEstimate",
    "confident_joint",
    "cross_val_pred_probs",
    "estimate_noise",
    "find_label_issues",
    "label_quality_scores",
]
