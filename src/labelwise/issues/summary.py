"""Per-class summary of a labelled dataset: size, imbalance, estimated noise, flagged issues.

- ``is_imbalanced``: the class holds less than ``imbalance_threshold / K`` of the examples.
  This is the rule of cleanlab 2.9's Datalab ``class_imbalance`` check, applied to every class
  (Datalab reports only the rarest class, and only when it breaks the rule).
- ``noise_rate`` = ``P(true != k | given = k)``: the estimated share of the examples labelled
  ``k`` whose label is wrong; ``inverse_noise_rate`` = ``P(given != k | true = k)``: the share
  of the examples that truly belong to ``k`` but carry another label. Both come from the
  calibrated confident joint ``C`` of :func:`labelwise.estimate_noise` (Northcutt, Jiang &
  Chuang, JAIR 2021): ``1 - C[k, k] / C[k, :].sum()`` and ``1 - C[k, k] / C[:, k].sum()``,
  the "Label Noise" and "Inverse Label Noise" of ``cleanlab.dataset.rank_classes_by_label_quality``.
- ``n_issues`` and ``issue_rate``: how many of the examples labelled ``k`` a
  :class:`~labelwise.LabelIssues` flags, and what share of the class that is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from labelwise._validation import (
    check_classification,
    check_fraction,
    check_labels_only,
    fail,
)
from labelwise.issues.confident_joint import calibrate_joint, run_confident_pass
from labelwise.issues.label_issues import LabelIssues

#: Datalab's default: a class is rare below 0.1 of an even share (1 / K).
DEFAULT_IMBALANCE_THRESHOLD = 0.1

COLUMNS = (
    "name",
    "count",
    "share",
    "is_imbalanced",
    "noise_rate",
    "inverse_noise_rate",
    "n_issues",
    "issue_rate",
)


def _check_issues(issues: object, labels: np.ndarray) -> LabelIssues:
    if not isinstance(issues, LabelIssues):
        fail(
            "issues",
            "a LabelIssues (from find_label_issues) or None",
            type(issues).__name__,
            kind=TypeError,
        )
    given = issues.given_label
    if given.shape != labels.shape:
        fail("issues", f"found on these {labels.size} labels", f"one for {given.size} labels")
    differ = given != labels
    if differ.any():
        fail(
            "issues",
            "found on these labels",
            f"{int(differ.sum())} label(s) that differ, first at index {int(np.argmax(differ))}",
        )
    return issues


def class_summary(
    labels: Any,
    pred_probs: Any = None,
    *,
    issues: LabelIssues | None = None,
    imbalance_threshold: float = DEFAULT_IMBALANCE_THRESHOLD,
    classes: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Summarise each class: size, share, imbalance, estimated label noise, flagged issues.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Given labels: class ids ``0..K-1`` or class names (see ``classes``).
    pred_probs : array-like of shape (n, K), optional
        Out-of-sample predicted probabilities; with them the noise rates are estimated (every
        class must then occur in ``labels``). They also fix ``K``; without them (and without
        ``classes``) the classes are ``0..max(labels)``, or the distinct names.
    issues : LabelIssues, optional
        Label issues found on these same labels; gives ``n_issues`` and ``issue_rate``.
    imbalance_threshold : float in (0, 1], default=0.1
        A class is imbalanced when its share is below ``imbalance_threshold / K``.
    classes : sequence, optional
        Class names in id order (the column order of ``pred_probs``), when ``labels`` holds
        names.

    Returns
    -------
    pandas.DataFrame
        One row per class, indexed by class id (``class``), with the columns ``name`` (the
        class name, or the id when there are no names), ``count``, ``share``,
        ``is_imbalanced``, ``noise_rate``, ``inverse_noise_rate`` (NaN without
        ``pred_probs``), ``n_issues`` (nullable integer, missing without ``issues``) and
        ``issue_rate`` (NaN without ``issues``). See the module docstring for definitions.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.issues.summary import class_summary
    >>> labels = np.array([0] * 60 + [1] * 38 + [2] * 2)
    >>> summary = class_summary(labels)
    >>> print(summary[["count", "share", "is_imbalanced"]].reset_index().to_string(index=False))
     class  count  share  is_imbalanced
         0     60   0.60          False
         1     38   0.38          False
         2      2   0.02           True
    """
    imbalance_threshold = check_fraction(imbalance_threshold, "imbalance_threshold")
    if pred_probs is not None:
        data = check_classification(labels, pred_probs, classes=classes)
        codes, names, n_classes = data.labels, data.classes, data.pred_probs.shape[1]
        counts = data.class_counts
    else:
        encoded, n_classes = check_labels_only(labels, classes=classes)
        codes, names = encoded.labels, encoded.classes
        counts = np.bincount(codes, minlength=n_classes)
    if issues is not None:
        issues = _check_issues(issues, codes)
        if names is None:
            names = issues.classes

    share = counts / codes.size
    noise = inverse = np.full(n_classes, np.nan)
    if pred_probs is not None:
        facts = run_confident_pass(data.labels, data.pred_probs, counts)
        joint = calibrate_joint(facts.joint, counts).astype(np.float64)
        diagonal = joint.diagonal()
        noise = 1.0 - diagonal / np.clip(joint.sum(axis=1), 1e-12, None)
        inverse = 1.0 - diagonal / np.clip(joint.sum(axis=0), 1e-12, None)
    n_issues = pd.array([pd.NA] * n_classes, dtype="Int64")
    issue_rate = np.full(n_classes, np.nan)
    if issues is not None:
        flagged = np.bincount(codes[issues.is_issue], minlength=n_classes)
        n_issues = pd.array(flagged, dtype="Int64")
        issue_rate = np.where(counts > 0, flagged / np.maximum(counts, 1), np.nan)
    frame = pd.DataFrame(
        {
            "name": list(names) if names is not None else list(range(n_classes)),
            "count": counts.astype(np.int64),
            "share": share,
            "is_imbalanced": share < imbalance_threshold / n_classes,
            "noise_rate": noise,
            "inverse_noise_rate": inverse,
            "n_issues": n_issues,
            "issue_rate": issue_rate,
        },
        index=pd.RangeIndex(n_classes, name="class"),
    )
    return frame
