"""PromptLF: answers mapped to votes, unknown answers counted, answers cached on disk."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from labelwise.weak import ABSTAIN, LabelingFunctionError, PromptLF, apply

ANSWERS = {"yes": "spam", "no": "ham", "unsure": ABSTAIN}
TEMPLATE = "Is this spam? {text}"


class FakeModel:
    """Answers from keywords; records every prompt it was asked."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.asked: list[str] = []
        self.fail_on = fail_on

    def __call__(self, prompt: str) -> str:
        self.asked.append(prompt)
        if self.fail_on and self.fail_on in prompt:
            raise ConnectionError("model offline")
        if "free" in prompt:
            return "  YES. "
        if "song" in prompt:
            return "No"
        if "maybe" in prompt:
            return "unsure"
        return "I cannot tell"


TEXTS = ["free money", "nice song", "hello", "maybe later", "free money", "bye"]


def test_answers_map_to_votes_and_unknown_answers_are_counted():
    model = FakeModel()
    lf = PromptLF(model, TEMPLATE, ANSWERS, name="llm")
    votes = lf(TEXTS)
    assert votes.tolist() == ["spam", "ham", ABSTAIN, ABSTAIN, "spam", ABSTAIN]
    assert model.asked == [TEMPLATE.format(text=t) for t in TEXTS[:4] + TEXTS[5:]]  # once each
    assert (lf.n_asked_, lf.n_cached_, lf.n_unknown_) == (5, 0, 2)
    assert lf.unknown_answers_ == {"i cannot tell": 2}
    assert lf.prompts(["x"]) == ["Is this spam? x"]
    lf(TEXTS)  # the same object remembers its answers
    assert (lf.n_asked_, lf.n_cached_) == (0, 5) and len(model.asked) == 5


