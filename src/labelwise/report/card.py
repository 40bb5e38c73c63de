"""The label card: what the audit, aggregation and weak-supervision results say, as plain data.

Collecting (this module) picks and arranges numbers that the analysis already computed into a
frozen :class:`LabelCard`; rendering (:meth:`LabelCard.to_html`, :meth:`LabelCard.to_dict`)
only formats them. The card is inspired by "The Dataset Nutrition Label" (Holland et al. 2018;
Chmielinski et al. 2020): one standard, at-a-glance page about a dataset's label health.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labelwise._validation import check_int, fail
from labelwise.aggregate._base import BaseAggregator
from labelwise.aggregate.agreement import AgreementSummary
from labelwise.annotations import Annotations
from labelwise.calibration import ReliabilityCurve
from labelwise.issues.audit import AuditResult, _plain
from labelwise.weak.analysis import DatasetSummary

__all__ = ["LabelCard", "aggregation_card", "audit_card", "weak_card"]


@dataclass(frozen=True)
class LabelCard:
    """Everything one label card shows; each part is None where it does not apply.

    Attributes
    ----------
    title : str
    source : str
        What the data are (file names or "built-in example ...").
    facts : tuple of (str, object)
        The dataset summary, as label/value pairs, in display order.
    classes : tuple of str or None
        Class names in column order.
    class_counts : ndarray of shape (K,) or None
        Examples per given (or consensus) class.
    noise_matrix : ndarray of shape (K, K) or None
        ``P(given = i | true = j)`` (:class:`labelwise.NoiseEstimate`).
    issues : DataFrame or None
        The top label issues, worst first (``index``, labels, ``label_quality``, and ``text``
        when the data are texts).
    thumbnails : ndarray of shape (len(issues), h, w) or None
        Small grey images of the rows of ``issues``, for image data.
    outliers, duplicates : DataFrame or None
        Flagged outliers (worst first) and near-duplicate groups.
    annotators : DataFrame or None
        One row per annotator or labeling function: volume and estimated quality.
    agreement : DataFrame or None
        Pairwise Cohen's kappa between sources (square, indexed by source).
    lfs : DataFrame or None
        Per labeling function: coverage, overlaps, conflicts, estimated accuracy.
    reliability : ReliabilityCurve or None
        Confidence against accuracy of the predicted class.
    notes : tuple of str
        Checks that did not run, and why.
    """

    title: str
    source: str
    facts: tuple[tuple[str, Any], ...]
    classes: tuple[str, ...] | None = None
    class_counts: np.ndarray | None = None
    noise_matrix: np.ndarray | None = None
    issues: pd.DataFrame | None = None
    thumbnails: np.ndarray | None = None
    outliers: pd.DataFrame | None = None
    duplicates: pd.DataFrame | None = None
    annotators: pd.DataFrame | None = None
    agreement: pd.DataFrame | None = None
    lfs: pd.DataFrame | None = None
    reliability: ReliabilityCurve | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_html(self) -> str:
        """One self-contained HTML page (styles, scripts and figures inline; no network).

        Needs the ``report`` extra: ``pip install 'labelwise[report]'``.
        """
        from labelwise.report._render import render_html  # the optional-dependency door

        return render_html(self)

    def to_dict(self) -> dict[str, Any]:
        """The card's content as JSON-ready Python values (no extra needed)."""

        def table(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
            return None if frame is None else _plain(frame.to_dict(orient="records"))

        curve = self.reliability
        return {
            "title": self.title,
            "source": self.source,
            "facts": {name: _plain(value) for name, value in self.facts},
            "classes": None if self.classes is None else list(self.classes),
            "class_counts": _plain(self.class_counts),
            "noise_matrix": _plain(self.noise_matrix),
            "issues": table(self.issues),
            "outliers": table(self.outliers),
            "near_duplicate_groups": table(self.duplicates),
            "annotators": table(self.annotators),
            "pairwise_kappa": (
                None if self.agreement is None else _plain(self.agreement.to_numpy().tolist())
            ),
            "labeling_functions": table(self.lfs),
            "reliability": None
            if curve is None
            else {
                "bin_edges": _plain(curve.bin_edges),
                "counts": _plain(curve.counts),
                "confidence": _plain(curve.confidence),
                "accuracy": _plain(curve.accuracy),
                "ece": _plain(curve.ece),
            },
            "notes": list(self.notes),
        }


def _names(classes: Any, k: int) -> tuple[str, ...]:
    return tuple(str(c) for c in classes) if classes is not None else tuple(map(str, range(k)))


def _check_rows(values: Any, name: str, n: int) -> None:
    if len(values) != n:
        fail(name, f"one entry per example ({n:,})", f"{len(values):,}")


def audit_card(
    result: AuditResult,
    *,
    source: str,
    images: np.ndarray | None = None,
    texts: Sequence[str] | None = None,
    reliability: ReliabilityCurve | None = None,
    top: int = 200,
    title: str = "Label card",
) -> LabelCard:
    """Collect a label card from :func:`labelwise.audit`'s result.

    Parameters
    ----------
    result : AuditResult
    source : str
        What the data are, shown under the title.
    images : ndarray of shape (n, h, w), optional
        Small grey images (e.g. 8x8 digits): the issues table shows them as thumbnails.
    texts : sequence of str, optional
        The examples' texts: the issues table shows a snippet of each.
    reliability : ReliabilityCurve, optional
        From :func:`labelwise.calibration.reliability_curve`.
    top : int, default=200
        Label issues (and outliers) listed at most.
    title : str, default="Label card"

    Returns
    -------
    LabelCard

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise import audit
    >>> from labelwise.report import audit_card
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.95, 0.05]])
    >>> card = audit_card(audit([0, 0, 1, 1, 1], pred_probs=probs), source="toy")
    >>> card.issues["index"].tolist()
    [4]
    """
    if not isinstance(result, AuditResult):
        fail(
            "result", "an AuditResult (from labelwise.audit)", type(result).__name__, kind=TypeError
        )
    top = check_int(top, "top", minimum=1)
    n = result.n_examples
    if images is not None:
        images = np.asarray(images)
        _check_rows(images, "images", n)
        if images.ndim != 3:
            fail("images", "an array of shape (n, h, w)", f"shape {images.shape}")
    if texts is not None:
        _check_rows(texts, "texts", n)
    found = result.summary()
    facts: list[tuple[str, Any]] = [
        ("task", found["task"]),
        ("examples", found["n_examples"]),
        ("classes", found["n_classes"]),
        ("label issues", found["n_label_issues"]),
        ("label issue rate", found["label_issue_rate"]),
        ("estimated noise rate", found["estimated_noise_rate"]),
        ("outliers", found["n_outliers"]),
        ("near-duplicate groups", found["n_near_duplicate_groups"]),
        ("near-duplicate groups with conflicting labels", found["n_conflicting_duplicate_groups"]),
    ]
    facts = [(name, value) for name, value in facts if value is not None]
    classes = None if result.classes is None else _names(result.classes, len(result.classes))
    counts = None
    if result.class_summary is not None:
        counts = result.class_summary["count"].to_numpy(dtype=np.int64)
    issues = thumbs = None
    if result.label_issues is not None:
        frame = result.label_issues.to_frame(only_issues=True).head(top)
        frame = frame.drop(columns="is_label_issue", errors="ignore").reset_index(drop=True)
        rows = frame["index"].to_numpy(dtype=np.int64)
        if texts is not None:
            frame.insert(1, "text", [str(texts[i]) for i in rows])
        if images is not None:
            thumbs = images[rows]
        issues = frame
    outliers = duplicates = None
    if result.outliers is not None:
        ex = result.examples
        order = result.outliers.ranking[:top]
        keep = [c for c in ("index", "given_label", "outlier_score") if c in ex.columns]
        outliers = ex.iloc[order][keep].reset_index(drop=True)
        if texts is not None:
            outliers.insert(1, "text", [str(texts[i]) for i in order])
    if result.near_duplicates is not None:
        dups = result.near_duplicates
        labels = result.examples.get("given_label")
        records = []
        for gid, members in enumerate(dups.groups[:top]):
            given = [] if labels is None else sorted({str(labels.iloc[i]) for i in members})
            records.append(
                {
                    "group": gid,
                    "rows": " ".join(map(str, members.tolist())),
                    "size": int(members.size),
                    "labels": ", ".join(given),
                    "conflicting": bool(dups.conflicting[gid])
                    if dups.conflicting is not None
                    else False,
                }
            )
        duplicates = pd.DataFrame(
            records, columns=["group", "rows", "size", "labels", "conflicting"]
        )
    return LabelCard(
        title=title,
        source=source,
        facts=tuple(facts),
        classes=classes,
        class_counts=counts,
        noise_matrix=None if result.noise is None else result.noise.noise_matrix,
        issues=issues,
        thumbnails=thumbs,
        outliers=outliers,
        duplicates=duplicates,
        reliability=reliability,
        notes=tuple(f"{check}: {why}" for check, why in result.skipped),
    )


def _kappa_frame(agreement: AgreementSummary, sources: Any) -> pd.DataFrame:
    names = [str(s) for s in sources]
    return pd.DataFrame(agreement.pairwise_kappa, index=names, columns=names)


def _source_table(
    annotations: Annotations, model: BaseAggregator, agreement: AgreementSummary | None
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "source": [str(s) for s in annotations.sources],
            "n_labels": annotations.source_counts(),
            "estimated_quality": np.asarray(model.source_quality_, dtype=np.float64),
        }
    )
    if agreement is not None:
        kappa = np.array(agreement.pairwise_kappa, dtype=np.float64)
        np.fill_diagonal(kappa, np.nan)
        defined = ~np.isnan(kappa)
        sums = np.where(defined, kappa, 0.0).sum(axis=1)
        count = defined.sum(axis=1)
        frame["mean_kappa"] = np.divide(
            sums, count, out=np.full(count.shape, np.nan), where=count > 0
        )
    return frame


