"""``labelwise audit``: find the labels that are likely wrong, and write the label card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from labelwise import io
from labelwise.calibration import ReliabilityCurve, reliability_curve
from labelwise.cli._common import (
    EXAMPLE,
    EXAMPLES_FILE,
    ISSUES_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    UsageError,
    _column,
    _read_data,
    _refuse_overwrite,
    _share,
    _status,
    _write_report,
)
from labelwise.datasets import load_digits_example
from labelwise.issues.audit import AuditResult, audit
from labelwise.issues.cross_validation import cross_val_pred_probs
from labelwise.issues.label_issues import LabelIssues
from labelwise.report import audit_card
from labelwise.weak import minilm_embedder


def _audit(args: argparse.Namespace) -> int:
    status = _status(args)
    out_dir = Path(args.output_dir)
    issues_path = out_dir / ISSUES_FILE
    examples_path = out_dir / EXAMPLES_FILE
    summary_path = out_dir / SUMMARY_FILE
    report_path = out_dir / REPORT_FILE
    written = [issues_path, examples_path, summary_path, report_path]
    flipped: np.ndarray | None = None
    images: np.ndarray | None = None
    texts: list[str] | None = None
    model_output = args.predictions if args.task == "regression" else args.pred_probs
    output_flag = "--predictions" if args.task == "regression" else "--pred-probs"
    wrong_flag = "--pred-probs" if args.task == "regression" else "--predictions"
    if (args.pred_probs if args.task == "regression" else args.predictions) is not None:
        raise UsageError(f"{wrong_flag} does not go with --task {args.task}; use {output_flag}")
    if args.data is None and (args.text_column is not None or args.embed):
        raise UsageError("--text-column and --embed need DATA (a table with a text column)")
    if args.data is None and args.image_shape is not None:
        raise UsageError("--image-shape needs DATA (a table of pixel columns)")
    if args.data is not None:
        if args.labels is not None:
            raise UsageError("give DATA or --labels, not both")
        if args.noise is not None:
            raise UsageError("--noise must be left out with DATA; it flips labels of the example")
        _refuse_overwrite([p for p in (args.data, model_output) if p], written)
        labels, outputs, features, classes, texts, images = _table_inputs(args, status)
        source = f"{args.data} ({args.task})"
    elif args.labels is None:
        if model_output is not None or args.features is not None or args.label_column is not None:
            raise UsageError(
                f"{output_flag}, --features and --label-column need DATA or --labels (your data)"
            )
        if args.task != "multiclass":
            raise UsageError(
                f"the built-in example is multi-class; --task {args.task} needs DATA or --labels"
            )
        noise = 0.0 if args.noise is None else args.noise
        percent = f"{noise * 100:.4g}%"
        flips = f", with {percent} of its labels flipped (seed {args.seed})" if noise else ""
        status(f"No data given: auditing the built-in example ({EXAMPLE}){flips}.")
        data = load_digits_example(noise=noise, random_state=args.seed, progress=not args.quiet)
        labels = data.labels
        outputs = data.pred_probs
        features = data.features
        images = data.images
        classes = None
        flipped = data.flipped if noise > 0 else None
        source = f"built-in example: {EXAMPLE}{flips}"
    else:
        if args.noise is not None:
            raise UsageError(
                "--noise must be left out with --labels; it flips labels of the built-in example"
            )
        inputs = [path for path in (args.labels, model_output, args.features) if path]
        _refuse_overwrite(inputs, written)
        status(f"Auditing {', '.join(inputs)} ({args.task}).")
        if args.task == "multilabel":
            labels = io.read_matrix(args.labels, name="labels")
        else:
            labels = io.read_labels(args.labels, column=args.label_column)
        outputs = None
        classes = None
        if model_output is not None:
            outputs = (
                io.read_labels(model_output)
                if args.task == "regression"
                else io.read_pred_probs(model_output)
            )
            names = isinstance(labels, np.ndarray) and labels.dtype.kind in "OUS"
            if args.task != "regression" and names:
                classes = io.read_class_names(model_output)
        features = io.read_matrix(args.features) if args.features else None
        source = f"{', '.join(inputs)} ({args.task})"

    result = audit(
        labels,
        pred_probs=None if args.task == "regression" else outputs,
        predictions=outputs if args.task == "regression" else None,
        features=features,
        task=args.task,
        classes=classes,
        method=args.method,
        rank_by=args.rank_by,
    )
    found = result.summary()
    summary: dict[str, Any] = {
        "data": args.data if args.data else "built-in example" if args.labels is None else "files",
        "labels": args.labels,
        "pred_probs": args.pred_probs,
        "predictions": args.predictions,
        "features": args.features,
        **found,
        "n_issues": found["n_label_issues"],
        "method": args.method,
        **_against_flipped(result.label_issues, flipped),
        "outputs": {
            "report": str(report_path),
            "issues": str(issues_path),
            "examples": str(examples_path),
            "summary": str(summary_path),
        },
    }
    frame = (
        result.label_issues.to_frame(only_issues=True)
        if result.label_issues is not None
        else pd.DataFrame({"index": []})
    )
    curve = _reliability(result, labels, outputs)
    card = audit_card(result, source=source, images=images, texts=texts, reliability=curve)
    report = result.to_dict()
    io.write_table_atomic(frame, issues_path)
    io.write_table_atomic(result.examples, examples_path)
    io.write_json_atomic(
        {
            **summary,
            **{k: v for k, v in report.items() if k != "examples"},
            "ece": None if curve is None else curve.ece,
        },
        summary_path,
    )
    if not _write_report(card, report_path, status):
        summary["outputs"]["report"] = None
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_report(summary, frame, top=0 if args.quiet else args.top)
    return 0


def _reliability(result: AuditResult, labels: Any, pred_probs: Any) -> ReliabilityCurve | None:
    """The reliability diagram's data: multi-class probabilities against the given labels."""
    if pred_probs is None or not isinstance(result.label_issues, LabelIssues):
        return None
    given = np.asarray(result.label_issues.given_label)
    if given.dtype.kind not in "iu":
        return None
    return reliability_curve(pred_probs, given)


