"""labelwise: machine learning with imperfect labels.

Find wrong labels, aggregate many noisy voices into one, train with incomplete labels, and
know how much to trust the predictions. ``import labelwise`` loads only the core (numpy,
scipy, pandas, scikit-learn, numba); PyTorch, Dask and the report stack load from their own
modules when used.
"""

from labelwise._validation import LabelwiseWarning
from labelwise.active import ActiveTester, relabel_scores, select_batch, uncertainty_scores
from labelwise.annotations import Annotations
from labelwise.class_prior import ClassPriorEstimate, estimate_class_prior
from labelwise.issues import (
    AuditResult,
    LabelIssues,
    MultilabelIssues,
    NearDuplicates,
    NoiseEstimate,
    Outliers,
    RegressionIssues,
    audit,
    class_summary,
    confident_joint,
    cross_val_multilabel_pred_probs,
    cross_val_pred_probs,
    estimate_noise,
    find_label_issues,
    find_multilabel_issues,
    find_near_duplicates,
    find_outliers,
    find_regression_issues,
    label_quality_scores,
    multilabel_quality_scores,
    outlier_scores,
    regression_quality_scores,
)

__version__ = "0.1.0"

__all__ = [
    "ActiveTester",
    "Annotations",
    "AuditResult",
    "ClassPriorEstimate",
    "LabelIssues",
    "LabelwiseWarning",
    "MultilabelIssues",
    "NearDuplicates",
    "NoiseEstimate",
    "Outliers",
    "RegressionIssues",
    "__version__",
    "audit",
    "class_summary",
    "confident_joint",
    "cross_val_multilabel_pred_probs",
    "cross_val_pred_probs",
    "estimate_class_prior",
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
    "relabel_scores",
    "select_batch",
    "uncertainty_scores",
]