def aggregation_card(
    annotations: Annotations,
    model: BaseAggregator,
    *,
    agreement: AgreementSummary | None = None,
    source: str,
    title: str = "Label card: annotator aggregation",
) -> LabelCard:
    """Collect a label card from fitted aggregation of several annotators' labels.

    Parameters
    ----------
    annotations : Annotations
    model : fitted aggregator (``labelwise.aggregate``)
    agreement : AgreementSummary, optional
        From :func:`labelwise.aggregate.annotator_agreement`.
    source : str
    title : str

    Returns
    -------
    LabelCard
    """
    if not isinstance(model, BaseAggregator) or not hasattr(model, "labels_"):
        fail("model", "a fitted labelwise aggregator", type(model).__name__, kind=TypeError)
    classes = _names(annotations.classes, len(annotations.classes))
    codes = np.argmax(model.probas_, axis=1)
    counts = np.bincount(codes, minlength=len(classes)).astype(np.int64)
    items_per = np.bincount(annotations.item, minlength=annotations.n_items)
    facts: list[tuple[str, Any]] = [
        ("items", annotations.n_items),
        ("annotators", annotations.n_sources),
        ("annotations", int(annotations.item.size)),
        ("classes", len(classes)),
        ("mean labels per item", float(items_per.mean()) if items_per.size else 0.0),
        ("method", type(model).__name__),
    ]
    if agreement is not None:
        facts += [
            ("mean pairwise Cohen's kappa", agreement.mean_kappa),
            ("Krippendorff's alpha", agreement.krippendorff_alpha),
        ]
    return LabelCard(
        title=title,
        source=source,
        facts=tuple(facts),
        classes=classes,
        class_counts=counts,
        annotators=_source_table(annotations, model, agreement),
        agreement=None if agreement is None else _kappa_frame(agreement, annotations.sources),
    )


