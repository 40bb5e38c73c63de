"""The `labelwise` command line, run in-process through `main` (and once as a console script)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labelwise
from labelwise.cli import main
from labelwise.datasets import load_digits_example

COLUMNS = ["index", "given_label", "suggested_label", "label_quality", "is_label_issue"]
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The digits example with 10% flipped labels, saved in every supported format."""
    ex = load_digits_example(noise=0.1, random_state=0)
    root = tmp_path_factory.mktemp("inputs")
    probs = pd.DataFrame(ex.pred_probs, columns=[str(k) for k in range(10)])
    paths = {
        name: root / name
        for name in (
            "labels.npy",
            "pred_probs.npy",
            "labels.csv",
            "pred_probs.csv",
            "labels.parquet",
            "pred_probs.parquet",
            "labels.jsonl",
            "pred_probs.jsonl",
            "names.parquet",
            "named_probs.csv",
            "short.npy",
            "nan.npy",
        )
    }
    np.save(paths["labels.npy"], ex.labels)
    np.save(paths["pred_probs.npy"], ex.pred_probs)
    pd.DataFrame({"id": np.arange(ex.labels.size), "label": ex.labels}).to_csv(
        paths["labels.csv"], index=False
    )
    probs.to_csv(paths["pred_probs.csv"], index=False)
    pd.DataFrame({"label": ex.labels}).to_parquet(paths["labels.parquet"])
    probs.to_parquet(paths["pred_probs.parquet"])
    paths["labels.jsonl"].write_text("".join(f"{v}\n" for v in ex.labels))
    rows = ex.pred_probs.tolist()
    paths["pred_probs.jsonl"].write_text("".join(json.dumps(row) + "\n" for row in rows))
    pd.DataFrame({"label": NAMES[ex.labels]}).to_parquet(paths["names.parquet"])
    probs.set_axis(NAMES, axis=1).to_csv(paths["named_probs.csv"], index=False)
    np.save(paths["short.npy"], ex.labels[:-3])
    nan = ex.pred_probs.copy()
    nan[7, 3] = np.nan
    np.save(paths["nan.npy"], nan)
    return paths


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_builtin_example_says_so_and_writes_issues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "audit", "-o", str(tmp_path / "out"))
    assert code == 0
    assert "No data given: auditing the built-in example (scikit-learn digits, 1,797 images" in err
    assert "among 1,797 examples (10 classes, method prune_by_noise_rate)" in out
    assert "index  given label  suggested label  label quality" in out
    assert "precision" not in out  # nothing was flipped, so nothing to measure against
    frame = pd.read_csv(tmp_path / "out" / "issues.csv")
    assert list(frame.columns) == COLUMNS
    assert frame["is_label_issue"].all() and frame["label_quality"].is_monotonic_increasing
    assert f"to {tmp_path / 'out' / 'issues.csv'}" in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_issues"] == len(frame) and summary["recall"] is None


def test_noise_reports_precision_and_recall(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "audit", "--noise", "0.1", "-o", str(tmp_path))
    assert code == 0
    assert "with 10% of its labels flipped (seed 0)" in err
    assert "Against the 180 flipped labels: precision 0." in out  # measured: 0.888, recall 0.878
    code, out, _ = _run(capsys, "audit", "--noise", "0.1", "--json", "-o", str(tmp_path))
    summary = json.loads(out)
    assert summary["n_flipped"] == 180
    assert summary["recall"] >= 0.8 and summary["precision"] >= 0.8


def test_json_is_the_only_stdout_and_quiet_silences_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "audit", "--json", "--quiet", "-o", str(tmp_path))
    assert code == 0 and err == ""
    summary = json.loads(out)
    assert summary["n_examples"] == 1797 and summary["n_classes"] == 10
    assert summary["method"] == "prune_by_noise_rate" and summary["data"] == "built-in example"
    assert summary["outputs"]["issues"] == str(tmp_path / "issues.csv")
    assert len(pd.read_csv(tmp_path / "issues.csv")) == summary["n_issues"]


def test_quiet_prints_no_table_and_top_limits_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, err = _run(capsys, "audit", "--quiet", "-o", str(tmp_path))
    assert "label quality" not in out and err == "" and out.startswith("Found ")
    _, out, _ = _run(
        capsys, "audit", "--noise", "0.05", "--top", "3", "--method", "both", "-o", str(tmp_path)
    )
    table = out.split("label quality\n")[1].split("\n\n")[0].splitlines()
    assert len(table) == 3 and "method both" in out


