"""Figures of the label card, drawn with matplotlib and returned as inline SVG / PNG text.

Only formatting: every number drawn comes from the card. Figures are built on
``matplotlib.figure.Figure`` directly (no pyplot, so no global state and no GUI backend).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.image import imsave

from labelwise.calibration import ReliabilityCurve

_STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",  # text stays text: small files, the page's own font
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_BLUE = "#3b6ea8"


def _svg(figure: Figure, salt: str) -> str:
    buffer = io.StringIO()
    with rc_context(dict(_STYLE, **{"svg.hashsalt": salt})):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(width: float, height: float) -> Figure:
    with rc_context(_STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def class_distribution(classes: Sequence[str], counts: np.ndarray) -> str:
    """Bar chart of examples per class."""
    with rc_context(_STYLE):
        figure = _figure(max(3.5, 0.35 * len(classes) + 1.5), 2.6)
        axes = figure.add_subplot()
        axes.bar(range(len(classes)), counts, color=_BLUE)
        axes.set_xticks(range(len(classes)), list(classes), rotation=45 if len(classes) > 12 else 0)
        axes.set_ylabel("examples")
        axes.set_xlabel("class")
    return _svg(figure, "class-distribution")


def heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    columns: Sequence[str],
    *,
    xlabel: str,
    ylabel: str,
    salt: str,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "Blues",
) -> str:
    """A matrix as a heatmap with each cell's value written in it (when it is small enough)."""
    k = max(len(rows), len(columns))
    with rc_context(_STYLE):
        size = min(7.0, 1.8 + 0.42 * k)
        figure = _figure(size + 0.8, size)
        axes = figure.add_subplot()
        shown = np.ma.masked_invalid(np.asarray(matrix, dtype=np.float64))
        image = axes.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax)
        axes.set_xticks(range(len(columns)), list(columns), rotation=45 if k > 8 else 0)
        axes.set_yticks(range(len(rows)), list(rows))
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        if k <= 15:
            for (i, j), value in np.ndenumerate(np.asarray(matrix, dtype=np.float64)):
                if np.isfinite(value):
                    dark = (value - vmin) / (vmax - vmin or 1.0) > 0.6
                    axes.text(
                        j,
                        i,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if dark else "black",
                    )
        figure.colorbar(image, ax=axes, shrink=0.8)
    return _svg(figure, salt)


def reliability(curve: ReliabilityCurve) -> str:
    """Reliability diagram: accuracy against mean confidence per bin, with the diagonal."""
    with rc_context(_STYLE):
        figure = _figure(3.6, 3.4)
        axes = figure.add_subplot()
        edges = curve.bin_edges
        filled = curve.counts > 0
        axes.bar(
            edges[:-1][filled],
            curve.accuracy[filled],
            width=np.diff(edges)[filled],
            align="edge",
            color=_BLUE,
            edgecolor="white",
            label="accuracy",
        )
        axes.plot([0, 1], [0, 1], color="#999999", linestyle="--", label="perfect calibration")
        axes.plot(
            curve.confidence[filled],
            curve.accuracy[filled],
            "o",
            color="#c0392b",
            markersize=3,
            label="bin mean confidence",
        )
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_xlabel("confidence of the predicted class")
        axes.set_ylabel("accuracy against the given labels")
        axes.set_title(f"ECE {curve.ece:.3f}")
        axes.legend(loc="upper left", fontsize=7, frameon=False)
    return _svg(figure, "reliability")


def bars(names: Sequence[str], values: np.ndarray, *, xlabel: str, salt: str) -> str:
    """Horizontal bars, one per name (e.g. per-annotator quality); NaN bars are left out."""
    with rc_context(_STYLE):
        figure = _figure(4.6, min(8.0, 0.9 + 0.22 * len(names)))
        axes = figure.add_subplot()
        values = np.asarray(values, dtype=np.float64)
        axes.barh(range(len(names)), np.nan_to_num(values), color=_BLUE)
        axes.set_yticks(range(len(names)), list(names), fontsize=7 if len(names) > 20 else 9)
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.set_xlabel(xlabel)
    return _svg(figure, salt)


def histogram(values: np.ndarray, *, xlabel: str, ylabel: str, salt: str) -> str:
    """Histogram on [0, 1] (e.g. quality of many annotators); NaN values are left out."""
    with rc_context(_STYLE):
        figure = _figure(4.6, 2.6)
        axes = figure.add_subplot()
        values = np.asarray(values, dtype=np.float64)
        axes.hist(values[np.isfinite(values)], bins=20, range=(0.0, 1.0), color=_BLUE)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
    return _svg(figure, salt)


def thumbnail(image: np.ndarray) -> str:
    """A small grey image as a ``data:image/png;base64,...`` URI (shown enlarged, pixelated)."""
    buffer = io.BytesIO()
    imsave(buffer, np.asarray(image, dtype=np.float64), cmap="gray_r", format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
