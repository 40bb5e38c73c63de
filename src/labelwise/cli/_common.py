"""What every ``labelwise`` command shares: file names, usage errors, reading the user's
tables, writing the label card."""

from __future__ import annotations

import argparse
import codecs
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelwise import aggregate as agg
from labelwise import io
from labelwise.report import LabelCard

EXAMPLE = "scikit-learn digits, 1,797 images, 5-fold cross-validated logistic regression"
ISSUES_FILE = "issues.csv"
EXAMPLES_FILE = "examples.csv"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
LABELS_FILE = "labels.csv"
ANNOTATORS_FILE = "annotators.csv"
LF_SUMMARY_FILE = "lf_summary.csv"
ANNOTATOR_NAMES = "the first of 'annotator', 'worker', 'source' present"
AGGREGATORS = {
    "majority-vote": agg.MajorityVote,
    "dawid-skene": agg.DawidSkene,
    "one-coin": agg.OneCoinDawidSkene,
    "glad": agg.GLAD,
    "mace": agg.MACE,
}


class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2)."""


def _status(args: argparse.Namespace) -> Any:
    def status(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    return status


def _write_report(card: LabelCard, path: Path, status: Any) -> bool:
    """Write the HTML card; without the report extra, say so and go on (False)."""
    try:
        text = card.to_html()
    except ImportError as missing:
        print(f"labelwise: warning: {path.name} not written: {missing}", file=sys.stderr)
        return False
    io.write_text_atomic(text, path)
    status(f"Wrote the label card to {path}.")
    return True


def _read_data(path: str, flag: str) -> pd.DataFrame:
    """A user's table, with the file problems users make worded as one line."""
    try:
        frame = io.read_table(path)
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{flag} must be UTF-8 text; {path!r} is not ({_first_bad_byte(path)})"
        ) from error
    if frame.shape[0] == 0:
        raise UsageError(f"{flag} must have at least one row; {path!r} has none")
    return frame


def _first_bad_byte(path: str) -> str:
    """Where a file stops being UTF-8: "line L, byte B: reason" (read in chunks)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = lines = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                line = lines + chunk[: error.start].count(b"\n") + 1
                return f"line {line}, byte {offset + error.start}: {error.reason}"
            offset += len(chunk)
            lines += chunk.count(b"\n")
    return "it ends inside a character"


def _column(frame: pd.DataFrame, name: str, flag: str, path: str) -> pd.Series:
    if name not in frame.columns:
        shown = ", ".join(map(repr, list(frame.columns)[:20]))
        more = ", ..." if frame.shape[1] > 20 else ""
        raise UsageError(
            f"{flag} {name!r} is not a column of {path!r}; its columns are {shown}{more}"
        )
    return frame[name]


def _number(value: Any) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def _finite(value: Any) -> Any:
    """JSON-ready: NaN and infinities become None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _print_outputs(outputs: dict[str, str | None]) -> None:
    for name, path in outputs.items():
        if path is not None:
            print(f"Wrote {name.replace('_', ' ')} to {path}.")


def _refuse_overwrite(inputs: list[str], outputs: list[Path]) -> None:
    for given in inputs:
        if any(Path(given).resolve() == out.resolve() for out in outputs):
            raise UsageError(
                f"-o/--output-dir must not hold the input files; got {given!r} as input and output."
            )


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
