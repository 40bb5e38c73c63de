"""Audit: find wrong labels, score label quality, estimate the label noise."""

from labelwise.issues.audit import AuditResult, audit
from labelwise.issues.confident_joint import NoiseEstimate, confident_joint, estimate_noise
from labelwise.issues.cross_validation import (
    cross_val_multilabel_pred_probs,
    cross_val_pred_probs,
)
from labelwise.issues.duplicates import NearDuplicates, find_near_duplicates
from labelwise.issues.label_issues import LabelIssues, find_label_issues
from labelwise.issues.multilabel import (
    MultilabelIssues,
    find_multilabel_issues,
    multilabel_quality_scores,
)
from labelwise.issues.outliers import Outliers, find_outliers, outlier_scores
from labelwise.issues.regression import (
    RegressionIssues,
    find_regression_issues,
    regression_quality_scores,
)
from labelwise.issues.scores import label_quality_scores
from labelwise.issues.summary import class_summary

__all__ = [
    "AuditResult",
    "LabelIssues",
    "MultilabelIssues",
    "NearDuplicates",
    "NoiseEstimate",
    "Outliers",
    "RegressionIssues",
    "audit",
    "class_summary",
    "confident_joint",
    "cross_val_multilabel_pred_probs",
    "cross_val_pred_probs",
    "estimate_noise",
    "find_label_issues",
    "find_multilabel_issues",
    "find_near_duplicates",
    "find_outliers",
    "find_regression_issues",
    "label_quality_scores",
    "multilabel_quality_scores",
    "outlier_scores",
    "regression_quality_scores",
]
