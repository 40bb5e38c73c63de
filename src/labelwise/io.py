"""Files ↔ arrays: read labels and ``pred_probs``, write results atomically.

With :mod:`labelwise.cli`, the only module that opens files (it also keeps the answer logs
of :class:`labelwise.weak.PromptLF`). Supported formats, chosen by the file's extension:

- ``.npy``: a NumPy array (labels ``(n,)``, pred_probs ``(n, K)``). pred_probs are
  memory-mapped read-only, so a large file is neither copied into memory nor ever modified.
- ``.csv``: a table with a header row. A file whose first row holds only numbers is read
  without a header (columns named ``"0"``, ``"1"``, ...), unless that row is the integers
  ``0..K-1`` (in any order) with ``K >= 2``: class ids, as pandas writes unnamed columns.
- ``.parquet``: a table (read with pyarrow).
- ``.jsonl``: JSON Lines, one example per line: a scalar label (``3`` or ``"cat"``), a list of
  ``K`` probabilities, or an object ``{"column": value, ...}`` read as a table row.

Tables of pred_probs have one numeric column per class. Columns named ``0..K-1`` are class
ids (put in id order); other names are class names, returned by :func:`read_class_names`.
Writers go through a temporary file in the target's folder and :func:`os.replace`, so an
interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from labelwise._validation import fail, preview

PathLike = str | os.PathLike[str]

#: File extensions the readers understand.
READ_FORMATS = (".npy", ".csv", ".parquet", ".jsonl")
#: File extensions :func:`write_table_atomic` understands.
TABLE_FORMATS = (".csv", ".parquet")


def _existing(path: PathLike, formats: tuple[str, ...]) -> tuple[Path, str]:
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in formats:
        fail("path", f"a file ending in {_or(formats)}", f"{str(file)!r}")
    if not file.is_file():
        what = "a folder" if file.is_dir() else "no such file"
        fail("path", "an existing file", f"{str(file)!r} ({what})", kind=FileNotFoundError)
    return file, suffix


def _or(items: tuple[str, ...]) -> str:
    return ", ".join(items[:-1]) + " or " + items[-1]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_has_header(file: Path) -> bool:
    try:
        first = pd.read_csv(file, header=None, nrows=1, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        fail("path", "a non-empty CSV file", f"{str(file)!r}, which is empty")
    cells = [cell.strip() for cell in first.iloc[0].tolist()]
    if not all(_is_number(cell) for cell in cells):
        return True
    return len(cells) >= 2 and sorted(cells) == sorted(str(i) for i in range(len(cells)))


def _read_jsonl(file: Path) -> list[Any]:
    values = []
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as error:
                fail(
                    "path",
                    "a JSON Lines file (one JSON value per line)",
                    f"invalid JSON on line {number} of {str(file)!r}: {error.msg}",
                )
    if not values:
        fail("path", "a non-empty JSON Lines file", f"{str(file)!r}, which is empty")
    kinds = {_json_kind(value) for value in values}
    if len(kinds) > 1:
        fail(
            "path",
            "a JSON Lines file whose lines are all objects, all lists or all scalars",
            f"a mix of {', '.join(sorted(kinds))} in {str(file)!r}",
        )
    return values


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "objects"
    return "lists" if isinstance(value, list) else "scalars"


def read_table(path: PathLike) -> pd.DataFrame:
    """Read a ``.csv``, ``.parquet`` or ``.jsonl`` (one object per line) file as a DataFrame.

    Parameters
    ----------
    path : str or path-like
        The file; its extension picks the format (see the module docstring for CSV headers).

    Returns
    -------
    DataFrame
        Column names are strings.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from labelwise.io import read_table, write_table_atomic
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> write_table_atomic(pd.DataFrame({"id": [7, 8], "label": ["cat", "dog"]}), path)
    >>> read_table(path)
       id label
    0   7   cat
    1   8   dog
    """
    file, suffix = _existing(path, (".csv", ".parquet", ".jsonl"))
    return _read_table(file, suffix, _read_jsonl(file) if suffix == ".jsonl" else [])


def _read_table(file: Path, suffix: str, jsonl: list[Any]) -> pd.DataFrame:
    if suffix == ".csv":
        frame = pd.read_csv(file, header=0 if _csv_has_header(file) else None)
    elif suffix == ".parquet":
        frame = pd.read_parquet(file)
    else:
        if not isinstance(jsonl[0], dict):
            fail(
                "path",
                "a JSON Lines file of objects (one row per line) to read as a table",
                f"lines of {_json_kind(jsonl[0])} in {str(file)!r}",
            )
        frame = pd.DataFrame.from_records(jsonl)
    frame.columns = [str(name) for name in frame.columns]
    return frame


def _pick_column(frame: pd.DataFrame, column: str | None, file: Path) -> pd.Series:
    present = preview(frame.columns, 10)
    if column is None:
        if frame.shape[1] != 1:
            fail(
                "column",
                f"given to pick the label column, since {str(file)!r} has {frame.shape[1]} "
                f"columns ({present})",
                "None",
            )
        return frame.iloc[:, 0]
    if column not in frame.columns:
        fail(
            "column",
            f"one of the columns of {str(file)!r} ({present})",
            f"{column!r}, which is missing",
        )
    return frame[column]


def read_labels(path: PathLike, *, column: str | None = None) -> np.ndarray:
    """Read given labels, as class ids or class names, from a file.

    Parameters
    ----------
    path : str or path-like
        ``.npy`` (a 1-D array), ``.csv`` / ``.parquet`` / ``.jsonl`` of objects (a table), or
        ``.jsonl`` with one scalar label per line.
    column : str, optional
        The column holding the labels; needed when a table has more than one column.

    Returns
    -------
    ndarray of shape (n,)
        As stored: integers for class ids, strings (object dtype) for class names. The
        public functions validate and encode them (e.g. :func:`labelwise.find_label_issues`).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from labelwise.io import read_labels
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.npy"
    >>> np.save(path, np.array([0, 2, 1]))
    >>> read_labels(path)
    array([0, 2, 1])
    """
    file, suffix = _existing(path, READ_FORMATS)
    if suffix == ".npy":
        if column is not None:
            fail("column", "None for a .npy file (it has no columns)", repr(column))
        return _load_npy(file, mmap=False)
    values = _read_jsonl(file) if suffix == ".jsonl" else []
    if values and _json_kind(values[0]) == "scalars":
        if column is not None:
            fail("column", "None for a JSON Lines file of scalars", repr(column))
        return np.asarray(values, dtype=object if isinstance(values[0], str) else None)
    return _pick_column(_read_table(file, suffix, values), column, file).to_numpy()


def _load_npy(file: Path, *, mmap: bool) -> np.ndarray:
    try:
        array = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as error:
        fail(
            "path",
            "a .npy file of numbers or strings (no Python objects)",
            f"{str(file)!r}: {error}",
        )
    if not isinstance(array, np.ndarray):
        fail("path", "a .npy file holding one array", f"{type(array).__name__} in {str(file)!r}")
    return array


def _class_columns(names: list[str]) -> tuple[list[int] | None, tuple[str, ...] | None]:
    """(column order, class names): columns named by ids are reordered, others are names."""
    ids = [str(i) for i in range(len(names))]
    if names == ids:
        return None, None
    if sorted(names) == sorted(ids):
        return [names.index(i) for i in ids], None
    return None, tuple(names)


def _numeric_table(
    frame: pd.DataFrame, file: Path, *, name: str = "pred_probs", by_class: bool = True
) -> np.ndarray:
    unnamed = [column for column in frame.columns if column.startswith("Unnamed:")]
    if unnamed:
        fail(
            name,
            "named columns (write the table with index=False)",
            f"unnamed column(s) {preview(unnamed)} in {str(file)!r}",
        )
    bad = [column for column, dtype in frame.dtypes.items() if dtype.kind not in "iufb"]
    if bad:
        kinds = ", ".join(f"{column!r} ({frame[column].dtype})" for column in bad[:5])
        fail(
            name,
            "numeric columns" + (", one per class" if by_class else ""),
            f"non-numeric column(s) {kinds} in {str(file)!r}",
            kind=TypeError,
        )
    order, _ = _class_columns(list(frame.columns)) if by_class else (None, None)
    if order is not None:
        frame = frame.iloc[:, order]
    dtype = np.result_type(*frame.dtypes)
    # Row-major, like every other source: the kernels walk rows.
    return np.ascontiguousarray(frame.to_numpy(dtype=dtype if dtype.kind == "f" else np.float64))


def read_pred_probs(path: PathLike) -> np.ndarray:
    """Read predicted probabilities, one row per example and one column per class.

    Parameters
    ----------
    path : str or path-like
        ``.npy`` (a 2-D array, memory-mapped read-only), ``.csv`` / ``.parquet`` / ``.jsonl`` of
        objects (numeric columns, one per class), or ``.jsonl`` with one list per line.

    Returns
    -------
    ndarray of shape (n, K)
        float32/float64 as stored (other numbers as float64). The values are checked by the
        function that uses them (rows summing to one, no NaN).

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from labelwise.io import read_pred_probs, write_table_atomic
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pred_probs.parquet"
    >>> write_table_atomic(pd.DataFrame({"cat": [0.9, 0.2], "dog": [0.1, 0.8]}), path)
    >>> read_pred_probs(path)
    array([[0.9, 0.1],
           [0.2, 0.8]])
    """
    file, suffix = _existing(path, READ_FORMATS)
    if suffix == ".npy":
        return _load_npy(file, mmap=True)
    values = _read_jsonl(file) if suffix == ".jsonl" else []
    if values and not isinstance(values[0], dict):
        return _rows_to_array(values, file)
    return _numeric_table(_read_table(file, suffix, values), file)


def read_matrix(path: PathLike, *, name: str = "features") -> np.ndarray | list[Any]:
    """Read a numeric matrix (features, or a 0/1 multi-label indicator), one row per example.

    ``.npy`` (2-D, memory-mapped read-only), ``.csv`` / ``.parquet`` / ``.jsonl`` of objects
    (numeric columns), or ``.jsonl`` with one list per line. For ``name="labels"`` a ``.jsonl``
    whose lines are lists of different lengths is a list of tag lists and is returned as such.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from labelwise.io import read_matrix, write_table_atomic
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "features.csv"
    >>> write_table_atomic(pd.DataFrame({"x": [1.0, 2.0], "y": [0.5, 0.0]}), path)
    >>> read_matrix(path)
    array([[1. , 0.5],
           [2. , 0. ]])
    """
    file, suffix = _existing(path, READ_FORMATS)
    if suffix == ".npy":
        return _load_npy(file, mmap=True)
    values = _read_jsonl(file) if suffix == ".jsonl" else []
    if values and not isinstance(values[0], dict):
        if name == "labels" and len({len(v) if isinstance(v, list) else -1 for v in values}) > 1:
            return values
        return _rows_to_array(values, file)
    return _numeric_table(_read_table(file, suffix, values), file, name=name, by_class=False)


def _rows_to_array(values: list[Any], file: Path) -> np.ndarray:
    lengths = {len(value) if isinstance(value, list) else -1 for value in values}
    if -1 in lengths or len(lengths) != 1:
        fail(
            "pred_probs",
            "one list of K probabilities per line, all of the same length",
            f"line lengths {preview(sorted(lengths))} in {str(file)!r} (-1: not a list)",
        )
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        fail("pred_probs", "numbers", f"non-numeric values in {str(file)!r}", kind=TypeError)
    raise AssertionError("unreachable")  # pragma: no cover


def read_class_names(path: PathLike) -> tuple[str, ...] | None:
    """The class names that a pred_probs file's columns carry, in column order.

    Parameters
    ----------
    path : str or path-like
        A file that :func:`read_pred_probs` reads; only its header is read.

    Returns
    -------
    tuple of str, or None
        None when the columns are unnamed or named by class ids ``0..K-1``.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from labelwise.io import read_class_names, write_table_atomic
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pred_probs.csv"
    >>> write_table_atomic(pd.DataFrame({"cat": [0.9], "dog": [0.1]}), path)
    >>> read_class_names(path)
    ('cat', 'dog')
    """
    file, suffix = _existing(path, READ_FORMATS)
    if suffix == ".npy":
        return None
    if suffix == ".csv":
        if not _csv_has_header(file):
            return None
        names = [str(name) for name in pd.read_csv(file, nrows=0).columns]
    elif suffix == ".parquet":
        schema = pq.read_schema(file)
        stored = (schema.pandas_metadata or {}).get("index_columns", [])
        index = {name for name in stored if isinstance(name, str)}  # a RangeIndex is a dict
        names = [name for name in schema.names if name not in index]
    else:
        with file.open(encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "null")
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            return None  # read_pred_probs words the error
        if not isinstance(row, dict):
            return None
        names = [str(name) for name in row]
    return _class_columns(names)[1]


@contextmanager
def _atomic(path: PathLike) -> Iterator[BinaryIO]:
    """Open a temporary sibling of ``path`` for binary writing; on success move it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            # os.open applies the umask, unlike tempfile's private 0o600.
            descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_table_atomic(frame: pd.DataFrame, path: PathLike) -> None:
    """Write a DataFrame to ``.csv`` or ``.parquet`` (by extension) without its index, atomically.

    The table goes to a temporary file in the same folder, which then replaces ``path`` in one
    step: readers see the old file or the new one, never a partial one. Missing parent
    folders are created.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from labelwise.io import write_table_atomic
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_table_atomic(pd.DataFrame({"index": [3, 1]}), folder / "issues.csv")
    >>> sorted(p.name for p in folder.iterdir())
    ['issues.csv']
    """
    if not isinstance(frame, pd.DataFrame):
        fail("frame", "a pandas DataFrame", type(frame).__name__, kind=TypeError)
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        fail("path", f"a file ending in {_or(TABLE_FORMATS)}", repr(str(path)))
    if suffix == ".csv":
        with _atomic(path) as handle:
            frame.to_csv(handle, index=False, encoding="utf-8")
    else:
        with _atomic(path) as handle:
            frame.to_parquet(handle, index=False)


