"""Dask execution of labelwise's chunked kernels (needs ``pip install 'labelwise[dask]'``).

The same algorithms as in memory, on Dask collections: row blocks of ``pred_probs`` for the
label-issue functions (identical results), and a Dask DataFrame of annotations for the
aggregators (same fit within floating-point tolerance). Everything goes through whichever Dask
scheduler is active: the local threads by default, or a ``dask.distributed.Client`` (a
``LocalCluster`` or a real cluster at ``Client("scheduler:8786")``) once one is created.

This package is the one door to Dask: ``import labelwise`` never imports it, and importing
this package without it raises an ``ImportError`` that names the extra to install.
"""

from __future__ import annotations

try:
    import dask
    import dask.array
    import dask.dataframe  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without dask
    raise ImportError("labelwise.distributed needs Dask: pip install 'labelwise[dask]'") from error

from labelwise.distributed.aggregate import fit
from labelwise.distributed.issues import (
    DaskLabelIssues,
    confident_joint,
    estimate_noise,
    find_label_issues,
    label_quality_scores,
)
from labelwise.distributed.multilabel import (
    DaskMultilabelIssues,
    find_multilabel_issues,
    multilabel_quality_scores,
)
from labelwise.distributed.rows import apply, predict_set, transform

__all__ = [
    "DaskLabelIssues",
    "DaskMultilabelIssues",
    "apply",
    "confident_joint",
    "estimate_noise",
    "find_label_issues",
    "find_multilabel_issues",
    "fit",
    "label_quality_scores",
    "multilabel_quality_scores",
    "predict_set",
    "transform",
]
