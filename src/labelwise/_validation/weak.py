"""Checks of weak-supervision inputs: labeling functions, the data they run on, their outputs."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from labelwise._validation._base import _first, fail, preview


class LabelingFunctionError(RuntimeError):
    """A labeling function raised; the message names it and the row, the cause is chained."""


def raise_lf_failure(lf_name: str, where: str, error: BaseException) -> NoReturn:
    """Re-raise ``error`` from a labeling function as a ``LabelingFunctionError`` naming it.

    ``where`` says on which input it failed (``"row 3"``, ``"the whole table"``).
    """
    try:
        fail(
            "lfs",
            "labeling functions that run without error",
            f"{type(error).__name__}: {error} from {lf_name!r} on {where}",
            kind=LabelingFunctionError,
        )
    except LabelingFunctionError as wrapped:
        raise wrapped from error


def check_lf_name(name: object, default: str) -> str:
    """A labeling function's name: a non-empty string (``default`` when None)."""
    if name is None:
        return default
    if not isinstance(name, str):
        fail("name", "a string", f"{type(name).__name__} {name!r}", kind=TypeError)
    if not name:
        fail("name", "a non-empty string", "''")
    return name


def check_lf_list(lfs: object, lf_type: type) -> list[Any]:
    """A non-empty list of ``lf_type`` instances with distinct names."""
    if isinstance(lfs, lf_type):
        lfs = [lfs]
    if not isinstance(lfs, Sequence) or isinstance(lfs, str):
        fail("lfs", "a list of labeling functions", type(lfs).__name__, kind=TypeError)
    checked = list(lfs)
    if not checked:
        fail("lfs", "a non-empty list of labeling functions", "an empty list")
    for position, lf in enumerate(checked):
        if not isinstance(lf, lf_type):
            what = getattr(lf, "__name__", None)
            fail(
                "lfs",
                "labeling functions (decorate a function with @labeling_function)",
                f"{type(lf).__name__} {what or lf!r} at position {position}",
                kind=TypeError,
            )
    names = pd.Series([lf.name for lf in checked])
    repeated = names[names.duplicated()].unique().tolist()
    if repeated:
        fail(
            "lfs", "labeling functions with distinct names", f"repeated name(s) {preview(repeated)}"
        )
    return checked


def check_data(data: object) -> tuple[pd.DataFrame | None, list[Any] | None, np.ndarray]:
    """``(frame, records, items)``: a DataFrame with a distinct index, or a list of mappings.

    Exactly one of ``frame`` and ``records`` is not None; ``items`` are the index values (or
    ``0..n-1`` for records).
    """
    if isinstance(data, pd.DataFrame):
        if len(data) == 0:
            fail("data", "a table with at least one row", "0 rows")
        if not data.index.is_unique:
            repeated = data.index[data.index.duplicated()].unique()
            fail(
                "data",
                "a DataFrame whose index has one distinct id per row (the item ids)",
                f"repeated index value(s) {preview(repeated)}",
            )
        return data, None, data.index.to_numpy()
    if isinstance(data, Sequence) and not isinstance(data, str):
        records = list(data)
        if not records:
            fail("data", "a list with at least one record", "an empty list")
        bad = np.flatnonzero([not isinstance(r, Mapping) for r in records])
        if bad.size:
            fail(
                "data",
                "a DataFrame or a list of records (dicts)",
                f"{type(records[bad[0]]).__name__} at position {bad[0]}",
                kind=TypeError,
            )
        return None, records, np.arange(len(records))
    fail("data", "a DataFrame or a list of records (dicts)", type(data).__name__, kind=TypeError)


def check_lf_output(values: object, n_rows: int, lf_name: str) -> np.ndarray:
    """A vectorized labeling function's output as a 1-D array with one vote per row."""
    if isinstance(values, pd.Series | pd.Index):
        array = values.to_numpy()
    elif isinstance(values, np.ndarray):
        array = values
    elif isinstance(values, list | tuple):
        array = np.empty(len(values), dtype=object)
        array[:] = values
    else:
        fail(
            "lfs",
            "vectorized labeling functions returning an array of votes",
            f"{type(values).__name__} from {lf_name!r}",
            kind=TypeError,
        )
    if array.ndim != 1 or array.shape[0] != n_rows:
        fail(
            "lfs",
            f"vectorized labeling functions returning one vote per row ({n_rows})",
            f"shape {array.shape} from {lf_name!r}",
        )
    return array


