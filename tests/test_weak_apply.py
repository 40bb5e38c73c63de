"""Labeling functions and apply(): votes, vocabularies, errors that name the LF and the row."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from labelwise import Annotations
from labelwise.aggregate import MajorityVote
from labelwise.weak import (
    ABSTAIN,
    LabelingFunction,
    LabelingFunctionError,
    Row,
    apply,
    labeling_function,
)


@labeling_function()
def has_money(row):
    return "spam" if "$" in row.text else ABSTAIN


@labeling_function(name="greeting")
def says_hello(row):
    return "ham" if row["text"].startswith("hi") else None


@labeling_function(vectorized=True)
def long_text(df):
    return np.where(df["text"].str.len() > 12, "spam", None)


@labeling_function()
def never_votes(row):
    return ABSTAIN


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(
        {"text": ["hi there", "win $$$ today now", "hi, $5 for you", "see you"]},
        index=["m1", "m2", "m3", "m4"],
    )


def test_decorator_names_and_calls():
    assert has_money.name == "has_money" and says_hello.name == "greeting"
    assert not has_money.vectorized and long_text.vectorized
    assert has_money(Row(text="a $")) == "spam" and has_money(Row(text="a")) == ABSTAIN
    assert repr(long_text) == "<vectorized LabelingFunction 'long_text'>"

    @labeling_function
    def bare(row):
        return 1

    assert isinstance(bare, LabelingFunction) and bare.name == "bare" and bare({}) == 1


def test_bad_names_and_functions():
    with pytest.raises(TypeError, match=r"^`name` must be a string; got int 3\.$"):
        LabelingFunction(len, name=3)
    with pytest.raises(ValueError, match=r"^`name` must be a non-empty string; got ''\.$"):
        LabelingFunction(len, name="")
    with pytest.raises(TypeError, match=r"^`func` must be a callable; got str\.$"):
        LabelingFunction("len")


def test_row_reads_keys_as_attributes():
    row = Row(text="x", n=2)
    assert row.text == "x" and row["n"] == 2
    with pytest.raises(
        AttributeError, match=r"row has no column 'missing'; it has \['text', 'n'\]"
    ):
        _ = row.missing


def test_apply_dataframe_keeps_every_item_and_every_lf(df):
    ann = apply([has_money, says_hello, long_text, never_votes], df, progress=False)
    assert isinstance(ann, Annotations)
    assert list(ann.items) == ["m1", "m2", "m3", "m4"]
    assert list(ann.sources) == ["has_money", "greeting", "long_text", "never_votes"]
    assert list(ann.classes) == ["ham", "spam"]
    np.testing.assert_array_equal(
        ann.to_matrix(),
        [[-1, 0, -1, -1], [1, -1, 1, -1], [1, 0, 1, -1], [-1, -1, -1, -1]],
    )
    np.testing.assert_array_equal(ann.source_counts(), [2, 2, 2, 0])
    np.testing.assert_array_equal(ann.item_counts(), [1, 2, 3, 0])
    assert ann.item.dtype == ann.source.dtype == ann.label.dtype == np.int64
    with pytest.raises(ValueError, match="read-only"):
        ann.label[0] = 0
    # Votes come out in item-major order, as Annotations.from_matrix would give them.
    again = Annotations.from_matrix(ann.to_matrix())
    np.testing.assert_array_equal(again.item, ann.item)
    np.testing.assert_array_equal(again.source, ann.source)
    np.testing.assert_array_equal(again.label, ann.label)


def test_apply_records_and_given_classes():
    records = [{"text": "hi"}, {"text": "pay $$"}, {"text": "a rather long message"}]
    seen = {}

    @labeling_function(vectorized=True)
    def sees_frame(frame):
        seen["index"] = frame.index.tolist()
        return np.full(len(frame), ABSTAIN)

    ann = apply(
        [has_money, says_hello, long_text, sees_frame],
        records,
        classes=["spam", "ham", "unsure"],
        progress=False,
    )
    assert seen["index"] == [0, 1, 2]
    assert list(ann.items) == [0, 1, 2] and list(ann.classes) == ["spam", "ham", "unsure"]
    np.testing.assert_array_equal(
        ann.to_matrix(), [[-1, 1, -1, -1], [0, -1, -1, -1], [-1, -1, 0, -1]]
    )
    np.testing.assert_array_equal(ann.class_counts(), [2, 1, 0])


def test_integer_votes_and_every_way_to_abstain():
    @labeling_function(vectorized=True)
    def floats(df):
        return np.array([1.0, np.nan, -1.0, 0.0])

    @labeling_function(vectorized=True)
    def numpy_strings(df):  # NumPy 1 turns ABSTAIN into "-1" in np.where(mask, "a", ABSTAIN)
        return np.array(["1", "-1", "-1", "0"])

    @labeling_function()
    def objects(row):
        return [2, None, float("nan"), ABSTAIN][row.i]

    frame = pd.DataFrame({"i": [0, 1, 2, 3]})
    ann = apply([floats, objects], frame, progress=False)
    assert ann.classes.dtype.kind in "if" and ann.classes.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(ann.to_matrix(), [[1, 2], [-1, -1], [-1, -1], [0, -1]])
    text = apply([numpy_strings], frame, progress=False)
    assert list(text.classes) == ["0", "1"]
    np.testing.assert_array_equal(text.to_matrix()[:, 0], [1, -1, -1, 0])


def test_row_lf_error_names_lf_and_row_and_chains(df):
    @labeling_function()
    def fragile(row):
        if "$5" in row.text:
            raise KeyError("no price")
        return ABSTAIN

    with pytest.raises(
        LabelingFunctionError,
        match=r"^`lfs` must be labeling functions that run without error; got KeyError: 'no price' from 'fragile' on row 'm3'\.$",
    ) as info:
        apply([has_money, fragile], df, progress=False)
    assert isinstance(info.value.__cause__, KeyError)

    @labeling_function()
    def typo(row):
        return row.txt

    with pytest.raises(LabelingFunctionError, match=r"from 'typo' on row 0\.$") as info:
        apply([typo], [{"text": "a"}], progress=False)
    assert "row has no column 'txt'" in str(info.value.__cause__)


def test_vectorized_lf_errors(df):
    @labeling_function(vectorized=True)
    def broken(frame):
        return frame["missing"]

    with pytest.raises(
        LabelingFunctionError,
        match=r"got KeyError: 'missing' from 'broken' on the whole table \(vectorized\)\.$",
    ) as info:
        apply([broken], df, progress=False)
    assert isinstance(info.value.__cause__, KeyError)

    @labeling_function(vectorized=True)
    def short(frame):
        return np.zeros(3, dtype=int)

    with pytest.raises(
        ValueError,
        match=r"^`lfs` must be vectorized labeling functions returning one vote per row \(4\); got shape \(3,\) from 'short'\.$",
    ):
        apply([short], df, progress=False)

    @labeling_function(vectorized=True)
    def as_dict(frame):
        return {"a": 1}

    with pytest.raises(
        TypeError,
        match=r"^`lfs` must be vectorized labeling functions returning an array of votes; got dict from 'as_dict'\.$",
    ):
        apply([as_dict], df, progress=False)

    @labeling_function(vectorized=True)
    def as_list(frame):
        return [0, ABSTAIN, 1, None]

    ann = apply([as_list], df, progress=False)
    np.testing.assert_array_equal(ann.to_matrix()[:, 0], [0, -1, 1, -1])
    series = apply(
        [LabelingFunction(lambda f: f["text"].str.len() % 2, name="odd", vectorized=True)],
        df,
        progress=False,
    )
    np.testing.assert_array_equal(series.to_matrix()[:, 0], [0, 1, 0, 1])


def test_votes_outside_classes_and_unhashable_votes(df):
    with pytest.raises(
        ValueError,
        match=r"^`classes` must be a list holding every label the labeling functions vote \('ham', 'eggs'\); got 'spam' from 'has_money' at row 'm2'\.$",
    ):
        apply([says_hello, has_money], df, classes=["ham", "eggs"], progress=False)

    @labeling_function()
    def listy(row):
        return ["ham"] if row.text == "see you" else ABSTAIN

    for classes in (None, ["ham"]):
        with pytest.raises(
            TypeError,
            match=r"^`lfs` must be labeling functions returning a class label \(hashable\) or ABSTAIN; got list \['ham'\] from 'listy' at row 'm4'\.$",
        ):
            apply([says_hello, listy], df, classes=classes, progress=False)


def test_bad_classes(df):
    with pytest.raises(
        ValueError, match=r"^`classes` must be distinct class labels; got repeated 'a'\.$"
    ):
        apply([has_money], df, classes=["a", "b", "a"], progress=False)
    with pytest.raises(
        ValueError,
        match=r"^`classes` must be class labels other than ABSTAIN \(-1\) and None; got 0, -1\.$",
    ):
        apply([has_money], df, classes=[0, -1], progress=False)
    with pytest.raises(TypeError, match=r"^`classes` must be a list of class labels; got str\.$"):
        apply([has_money], df, classes="spam", progress=False)
    with pytest.raises(
        ValueError,
        match=r"^`classes` must be a non-empty list of class labels; got an empty list\.$",
    ):
        apply([has_money], df, classes=[], progress=False)
    with pytest.raises(
        ValueError,
        match=r"^`classes` must be given when no labeling function votes on any row \(there is nothing to infer them from\); got None and every labeling function abstained everywhere\.$",
    ):
        apply([never_votes], df, progress=False)
    ann = apply([never_votes], df, classes=["ham", "spam"], progress=False)
    assert ann.n_annotations == 0 and ann.n_items == 4 and ann.n_sources == 1


def test_bad_lf_lists(df):
    copy = LabelingFunction(has_money.func, name="has_money")
    with pytest.raises(
        ValueError,
        match=r"^`lfs` must be labeling functions with distinct names; got repeated name\(s\) 'has_money'\.$",
    ):
        apply([has_money, says_hello, copy], df, progress=False)

    def plain(row):
        return 1

    with pytest.raises(
        TypeError,
        match=r"^`lfs` must be labeling functions \(decorate a function with @labeling_function\); got function 'plain' at position 1\.$",
    ):
        apply([has_money, plain], df, progress=False)
    with pytest.raises(
        ValueError,
        match=r"^`lfs` must be a non-empty list of labeling functions; got an empty list\.$",
    ):
        apply([], df, progress=False)
    with pytest.raises(TypeError, match=r"^`lfs` must be a list of labeling functions; got str\.$"):
        apply("has_money", df, progress=False)
    single = apply(has_money, df, progress=False)
    assert list(single.sources) == ["has_money"]


def test_bad_data(df):
    with pytest.raises(
        ValueError, match=r"^`data` must be a table with at least one row; got 0 rows\.$"
    ):
        apply([has_money], df.iloc[:0], progress=False)
    with pytest.raises(
        ValueError,
        match=r"^`data` must be a DataFrame whose index has one distinct id per row \(the item ids\); got repeated index value\(s\) 'm1'\.$",
    ):
        apply([has_money], df.rename(index={"m2": "m1"}), progress=False)
    with pytest.raises(
        TypeError,
        match=r"^`data` must be a DataFrame or a list of records \(dicts\); got str at position 1\.$",
    ):
        apply([has_money], [{"text": "a"}, "b"], progress=False)
    with pytest.raises(
        TypeError,
        match=r"^`data` must be a DataFrame or a list of records \(dicts\); got ndarray\.$",
    ):
        apply([has_money], np.array(["a"]), progress=False)
    with pytest.raises(
        ValueError, match=r"^`data` must be a list with at least one record; got an empty list\.$"
    ):
        apply([has_money], [], progress=False)


def test_options_are_checked(df):
    with pytest.raises(ValueError, match=r"^`n_jobs` must be an integer >= 1; got 0\.$"):
        apply([has_money], df, n_jobs=0, progress=False)
    with pytest.raises(TypeError, match=r"^`progress` must be True or False; got str 'no'\.$"):
        apply([has_money], df, progress="no")


def test_threads_give_the_same_annotations(df):
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"text": rng.choice(["hi you", "$$ win big now", "later", "hi $"], 500)})
    lfs = [has_money, says_hello, long_text, never_votes]
    lfs += [
        LabelingFunction(
            lambda f, k=k: np.where(f.index % 7 == k, "ham", None), name=f"mod{k}", vectorized=True
        )
        for k in range(5)
    ]
    one = apply(lfs, big, progress=False)
    many = apply(lfs, big, progress=False, n_jobs=3)
    for field in ("item", "source", "label", "items", "sources", "classes"):
        np.testing.assert_array_equal(getattr(one, field), getattr(many, field))

    @labeling_function()
    def fails_late(row):
        raise ValueError("first in LF order")

    @labeling_function(vectorized=True)
    def fails_too(frame):
        raise ValueError("second")

    with pytest.raises(LabelingFunctionError, match="first in LF order"):
        apply([has_money, fails_late, fails_too], big, progress=False, n_jobs=3)


def test_progress_bar_is_shown_only_when_asked(df, capsys):
    apply([has_money, long_text], df, progress=True)
    err = capsys.readouterr().err
    assert re.search(r"labeling functions: 100%.*2/2", err)
    apply([has_money, long_text], df, progress=False)
    assert capsys.readouterr().err == ""
    apply([has_money, long_text], df, progress=True, n_jobs=2)
    assert "2/2" in capsys.readouterr().err


def test_annotations_feed_the_aggregators(df):
    ann = apply([has_money, says_hello, long_text], df, progress=False)
    mv = MajorityVote(tie_break="prior").fit(ann)
    assert mv.labels_.tolist()[:3] == ["ham", "spam", "spam"]