def _table_inputs(
    args: argparse.Namespace, status: Any
) -> tuple[Any, Any, Any, tuple[Any, ...] | None, list[str] | None, np.ndarray | None]:
    """Labels, model outputs, features, class names and texts from one table (DATA)."""
    if args.task == "multilabel":
        raise UsageError(
            "DATA supports --task multiclass and regression; for multilabel use --labels"
        )
    if args.text_column is not None and args.features is not None:
        raise UsageError("give --features or --text-column, not both")
    if args.image_shape is not None and args.text_column is not None:
        raise UsageError("--image-shape goes with pixel feature columns, not --text-column")
    if args.embed and args.text_column is None:
        raise UsageError("--embed needs --text-column (the texts to embed)")
    frame = _read_data(args.data, "DATA")
    label_name = args.label_column or "label"
    flag = "--label-column" if args.label_column else "the label column (--label-column)"
    column = _column(frame, label_name, flag, args.data)
    if column.isna().any():
        row = int(np.flatnonzero(column.isna().to_numpy())[0])
        raise UsageError(f"labels must not be missing; {label_name!r} is empty in row {row}")
    texts: list[str] | None = None
    features: np.ndarray | None = None
    images: np.ndarray | None = None
    model_input: Any
    if args.text_column is not None:
        text = _column(frame, args.text_column, "--text-column", args.data)
        texts = text.fillna("").astype(str).tolist()
        if args.embed:
            status(f"Embedding {len(texts):,} texts with MiniLM (offline).")
            features = np.asarray(minilm_embedder()(texts))
            model_input = features
        else:
            model_input = np.asarray(texts, dtype=object)
    else:
        if args.features is not None:
            names = [c.strip() for c in args.features.split(",") if c.strip()]
            for name in names:
                _column(frame, name, "--features", args.data)
        else:
            names = [c for c in frame.columns if c != label_name]
        table = frame[names]
        numeric = table.select_dtypes(include="number")
        if args.features is None:
            table = numeric
        if table.shape[1] == 0:
            raise UsageError(
                f"DATA has no numeric feature columns besides {label_name!r}; name them with "
                "--features, or give --text-column or --pred-probs"
            )
        model_input = table.astype(
            {c: "category" for c in table.columns if c not in numeric.columns}
        )
        if args.image_shape is not None:
            height, width = args.image_shape
            if numeric.shape[1] != table.shape[1] or table.shape[1] != height * width:
                raise UsageError(
                    f"--image-shape {height}x{width} needs {height * width} numeric feature "
                    f"columns (the pixels, row by row); got {numeric.shape[1]} numeric of "
                    f"{table.shape[1]}"
                )
            images = numeric.to_numpy(dtype=np.float64).reshape(-1, height, width)
        if numeric.shape[1]:
            values = numeric.to_numpy(dtype=np.float64)
            if not np.isnan(values).any():
                spread = values.std(axis=0)
                features = (values - values.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    if args.task == "regression":
        predictions = (
            io.read_labels(args.predictions)
            if args.predictions
            else _cross_val_regression(model_input, column.to_numpy(dtype=np.float64), args, status)
        )
        return column.to_numpy(dtype=np.float64), predictions, features, None, texts, images
    classes, codes = np.unique(column.to_numpy(), return_inverse=True)
    if args.pred_probs is not None:
        pred_probs = io.read_pred_probs(args.pred_probs)
        named = io.read_class_names(args.pred_probs)
        if named is not None and classes.dtype.kind in "OUS":
            classes = np.asarray(named, dtype=object)
    else:
        pred_probs = _cross_val_classifier(model_input, codes, texts is not None, args, status)
    return (
        column.to_numpy(),
        pred_probs,
        features,
        tuple(c.item() if hasattr(c, "item") else c for c in classes),
        texts,
        images,
    )


def _cross_val_classifier(
    X: Any, codes: np.ndarray, text: bool, args: argparse.Namespace, status: Any
) -> np.ndarray:

    if text and not args.embed:
        model: Any = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, min_df=1, ngram_range=(1, 2)),
            LogisticRegression(max_iter=1000, C=4.0),
        )
        name = "TF-IDF + logistic regression"
    elif text:
        model = LogisticRegression(max_iter=2000)
        name = "logistic regression on MiniLM embeddings"
    else:
        model = HistGradientBoostingClassifier(
            categorical_features="from_dtype", random_state=args.seed
        )
        name = "gradient boosting"
    status(f"Computing out-of-sample probabilities: 5-fold cross-validated {name}.")
    return cross_val_pred_probs(
        model, X, codes, cv=5, random_state=args.seed, progress=not args.quiet
    )