def fail_unhashable(lf_name: str, value: object, row: object) -> NoReturn:
    fail(
        "lfs",
        "labeling functions returning a class label (hashable) or ABSTAIN",
        f"{type(value).__name__} {value!r} from {lf_name!r} at row {row!r}",
        kind=TypeError,
    )


def fail_unknown_vote(lf_name: str, value: object, row: object, classes: Sequence[Any]) -> NoReturn:
    fail(
        "classes",
        f"a list holding every label the labeling functions vote ({preview(classes, 10)})",
        f"{value!r} from {lf_name!r} at row {row!r}",
    )


def check_class_list(classes: object) -> list[Hashable]:
    """Distinct, hashable class labels; none of them means abstain."""
    if isinstance(classes, str) or not isinstance(classes, Sequence | np.ndarray | pd.Index):
        fail("classes", "a list of class labels", type(classes).__name__, kind=TypeError)
    values = list(classes)
    if not values:
        fail("classes", "a non-empty list of class labels", "an empty list")
    try:
        distinct = pd.Index(values, dtype=object)
    except TypeError:
        fail("classes", "hashable class labels", preview(values), kind=TypeError)
    if not distinct.is_unique:
        fail(
            "classes",
            "distinct class labels",
            f"repeated {preview(distinct[distinct.duplicated()])}",
        )
    abstain = [v for v in values if v is None or (isinstance(v, int | np.integer) and v == -1)]
    if abstain:
        fail("classes", "class labels other than ABSTAIN (-1) and None", preview(values, 10))
    return values


def fail_no_votes() -> NoReturn:
    fail(
        "classes",
        "given when no labeling function votes on any row (there is nothing to infer them from)",
        "None and every labeling function abstained everywhere",
    )


def check_texts(texts: object, text_column: str, name: str = "texts") -> list[str]:
    """Strings from a DataFrame's ``text_column``, a Series or a list of strings."""
    if isinstance(texts, pd.DataFrame):
        if text_column not in texts.columns:
            fail(
                name,
                f"a table with the column {text_column!r} (`text_column`)",
                f"no column(s) {text_column!r}; it has {preview(list(texts.columns), 20)}",
            )
        texts = texts[text_column]
    if isinstance(texts, str) or not isinstance(texts, Sequence | np.ndarray | pd.Series):
        fail(
            name,
            "a list of strings or a DataFrame with the text column",
            type(texts).__name__,
            kind=TypeError,
        )
    values = texts.tolist() if isinstance(texts, np.ndarray | pd.Series) else list(texts)
    if values and pd.api.types.infer_dtype(values, skipna=False) != "string":
        row = _first(np.array([not isinstance(v, str) for v in values]))
        fail(
            name,
            "strings",
            f"{type(values[row]).__name__} {values[row]!r} at row {row}",
            kind=TypeError,
        )
    return values


def check_embedding_output(array: object, n_texts: int) -> np.ndarray:
    """An embedding function's output: a finite (n_texts, d) float array."""
    if hasattr(array, "detach"):  # a torch tensor
        array = array.detach().cpu().numpy()
    values = np.asarray(array)
    if values.dtype.kind not in "fiu":
        fail(
            "embed",
            "a function returning a numeric (n_texts, d) array",
            f"dtype {values.dtype}",
            kind=TypeError,
        )
    if values.ndim != 2 or values.shape[0] != n_texts or values.shape[1] == 0:
        fail(
            "embed",
            "a function returning an (n_texts, d) array with d >= 1",
            f"shape {values.shape} for {n_texts} texts",
        )
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    if not np.isfinite(values).all():
        fail("embed", "a function returning finite values", "NaN or inf")
    return values


def check_reference_texts(
    examples: object, descriptions: object
) -> tuple[list[Hashable], list[str], np.ndarray]:
    """``(classes, texts, text_class)`` from ``examples`` and ``descriptions``.

    Classes are the keys of ``examples`` in order, then those only in ``descriptions``;
    ``text_class[i]`` is the class position of reference text ``i``.
    """
    if examples is None and descriptions is None:
        fail("examples", "given (or `descriptions`): mappings from class to texts", "neither")
    classes: list[Hashable] = []
    per_class: dict[Hashable, list[str]] = {}
    for arg, given in (("examples", examples), ("descriptions", descriptions)):
        if given is None:
            continue
        if not isinstance(given, Mapping):
            fail(arg, "a mapping from class to texts", type(given).__name__, kind=TypeError)
        for label, value in given.items():
            texts = [value] if arg == "descriptions" else value
            if arg == "examples" and (isinstance(value, str) or not isinstance(value, Sequence)):
                fail(
                    arg,
                    "a mapping from class to a list of example texts",
                    f"{type(value).__name__} for class {label!r}",
                    kind=TypeError,
                )
            if not texts or not all(isinstance(t, str) for t in texts):
                fail(arg, "non-empty strings for each class", f"{value!r} for class {label!r}")
            if label not in per_class:
                classes.append(label)
                per_class[label] = []
            per_class[label].extend(texts)
    check_class_list(classes)
    if len(classes) < 2:
        fail("examples", "texts for at least 2 classes", f"class(es) {preview(classes)}")
    flat = [text for label in classes for text in per_class[label]]
    owner = np.repeat(np.arange(len(classes)), [len(per_class[label]) for label in classes])
    return classes, flat, owner