def weak_card(
    annotations: Annotations,
    model: BaseAggregator,
    lf_summary: pd.DataFrame,
    dataset: DatasetSummary,
    *,
    source: str,
    title: str = "Label card: weak supervision",
) -> LabelCard:
    """Collect a label card from labeling-function votes and a fitted label model.

    Parameters
    ----------
    annotations : Annotations
        The votes (:func:`labelwise.weak.apply`).
    model : fitted aggregator
        Usually :class:`labelwise.aggregate.LabelModel`.
    lf_summary : DataFrame
        :func:`labelwise.weak.summary` of the same votes.
    dataset : DatasetSummary
        :func:`labelwise.weak.dataset_summary` of the same votes.
    source : str
    title : str

    Returns
    -------
    LabelCard
    """
    if not isinstance(model, BaseAggregator) or not hasattr(model, "labels_"):
        fail("model", "a fitted labelwise aggregator", type(model).__name__, kind=TypeError)
    classes = _names(annotations.classes, len(annotations.classes))
    codes = np.argmax(model.probas_, axis=1)
    covered = np.bincount(annotations.item, minlength=annotations.n_items) > 0
    counts = np.bincount(codes[covered], minlength=len(classes)).astype(np.int64)
    facts: list[tuple[str, Any]] = [
        ("items", dataset.n_items),
        ("labeling functions", dataset.n_sources),
        ("votes", dataset.n_votes),
        ("coverage", dataset.coverage),
        ("overlap", dataset.overlap),
        ("conflict", dataset.conflict),
        ("label model", type(model).__name__),
    ]
    lfs = lf_summary.copy()
    lfs.insert(0, "labeling_function", [str(s) for s in lfs.index])
    for column in ("polarity", "correlated"):
        if column in lfs.columns:
            lfs[column] = [", ".join(map(str, v)) for v in lfs[column]]
    lfs["estimated_accuracy"] = np.asarray(model.source_quality_, dtype=np.float64)
    return LabelCard(
        title=title,
        source=source,
        facts=tuple(facts),
        classes=classes,
        class_counts=counts,
        lfs=lfs.reset_index(drop=True),
    )