def _cross_val_regression(
    X: Any, target: np.ndarray, args: argparse.Namespace, status: Any
) -> np.ndarray:

    status("Computing out-of-sample predictions: 5-fold cross-validated gradient boosting.")
    folds = KFold(5, shuffle=True, random_state=args.seed)
    model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=args.seed)
    return np.asarray(cross_val_predict(model, X, target, cv=folds))


def _against_flipped(issues: Any, flipped: np.ndarray | None) -> dict[str, Any]:
    """Precision: share of flagged rows that were flipped; recall: share of flipped rows flagged."""
    if flipped is None or issues is None:
        return {"n_flipped": None, "n_flipped_flagged": None, "precision": None, "recall": None}
    hits = int(np.isin(issues.ranking, flipped).sum())
    return {
        "n_flipped": int(flipped.size),
        "n_flipped_flagged": hits,
        "precision": hits / issues.n_issues if issues.n_issues else None,
        "recall": hits / flipped.size if flipped.size else None,
    }


def _print_report(summary: dict[str, Any], frame: Any, *, top: int) -> None:
    n_issues = summary["n_issues"] or 0
    print(
        f"Found {n_issues:,} likely label error{'s' * (n_issues != 1)} among "
        f"{summary['n_examples']:,} examples ({summary['n_classes']} classes, "
        f"method {summary['method']})."
    )
    shown = frame.head(top).drop(columns="is_label_issue", errors="ignore")
    if len(shown):
        shown = shown.assign(label_quality=shown["label_quality"].map("{:.3g}".format))
        print(f"\nMost likely label errors, worst first ({len(shown)} of {n_issues:,}):")
        print(_table(shown))
        print()
    if summary["n_flipped"] is not None:
        n_flipped, hits = summary["n_flipped"], summary["n_flipped_flagged"]
        precision, recall = summary["precision"], summary["recall"]
        print(
            f"Against the {n_flipped:,} flipped labels: "
            f"precision {_share(precision)} ({hits} of {n_issues:,} flagged rows were flipped), "
            f"recall {_share(recall)} ({hits} of {n_flipped:,} flipped rows were flagged)."
        )
    if summary["estimated_noise_rate"] is not None:
        rate = summary["estimated_noise_rate"]
        print(f"Estimated share of wrong labels (confident learning): {rate:.1%}.")
    if summary["n_outliers"] is not None:
        print(f"Outliers: {summary['n_outliers']:,} atypical examples.")
    if summary["n_near_duplicate_groups"] is not None:
        conflicts = summary["n_conflicting_duplicate_groups"]
        extra = "" if conflicts is None else f", {conflicts:,} of them with conflicting labels"
        print(
            f"Near-duplicates: {summary['n_near_duplicate_groups']:,} groups "
            f"({summary['n_near_duplicate_rows']:,} rows){extra}."
        )
    for skipped in summary["checks_skipped"]:
        print(f"Not checked: {skipped}.")
    outputs = summary["outputs"]
    print(f"Wrote all {n_issues:,} flagged rows, worst first, to {outputs['issues']},")
    print(f"every example's findings to {outputs['examples']}")
    print(f"and a summary to {outputs['summary']}.")
    if outputs["report"] is not None:
        print(f"Open the label card: {outputs['report']}")


def _table(frame: Any) -> str:
    """Right-aligned plain-text table, two spaces between columns."""
    columns = [[name.replace("_", " "), *map(str, frame[name])] for name in frame.columns]
    widths = [max(map(len, column)) for column in columns]
    lines = (
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in zip(*columns, strict=True)
    )
    return "\n".join(lines)