def check_answers(answers: object, normalise: Any) -> dict[str, Any]:
    """``answers`` with normalised keys; two keys that normalise alike must agree."""
    if not isinstance(answers, Mapping):
        fail(
            "answers", "a mapping from answer text to label", type(answers).__name__, kind=TypeError
        )
    if not answers:
        fail("answers", "a non-empty mapping from answer text to label", "an empty mapping")
    normalised: dict[str, Any] = {}
    for key, label in answers.items():
        if not isinstance(key, str):
            fail("answers", "string keys", f"{type(key).__name__} {key!r}", kind=TypeError)
        short = normalise(key)
        if short in normalised and normalised[short] != label:
            fail(
                "answers",
                "keys that stay distinct once stripped and lower-cased",
                f"{key!r} -> {label!r} and another key -> {normalised[short]!r}",
            )
        normalised[short] = label
    return normalised


def check_prompt_fields(prompt: object, fields: list[str | None]) -> None:
    """A ``str.format`` template naming at least one field, by name."""
    named = [f for f in fields if f is not None]
    if not named or any(f == "" or f.isdigit() for f in named):
        fail(
            "prompt",
            "a format string with named fields such as {text} (or a function of the row)",
            repr(prompt),
        )


def fail_prompt_field(field: str, columns: Sequence[Any]) -> NoReturn:
    fail(
        "prompt",
        "a format string whose fields are {text} or columns of the data",
        f"field {field!r}; the data has {preview(list(columns), 20)}",
    )


def fail_answer_type(lf_name: str, answer: object, row: int) -> NoReturn:
    fail(
        "ask",
        "a function returning the answer as a string",
        f"{type(answer).__name__} {answer!r} for {lf_name!r} at row {row}",
        kind=TypeError,
    )


def check_prior(prior: object, n_classes: int) -> np.ndarray:
    """A (K,) probability vector with positive entries (uniform when None)."""
    if prior is None:
        return np.full(n_classes, 1.0 / n_classes)
    values = np.asarray(prior, dtype=np.float64)
    if values.shape != (n_classes,):
        fail(
            "prior",
            f"an array of shape ({n_classes},), one share per class",
            f"shape {values.shape}",
        )
    if not np.isfinite(values).all() or (values <= 0).any():
        fail("prior", "positive finite class shares", preview(values.tolist()))
    if abs(float(values.sum()) - 1.0) > 1e-6:
        fail("prior", "class shares that sum to 1", f"sum {float(values.sum()):.6g}")
    return values / values.sum()


def fail_unreachable_prior(columns: np.ndarray) -> NoReturn:
    fail(
        "probs",
        "some probability on every class the prior asks for",
        f"class(es) {preview(columns.tolist())} with probability 0 on every row",
    )


def check_gold(gold: object, n_items: int, classes: np.ndarray) -> np.ndarray:
    """Gold labels aligned with the items as class codes, -1 where unknown (-1, None or NaN)."""
    if isinstance(gold, pd.Series | pd.Index):
        gold = gold.to_numpy()
    values = np.asarray(gold, dtype=object) if not isinstance(gold, np.ndarray) else gold
    if values.ndim != 1 or values.shape[0] != n_items:
        fail("gold", f"a 1-D array with one label per item ({n_items})", f"shape {values.shape}")
    objects = values.astype(object)
    unknown = np.asarray(pd.isna(objects), dtype=bool) | (objects == -1)
    codes = np.full(n_items, -1, dtype=np.int64)
    if unknown.all():
        return codes
    lookup = pd.Index(list(classes), dtype=object)
    known = objects[~unknown]
    found = lookup.get_indexer(known)
    if (found < 0).any():
        missing = pd.unique(known[found < 0])
        fail(
            "gold",
            f"labels among the annotations' classes {preview(list(classes), 10)} (or -1 / None)",
            f"unknown {preview(missing)}",
        )
    codes[~unknown] = found
    return codes
