"""Labeling functions: named rules that vote a class or abstain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

from labelwise._validation import fail
from labelwise._validation.weak import check_lf_name

#: What a labeling function returns when it does not vote (``None`` abstains too).
ABSTAIN: int = -1


class Row(dict):
    """One example as a row labeling function sees it: a dict whose keys read as attributes.

    ``row["text"]`` and ``row.text`` are the same value.
    """

    __slots__ = ()

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"row has no column {key!r}; it has {list(self)}") from None


class LabelingFunction:
    """A named function that votes a class, or ``ABSTAIN``, for each example.

    A row labeling function is called once per example with a :class:`Row`; a vectorized one
    once with the whole table (a DataFrame) and returns one vote per row, as an array. Votes
    may be class names (strings, ...) or integers; ``ABSTAIN`` (``-1``), ``None`` and NaN mean
    no vote. In a NumPy string array (``np.where(mask, "spam", ABSTAIN)`` makes one under
    NumPy 1; NumPy 2 refuses to mix strings and ints, use ``None`` there), the
    string ``"-1"`` is ``ABSTAIN`` too. Build one with :func:`labeling_function`.

    Parameters
    ----------
    func : callable
        ``func(row) -> label`` or, with ``vectorized=True``, ``func(df) -> array``.
    name : str, optional
        Default: ``func.__name__``.
    vectorized : bool, default=False

    Examples
    --------
    >>> from labelwise.weak import ABSTAIN, LabelingFunction
    >>> lf = LabelingFunction(lambda row: "spam" if "$" in row["text"] else ABSTAIN, name="dollar")
    >>> lf.name, lf({"text": "win $$$"}), lf({"text": "hello"})
    ('dollar', 'spam', -1)
    """

    def __init__(
        self, func: Callable[[Any], Any], *, name: str | None = None, vectorized: bool = False
    ) -> None:
        if not callable(func):
            fail("func", "a callable", type(func).__name__, kind=TypeError)
        self.func = func
        self.name = check_lf_name(name, getattr(func, "__name__", type(func).__name__))
        self.vectorized = bool(vectorized)

    def __call__(self, data: Any) -> Any:
        return self.func(data)

    def __repr__(self) -> str:
        kind = "vectorized " if self.vectorized else ""
        return f"<{kind}{type(self).__name__} {self.name!r}>"


@overload
def labeling_function(func: Callable[[Any], Any], /) -> LabelingFunction: ...


@overload
def labeling_function(
    *, name: str | None = None, vectorized: bool = False
) -> Callable[[Callable[[Any], Any]], LabelingFunction]: ...


def labeling_function(
    func: Callable[[Any], Any] | None = None,
    /,
    *,
    name: str | None = None,
    vectorized: bool = False,
) -> LabelingFunction | Callable[[Callable[[Any], Any]], LabelingFunction]:
    """Decorate ``f(row) -> label | ABSTAIN`` (or ``f(df) -> array``) into a labeling function.

    Parameters
    ----------
    name : str, optional
        The labeling function's name (its source id in the ``Annotations``). Default: the
        function's name.
    vectorized : bool, default=False
        ``True``: the function takes the whole DataFrame and returns one vote per row (the fast
        path). ``False``: it takes one :class:`Row` (a dict whose keys read as attributes).

    Returns
    -------
    LabelingFunction

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from labelwise.weak import ABSTAIN, apply, labeling_function
    >>> @labeling_function()
    ... def mentions_money(row):
    ...     return "spam" if "$" in row.text else ABSTAIN
    >>> @labeling_function(name="short", vectorized=True)
    ... def short(df):
    ...     return np.where(df["text"].str.len() < 12, "ham", None)
    >>> df = pd.DataFrame({"text": ["win $$$ now", "see you at 5", "ok"]})
    >>> ann = apply([mentions_money, short], df, progress=False)
    >>> ann.to_matrix()
    array([[ 1,  0],
           [-1, -1],
           [-1,  0]])
    >>> list(ann.classes), list(ann.sources)
    (['ham', 'spam'], ['mentions_money', 'short'])
    """

    def wrap(f: Callable[[Any], Any]) -> LabelingFunction:
        return LabelingFunction(f, name=name, vectorized=vectorized)

    if func is not None:
        return wrap(func)
    return wrap
