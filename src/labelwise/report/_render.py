"""Render a :class:`LabelCard` as one self-contained HTML page (jinja2 + matplotlib).

This module is the ``report`` extra's door: importing it without jinja2 or matplotlib raises
an ``ImportError`` that names ``pip install 'labelwise[report]'``.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

try:
    import jinja2
    import matplotlib
    from markupsafe import Markup

    matplotlib.use("Agg", force=False)
    from labelwise.report import _figures
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the HTML report needs jinja2 and matplotlib: pip install 'labelwise[report]'"
    ) from error

from labelwise import __version__

if TYPE_CHECKING:
    from labelwise.report.card import LabelCard


@dataclass(frozen=True)
class _Table:
    id: str
    title: str
    note: str
    headers: list[str]
    rows: list[list[tuple[str, str]]]  # (cell HTML, sort key) per cell


def _text(value: Any, *, grouped: bool = True) -> str:
    """Display text of one value: 3 significant digits for floats, thousands separators for
    counts (``grouped``; not in tables, where integers are often row numbers)."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if grouped else str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "n/a"
        return f"{value:.3g}"
    return str(value)


def _sort_key(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return "" if math.isnan(number) else repr(number)
    return str(value)


def _table(
    frame: pd.DataFrame,
    *,
    id: str,
    title: str,
    note: str = "",
    images: list[str] | None = None,
    snippet: int = 160,
) -> _Table:
    headers = [str(c).replace("_", " ") for c in frame.columns]
    if images is not None:
        headers.insert(1, "image")
    rows = []
    for position, record in enumerate(frame.itertuples(index=False, name=None)):
        cells = []
        for name, value in zip(frame.columns, record, strict=True):
            shown = _text(value, grouped=False)
            if name == "text" and len(shown) > snippet:
                cell = f'<span title="{html.escape(shown)}">{html.escape(shown[:snippet])}…</span>'
            else:
                cell = html.escape(shown)
            cells.append((cell, _sort_key(value)))
        if images is not None:
            uri = images[position]
            cells.insert(1, (f'<img class="thumb" alt="example image" src="{uri}">', ""))
        rows.append(cells)
    return _Table(id=id, title=title, note=note, headers=headers, rows=rows)


def _asset(name: str) -> str:
    return (resources.files("labelwise.report") / "templates" / name).read_text("utf-8")


def render_html(card: LabelCard) -> str:
    """The card as one HTML page; see :meth:`LabelCard.to_html`."""
    figures: dict[str, str] = {}
    if card.classes is not None and card.class_counts is not None:
        figures["classes"] = _figures.class_distribution(card.classes, card.class_counts)
    if card.noise_matrix is not None and card.classes is not None:
        figures["noise"] = _figures.heatmap(
            card.noise_matrix,
            card.classes,
            card.classes,
            xlabel="true class (estimated)",
            ylabel="given class",
            salt="noise-matrix",
        )
    if card.reliability is not None:
        figures["reliability"] = _figures.reliability(card.reliability)
    if card.annotators is not None and len(card.annotators) > 40:
        figures["annotators"] = _figures.histogram(
            card.annotators["estimated_quality"].to_numpy(),
            xlabel="estimated accuracy",
            ylabel="annotators",
            salt="annotator-quality",
        )
    elif card.annotators is not None:
        figures["annotators"] = _figures.bars(
            card.annotators["source"].tolist(),
            card.annotators["estimated_quality"].to_numpy(),
            xlabel="estimated accuracy",
            salt="annotator-quality",
        )
    if card.agreement is not None and len(card.agreement) <= 40:
        names = [str(s) for s in card.agreement.index]
        figures["agreement"] = _figures.heatmap(
            card.agreement.to_numpy(),
            names,
            names,
            xlabel="annotator",
            ylabel="annotator",
            salt="agreement",
            vmin=-1.0,
            vmax=1.0,
            cmap="RdBu",
        )
    if card.lfs is not None and "coverage" in card.lfs.columns:
        figures["lf_coverage"] = _figures.bars(
            card.lfs["labeling_function"].tolist(),
            card.lfs["coverage"].to_numpy(),
            xlabel="coverage (share of items voted on)",
            salt="lf-coverage",
        )
    tables: dict[str, _Table] = {}
    if card.issues is not None:
        thumbs = (
            None
            if card.thumbnails is None
            else [_figures.thumbnail(image) for image in card.thumbnails]
        )
        tables["issues"] = _table(
            card.issues,
            id="issues",
            title="Top label issues",
            note="Worst first: a low label quality means the given label is likely wrong.",
            images=thumbs,
        )
    if card.outliers is not None:
        tables["outliers"] = _table(card.outliers, id="outliers", title="Outliers")
    if card.duplicates is not None:
        tables["duplicates"] = _table(
            card.duplicates, id="duplicates", title="Near-duplicate groups"
        )
    if card.annotators is not None:
        tables["annotators"] = _table(card.annotators, id="annotators", title="Annotators")
    if card.lfs is not None:
        tables["lfs"] = _table(card.lfs, id="lfs", title="Labeling functions")
    environment = jinja2.Environment(autoescape=True)
    template = environment.from_string(_asset("card.html.j2"))
    return template.render(
        card=card,
        facts=[(name, _text(value)) for name, value in card.facts],
        figures={name: Markup(svg) for name, svg in figures.items()},
        tables=tables,
        markup=Markup,
        style=Markup(_asset("card.css")),
        script=Markup(_asset("card.js")),
        version=__version__,
    )