def _to_json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"`obj` must be JSON-serialisable; got {type(value).__name__} {value!r}.")


def write_json_atomic(obj: Any, path: PathLike) -> None:
    """Write ``obj`` as indented JSON (NumPy scalars and arrays allowed), atomically.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> from labelwise.io import write_json_atomic
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "summary.json"
    >>> write_json_atomic({"n_issues": 3}, path)
    >>> json.loads(path.read_text())
    {'n_issues': 3}
    """
    text = json.dumps(obj, indent=2, default=_to_json) + "\n"
    with _atomic(path) as handle:
        handle.write(text.encode("utf-8"))


def write_text_atomic(text: str, path: PathLike) -> None:
    """Write ``text`` as UTF-8 (e.g. an HTML report), atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from labelwise.io import write_text_atomic
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_text_atomic("<p>ok</p>", path)
    >>> path.read_text()
    '<p>ok</p>'
    """
    if not isinstance(text, str):
        fail("text", "a str", type(text).__name__, kind=TypeError)
    with _atomic(path) as handle:
        handle.write(text.encode("utf-8"))


def read_answer_log(path: PathLike) -> dict[str, str]:
    """Answers logged by :func:`answer_log_writer`: ``{key: answer}``, empty when no file yet.

    Lines that do not parse (the torn last line of an interrupted write) are skipped; a key
    logged twice keeps its last answer.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from labelwise.io import answer_log_writer, read_answer_log
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "answers.jsonl"
    >>> read_answer_log(path)
    {}
    >>> with answer_log_writer(path) as log:
    ...     log("k1", "Is it spam? win $$$", "yes")
    >>> read_answer_log(path)
    {'k1': 'yes'}
    """
    file = Path(path)
    if not file.exists():
        return {}
    answers: dict[str, str] = {}
    with file.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (
                isinstance(record, dict)
                and isinstance(record.get("key"), str)
                and isinstance(record.get("answer"), str)
            ):
                answers[record["key"]] = record["answer"]
    return answers


@contextmanager
def answer_log_writer(path: PathLike) -> Iterator[Callable[[str, str, str], None]]:
    """Append ``(key, prompt, answer)`` records to a JSON Lines log, one line per answer.

    Each line goes out in one ``write`` on a descriptor opened for appending, as soon as the
    answer is logged: an interrupted run keeps every answer it paid for, and two processes
    appending to the same log do not interleave their lines. A torn last line left by an
    earlier crash is closed off first, so it cannot swallow the next record. Missing parent
    folders are created.
    """
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(file, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(descriptor).st_size
        if size and os.pread(descriptor, 1, size - 1) != b"\n":
            os.write(descriptor, b"\n")

        def write(key: str, prompt: str, answer: str) -> None:
            record = {"key": key, "prompt": prompt, "answer": answer}
            os.write(descriptor, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))

        yield write
    finally:
        os.close(descriptor)
