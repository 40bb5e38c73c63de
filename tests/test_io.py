"""Reading labels and pred_probs from files; atomic writers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelwise.io import (
    read_class_names,
    read_labels,
    read_pred_probs,
    read_table,
    write_json_atomic,
    write_table_atomic,
)

LABELS = np.array([0, 2, 1, 1, 0])
PROBS = np.array(
    [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.2, 0.6, 0.2], [0.5, 0.4, 0.1], [0.9, 0.05, 0.05]]
)
NAMES = ["cat", "dog", "eel"]


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# --- labels ---------------------------------------------------------------------------------


def test_read_labels_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "labels.npy", LABELS)
    np.testing.assert_array_equal(read_labels(tmp_path / "labels.npy"), LABELS)


def test_read_labels_single_column_csv_and_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"label": LABELS})
    frame.to_csv(tmp_path / "labels.csv", index=False)
    frame.to_parquet(tmp_path / "labels.parquet")
    for name in ("labels.csv", "labels.parquet"):
        np.testing.assert_array_equal(read_labels(tmp_path / name), LABELS)


def test_read_labels_picks_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [10, 11, 12, 13, 14], "y": np.array(NAMES)[LABELS]})
    frame.to_csv(tmp_path / "labels.csv", index=False)
    assert read_labels(tmp_path / "labels.csv", column="y").tolist() == frame["y"].tolist()


def test_read_labels_headerless_csv_keeps_first_row(tmp_path: Path) -> None:
    np.savetxt(tmp_path / "labels.csv", LABELS, fmt="%d")
    np.testing.assert_array_equal(read_labels(tmp_path / "labels.csv"), LABELS)


def test_read_labels_jsonl_scalars_and_objects(tmp_path: Path) -> None:
    scalars = _jsonl(tmp_path / "a.jsonl", ["cat", "eel", "dog"])
    assert read_labels(scalars).tolist() == ["cat", "eel", "dog"]
    objects = _jsonl(tmp_path / "b.jsonl", [{"id": i, "y": int(v)} for i, v in enumerate(LABELS)])
    np.testing.assert_array_equal(read_labels(objects, column="y"), LABELS)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError,
        match=(r"`path` must be an existing file; got '.*nope\.npy' \(no such file\)\."),
    ):
        read_labels(tmp_path / "nope.npy")
    with pytest.raises(FileNotFoundError, match=r"an existing file; got '.*d\.csv' \(a folder\)"):
        (tmp_path / "d.csv").mkdir()
        read_pred_probs(tmp_path / "d.csv")


def test_unknown_extension_lists_the_formats(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("0\n1\n")
    with pytest.raises(
        ValueError,
        match=(
            r"`path` must be a file ending in \.npy, \.csv, \.parquet or \.jsonl; got "
            r"'.*labels\.txt'\."
        ),
    ):
        read_labels(tmp_path / "labels.txt")


def test_missing_column_names_missing_and_present(tmp_path: Path) -> None:
    pd.DataFrame({"id": [1, 2], "given": [0, 1]}).to_parquet(tmp_path / "labels.parquet")
    with pytest.raises(
        ValueError,
        match=(
            r"`column` must be one of the columns of '.*labels\.parquet' \('id', 'given'\); "
            r"got 'label', which is missing\."
        ),
    ):
        read_labels(tmp_path / "labels.parquet", column="label")


def test_several_columns_need_column(tmp_path: Path) -> None:
    pd.DataFrame({"id": [1, 2], "given": [0, 1]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(
        ValueError,
        match=(
            r"`column` must be given to pick the label column, since '.*' has 2 columns "
            r"\('id', 'given'\); got None\."
        ),
    ):
        read_labels(tmp_path / "labels.csv")


def test_column_with_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "labels.npy", LABELS)
    with pytest.raises(
        ValueError,
        match=(r"`column` must be None for a \.npy file \(it has no columns\); got 'y'\."),
    ):
        read_labels(tmp_path / "labels.npy", column="y")


def test_object_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "labels.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(
        ValueError,
        match=(r"`path` must be a \.npy file of numbers or strings \(no Python objects\)"),
    ):
        read_labels(tmp_path / "labels.npy")


def test_empty_csv_and_bad_jsonl(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(
        ValueError,
        match=(r"`path` must be a non-empty CSV file; got '.*empty\.csv', which is empty\."),
    ):
        read_labels(tmp_path / "empty.csv")
    (tmp_path / "bad.jsonl").write_text('1\n2\n{"oops"\n')
    with pytest.raises(
        ValueError,
        match=(
            r"`path` must be a JSON Lines file \(one JSON value per line\); got invalid JSON "
            r"on line 3 of"
        ),
    ):
        read_labels(tmp_path / "bad.jsonl")
    _jsonl(tmp_path / "mixed.jsonl", [1, {"y": 2}])
    with pytest.raises(
        ValueError,
        match=(r"all objects, all lists or all scalars; got a mix of objects, scalars in"),
    ):
        read_labels(tmp_path / "mixed.jsonl")


# --- pred_probs -----------------------------------------------------------------------------


def test_read_pred_probs_npy_is_memory_mapped_read_only(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", PROBS.astype(np.float32))
    probs = read_pred_probs(tmp_path / "p.npy")
    assert isinstance(probs, np.memmap)
    assert probs.dtype == np.float32 and not probs.flags.writeable
    np.testing.assert_array_equal(probs, PROBS.astype(np.float32))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl-objects", "jsonl-lists", "csv-bare"])
def test_read_pred_probs_formats_agree(tmp_path: Path, fmt: str) -> None:
    frame = pd.DataFrame(PROBS, columns=NAMES)
    path = tmp_path / f"p.{fmt.split('-')[0]}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "csv-bare":
        np.savetxt(path, PROBS, delimiter=",")
    elif fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "jsonl-objects":
        _jsonl(path, frame.to_dict(orient="records"))
    else:
        _jsonl(path, PROBS.tolist())
    probs = read_pred_probs(path)
    np.testing.assert_array_equal(probs, PROBS)
    assert probs.flags.c_contiguous
    assert read_class_names(path) == (None if fmt in ("csv-bare", "jsonl-lists") else tuple(NAMES))


def test_class_id_columns_are_put_in_id_order(tmp_path: Path) -> None:
    pd.DataFrame(PROBS[:, ::-1], columns=["2", "1", "0"]).to_csv(tmp_path / "p.csv", index=False)
    np.testing.assert_array_equal(read_pred_probs(tmp_path / "p.csv"), PROBS)
    assert read_class_names(tmp_path / "p.csv") is None


def test_pandas_default_header_is_a_header(tmp_path: Path) -> None:
    pd.DataFrame(PROBS).to_csv(tmp_path / "p.csv", index=False)  # header "0,1,2"
    np.testing.assert_array_equal(read_pred_probs(tmp_path / "p.csv"), PROBS)


def test_parquet_keeps_float32_and_skips_the_index(tmp_path: Path) -> None:
    frame = pd.DataFrame(PROBS.astype(np.float32), columns=NAMES, index=[5, 6, 7, 8, 9])
    frame.to_parquet(tmp_path / "p.parquet")
    probs = read_pred_probs(tmp_path / "p.parquet")
    assert probs.dtype == np.float32 and probs.shape == (5, 3)
    assert read_class_names(tmp_path / "p.parquet") == tuple(NAMES)
    assert read_class_names(tmp_path / "p.parquet") == tuple(read_table(tmp_path / "p.parquet"))


def test_non_numeric_pred_probs_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(PROBS, columns=NAMES).assign(note="x")
    frame.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(
        TypeError,
        match=(
            r"`pred_probs` must be numeric columns, one per class; got non-numeric "
            r"column\(s\) 'note' \(.*\) in '.*p\.csv'\."
        ),
    ):
        read_pred_probs(tmp_path / "p.csv")


def test_index_column_is_refused(tmp_path: Path) -> None:
    pd.DataFrame(PROBS, columns=NAMES).to_csv(tmp_path / "p.csv")
    with pytest.raises(
        ValueError,
        match=(
            r"`pred_probs` must be named columns \(write the table with "
            r"index=False\); got unnamed column\(s\) 'Unnamed: 0'"
        ),
    ):
        read_pred_probs(tmp_path / "p.csv")


def test_ragged_and_non_numeric_jsonl_rows(tmp_path: Path) -> None:
    _jsonl(tmp_path / "r.jsonl", [[0.5, 0.5], [1.0]])
    with pytest.raises(
        ValueError,
        match=(
            r"`pred_probs` must be one list of K probabilities per line, all of the same "
            r"length; got line lengths 1, 2"
        ),
    ):
        read_pred_probs(tmp_path / "r.jsonl")
    _jsonl(tmp_path / "s.jsonl", [[0.5, "a"]])
    with pytest.raises(TypeError, match=r"`pred_probs` must be numbers; got non-numeric values in"):
        read_pred_probs(tmp_path / "s.jsonl")


def test_read_table_refuses_jsonl_of_scalars(tmp_path: Path) -> None:
    _jsonl(tmp_path / "t.jsonl", [1, 2])
    with pytest.raises(
        ValueError,
        match=(
            r"`path` must be a JSON Lines file of objects \(one row per line\) to read as a "
            r"table; got lines of scalars"
        ),
    ):
        read_table(tmp_path / "t.jsonl")


# --- writers --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_write_table_round_trips_and_leaves_no_temp_files(tmp_path: Path, name: str) -> None:
    frame = pd.DataFrame({"index": [3, 1], "given_label": ["cat", "dog"], "score": [0.25, 0.5]})
    target = tmp_path / "new" / name
    write_table_atomic(frame, target)
    write_table_atomic(frame, target)  # replacing an existing file
    pd.testing.assert_frame_equal(read_table(target), frame, check_dtype=False)
    assert [p.name for p in target.parent.iterdir()] == [name]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    write_table_atomic(pd.DataFrame({"a": [1]}), target)
    before = target.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error for a mixed column
        write_table_atomic(pd.DataFrame({"a": [1, "x"]}, dtype=object), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_written_file_honours_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_json_atomic({}, tmp_path / "s.json")
    finally:
        os.umask(old)
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o644


def test_write_table_refuses_unknown_format_and_non_frames(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError,
        match=(r"`path` must be a file ending in \.csv or \.parquet; got '.*out\.xlsx'\."),
    ):
        write_table_atomic(pd.DataFrame({"a": [1]}), tmp_path / "out.xlsx")
    with pytest.raises(TypeError, match=r"`frame` must be a pandas DataFrame; got dict\."):
        write_table_atomic({"a": [1]}, tmp_path / "out.csv")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_write_json_converts_numpy_and_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    write_json_atomic({"n": np.int64(3), "p": np.float32(0.5), "rows": np.arange(2)}, target)
    assert json.loads(target.read_text()) == {"n": 3, "p": 0.5, "rows": [0, 1]}
    with pytest.raises(TypeError, match=r"`obj` must be JSON-serialisable; got object"):
        write_json_atomic({"x": object()}, target)
    assert json.loads(target.read_text())["n"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
