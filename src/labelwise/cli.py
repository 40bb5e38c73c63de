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

from labelwise import __version__, io
from labelwise.datasets import load_digits_example
from labelwise.issues.label_issues import METHODS, LabelIssues, find_label_issues
from labelwise.issues.scores import SCORE_METHODS

EXAMPLE = "scikit-learn digits, 1,797 images, 5-fold cross-validated logistic regression"
ISSUES_FILE = "issues.csv"
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
    audit = commands.add_parser(
        "audit",
        help="find the examples whose given label is likely wrong",
        description=(
            "Find the examples whose given label is likely wrong, by confident learning on "
            "out-of-sample predicted probabilities. With no --labels/--pred-probs, audits a "
            f"built-in example ({EXAMPLE})."
        ),
    )
    data = audit.add_argument_group("your data (both or neither)")
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
    example = audit.add_argument_group("built-in example (when no data is given)")
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
    options = audit.add_argument_group("audit")
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
    audit.set_defaults(run=_audit)
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
    issues_path, summary_path = out_dir / ISSUES_FILE, out_dir / SUMMARY_FILE
    flipped: np.ndarray | None = None
    if args.labels is None and args.pred_probs is None:
        if args.label_column is not None:
            raise UsageError("--label-column must come with --labels and --pred-probs")
        noise = 0.0 if args.noise is None else args.noise
        percent = f"{noise * 100:.4g}%"
        flips = f", with {percent} of its labels flipped (seed {args.seed})" if noise else ""
        status(f"No data given: auditing the built-in example ({EXAMPLE}){flips}.")
        data = load_digits_example(noise=noise, random_state=args.seed, progress=not args.quiet)
        labels, pred_probs, classes = data.labels, data.pred_probs, None
        flipped = data.flipped if noise > 0 else None
    else:
        if args.labels is None or args.pred_probs is None:
            given = "--labels" if args.pred_probs is None else "--pred-probs"
            raise UsageError(f"--labels and --pred-probs must be given together; got only {given}.")
        if args.noise is not None:
            raise UsageError(
                "--noise must be left out with --labels; it flips labels of the built-in example"
            )
        _refuse_overwrite([args.labels, args.pred_probs], [issues_path, summary_path])
        status(f"Auditing the labels in {args.labels} with the pred_probs in {args.pred_probs}.")
        labels = io.read_labels(args.labels, column=args.label_column)
        pred_probs = io.read_pred_probs(args.pred_probs)
        names = labels.dtype.kind in "OUS"  # class names, to match to named columns
        classes = io.read_class_names(args.pred_probs) if names else None

    issues = find_label_issues(
        labels, pred_probs, method=args.method, rank_by=args.rank_by, classes=classes
    )
    summary: dict[str, Any] = {
        "data": "built-in example" if args.labels is None else "files",
        "labels": args.labels,
        "pred_probs": args.pred_probs,
        "n_examples": int(issues.given_label.size),
        "n_classes": int(pred_probs.shape[1]),
        "n_issues": issues.n_issues,
        "method": args.method,
        "rank_by": args.rank_by,
        **_against_flipped(issues, flipped),
        "outputs": {"issues": str(issues_path), "summary": str(summary_path)},
    }
    frame = issues.to_frame(only_issues=True)
    io.write_table_atomic(frame, issues_path)
    io.write_json_atomic(summary, summary_path)
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


def _against_flipped(issues: LabelIssues, flipped: np.ndarray | None) -> dict[str, Any]:
    """Precision: share of flagged rows that were flipped; recall: share of flipped rows flagged."""
    if flipped is None:
        return {"n_flipped": None, "n_flipped_flagged": None, "precision": None, "recall": None}
    hits = int(np.isin(issues.ranking, flipped).sum())
    return {
        "n_flipped": int(flipped.size),
        "n_flipped_flagged": hits,
        "precision": hits / issues.n_issues if issues.n_issues else None,
        "recall": hits / flipped.size if flipped.size else None,
    }


def _print_report(summary: dict[str, Any], frame: Any, *, top: int) -> None:
    n_issues = summary["n_issues"]
    print(
        f"Found {n_issues:,} likely label error{'s' * (n_issues != 1)} among "
        f"{summary['n_examples']:,} examples ({summary['n_classes']} classes, "
        f"method {summary['method']})."
    )
    shown = frame.head(top).drop(columns="is_label_issue")
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
    print(f"Wrote all {n_issues:,} flagged rows, worst first, to {summary['outputs']['issues']}")
    print(f"and a summary to {summary['outputs']['summary']}.")


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
