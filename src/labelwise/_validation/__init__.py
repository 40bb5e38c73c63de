"""Every check of user input, and the only place that words input errors.

Messages follow one template: ``` `<arg>` must be <expected>; got <actual>. ``` with shapes,
lengths and the allowed set, so a user can fix the call without reading the source.
``ValueError`` is for bad values, ``TypeError`` for bad types. One module per kind of input;
this package re-exports them all, so callers import from ``labelwise._validation``.
"""

from labelwise._validation._base import (
    ROW_SUM_TOLERANCE,
    LabelwiseWarning,
    check_bool,
    check_choice,
    check_fraction,
    check_int,
    check_positive,
    check_pruning_options,
    fail,
    preview,
)
from labelwise._validation.classification import (
    ClassificationInput,
    LabelEncoding,
    check_class_counts,
    check_classification,
    check_every_class_present,
    check_label_range_summary,
    check_labels,
    check_pred_probs,
    check_pred_probs_array,
    check_probability_rows,
    check_row_defect_summary,
)
from labelwise._validation.features import (
    FeatureInput,
    check_distinct_rows,
    check_features,
    check_labels_only,
    check_n_neighbors,
    check_nonzero_rows,
    check_same_rows,
)
from labelwise._validation.multilabel import (
    MultilabelInput,
    check_indicator_summary,
    check_multilabel,
    check_multilabel_labels,
    check_unit_interval_rows,
    check_unit_interval_summary,
)
from labelwise._validation.regression import (
    RegressionInput,
    check_positive_vector,
    check_real_vector,
    check_regression,
    check_residual_spread,
)
from labelwise._validation.training import (
    check_bags,
    check_candidates,
    check_device_name,
    check_hidden_layer_sizes,
    check_partial_targets,
    check_pu_labels,
)

__all__ = [
    "ROW_SUM_TOLERANCE",
    "ClassificationInput",
    "FeatureInput",
    "LabelEncoding",
    "LabelwiseWarning",
    "MultilabelInput",
    "RegressionInput",
    "check_bags",
    "check_bool",
    "check_candidates",
    "check_choice",
    "check_class_counts",
    "check_classification",
    "check_device_name",
    "check_distinct_rows",
    "check_every_class_present",
    "check_features",
    "check_fraction",
    "check_hidden_layer_sizes",
    "check_indicator_summary",
    "check_int",
    "check_label_range_summary",
    "check_labels",
    "check_labels_only",
    "check_multilabel",
    "check_multilabel_labels",
    "check_n_neighbors",
    "check_nonzero_rows",
    "check_partial_targets",
    "check_positive",
    "check_positive_vector",
    "check_pred_probs",
    "check_pred_probs_array",
    "check_probability_rows",
    "check_pruning_options",
    "check_pu_labels",
    "check_real_vector",
    "check_regression",
    "check_residual_spread",
    "check_row_defect_summary",
    "check_same_rows",
    "check_unit_interval_rows",
    "check_unit_interval_summary",
    "fail",
    "preview",
]
