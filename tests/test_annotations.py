"""Annotations: construction from tables and matrices, explicit policies, round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelwise import Annotations


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": ["q1", "q1", "q2", "q2", "q3"],
            "source": ["ann", "bob", "ann", "cy", "bob"],
            "label": ["pos", "neg", "pos", "pos", "neg"],
        }
    )


def test_from_long_codes_and_round_trip(table):
    ann = Annotations.from_long(table)
    assert (ann.n_items, ann.n_sources, ann.n_classes, ann.n_annotations) == (3, 3, 2, 5)
    assert list(ann.items) == ["q1", "q2", "q3"] and list(ann.classes) == ["neg", "pos"]
    assert ann.to_long().to_numpy().tolist() == table.to_numpy().tolist()
    np.testing.assert_array_equal(ann.item_counts(), [2, 2, 1])
    np.testing.assert_array_equal(ann.source_counts(), [2, 2, 1])
    np.testing.assert_array_equal(ann.class_counts(), [2, 3])
    np.testing.assert_array_equal(ann.vote_counts().toarray(), [[1, 1], [0, 2], [1, 0]])
    np.testing.assert_array_equal(ann.to_matrix(), [[1, 0, -1], [1, -1, 1], [-1, 0, -1]])
    assert ann.one_hot().shape == (5, 2) and ann.one_hot().sum() == 5
    with pytest.raises(ValueError, match="read-only"):
        ann.label[0] = 1


def test_custom_column_names_and_full_vocabularies(table):
    renamed = table.rename(columns={"item": "task", "source": "worker", "label": "answer"})
    ann = Annotations.from_long(
        renamed,
        item="task",
        source="worker",
        label="answer",
        classes=["pos", "neg", "unsure"],  # a class nobody chose keeps its place
        items=["q0", "q1", "q2", "q3"],  # q0: nobody labelled it
        sources=["ann", "bob", "cy", "dee"],  # dee never answered
    )
    assert list(ann.classes) == ["pos", "neg", "unsure"]
    np.testing.assert_array_equal(ann.class_counts(), [3, 2, 0])
    np.testing.assert_array_equal(ann.item_counts(), [0, 2, 2, 1])
    np.testing.assert_array_equal(ann.source_counts(), [2, 2, 1, 0])
    assert (ann.to_matrix()[0] == -1).all() and (ann.to_matrix()[:, 3] == -1).all()


def test_repeated_pairs_policy(table):
    repeated = pd.concat([table, table.iloc[[0]].assign(label="pos")], ignore_index=True)
    with pytest.raises(
        ValueError,
        match=r"`duplicates` must be 'keep' or 'last' when a source labels an item more than once .*; got 1 repeated pair\(s\), first at row 0",
    ):
        Annotations.from_long(repeated)
    kept = Annotations.from_long(repeated, duplicates="keep")
    assert kept.n_annotations == 6 and kept.vote_counts()[0].toarray().tolist() == [[1, 2]]
    last = Annotations.from_long(repeated, duplicates="last")
    assert last.n_annotations == 5
    assert last.to_long().query("item == 'q1' and source == 'ann'")["label"].tolist() == ["pos"]


def test_from_matrix_with_missing_and_empty_rows_and_columns():
    matrix = np.array([[0, 1, -1], [-1, -1, -1], [2, 2, -1]])
    ann = Annotations.from_matrix(matrix)
    assert (ann.n_items, ann.n_sources, ann.n_classes, ann.n_annotations) == (3, 3, 3, 4)
    np.testing.assert_array_equal(ann.to_matrix(), matrix)
    np.testing.assert_array_equal(ann.item_counts(), [2, 0, 2])
    np.testing.assert_array_equal(ann.source_counts(), [2, 2, 0])
    named = Annotations.from_matrix(matrix, classes=["a", "b", "c", "d"])
    assert named.n_classes == 4 and list(named.to_long()["label"]) == ["a", "b", "c", "c"]


def test_one_class_only_is_a_valid_container():
    ann = Annotations.from_matrix(np.zeros((4, 2), dtype=int))
    assert ann.n_classes == 1 and ann.vote_counts().toarray().tolist() == [[2]] * 4


@pytest.mark.parametrize(
    ("frame", "kwargs", "kind", "message"),
    [
        (
            pd.DataFrame({"item": [1], "worker": [2], "label": [0]}),
            {},
            ValueError,
            r"`df` must be a table with the columns 'item', 'source', 'label'; got no column\(s\) 'source'; it has 'item', 'worker', 'label'",
        ),
        (
            pd.DataFrame({"item": [1, 2], "source": [1, 1], "label": [0, None]}),
            {},
            ValueError,
            r"`df` must be a value in every row of column 'label'; got 1 missing, first at row 1",
        ),
        (
            pd.DataFrame({"item": [], "source": [], "label": []}),
            {},
            ValueError,
            r"`df` must be a table with at least one annotation; got 0 rows",
        ),
        (
            pd.DataFrame({"item": [1], "source": [1], "label": ["maybe"]}),
            {"classes": ["yes", "no"]},
            ValueError,
            r"`label` must be one of the given classes 'yes', 'no'; got unknown 'maybe'",
        ),
        (
            pd.DataFrame({"item": [1], "source": [1], "label": [0]}),
            {"duplicates": "first"},
            ValueError,
            r"`duplicates` must be one of 'error', 'keep', 'last'; got 'first'",
        ),
    ],
)
def test_bad_tables(frame, kwargs, kind, message):
    with pytest.raises(kind, match=message):
        Annotations.from_long(frame, **kwargs)


def test_bad_inputs_type_and_matrix():
    with pytest.raises(TypeError, match=r"`df` must be a pandas DataFrame; got list"):
        Annotations.from_long([1, 2])  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"`M` must be class ids >= 0, or -1 for missing; got value\(s\) -3"
    ):
        Annotations.from_matrix(np.array([[0, -3], [1, 1]]))
    with pytest.raises(
        ValueError,
        match=r"`M` must be integer class ids with -1 for missing \(not NaN\); got NaN values",
    ):
        Annotations.from_matrix(np.array([[0.0, np.nan]]))
    with pytest.raises(
        ValueError, match=r"`M` must be a 2-D \(items x sources\) matrix; got shape \(3,\)"
    ):
        Annotations.from_matrix(np.array([0, 1, 2]))
    with pytest.raises(
        ValueError, match=r"`M` must be class ids in 0..1 \(`classes` names 2\); got value\(s\) 2"
    ):
        Annotations.from_matrix(np.array([[0, 2]]), classes=["a", "b"])


def test_real_crowd_table_repeats_pairs(real_data_dir):
    """The real product-matching data loads; gold-sized and with its repeated pairs handled."""
    frame = pd.read_csv(real_data_dir / "crowd_product" / "label.csv")
    ann = Annotations.from_long(frame, source="worker", duplicates="last")
    assert ann.n_items == 8315 and ann.n_sources == 176 and ann.n_classes == 2
    assert ann.n_annotations <= len(frame)
