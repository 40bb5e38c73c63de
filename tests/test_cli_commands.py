"""`labelwise audit DATA`, `labelwise aggregate` and `labelwise weak`: outputs, numbers, errors."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from labelwise import Annotations, audit
from labelwise.aggregate import DawidSkene, LabelModel
from labelwise.cli import main
from labelwise.datasets import load_digits_example
from labelwise.weak import apply, dataset_summary

DATA = Path(os.environ.get("LABELWISE_DATA", Path(__file__).parents[2] / "shared" / "data"))

LFS = """
from labelwise.weak import ABSTAIN, labeling_function

@labeling_function()
def money(row):
    return "spam" if "money" in row.text else ABSTAIN

@labeling_function()
def click(row):
    return "spam" if "click" in row.text else ABSTAIN

@labeling_function()
def thanks(row):
    return "ham" if "thanks" in row.text else ABSTAIN
"""


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # The test machine is shared: OpenMP oversubscription makes gradient boosting crawl.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + 3.0 * np.eye(3)[y]
    names = np.array(["cat", "dog", "eel"])
    given = y.copy()
    given[:6] = (y[:6] + 1) % 3
    table = pd.DataFrame(x, columns=["a", "b", "c"]).assign(animal=names[given], note="x")
    texts = [
        ("win money now click here", "spam"),
        ("thanks for the song", "ham"),
        ("click for free money", "spam"),
        ("great video thanks", "ham"),
    ] * 15
    text = pd.DataFrame(texts, columns=["text", "label"])
    text.loc[[0, 5], "label"] = ["ham", "spam"]
    paths = {
        "table.csv": root / "table.csv",
        "table.parquet": root / "table.parquet",
        "text.jsonl": root / "text.jsonl",
        "text.csv": root / "text.csv",
        "probs.csv": root / "probs.csv",
        "crowd.csv": root / "crowd.csv",
        "lfs.py": root / "lfs.py",
        "broken_lfs.py": root / "broken_lfs.py",
        "no_lfs.py": root / "no_lfs.py",
        "empty.csv": root / "empty.csv",
        "latin1.csv": root / "latin1.csv",
    }
    table.to_csv(paths["table.csv"], index=False)
    table.to_parquet(paths["table.parquet"])
    text.to_json(paths["text.jsonl"], orient="records", lines=True)
    text.to_csv(paths["text.csv"], index=False)
    probs = np.full((n, 3), 0.1) + 0.7 * np.eye(3)[y]
    pd.DataFrame(probs, columns=names).to_csv(paths["probs.csv"], index=False)
    truth = rng.integers(0, 2, 40)
    rows = []
    for item in range(40):
        for worker in range(5):
            good = worker < 4 or rng.random() < 0.3
            rows.append((f"i{item}", f"w{worker}", truth[item] if good else 1 - truth[item]))
    pd.DataFrame(rows, columns=["item", "worker", "answer"]).to_csv(paths["crowd.csv"], index=False)
    paths["lfs.py"].write_text(LFS)
    paths["broken_lfs.py"].write_text("import labelwise\n\n1 / 0\n")
    paths["no_lfs.py"].write_text("x = 1\n")
    paths["empty.csv"].write_text("")
    paths["latin1.csv"].write_bytes("text,label\ncaf\xe9,a\n".encode("latin-1"))
    return paths


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _fill(text: str, names: dict[str, str]) -> str:
    for name, path in names.items():
        text = text.replace("{" + name + "}", path)
    return text


def _digest(paths: dict[str, Path]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}


def _only_outputs(folder: Path, names: set[str]) -> None:
    """Every output is there and no temporary file of the atomic writes is left behind."""
    assert {p.name for p in folder.iterdir()} == names


def test_audit_table_computes_probabilities_and_writes_the_card(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(inputs)
    out = tmp_path / "out"
    code, stdout, err = _run(
        capsys, "audit", inputs["table.csv"], "--label-column", "animal", "-o", out
    )
    assert code == 0, err
    assert "5-fold cross-validated gradient boosting" in err
    _only_outputs(out, {"report.html", "issues.csv", "examples.csv", "summary.json"})
    summary = json.loads((out / "summary.json").read_text())
    issues = pd.read_csv(out / "issues.csv")
    assert summary["n_examples"] == 120 and summary["n_classes"] == 3
    assert summary["n_label_issues"] == len(issues) > 0
    assert set(issues["index"]) & set(range(6))  # the flipped rows are among the flagged
    assert summary["classes"] == ["cat", "dog", "eel"]
    assert summary["n_outliers"] is not None  # numeric columns became features
    html = (out / "report.html").read_text()
    assert 'id="label-issues"' in html and 'id="noise"' in html and 'id="calibration"' in html
    assert f"Open the label card: {out / 'report.html'}" in stdout
    assert _digest(inputs) == before


def test_audit_table_with_pred_probs_matches_the_library(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, _ = _run(
        capsys, "audit", inputs["table.parquet"], "--label-column", "animal",
        "--pred-probs", inputs["probs.csv"], "--features", "a,b,c", "-o", out, "--json", "--quiet",
    )  # fmt: skip
    assert code == 0
    printed = json.loads(stdout)
    table = pd.read_parquet(inputs["table.parquet"])
    probs = pd.read_csv(inputs["probs.csv"]).to_numpy()
    expected = audit(
        table["animal"].to_numpy(), pred_probs=probs, features=table[["a", "b", "c"]].to_numpy(),
        classes=["cat", "dog", "eel"],
    ).summary()  # fmt: skip
    for key in ("n_label_issues", "estimated_noise_rate", "n_near_duplicate_groups"):
        assert printed[key] == pytest.approx(expected[key])
    assert printed["outputs"]["report"] == str(out / "report.html")


def test_audit_text_column_shows_snippets(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = _run(capsys, "audit", inputs["text.jsonl"], "--text-column", "text", "-o", out)
    assert code == 0, err
    assert "TF-IDF + logistic regression" in err
    issues = pd.read_csv(out / "issues.csv")
    assert {0, 5} <= set(issues["index"])
    assert "win money now click here" in (out / "report.html").read_text()


def test_aggregate_matches_dawid_skene(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(inputs)
    out = tmp_path / "agg"
    code, stdout, _ = _run(
        capsys, "aggregate", inputs["crowd.csv"], "--label", "answer", "-o", out, "--quiet"
    )
    assert code == 0 and stdout == ""
    _only_outputs(out, {"report.html", "labels.csv", "annotators.csv", "summary.json"})
    ann = Annotations.from_long(
        pd.read_csv(inputs["crowd.csv"]), source="worker", label="answer", duplicates="last"
    )
    model = DawidSkene().fit(ann)
    labels = pd.read_csv(out / "labels.csv")
    assert labels["label"].tolist() == list(model.labels_)
    annotators = pd.read_csv(out / "annotators.csv")
    np.testing.assert_allclose(annotators["estimated_quality"], model.source_quality_)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_items"] == 40 and summary["n_annotators"] == 5
    assert 'id="annotator-quality"' in (out / "report.html").read_text()
    assert _digest(inputs) == before


@pytest.mark.skipif(not (DATA / "crowd_dog").is_dir(), reason="needs ../shared/data/crowd_dog")
def test_aggregate_real_crowd_dog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = DATA / "crowd_dog" / "label.csv"
    code, stdout, _ = _run(capsys, "aggregate", file, "-o", tmp_path, "--json", "--quiet")
    assert code == 0
    summary = json.loads(stdout)
    ann = Annotations.from_long(pd.read_csv(file), source="worker", duplicates="last")
    model = DawidSkene().fit(ann)
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert summary["n_items"] == ann.n_items == len(labels)
    assert labels["label"].tolist() == list(model.labels_)
    truth = pd.read_csv(DATA / "crowd_dog" / "truth.csv").set_index("item")["truth"]
    merged = labels.set_index("item").join(truth, how="inner")
    assert (merged["label"] == merged["truth"]).mean() > 0.8


@pytest.mark.skipif(
    not (DATA / "label_errors_cifar10").is_dir(), reason="needs ../shared/data/label_errors_cifar10"
)
def test_audit_real_cifar10_matches_the_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = DATA / "label_errors_cifar10"
    code, stdout, _ = _run(
        capsys, "audit", "--labels", root / "given_labels.npy", "--pred-probs",
        root / "pred_probs.npy", "-o", tmp_path, "--json", "--quiet",
    )  # fmt: skip
    assert code == 0
    printed = json.loads(stdout)
    expected = audit(
        np.load(root / "given_labels.npy"), pred_probs=np.load(root / "pred_probs.npy")
    )
    assert printed["n_label_issues"] == expected.summary()["n_label_issues"]
    assert (tmp_path / "report.html").stat().st_size > 0


def test_weak_applies_the_file_and_fits_the_label_model(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(inputs)
    out = tmp_path / "weak"
    code, stdout, _ = _run(
        capsys, "weak", inputs["lfs.py"], inputs["text.csv"], "--gold-column", "label",
        "-o", out, "--json", "--quiet",
    )  # fmt: skip
    assert code == 0
    summary = json.loads(stdout)
    _only_outputs(out, {"report.html", "labels.csv", "lf_summary.csv", "summary.json"})
    frame = pd.read_csv(inputs["text.csv"])
    namespace: dict[str, object] = {}
    exec(LFS, namespace)
    votes = apply([namespace[n] for n in ("money", "click", "thanks")], frame, progress=False)
    expected = dataset_summary(votes)
    assert summary["coverage"] == pytest.approx(expected.coverage)
    assert summary["conflict"] == pytest.approx(expected.conflict)
    labels = pd.read_csv(out / "labels.csv")
    model = LabelModel().fit(votes)
    np.testing.assert_allclose(labels[["p_ham", "p_spam"]], model.probas_, atol=1e-12)
    assert summary["label_model_accuracy"] > 0.9
    lf = pd.read_csv(out / "lf_summary.csv")
    assert lf["labeling_function"].tolist() == ["money", "click", "thanks"]
    assert 'id="labeling-functions"' in (out / "report.html").read_text()
    assert _digest(inputs) == before


@pytest.mark.skipif(not (DATA / "ws_youtube").is_dir(), reason="needs ../shared/data/ws_youtube")
def test_weak_real_youtube_comments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = json.loads((DATA / "ws_youtube" / "train.json").read_text())
    frame = pd.DataFrame(
        [{"text": r["data"]["text"], "gold": ["ham", "spam"][r["label"]]} for r in raw.values()]
    )
    data = tmp_path / "comments.parquet"
    frame.to_parquet(data)
    (tmp_path / "lfs.py").write_text(
        LFS.replace('"money" in', '"check out" in').replace('"click" in', '"subscribe" in')
    )
    out = tmp_path / "out"
    code, stdout, err = _run(
        capsys, "weak", tmp_path / "lfs.py", data, "--gold-column", "gold", "-o", out,
        "--json", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    namespace: dict[str, object] = {}
    exec((tmp_path / "lfs.py").read_text(), namespace)
    lfs = [namespace[n] for n in ("money", "click", "thanks")]
    votes = apply(lfs, frame, progress=False)
    expected = dataset_summary(votes)
    assert summary["n_items"] == len(frame) == expected.n_items
    assert summary["coverage"] == pytest.approx(expected.coverage)
    assert summary["n_votes"] == expected.n_votes
    labels = pd.read_csv(out / "labels.csv")
    np.testing.assert_allclose(
        labels[["p_ham", "p_spam"]], LabelModel().fit(votes).probas_, atol=1e-12
    )
    assert summary["label_model_accuracy"] > 0.8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["audit", "{table.csv}", "--label-column", "animl"],
            "--label-column 'animl' is not a column of '{table.csv}'; its columns are "
            "'a', 'b', 'c', 'animal', 'note'",
        ),
        (
            ["audit", "{table.csv}"],
            "the label column (--label-column) 'label' is not a column of '{table.csv}'; its "
            "columns are 'a', 'b', 'c', 'animal', 'note'",
        ),
        (
            ["audit", "{table.csv}", "--label-column", "animal", "--features", "a,zz"],
            "--features 'zz' is not a column of '{table.csv}'; its columns are 'a', 'b', 'c', "
            "'animal', 'note'",
        ),
        (
            ["audit", "{text.csv}", "--text-column", "text", "--features", "a"],
            "give --features or --text-column, not both",
        ),
        (["audit", "{text.csv}", "--embed"], "--embed needs --text-column (the texts to embed)"),
        (
            ["audit", "--text-column", "text"],
            "--text-column and --embed need DATA (a table with a text column)",
        ),
        (
            ["audit", "{table.csv}", "--labels", "{table.csv}"],
            "give DATA or --labels, not both",
        ),
        (
            ["audit", "{empty.csv}"],
            "`path` must be a non-empty CSV file; got '{empty.csv}', which is empty.",
        ),
        (
            ["audit", "{latin1.csv}"],
            "DATA must be UTF-8 text; '{latin1.csv}' is not (line 2, byte 14: invalid "
            "continuation byte)",
        ),
        (
            ["audit", "{missing.csv}"],
            "`path` must be an existing file; got '{missing.csv}' (no such file).",
        ),
        (
            ["aggregate", "{crowd.csv}"],
            "--label 'label' is not a column of '{crowd.csv}'; its columns are 'item', "
            "'worker', 'answer'",
        ),
        (
            ["weak", "{broken_lfs.py}", "{text.csv}"],
            "'{broken_lfs.py}' failed to run (line 3): ZeroDivisionError: division by zero",
        ),
        (
            ["weak", "{no_lfs.py}", "{text.csv}"],
            "'{no_lfs.py}' must define labeling functions (@labeling_function or "
            "LabelingFunction objects at top level, or a list named `lfs`); found none",
        ),
        (
            ["weak", "{text.csv}", "{text.csv}"],
            "LFS.py must be an existing Python file (.py); got '{text.csv}'",
        ),
        (
            ["weak", "{lfs.py}", "{text.csv}", "--gold-column", "gold"],
            "--gold-column 'gold' is not a column of '{text.csv}'; its columns are 'text', 'label'",
        ),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(
    inputs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    names = {name: str(path) for name, path in inputs.items()}
    names["missing.csv"] = str(tmp_path / "missing.csv")
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, *[_fill(a, names) for a in args], "-o", out)
    assert code == 2
    assert stdout == ""
    assert err == f"labelwise: error: {_fill(message, names)}\n"
    assert not out.exists()  # nothing half-written


def test_outputs_over_inputs_are_refused(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    data = folder / "labels.csv"
    data.write_text("item,annotator,label\n1,a,x\n1,b,y\n")
    code, _, err = _run(capsys, "aggregate", data, "-o", folder)
    assert code == 2
    assert err == (
        f"labelwise: error: -o/--output-dir must not hold the input files; got {str(data)!r} "
        "as input and output.\n"
    )
    assert data.read_text() == "item,annotator,label\n1,a,x\n1,b,y\n"


def test_without_the_report_extra_the_rest_is_still_written(
    inputs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(self: object) -> str:
        raise ImportError(
            "the HTML report needs jinja2 and matplotlib: pip install 'labelwise[report]'"
        )

    monkeypatch.setattr("labelwise.report.LabelCard.to_html", missing)
    out = tmp_path / "agg"
    code, stdout, err = _run(
        capsys, "aggregate", inputs["crowd.csv"], "--label", "answer", "-o", out, "--json"
    )
    assert code == 0
    assert (
        "labelwise: warning: report.html not written: the HTML report needs jinja2 and "
        "matplotlib: pip install 'labelwise[report]'\n"
    ) in err
    assert json.loads(stdout)["outputs"]["report"] is None
    _only_outputs(out, {"labels.csv", "annotators.csv", "summary.json"})


def test_pixel_columns_become_thumbnails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ex = load_digits_example(noise=0.05, random_state=0)
    data = tmp_path / "digits.csv"
    pixels = pd.DataFrame(ex.features, columns=[f"p{i}" for i in range(64)])
    pixels.assign(label=ex.labels).to_csv(data, index=False)
    probs = tmp_path / "probs.npy"
    np.save(probs, ex.pred_probs)
    out = tmp_path / "out"
    code, _, err = _run(
        capsys, "audit", data, "--pred-probs", probs, "--image-shape", "8x8", "-o", out, "--quiet"
    )
    assert code == 0, err
    html = (out / "report.html").read_text()
    n_issues = len(pd.read_csv(out / "issues.csv"))
    assert html.count('<img class="thumb"') == min(n_issues, 200) > 0
    code, _, err = _run(capsys, "audit", data, "--image-shape", "5x5", "-o", out)
    assert code == 2
    assert err == (
        "labelwise: error: --image-shape 5x5 needs 25 numeric feature columns (the pixels, row "
        "by row); got 64 numeric of 64\n"
    )
    code, _, err = _run(capsys, "audit", data, "--image-shape", "8by8", "-o", out)
    assert code == 2
    assert "argument --image-shape: must be HEIGHTxWIDTH, e.g. 8x8; got '8by8'" in err
