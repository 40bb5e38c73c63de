"""Checks for the ask stage: annotations to score, score vectors, batches, test-label records."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np

from labelwise._validation._base import _first, check_int, fail, preview
from labelwise._validation.classification import check_pred_probs
from labelwise._validation.features import check_features
from labelwise._validation.trust import multilabel_probs
from labelwise.annotations import Annotations


def check_relabel_annotations(annotations: object) -> tuple[Annotations, ...]:
    """One multi-class ``Annotations``, or one binary ``Annotations`` per tag (multi-label).

    Returns a 1-tuple for the multi-class case and the per-tag tuple otherwise.
    """
    if isinstance(annotations, Annotations):
        _check_one(annotations, "annotations")
        return (annotations,)
    if isinstance(annotations, Sequence) and not isinstance(annotations, str):
        tags = list(annotations)
        if not tags or not all(isinstance(tag, Annotations) for tag in tags):
            kinds = preview(type(tag).__name__ for tag in tags) if tags else "an empty sequence"
            fail(
                "annotations",
                "a labelwise.Annotations, or a sequence of binary Annotations (one per tag)",
                kinds,
                kind=TypeError,
            )
        for j, tag in enumerate(tags):
            _check_one(tag, f"annotations[{j}]")
            if tag.n_classes != 2:
                fail(
                    f"annotations[{j}]",
                    "binary annotations (classes: tag absent, tag present) for a multi-label tag",
                    f"{tag.n_classes} classes",
                )
            if tag.n_items != tags[0].n_items:
                fail(
                    f"annotations[{j}]",
                    f"the same {tags[0].n_items} items as annotations[0]",
                    f"{tag.n_items} items",
                )
        return tuple(tags)
    fail(
        "annotations",
        "a labelwise.Annotations, or a sequence of binary Annotations (one per tag)",
        type(annotations).__name__,
        kind=TypeError,
    )


def _check_one(annotations: Annotations, name: str) -> None:
    if annotations.n_annotations == 0:
        fail(name, "at least one annotation", "none")
    if annotations.n_classes < 2:
        fail(name, "at least 2 classes", f"{annotations.n_classes}")


def check_relabel_probs(
    pred_probs: object, n_items: int, n_classes: int, *, multilabel: bool, name: str
) -> np.ndarray:
    """Probability rows (multi-class) or per-tag probabilities (multi-label) of a known width."""
    array = (
        multilabel_probs(pred_probs, name=name)
        if multilabel
        else check_pred_probs(pred_probs, name=name)
    )
    if array.shape[1] != n_classes:
        what = "tags" if multilabel else "classes"
        fail(name, f"{n_classes} columns (one per annotation {what[:-1]})", f"shape {array.shape}")
    if n_items >= 0 and array.shape[0] != n_items:
        fail(name, f"{n_items} rows (one per annotated item)", f"shape {array.shape}")
    return array


def check_scores(scores: object, *, name: str = "scores") -> np.ndarray:
    """A non-empty 1-D array of finite real scores, as float64."""
    array = np.asarray(scores)
    if array.dtype.kind not in "fiub":
        fail(name, "a 1-D numeric array of scores", f"dtype {array.dtype}", kind=TypeError)
    if array.ndim != 1 or array.size == 0:
        fail(name, "a non-empty 1-D array of scores", f"shape {array.shape}")
    array = array.astype(np.float64, copy=False)
    bad = ~np.isfinite(array)
    if bad.any():
        fail(name, "finite (no NaN or inf)", f"{int(bad.sum())} non-finite, first at {_first(bad)}")
    return array


def check_batch_size(k: object, n: int, *, name: str = "k") -> int:
    """An integer in 1..n."""
    value = check_int(k, name, minimum=1)
    if value > n:
        fail(name, f"an integer in 1..{n} (the number of candidates)", repr(value))
    return value


def check_features_rows(features: object, n: int, *, name: str = "features") -> np.ndarray:
    """A finite 2-D float matrix with ``n`` rows."""
    array = check_features(features, name=name, min_rows=1).features
    if array.shape[0] != n:
        fail(name, f"{n} rows (one per score)", f"shape {array.shape}")
    return array


def check_indices(index: object, n: int, *, name: str = "index") -> np.ndarray:
    """Integer positions in ``0..n-1`` (a scalar becomes a length-1 array)."""
    array = np.atleast_1d(np.asarray(index))
    if array.dtype.kind not in "iu" and not (
        array.dtype.kind == "O" and all(isinstance(v, Integral) for v in array)
    ):
        fail(name, "integer position(s)", f"dtype {array.dtype}", kind=TypeError)
    array = array.astype(np.int64)
    if array.ndim != 1:
        fail(name, "an integer or a 1-D array of integers", f"shape {array.shape}")
    out = (array < 0) | (array >= n)
    if out.any():
        fail(name, f"position(s) in 0..{n - 1}", f"{array[_first(out)]}")
    return array


def check_test_labels(label: object, n: int, n_classes: int, *, name: str = "label") -> np.ndarray:
    """``n`` class ids in ``0..n_classes-1``."""
    array = np.atleast_1d(np.asarray(label))
    if array.dtype.kind not in "iu":
        fail(name, "integer class id(s)", f"dtype {array.dtype}", kind=TypeError)
    if array.shape != (n,):
        fail(name, f"{n} label(s), one per index", f"shape {array.shape}")
    out = (array < 0) | (array >= n_classes)
    if out.any():
        fail(name, f"class ids in 0..{n_classes - 1}", f"{array[_first(out)]}")
    return array.astype(np.int64)


def check_pending(index: np.ndarray, pending: Any, *, name: str = "index") -> None:
    """Every index must be one that ``propose`` returned and that is not yet recorded."""
    missing = [int(i) for i in index if int(i) not in pending]
    if missing:
        fail(
            name,
            "position(s) returned by ActiveTester.propose() and not yet recorded",
            f"{preview(missing)} (pending: {preview(sorted(pending))})",
        )
    if np.unique(index).size != index.size:
        fail(name, "distinct positions", preview(index.tolist()))
