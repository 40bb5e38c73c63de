"""The label card: collect audit / aggregation / weak-supervision results, render HTML and JSON.

Collecting (:func:`audit_card`, :func:`aggregation_card`, :func:`weak_card`) needs no extra;
:meth:`LabelCard.to_html` needs the ``report`` extra (jinja2 and matplotlib):
``pip install 'labelwise[report]'``. See ``docs/report.md``.
"""

from labelwise.report.card import LabelCard, aggregation_card, audit_card, weak_card

__all__ = ["LabelCard", "aggregation_card", "audit_card", "weak_card"]
