"""The ``labelwise`` command line: parse → call the public API → io.

``labelwise audit`` finds likely label errors, in the user's files or, given none, in a
built-in example. Results (the table of worst labels, or a JSON summary) go to stdout;
status lines and progress to stderr. A user mistake is one line on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from labelwise import __version__, io
from labelwise.datasets import load_digits_example
from labelwise.issues.audit import TASKS, audit
from labelwise.issues.label_issues import METHODS
from labelwise.issues.scores import SCORE_METHODS

EXAMPLE = "scikit-learn digits, 1,797 images, 5-fold cross-validated logistic regression"
ISSUES_FILE = "issues.csv"
EXAMPLES_FILE = "examples.csv"
SUMMARY_FILE = "summary.json"


class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1]; got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``labelwise`` and its subcommands."""
    parser = _Parser(
        prog="labelwise",
        description="Machine learning with imperfect labels.",
        epilog="Run `labelwise audit` with no arguments to see it work on a built-in example.",
    )
    parser.add_argument("--version", action="version", version=f"labelwise {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error instead of one line (for bug reports)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    audit_cmd = commands.add_parser(
        "audit",
        help="find the examples whose given label is likely wrong",
        description=(
            "Find the examples whose given label is likely wrong, by confident learning on "
            "out-of-sample predicted probabilities. With no --labels/--pred-probs, audits a "
            f"built-in example ({EXAMPLE})."
        ),
    )
    data = audit_cmd.add_argument_group("your data")
    data.add_argument(
        "--labels",
        metavar="FILE",
        help="given labels (.npy, .csv, .parquet or .jsonl): class ids 0..K-1 or class names",
    )
    data.add_argument(
        "--pred-probs",
        metavar="FILE",
        help="out-of-sample predicted probabilities, one row per example and one column "
        "per class (.npy, .csv, .parquet or .jsonl)",
    )
    data.add_argument(
        "--label-column", metavar="NAME", help="the labels column, when the table has several"
    )
    data.add_argument(
        "--predictions",
        metavar="FILE",
        help="out-of-sample predictions of a numeric target (--task regression)",
    )
    data.add_argument(
        "--features",
        metavar="FILE",
        help="numeric features or embeddings, one row per example: adds the outlier and "
        "near-duplicate checks",
    )
    data.add_argument(
        "--task",
        choices=TASKS,
        default="multiclass",
        help="multiclass (labels are class ids or names), multilabel (labels are a 0/1 matrix "
        "or lists of tags), regression (labels are numbers) (default: %(default)s)",
    )
    example = audit_cmd.add_argument_group("built-in example (when no data is given)")
    example.add_argument(
        "--noise",
        type=_fraction,
        metavar="RATE",
        help="flip this fraction of labels to another class, then report precision and recall "
        "of the flagged rows against them (default: 0.0)",
    )
    example.add_argument(
        "--seed", type=int, default=0, help="seed for the noise and the folds (default: 0)"
    )
    options = audit_cmd.add_argument_group("audit")
    options.add_argument(
        "--method",
        choices=METHODS,
        default="prune_by_noise_rate",
        metavar="METHOD",
        help=f"how to flag: {', '.join(METHODS)} (default: %(default)s)",
    )
    options.add_argument(
        "--rank-by",
        choices=SCORE_METHODS,
        default="self_confidence",
        metavar="SCORE",
        help=f"label quality score: {', '.join(SCORE_METHODS)} (default: %(default)s)",
    )
    options.add_argument(
        "--top", type=_count, default=15, metavar="N", help="rows to print (default: 15)"
    )
    options.add_argument(
        "-o",
        "--output-dir",
        default="labelwise-out",
        metavar="DIR",
        help=f"where to write {ISSUES_FILE} and {SUMMARY_FILE} (default: %(default)s)",
    )
    options.add_argument("--quiet", action="store_true", help="no table, no progress")
    options.add_argument(
        "--json", action="store_true", help="print a JSON summary instead of the table"
    )
    audit_cmd.set_defaults(run=_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``labelwise`` with ``argv`` (default: the process's arguments); return the exit code.

    Examples
    --------
    >>> from labelwise.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    labelwise ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        with warnings.catch_warnings(record=True) as caught:
            # Each warning once, as one line; deprecations inside libraries are not for users.
            warnings.simplefilter("default")
            for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                warnings.simplefilter("ignore", category)
            code: int = args.run(args)
        for warning in caught:
            print(f"labelwise: warning: {warning.message}", file=sys.stderr)
        return code
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    except (UsageError, ValueError, TypeError, OSError) as error:
        if "--debug" in (sys.argv[1:] if argv is None else argv):
            raise
        print(f"labelwise: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labelwise: interrupted", file=sys.stderr)
        return 130


def _audit(args: argparse.Namespace) -> int:
    def status(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    out_dir = Path(args.output_dir)
    issues_path = out_dir / ISSUES_FILE
    examples_path = out_dir / EXAMPLES_FILE
    summary_path = out_dir / SUMMARY_FILE
    flipped: np.ndarray | None = None
    model_output = args.predictions if args.task == "regression" else args.pred_probs
    output_flag = "--predictions" if args.task == "regression" else "--pred-probs"
    wrong_flag = "--pred-probs" if args.task == "regression" else "--predictions"
    if (args.pred_probs if args.task == "regression" else args.predictions) is not None:
        raise UsageError(f"{wrong_flag} does not go with --task {args.task}; use {output_flag}")
    if args.labels is None:
        if model_output is not None or args.features is not None or args.label_column is not None:
            raise UsageError(
                f"{output_flag}, --features and --label-column need --labels (your data)"
            )
        if args.task != "multiclass":
            raise UsageError(
                f"the built-in example is multi-class; --task {args.task} needs --labels"
            )
        noise = 0.0 if args.noise is None else args.noise
        percent = f"{noise * 100:.4g}%"
        flips = f", with {percent} of its labels flipped (seed {args.seed})" if noise else ""
        status(f"No data given: auditing the built-in example ({EXAMPLE}){flips}.")
        data = load_digits_example(noise=noise, random_state=args.seed, progress=not args.quiet)
        labels: Any = data.labels
        outputs: Any = data.pred_probs
        features: Any = data.features
        classes = None
        flipped = data.flipped if noise > 0 else None
    else:
        if args.noise is not None:
            raise UsageError(
                "--noise must be left out with --labels; it flips labels of the built-in example"
            )
        inputs = [path for path in (args.labels, model_output, args.features) if path]
        _refuse_overwrite(inputs, [issues_path, examples_path, summary_path])
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
        "data": "built-in example" if args.labels is None else "files",
        "labels": args.labels,
        "pred_probs": args.pred_probs,
        "predictions": args.predictions,
        "features": args.features,
        **found,
        "n_issues": found["n_label_issues"],
        "method": args.method,
        **_against_flipped(result.label_issues, flipped),
        "outputs": {
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
    io.write_table_atomic(frame, issues_path)
    io.write_table_atomic(result.examples, examples_path)
    report = result.to_dict()
    io.write_json_atomic(
        {**summary, **{k: v for k, v in report.items() if k != "examples"}}, summary_path
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_report(summary, frame, top=0 if args.quiet else args.top)
    return 0


def _refuse_overwrite(inputs: list[str], outputs: list[Path]) -> None:
    for given in inputs:
        if any(Path(given).resolve() == out.resolve() for out in outputs):
            raise UsageError(
                f"-o/--output-dir must not hold the input files; got {given!r} as input and output."
            )


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


def _table(frame: Any) -> str:
    """Right-aligned plain-text table, two spaces between columns."""
    columns = [[name.replace("_", " "), *map(str, frame[name])] for name in frame.columns]
    widths = [max(map(len, column)) for column in columns]
    lines = (
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in zip(*columns, strict=True)
    )
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
