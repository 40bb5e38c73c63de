"""``labelwise aggregate`` and ``labelwise weak``: many voices (annotators, labeling
functions) into one label, with the label card."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelwise import aggregate as agg
from labelwise import io
from labelwise.annotations import Annotations
from labelwise.cli._common import (
    AGGREGATORS,
    ANNOTATORS_FILE,
    LABELS_FILE,
    LF_SUMMARY_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    UsageError,
    _column,
    _finite,
    _number,
    _print_outputs,
    _read_data,
    _refuse_overwrite,
    _share,
    _status,
    _write_report,
)
from labelwise.report import aggregation_card, weak_card
from labelwise.weak import LabelingFunction, apply, dataset_summary
from labelwise.weak import summary as lf_summary


def _aggregate(args: argparse.Namespace) -> int:
    status = _status(args)
    out_dir = Path(args.output_dir)
    paths = {
        "labels": out_dir / LABELS_FILE,
        "annotators": out_dir / ANNOTATORS_FILE,
        "summary": out_dir / SUMMARY_FILE,
        "report": out_dir / REPORT_FILE,
    }
    _refuse_overwrite([args.annotations], list(paths.values()))
    frame = _read_data(args.annotations, "ANNOTATIONS")
    if args.annotator is None:
        present = [c for c in ("annotator", "worker", "source") if c in frame.columns]
        args.annotator = present[0] if present else "annotator"
    args.item = args.item or "item"
    args.label = args.label or "label"
    for flag in ("item", "annotator", "label"):
        _column(frame, getattr(args, flag), f"--{flag}", args.annotations)
    table = frame[[args.item, args.annotator, args.label]].dropna(subset=[args.label])
    annotations = Annotations.from_long(
        table, item=args.item, source=args.annotator, label=args.label, duplicates="last"
    )
    if annotations.n_classes < 2:
        raise UsageError(
            f"ANNOTATIONS must hold at least 2 distinct labels in {args.label!r} to aggregate; "
            f"got {annotations.n_classes}"
        )
    status(
        f"Aggregating {annotations.n_annotations:,} labels of {annotations.n_items:,} items by "
        f"{annotations.n_sources:,} annotators ({args.method})."
    )
    model = AGGREGATORS[args.method]().fit(annotations)
    agreement = agg.annotator_agreement(annotations)
    probas = np.asarray(model.probas_)
    labels = pd.DataFrame(
        {
            "item": list(annotations.items),
            "label": list(model.labels_),
            "confidence": probas.max(axis=1),
            "n_annotations": annotations.item_counts(),
        }
    )
    for k, name in enumerate(annotations.classes):
        labels[f"p_{name}"] = probas[:, k]
    card = aggregation_card(
        annotations, model, agreement=agreement, source=f"{args.annotations} ({args.method})"
    )
    assert card.annotators is not None
    summary = {
        "annotations": args.annotations,
        "method": args.method,
        "n_items": annotations.n_items,
        "n_annotators": annotations.n_sources,
        "n_annotations": annotations.n_annotations,
        "classes": [str(c) for c in annotations.classes],
        "mean_kappa": agreement.mean_kappa,
        "krippendorff_alpha": agreement.krippendorff_alpha,
        "mean_confidence": float(labels["confidence"].mean()),
        "outputs": {name: str(path) for name, path in paths.items()},
    }
    io.write_table_atomic(labels, paths["labels"])
    io.write_table_atomic(card.annotators, paths["annotators"])
    io.write_json_atomic(_finite({**summary, "card": card.to_dict()}), paths["summary"])
    if not _write_report(card, paths["report"], status):
        summary["outputs"]["report"] = None
    if args.json:
        print(json.dumps(_finite(summary), indent=2))
    elif not args.quiet:
        worst = card.annotators.sort_values("estimated_quality").head(5)
        print(
            f"{annotations.n_items:,} items, {annotations.n_sources:,} annotators: "
            f"mean confidence {summary['mean_confidence']:.3f}, "
            f"Krippendorff's alpha {_share(_number(agreement.krippendorff_alpha))}."
        )
        print("Least reliable annotators (estimated accuracy):")
        for row in worst.itertuples(index=False):
            print(
                f"  {row.source}: {_share(_number(row.estimated_quality))} "
                f"({row.n_labels:,} labels)"
            )
        _print_outputs(summary["outputs"])
    return 0


def _load_lfs(path: str) -> list[LabelingFunction]:
    """The labeling functions of a user's Python file: its `lfs` list, or every top-level one."""
    file = Path(path)
    if file.suffix != ".py" or not file.is_file():
        raise UsageError(f"LFS.py must be an existing Python file (.py); got {path!r}")
    spec = importlib.util.spec_from_file_location(f"labelwise_user_lfs_{file.stem}", file)
    if spec is None or spec.loader is None:  # pragma: no cover - .py files always have one
        raise UsageError(f"LFS.py cannot be imported: {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        where = ""
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(file)]
        if frames:
            where = f" (line {frames[-1].lineno})"
        raise UsageError(
            f"{path!r} failed to run{where}: {type(error).__name__}: {error}"
        ) from error
    finally:
        sys.path.remove(str(file.resolve().parent))
    found = getattr(module, "lfs", None)
    if found is None:
        found = [v for v in vars(module).values() if isinstance(v, LabelingFunction)]
    found = list(found)
    if not found or not all(isinstance(lf, LabelingFunction) for lf in found):
        raise UsageError(
            f"{path!r} must define labeling functions (@labeling_function or LabelingFunction "
            "objects at top level, or a list named `lfs`); found none"
        )
    return found