@pytest.mark.parametrize(
    ("labels", "pred_probs", "extra"),
    [
        ("labels.csv", "pred_probs.csv", ["--label-column", "label"]),
        ("labels.parquet", "pred_probs.parquet", []),
        ("labels.jsonl", "pred_probs.jsonl", []),
    ],
)
def test_every_format_flags_the_same_rows(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    labels: str,
    pred_probs: str,
    extra: list[str],
) -> None:
    base = ["audit", "--quiet", "-o"]
    assert (
        main(
            [
                *base,
                str(tmp_path / "npy"),
                "--labels",
                str(files["labels.npy"]),
                "--pred-probs",
                str(files["pred_probs.npy"]),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *base,
                str(tmp_path / "other"),
                "--labels",
                str(files[labels]),
                "--pred-probs",
                str(files[pred_probs]),
                *extra,
            ]
        )
        == 0
    )
    capsys.readouterr()
    expected = pd.read_csv(tmp_path / "npy" / "issues.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "other" / "issues.csv"), expected)
    assert len(expected) == 178


def test_class_names_come_through(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys,
        "audit",
        "--labels",
        str(files["names.parquet"]),
        "--pred-probs",
        str(files["named_probs.csv"]),
        "-o",
        str(tmp_path),
    )
    assert code == 0
    frame = pd.read_csv(tmp_path / "issues.csv")
    assert set(frame["given_label"]) <= set(NAMES) and set(frame["suggested_label"]) <= set(NAMES)
    assert " nine             four " in out  # the worst row, by name


def test_input_files_are_never_modified(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files.values()}
    for labels, probs in (("labels.npy", "pred_probs.npy"), ("labels.parquet", "pred_probs.csv")):
        assert (
            main(
                [
                    "audit",
                    "--labels",
                    str(files[labels]),
                    "--pred-probs",
                    str(files[probs]),
                    "-o",
                    str(tmp_path),
                ]
            )
            == 0
        )
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files.values()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "examples.csv",
        "issues.csv",
        "report.html",
        "summary.json",
    ]


def test_output_over_an_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "p.npy", np.eye(2))
    (tmp_path / "issues.csv").write_text("label\n0\n1\n")
    code, _, err = _run(
        capsys,
        "audit",
        "--labels",
        str(tmp_path / "issues.csv"),
        "--pred-probs",
        str(tmp_path / "p.npy"),
        "-o",
        str(tmp_path),
    )
    assert code == 2 and "-o/--output-dir must not hold the input files" in err
    assert (tmp_path / "issues.csv").read_text() == "label\n0\n1\n"


BAD_INPUTS = [
    (
        ["--labels", "@missing", "--pred-probs", "@pred_probs.npy"],
        r"`path` must be an existing file; got '.*missing\.npy' \(no such file\)\.",
    ),
    (
        ["--labels", "@wrong_ext", "--pred-probs", "@pred_probs.npy"],
        r"`path` must be a file ending in \.npy, \.csv, \.parquet or \.jsonl; got '.*labels\.txt'\.",
    ),
    (
        ["--labels", "@short.npy", "--pred-probs", "@pred_probs.npy"],
        r"`labels` must be the same length as pred_probs \(1797 rows\); got length 1794\.",
    ),
    (
        ["--labels", "@labels.npy", "--pred-probs", "@nan.npy"],
        r"`pred_probs` must be finite and non-negative; got 1 row\(s\) with non-finite \(NaN or inf\) "
        r"values, first at row 7",
    ),
    (
        ["--labels", "@labels.csv", "--label-column", "y", "--pred-probs", "@pred_probs.csv"],
        r"`column` must be one of the columns of '.*labels\.csv' \('id', 'label'\); got 'y', "
        r"which is missing\.",
    ),
    (
        ["--labels", "@labels.csv", "--pred-probs", "@pred_probs.csv"],
        r"`column` must be given to pick the label column",
    ),
    (
        ["--labels", "@labels.npy", "--pred-probs", "@pred_probs.npy", "--noise", "0.1"],
        r"--noise must be left out with --labels",
    ),
    (["--label-column", "y"], r"--pred-probs, --features and --label-column need DATA or --labels"),
    (
        ["--labels", "@labels.npy", "--predictions", "@labels.npy"],
        r"--predictions does not go with --task multiclass; use --pred-probs",
    ),
    (
        ["--task", "regression"],
        r"the built-in example is multi-class; --task regression needs DATA or --labels",
    ),
    (
        ["--noise", "1.5"],
        r"argument --noise: must be a number in \[0, 1\]; got '1\.5' "
        r"\(see `labelwise audit --help`\)",
    ),
    (["--top", "-2"], r"argument --top: must be an integer >= 0; got '-2'"),
    (["--method", "vibes"], r"argument --method: invalid choice: 'vibes'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    (tmp_path / "labels.txt").write_text("0\n")
    named = {
        **{k: str(v) for k, v in files.items()},
        "missing": str(tmp_path / "missing.npy"),
        "wrong_ext": str(tmp_path / "labels.txt"),
    }
    argv = ["audit", "-o", str(tmp_path / "out"), *(named.get(a[1:], a) for a in args)]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    error_lines = [line for line in err.splitlines() if line.startswith("labelwise: error: ")]
    assert len(error_lines) == 1 and "Traceback" not in err
    assert error_lines[0] == err.splitlines()[-1]
    assert re.search(message, error_lines[0]), error_lines[0]
    assert not (tmp_path / "out").exists()


def test_library_warnings_become_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 2])  # class 2 has a single example: not pruned
    probs = np.full((7, 3), 0.1) + 0.7 * np.eye(3)[[0, 0, 1, 1, 1, 0, 2]]
    np.save(tmp_path / "l.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    code, _, err = _run(
        capsys,
        "audit",
        "--labels",
        str(tmp_path / "l.npy"),
        "--pred-probs",
        str(tmp_path / "p.npy"),
        "-o",
        str(tmp_path / "out"),
    )
    assert code == 0
    assert "labelwise: warning: classes [2] have at most min_examples_per_class=1" in err