def test_second_run_with_the_cache_asks_zero_times(tmp_path):
    first_model = FakeModel()
    first = PromptLF(first_model, TEMPLATE, ANSWERS, cache_dir=tmp_path / "cache")
    votes = first(TEXTS)
    assert len(first_model.asked) == 5
    lines = (tmp_path / "cache" / "prompt_answers.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 5
    assert records[0] == {
        "key": hashlib.sha256(b"Is this spam? free money").hexdigest(),
        "prompt": "Is this spam? free money",
        "answer": "  YES. ",
    }
    second_model = FakeModel()
    second = PromptLF(second_model, TEMPLATE, ANSWERS, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(second(TEXTS), votes)
    assert second_model.asked == [] and (second.n_asked_, second.n_cached_) == (0, 5)
    assert second.n_unknown_ == 2
    # New rows are asked, old ones are not.
    second(["free money", "a new song"])
    assert second_model.asked == ["Is this spam? a new song"]


def test_an_interrupted_run_keeps_the_answers_it_got(tmp_path):
    frame = pd.DataFrame({"text": TEXTS}, index=[f"c{i}" for i in range(6)])
    broken = PromptLF(FakeModel(fail_on="maybe"), TEMPLATE, ANSWERS, cache_dir=tmp_path, name="llm")
    with pytest.raises(
        LabelingFunctionError,
        match=r"^`lfs` must be labeling functions that run without error; got ConnectionError: model offline from 'llm' on row 'c3'\.$",
    ) as info:
        apply([broken], frame, progress=False)
    assert isinstance(info.value.__cause__, ConnectionError)
    model = FakeModel()
    again = PromptLF(model, TEMPLATE, ANSWERS, cache_dir=tmp_path, name="llm")
    ann = apply([again], frame, progress=False)
    assert model.asked == ["Is this spam? maybe later", "Is this spam? bye"]
    assert ann.to_long()["item"].tolist() == ["c0", "c1", "c4"]


def test_a_torn_last_line_is_skipped_and_closed_off(tmp_path):
    log = tmp_path / "prompt_answers.jsonl"
    lf = PromptLF(FakeModel(), TEMPLATE, ANSWERS, cache_dir=tmp_path)
    lf(["free money"])
    with log.open("a") as handle:
        handle.write('{"key": "abc", "answ')  # a crash in the middle of a write
    model = FakeModel()
    fresh = PromptLF(model, TEMPLATE, ANSWERS, cache_dir=tmp_path)
    assert fresh(["free money", "nice song"]).tolist() == ["spam", "ham"]
    assert model.asked == ["Is this spam? nice song"]
    later = FakeModel()
    assert PromptLF(later, TEMPLATE, ANSWERS, cache_dir=tmp_path)(["nice song"]).tolist() == ["ham"]
    assert later.asked == []
    assert len(log.read_text().splitlines()) == 3


def test_templates_with_columns_and_callable_prompts():
    frame = pd.DataFrame({"title": ["Offer", "Music"], "body": ["free money", "a song"]})
    lf = PromptLF(FakeModel(), "{title}: {text}?", ANSWERS, text_column="body")
    assert lf.prompts(frame) == ["Offer: free money?", "Music: a song?"]
    assert lf(frame).tolist() == ["spam", "ham"]
    by_row = PromptLF(FakeModel(), lambda row: f"{row.title} / {row['body']}", ANSWERS)
    assert by_row.prompts(frame) == ["Offer / free money", "Music / a song"]
    assert by_row(frame).tolist() == ["spam", "ham"]
    with pytest.raises(
        ValueError,
        match=r"^`prompt` must be a format string whose fields are \{text\} or columns of the data; got field 'author'; the data has 'title', 'body'\.$",
    ):
        PromptLF(FakeModel(), "{author}: {text}", ANSWERS, text_column="body")(frame)
    with pytest.raises(
        ValueError,
        match=r"^`data` must be a table with the column 'text' \(`text_column`\); got no column\(s\) 'text'; it has 'title', 'body'\.$",
    ):
        PromptLF(FakeModel(), TEMPLATE, ANSWERS)(frame)
    bad_row = PromptLF(FakeModel(), lambda row: row.missing, ANSWERS, name="bad")
    with pytest.raises(
        LabelingFunctionError,
        match=r"got AttributeError: row has no column 'missing'; it has \['title', 'body'\] from 'bad' on row 0\.$",
    ):
        bad_row(frame)
    not_text = PromptLF(FakeModel(), lambda row: 3, ANSWERS)
    with pytest.raises(
        TypeError,
        match=r"^`prompt` must be a function returning the prompt as a string; got int 3 at row 0\.$",
    ):
        not_text(frame)


def test_integer_labels_give_integer_votes():
    lf = PromptLF(FakeModel(), TEMPLATE, {"yes": 1, "no": 0, "unsure": None})
    votes = lf(["free", "song", "maybe", "what"])
    assert votes.dtype == np.int64 and votes.tolist() == [1, 0, ABSTAIN, ABSTAIN]
    assert lf.n_unknown_ == 1


def test_argument_errors():
    model = FakeModel()
    with pytest.raises(TypeError, match=r"^`ask` must be a callable prompt -> answer; got str\.$"):
        PromptLF("gpt", TEMPLATE, ANSWERS)
    for prompt in ("Classify this comment", "Classify {}", "Classify {0}"):
        with pytest.raises(
            ValueError,
            match=r"^`prompt` must be a format string with named fields such as \{text\} \(or a function of the row\); got ",
        ):
            PromptLF(model, prompt, ANSWERS)
    with pytest.raises(
        ValueError, match=r"^`prompt` must be a valid str.format template; got 'Classify \{text'\.$"
    ):
        PromptLF(model, "Classify {text", ANSWERS)
    with pytest.raises(
        TypeError, match=r"^`prompt` must be a format string or a callable row -> str; got int\.$"
    ):
        PromptLF(model, 3, ANSWERS)
    with pytest.raises(
        TypeError, match=r"^`answers` must be a mapping from answer text to label; got list\.$"
    ):
        PromptLF(model, TEMPLATE, ["yes", "no"])
    with pytest.raises(
        ValueError,
        match=r"^`answers` must be a non-empty mapping from answer text to label; got an empty mapping\.$",
    ):
        PromptLF(model, TEMPLATE, {})
    with pytest.raises(TypeError, match=r"^`answers` must be string keys; got int 1\.$"):
        PromptLF(model, TEMPLATE, {1: "spam"})
    with pytest.raises(
        ValueError,
        match=r"^`answers` must be keys that stay distinct once stripped and lower-cased; got 'Yes' -> 'ham' and another key -> 'spam'\.$",
    ):
        PromptLF(model, TEMPLATE, {"yes": "spam", "Yes": "ham"})
    assert PromptLF(model, TEMPLATE, {"yes": "spam", "YES.": "spam"}).answers == {"yes": "spam"}
    with pytest.raises(TypeError, match=r"^`cache_dir` must be a folder path or None; got int\.$"):
        PromptLF(model, TEMPLATE, ANSWERS, cache_dir=3)
    with pytest.raises(
        TypeError,
        match=r"^`ask` must be a function returning the answer as a string; got NoneType None for 'quiet' at row 0\.$",
    ):
        PromptLF(lambda p: None, TEMPLATE, ANSWERS, name="quiet")(["hi"])
    with pytest.raises(
        TypeError,
        match=r"^`texts` must be a list of strings or a DataFrame with the text column; got int\.$",
    ):
        PromptLF(model, TEMPLATE, ANSWERS)(3)