def _weak(args: argparse.Namespace) -> int:
    status = _status(args)
    out_dir = Path(args.output_dir)
    paths = {
        "labels": out_dir / LABELS_FILE,
        "lf_summary": out_dir / LF_SUMMARY_FILE,
        "summary": out_dir / SUMMARY_FILE,
        "report": out_dir / REPORT_FILE,
    }
    _refuse_overwrite([args.lfs, args.data], list(paths.values()))
    lfs = _load_lfs(args.lfs)
    frame = _read_data(args.data, "DATA")
    gold = None
    if args.gold_column is not None:
        gold = _column(frame, args.gold_column, "--gold-column", args.data).to_numpy(dtype=object)
    classes = None
    if args.classes is not None:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]
        if len(classes) < 2:
            raise UsageError(f"--classes must name at least 2 classes; got {args.classes!r}")
    status(f"Applying {len(lfs)} labeling functions from {args.lfs} to {len(frame):,} rows.")
    votes = apply(lfs, frame, classes=classes, progress=not args.quiet)
    if votes.n_classes < 2:
        raise UsageError(
            f"the labeling functions must vote at least 2 classes to fit a label model; "
            f"they voted {votes.n_classes} (use --classes to list them)"
        )
    if gold is not None:
        vocabulary = set(votes.classes)
        gold = np.array([g if g in vocabulary else -1 for g in gold], dtype=object)
    status("Fitting the label model.")
    model = agg.LabelModel().fit(votes)
    table = lf_summary(votes, gold=gold)
    overall = dataset_summary(votes)
    card = weak_card(votes, model, table, overall, source=f"{args.data}, LFs from {args.lfs}")
    assert card.lfs is not None
    probas = np.asarray(model.probas_)
    covered = votes.item_counts() > 0
    labels = pd.DataFrame(
        {
            "item": list(votes.items),
            "label": [lab if c else None for lab, c in zip(model.labels_, covered, strict=True)],
            "confidence": np.where(covered, probas.max(axis=1), np.nan),
            "n_votes": votes.item_counts(),
        }
    )
    for k, name in enumerate(votes.classes):
        labels[f"p_{name}"] = probas[:, k]
    summary: dict[str, Any] = {
        "lfs": args.lfs,
        "data": args.data,
        "n_items": overall.n_items,
        "n_lfs": overall.n_sources,
        "n_votes": overall.n_votes,
        "coverage": overall.coverage,
        "overlap": overall.overlap,
        "conflict": overall.conflict,
        "classes": [str(c) for c in votes.classes],
        "n_labelled": int(covered.sum()),
        "outputs": {name: str(path) for name, path in paths.items()},
    }
    if gold is not None:
        known = np.array([g != -1 for g in gold])
        hits = np.array(list(model.labels_), dtype=object)[known & covered] == gold[known & covered]
        summary["label_model_accuracy"] = float(hits.mean()) if hits.size else None
    io.write_table_atomic(labels, paths["labels"])
    io.write_table_atomic(card.lfs, paths["lf_summary"])
    io.write_json_atomic(_finite({**summary, "card": card.to_dict()}), paths["summary"])
    if not _write_report(card, paths["report"], status):
        summary["outputs"]["report"] = None
    if args.json:
        print(json.dumps(_finite(summary), indent=2))
    elif not args.quiet:
        print(
            f"{overall.n_sources} labeling functions on {overall.n_items:,} items: coverage "
            f"{overall.coverage:.1%}, overlap {overall.overlap:.1%}, conflict "
            f"{overall.conflict:.1%}; {summary['n_labelled']:,} items labelled."
        )
        if summary.get("label_model_accuracy") is not None:
            print(
                f"Label model accuracy on the gold labels: {summary['label_model_accuracy']:.3f}."
            )
        _print_outputs(summary["outputs"])
    return 0
