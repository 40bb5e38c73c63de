"""One call that runs every dataset check the inputs allow, and one result to read or render.

``audit`` composes the checks of this package — wrong labels (multi-class, multi-label or
regression), the noise estimate, outliers, near-duplicates and per-class summaries — and merges
their per-example findings into one table. What it cannot run it lists in ``skipped`` with the
reason, so a report can say what was not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labelwise._validation import check_choice, fail
from labelwise.issues.confident_joint import NoiseEstimate, estimate_noise
from labelwise.issues.duplicates import NearDuplicates, find_near_duplicates
from labelwise.issues.label_issues import LabelIssues, find_label_issues
from labelwise.issues.multilabel import MultilabelIssues, find_multilabel_issues
from labelwise.issues.outliers import Outliers, find_outliers
from labelwise.issues.regression import RegressionIssues, find_regression_issues
from labelwise.issues.summary import class_summary

TASKS = ("multiclass", "multilabel", "regression")


@dataclass(frozen=True)
class AuditResult:
    """Everything ``audit`` found, per example and for the whole dataset.

    Attributes
    ----------
    task : str
        "multiclass", "multilabel" or "regression".
    n_examples : int
    classes : tuple or None
        Class names (or ids) in column order, for classification.
    label_issues : LabelIssues, MultilabelIssues, RegressionIssues or None
        None when no model output was given.
    noise : NoiseEstimate or None
        Multi-class only: prior, noise matrix and noise rate.
    outliers : Outliers or None
    near_duplicates : NearDuplicates or None
    class_summary : pandas.DataFrame or None
        Per class: count, share, imbalance, estimated noise rate, issue rate.
    examples : pandas.DataFrame
        One row per example with every per-example finding (columns depend on the checks run;
        ``index`` always first).
    skipped : tuple of (str, str)
        Checks that did not run, each with the reason.
    """

    task: str
    n_examples: int
    classes: tuple[Any, ...] | None
    label_issues: LabelIssues | MultilabelIssues | RegressionIssues | None
    noise: NoiseEstimate | None
    outliers: Outliers | None
    near_duplicates: NearDuplicates | None
    class_summary: pd.DataFrame | None
    examples: pd.DataFrame
    skipped: tuple[tuple[str, str], ...]

    def summary(self) -> dict[str, Any]:
        """Dataset-level figures (always the same keys; None where a check did not run)."""
        issues, outliers, dups = self.label_issues, self.outliers, self.near_duplicates
        return {
            "task": self.task,
            "n_examples": self.n_examples,
            "n_classes": None if self.classes is None else len(self.classes),
            "n_label_issues": None if issues is None else issues.n_issues,
            "label_issue_rate": None if issues is None else issues.n_issues / self.n_examples,
            "estimated_noise_rate": None if self.noise is None else self.noise.noise_rate,
            "n_outliers": None if outliers is None else outliers.n_outliers,
            "n_near_duplicate_groups": None if dups is None else dups.n_groups,
            "n_near_duplicate_rows": None if dups is None else int(dups.is_near_duplicate.sum()),
            "n_conflicting_duplicate_groups": (
                None if dups is None or dups.conflicting is None else int(dups.conflicting.sum())
            ),
            "checks_skipped": [f"{check}: {why}" for check, why in self.skipped],
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: summary, per-class table, noise matrix, per-example table."""
        noise = self.noise
        return {
            "summary": _plain(self.summary()),
            "classes": None if self.classes is None else [_plain(c) for c in self.classes],
            "noise_matrix": None if noise is None else noise.noise_matrix.tolist(),
            "class_prior": None if noise is None else noise.prior.tolist(),
            "class_summary": (
                None
                if self.class_summary is None
                else _plain(self.class_summary.to_dict(orient="records"))
            ),
            "examples": {name: _plain(column.tolist()) for name, column in self.examples.items()},
        }


