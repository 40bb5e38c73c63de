"""labelwise.report: the label card's content (collect) and its self-contained HTML (render)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from labelwise import Annotations, audit
from labelwise.aggregate import DawidSkene, LabelModel, annotator_agreement
from labelwise.calibration import reliability_curve
from labelwise.report import LabelCard, aggregation_card, audit_card, weak_card
from labelwise.weak import dataset_summary, summary

pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")
pytest.importorskip("jinja2", reason="the report extra (jinja2) is not installed")

PROBS = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.95, 0.05], [0.3, 0.7]])
LABELS = np.array([0, 0, 1, 1, 1, 1])


def _crowd() -> Annotations:
    matrix = np.array([[0, 0, 1], [1, 1, 1], [0, 0, -1], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    return Annotations.from_matrix(matrix)


def _external_references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//[^"' )]+""", html)


def test_audit_card_lists_issues_with_texts_and_thumbnails() -> None:
    texts = [f"text number {i}" for i in range(6)]
    images = np.arange(6 * 4).reshape(6, 2, 2).astype(float)
    card = audit_card(audit(LABELS, pred_probs=PROBS), source="toy", texts=texts, images=images)
    assert card.issues is not None and card.thumbnails is not None
    assert card.issues["index"].tolist() == [4]
    assert card.issues["text"].tolist() == ["text number 4"]
    np.testing.assert_array_equal(card.thumbnails[0], images[4])
    assert dict(card.facts)["label issues"] == 1
    json.dumps(card.to_dict())  # JSON-ready


def test_audit_card_html_is_self_contained_with_every_section() -> None:
    curve = reliability_curve(PROBS, LABELS, n_bins=5)
    result = audit(LABELS, pred_probs=PROBS)
    html = audit_card(result, source="toy <data>", reliability=curve).to_html()
    for section in ("summary", "classes", "noise", "label-issues", "calibration"):
        assert f'<section id="{section}">' in html
    assert "toy &lt;data&gt;" in html  # user text is escaped
    assert _external_references(html) == []
    assert html.count("<svg") == 3


def test_aggregation_and_weak_cards() -> None:
    ann = _crowd()
    model = DawidSkene().fit(ann)
    card = aggregation_card(ann, model, agreement=annotator_agreement(ann), source="crowd")
    assert card.annotators is not None and card.agreement is not None
    np.testing.assert_allclose(card.annotators["estimated_quality"], model.source_quality_)
    assert card.annotators["n_labels"].tolist() == ann.source_counts().tolist()
    html = card.to_html()
    assert '<section id="annotator-quality">' in html and 'id="annotators-table"' in html

    label_model = LabelModel().fit(ann)
    table = summary(ann)
    weak = weak_card(ann, label_model, table, dataset_summary(ann), source="votes")
    assert weak.lfs is not None
    assert weak.lfs["labeling_function"].tolist() == [str(s) for s in ann.sources]
    assert dict(weak.facts)["coverage"] == pytest.approx(dataset_summary(ann).coverage)
    assert '<section id="labeling-functions">' in weak.to_html()


def test_card_errors_are_pinned() -> None:
    with pytest.raises(
        TypeError, match=r"^`result` must be an AuditResult \(from labelwise.audit\); got dict\.$"
    ):
        audit_card({}, source="x")  # type: ignore[arg-type]
    result = audit(LABELS, pred_probs=PROBS)
    with pytest.raises(
        ValueError, match=r"^`images` must be one entry per example \(6\); got 2\.$"
    ):
        audit_card(result, source="x", images=np.zeros((2, 2, 2)))
    with pytest.raises(
        ValueError, match=r"^`images` must be an array of shape \(n, h, w\); got shape \(6, 4\)\.$"
    ):
        audit_card(result, source="x", images=np.zeros((6, 4)))
    with pytest.raises(
        TypeError, match=r"^`model` must be a fitted labelwise aggregator; got DawidSkene\.$"
    ):
        aggregation_card(_crowd(), DawidSkene(), source="x")


def test_an_empty_card_renders() -> None:
    card = LabelCard(title="Nothing", source="no data", facts=(("examples", 0),))
    html = card.to_html()
    assert "<h1>Nothing</h1>" in html and "<svg" not in html
    assert card.to_dict()["issues"] is None
    assert isinstance(pd.DataFrame(card.to_dict()["facts"], index=[0]), pd.DataFrame)