def test_version_help_and_missing_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "--version") == (0, f"labelwise {labelwise.__version__}\n", "")
    code, out, _ = _run(capsys, "audit", "--help")
    assert code == 0 and "--pred-probs FILE" in out and "built-in example" in out
    code, _, err = _run(capsys)
    assert code == 2 and err.startswith("labelwise: error: the following arguments are required")


def test_console_script_version() -> None:
    script = shutil.which("labelwise", path=str(Path(sys.executable).parent)) or shutil.which(
        "labelwise"
    )
    if script is None:
        pytest.skip("the `labelwise` console script is not installed (pip install -e .)")
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == f"labelwise {labelwise.__version__}\n"


def test_labels_alone_run_what_they_can(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "audit", "--labels", str(files["labels.npy"]), "-o", str(tmp_path))
    assert code == 0
    assert "Not checked: label issues: no out-of-sample `pred_probs` given." in out
    assert "Not checked: near-duplicates: no `features` given." in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_label_issues"] is None and summary["n_examples"] == 1797


def test_features_add_outliers_and_duplicates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 5)) + np.array([6.0, 0, 0, 0, 0])  # all along +x
    features[7] = features[3]  # an exact copy ...
    labels = rng.integers(0, 3, 400)
    labels[7] = (labels[3] + 1) % 3  # ... with another label
    features[11] = [-40.0, 0, 0, 0, 0]  # and one pointing the other way
    np.save(tmp_path / "x.npy", features)
    np.save(tmp_path / "y.npy", labels)
    out_dir = tmp_path / "out"
    code, out, _ = _run(
        capsys,
        "audit",
        "--labels",
        str(tmp_path / "y.npy"),
        "--features",
        str(tmp_path / "x.npy"),
        "-o",
        str(out_dir),
        "--json",
    )
    assert code == 0
    summary = json.loads(out)
    assert (
        summary["n_near_duplicate_groups"] >= 1 and summary["n_conflicting_duplicate_groups"] >= 1
    )
    examples = pd.read_csv(out_dir / "examples.csv")
    assert examples.loc[[3, 7], "duplicate_label_conflict"].all()
    assert bool(examples.loc[11, "is_outlier"])


def test_multilabel_and_regression_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    tags = (rng.random((600, 4)) < 0.3).astype(np.uint8)
    probs = np.clip(np.where(tags == 1, 0.9, 0.05) + rng.normal(0, 0.03, tags.shape), 0, 1)
    tags[:20, 0] = 1 - tags[:20, 0]
    np.save(tmp_path / "tags.npy", tags)
    np.save(tmp_path / "probs.npy", probs)
    code, out, _ = _run(
        capsys,
        "audit",
        "--task",
        "multilabel",
        "--labels",
        str(tmp_path / "tags.npy"),
        "--pred-probs",
        str(tmp_path / "probs.npy"),
        "-o",
        str(tmp_path / "ml"),
        "--json",
    )
    assert code == 0 and json.loads(out)["n_label_issues"] >= 10
    issues = pd.read_csv(tmp_path / "ml" / "issues.csv")
    assert set(issues["index"]) <= set(range(20))

    truth = rng.normal(size=2000)
    y = truth + rng.normal(0, 0.1, 2000)
    y[:30] -= 5.0
    np.save(tmp_path / "target.npy", y)
    np.save(tmp_path / "pred.npy", truth)
    code, out, _ = _run(
        capsys,
        "audit",
        "--task",
        "regression",
        "--labels",
        str(tmp_path / "target.npy"),
        "--predictions",
        str(tmp_path / "pred.npy"),
        "-o",
        str(tmp_path / "reg"),
        "--json",
    )
    summary = json.loads(out)
    assert code == 0 and summary["task"] == "regression" and summary["n_label_issues"] >= 28
