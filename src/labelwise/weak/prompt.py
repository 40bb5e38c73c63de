"""Prompted labeling functions: ask any model a question per example, map its answer to a vote."""

from __future__ import annotations

import hashlib
import os
import string
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelwise._validation import fail
from labelwise._validation.weak import (
    check_answers,
    check_prompt_fields,
    check_texts,
    fail_answer_type,
    fail_prompt_field,
    raise_lf_failure,
)
from labelwise.io import answer_log_writer, read_answer_log
from labelwise.weak._lf import ABSTAIN, LabelingFunction, Row

#: The answer log's file name inside ``cache_dir``.
CACHE_FILE = "prompt_answers.jsonl"
#: Stripped from both ends of an answer (with whitespace) before it is lower-cased.
ANSWER_PUNCTUATION = ".!?\"'`"


def normalise_answer(answer: str) -> str:
    """``answer`` without surrounding whitespace and ``.!?"'`` quotes, lower-cased."""
    return answer.strip().strip(ANSWER_PUNCTUATION).strip().lower()


def prompt_key(prompt: str) -> str:
    """The cache key of a prompt: the SHA-256 of its UTF-8 text."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


class PromptLF(LabelingFunction):
    """A vectorized labeling function that asks a model (an LLM, a person, a service) per row.

    For each row it fills ``prompt`` in, calls ``ask(prompt_text) -> answer``, normalises the
    answer (surrounding whitespace and ``.!?"'`` quotes stripped, lower-cased) and votes
    ``answers[normalised]``. An answer not in ``answers`` abstains and is counted
    (``n_unknown_``, ``unknown_answers_``). Identical prompts are asked once per call.

    With ``cache_dir`` every answer is appended, as soon as it arrives, to the JSON Lines file
    ``cache_dir/prompt_answers.jsonl`` keyed by the SHA-256 of the prompt text; later calls,
    by this or any other ``PromptLF`` pointed at the folder, reuse it and do not ask again.
    Use one folder per answering model: the key is the prompt alone.

    Parameters
    ----------
    ask : callable
        ``ask(prompt_text) -> str``.
    prompt : str or callable
        A ``str.format`` template whose fields are ``{text}`` (the ``text_column``) and any
        other columns of the data, or a function ``row -> prompt_text`` of a :class:`Row`.
    answers : mapping
        ``answer text -> label`` (or ``ABSTAIN``/``None``); keys are normalised like answers.
    cache_dir : str or path, optional
    name : str, default="prompt_lf"
    text_column : str, default="text"

    Attributes
    ----------
    n_asked_ : int
        Calls of ``ask`` in the last call (0 when everything came from the cache).
    n_cached_ : int
        Distinct prompts of the last call answered from the cache.
    n_unknown_ : int
        Rows of the last call whose answer was not in ``answers`` (they abstained).
    unknown_answers_ : dict
        Those answers (normalised) and how many rows gave each.

    Examples
    --------
    >>> from labelwise.weak import PromptLF
    >>> def ask(prompt):  # stands in for a language model
    ...     return "Yes." if "free" in prompt else "no" if "song" in prompt else "maybe"
    >>> lf = PromptLF(ask, "Is this comment spam? {text}\\nAnswer yes or no.",
    ...               {"yes": "spam", "no": "ham"})
    >>> lf(["free money", "nice song", "hello", "free money"]).tolist()
    ['spam', 'ham', -1, 'spam']
    >>> lf.n_asked_, lf.n_unknown_, lf.unknown_answers_
    (3, 1, {'maybe': 1})
    """

    def __init__(
        self,
        ask: Callable[[str], str],
        prompt: str | Callable[[Row], str],
        answers: Mapping[str, Hashable],
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        name: str | None = None,
        text_column: str = "text",
    ) -> None:
        if not callable(ask):
            fail("ask", "a callable prompt -> answer", type(ask).__name__, kind=TypeError)
        super().__init__(ask, name=name or "prompt_lf", vectorized=True)
        if isinstance(prompt, str):
            try:
                parsed = [field for _, field, _, _ in string.Formatter().parse(prompt)]
            except ValueError:
                fail("prompt", "a valid str.format template", repr(prompt))
            check_prompt_fields(prompt, parsed)
            self._fields = sorted({f.split(".")[0].split("[")[0] for f in parsed if f})
        elif not callable(prompt):
            fail(
                "prompt",
                "a format string or a callable row -> str",
                type(prompt).__name__,
                kind=TypeError,
            )
        self.prompt = prompt
        self.answers = check_answers(answers, normalise_answer)
        if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
            fail("cache_dir", "a folder path or None", type(cache_dir).__name__, kind=TypeError)
        self.cache_dir = cache_dir
        self.text_column = text_column
        self._memory: dict[str, str] = {}

    def _table(self, data: Any) -> pd.DataFrame:
        if isinstance(data, pd.DataFrame):
            return data
        return pd.DataFrame({self.text_column: check_texts(data, self.text_column)})

    def prompts(self, data: Any) -> list[str]:
        """The prompt text of each row of ``data`` (a DataFrame or a list of texts)."""
        frame = self._table(data)
        if callable(self.prompt):
            texts = []
            for position, record in enumerate(frame.to_dict("records")):
                try:
                    text = self.prompt(Row(record))
                except Exception as error:
                    raise_lf_failure(self.name, f"row {_label(frame, position)!r}", error)
                if not isinstance(text, str):
                    fail(
                        "prompt",
                        "a function returning the prompt as a string",
                        f"{type(text).__name__} {text!r} at row {_label(frame, position)!r}",
                        kind=TypeError,
                    )
                texts.append(text)
            return texts
        template: str = self.prompt
        columns = {field: field for field in self._fields if field != "text"}
        if "text" in self._fields:
            columns["text"] = self.text_column
            check_texts(frame, self.text_column, name="data")
        for field, column in columns.items():
            if column not in frame.columns:
                fail_prompt_field(field, list(frame.columns))
        values = {field: frame[column].tolist() for field, column in columns.items()}
        return [
            template.format(**{field: values[field][i] for field in columns})
            for i in range(len(frame))
        ]

    def __call__(self, data: Any) -> np.ndarray:
        """Votes (labels from ``answers``; ``ABSTAIN`` for unknown answers)."""
        frame = self._table(data)
        texts = self.prompts(frame)
        keys = [prompt_key(text) for text in texts]
        known = dict(self._memory)
        cache = None if self.cache_dir is None else Path(self.cache_dir) / CACHE_FILE
        if cache is not None:
            known.update(read_answer_log(cache))
        first: dict[str, int] = {}
        for position, key in enumerate(keys):
            first.setdefault(key, position)
        missing = [(key, position) for key, position in first.items() if key not in known]
        with answer_log_writer(cache) if cache is not None else nullcontext(None) as log:
            for key, position in missing:
                try:
                    answer = self.func(texts[position])
                except Exception as error:
                    raise_lf_failure(self.name, f"row {_label(frame, position)!r}", error)
                if not isinstance(answer, str):
                    fail_answer_type(self.name, answer, _label(frame, position))
                known[key] = answer
                self._memory[key] = answer
                if log is not None:
                    log(key, texts[position], answer)
        normalised = [normalise_answer(known[key]) for key in keys]
        unknown = Counter(a for a in normalised if a not in self.answers)
        self.n_asked_ = len(missing)
        self.n_cached_ = len(first) - len(missing)
        self.n_unknown_ = sum(unknown.values())
        self.unknown_answers_ = dict(unknown)
        votes = np.empty(len(keys), dtype=object)
        votes[:] = [self.answers.get(a, ABSTAIN) for a in normalised]
        labels = [v for v in self.answers.values() if v is not None]
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in labels):
            return np.where(pd.isna(votes), ABSTAIN, votes).astype(np.int64)
        return votes


def _label(frame: pd.DataFrame, position: int) -> Any:
    """The index value of row ``position``, as a plain Python value (for messages)."""
    value = frame.index[position]
    return value.item() if isinstance(value, np.generic) else value