def _plain(value: Any) -> Any:
    """Turn numpy scalars and containers into JSON-ready Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def audit(
    labels: Any,
    *,
    pred_probs: Any = None,
    predictions: Any = None,
    features: Any = None,
    task: str = "multiclass",
    classes: Sequence[Any] | None = None,
    method: str = "prune_by_noise_rate",
    rank_by: str = "self_confidence",
    n_neighbors: int = 10,
) -> AuditResult:
    """Run every check that the given inputs allow and gather the findings.

    Parameters
    ----------
    labels : array-like
        Given labels: class ids or names ``(n,)`` (multiclass), tags (multilabel: indicator
        matrix or lists), or numeric targets (regression).
    pred_probs : array-like of shape (n, K), optional
        Out-of-sample probabilities (classification). Enables label issues, the noise estimate,
        per-class noise rates and probability-based outlier scores.
    predictions : array-like of shape (n,), optional
        Out-of-sample predictions of the target (regression). Enables label issues.
    features : array-like of shape (n, d), optional
        Numeric features or embeddings. Enables kNN outliers and near-duplicates.
    task : {"multiclass", "multilabel", "regression"}
    classes : sequence, optional
        Class names in the column order of ``pred_probs``.
    method : str, default="prune_by_noise_rate"
        Confident-learning method for classification label issues.
    rank_by : str, default="self_confidence"
        Label quality score for classification (see :func:`labelwise.find_label_issues`).
    n_neighbors : int, default=10
        Neighbours for the outlier and near-duplicate checks.

    Returns
    -------
    AuditResult

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import audit
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 300)
    >>> features = rng.normal(size=(300, 4)) + 3 * np.eye(3, 4)[labels]
    >>> pred_probs = np.full((300, 3), 0.1)
    >>> pred_probs[np.arange(300), labels] = 0.8
    >>> pred_probs[:5] = [0.05, 0.05, 0.9]        # five rows whose model disagrees
    >>> result = audit(labels, pred_probs=pred_probs, features=features)
    >>> sorted(result.label_issues.ranking.tolist()) == sorted(np.flatnonzero(labels[:5] != 2))
    True
    >>> result.summary()["n_classes"], list(result.examples.columns)[:4]
    (3, ['index', 'given_label', 'suggested_label', 'label_quality'])
    """
    check_choice(task, "task", TASKS)
    if task == "regression" and pred_probs is not None:
        fail("pred_probs", "None for task='regression' (pass `predictions`)", "an array")
    if task != "regression" and predictions is not None:
        fail("predictions", f"None for task={task!r} (pass `pred_probs`)", "an array")
    skipped: list[tuple[str, str]] = []
    issues: LabelIssues | MultilabelIssues | RegressionIssues | None = None
    noise = None
    summary_table = None
    if task == "regression":
        if predictions is None:
            skipped.append(("label issues", "no out-of-sample `predictions` given"))
        else:
            issues = find_regression_issues(labels, predictions)
    elif pred_probs is None:
        skipped.append(("label issues", "no out-of-sample `pred_probs` given"))
    elif task == "multilabel":
        issues = find_multilabel_issues(
            labels, pred_probs, method=method, rank_by=rank_by, classes=classes
        )
    else:
        single = find_label_issues(
            labels, pred_probs, method=method, rank_by=rank_by, classes=classes
        )
        issues = single
        noise = estimate_noise(labels, pred_probs, classes=classes)
        summary_table = class_summary(labels, pred_probs, issues=single, classes=classes)
    names = _class_names(issues, classes, pred_probs)
    n = _length(labels, issues)

    outliers = None
    probability_outliers = task == "multiclass" and pred_probs is not None
    if features is None and not probability_outliers:
        skipped.append(("outliers", "no `features` (nor multi-class `pred_probs`) given"))
    else:
        outliers = find_outliers(
            features=features,
            pred_probs=pred_probs if probability_outliers else None,
            labels=labels if probability_outliers else None,
            n_neighbors=n_neighbors,
            classes=classes if probability_outliers else None,
        )
    duplicates = None
    if features is None:
        skipped.append(("near-duplicates", "no `features` given"))
    else:
        duplicates = find_near_duplicates(
            features,
            labels=labels if task == "multiclass" else None,
            n_neighbors=n_neighbors,
            classes=classes if task == "multiclass" else None,
        )
    if task == "multiclass" and summary_table is None:
        summary_table = class_summary(labels, classes=classes)
    examples = _examples_table(n, issues, outliers, duplicates)
    return AuditResult(
        task=task,
        n_examples=n,
        classes=names,
        label_issues=issues,
        noise=noise,
        outliers=outliers,
        near_duplicates=duplicates,
        class_summary=summary_table,
        examples=examples,
        skipped=tuple(skipped),
    )


def _class_names(
    issues: Any, classes: Sequence[Any] | None, pred_probs: Any
) -> tuple[Any, ...] | None:
    if isinstance(issues, (LabelIssues, MultilabelIssues)):
        if issues.classes is not None:
            return tuple(issues.classes)
        k = issues.per_class_issue.shape[1] if isinstance(issues, MultilabelIssues) else None
        k = k if k is not None else int(np.shape(pred_probs)[1])
        return tuple(range(k))
    return tuple(classes) if classes is not None else None


def _length(labels: Any, issues: Any) -> int:
    if issues is not None:
        return int(issues.is_issue.size)
    return int(labels.shape[0]) if hasattr(labels, "shape") else len(labels)


def _examples_table(
    n: int,
    issues: Any,
    outliers: Outliers | None,
    duplicates: NearDuplicates | None,
) -> pd.DataFrame:
    """Merge every per-example finding into one frame, one row per example."""
    table = pd.DataFrame({"index": np.arange(n)})
    if issues is not None:
        found = issues.to_frame()
        table = pd.concat([table, found.drop(columns="index")], axis=1)
    if outliers is not None:
        table["outlier_score"] = outliers.score
        table["is_outlier"] = outliers.is_outlier
    if duplicates is not None:
        table["near_duplicate_group"] = duplicates.group
        table["is_near_duplicate"] = duplicates.is_near_duplicate
        if duplicates.conflicting is not None:
            in_conflict = np.zeros(n, dtype=bool)
            in_conflict[duplicates.conflicting_rows] = True
            table["duplicate_label_conflict"] = in_conflict
    return table
