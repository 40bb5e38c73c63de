"""Multi-label aggregation: per-tag binary aggregation over the answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelwise.aggregate import DawidSkene, MajorityVote, aggregate_multilabel


def simulated_answers(n_items=1000, n_sources=8, k=4, per_item=5, seed=0):
    """Sources with per-source sensitivity and false-positive rate mark tags independently."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n_items, k)) < 0.3
    sensitivity = rng.uniform(0.55, 0.95, n_sources)
    false_positive = rng.uniform(0.02, 0.45, n_sources)
    sources = np.argsort(rng.random((n_items, n_sources)), axis=1)[:, :per_item]
    item = np.repeat(np.arange(n_items), per_item)
    source = sources.ravel()
    p_mark = np.where(truth[item], sensitivity[source][:, None], false_positive[source][:, None])
    marks = rng.random(p_mark.shape) < p_mark
    labels = [list(np.flatnonzero(row)) for row in marks]
    return pd.DataFrame({"item": item, "source": source, "labels": labels}), truth


def test_majority_vote_per_tag_is_the_share_of_marks():
    answers, _ = simulated_answers(seed=1)
    result = aggregate_multilabel(answers, aggregator=MajorityVote(tie_break="prior"))
    exploded = answers.explode("labels").dropna()
    marks = pd.crosstab(exploded["item"], exploded["labels"]).reindex(
        index=range(1000), columns=range(4), fill_value=0
    )
    expected = marks.to_numpy() / answers.groupby("item").size().to_numpy()[:, None]
    np.testing.assert_allclose(result.probas, expected)
    assert list(result.classes) == [0, 1, 2, 3] and result.labels.dtype == bool


def test_dawid_skene_beats_majority_vote_over_seeds():
    gains = []
    for seed in range(6):
        answers, truth = simulated_answers(seed=seed)
        mv = aggregate_multilabel(answers, aggregator=MajorityVote(tie_break="prior")).labels
        ds = aggregate_multilabel(answers).labels  # DawidSkene by default
        gains.append((ds == truth).mean() - (mv == truth).mean())
    assert np.mean(gains) > 0.008 and min(gains) > 0.0


def test_matches_crowd_kit_binary_relevance():
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    answers, truth = simulated_answers(n_items=300, seed=3)
    ours = aggregate_multilabel(answers, aggregator=DawidSkene()).labels
    theirs = crowdkit.BinaryRelevance(crowdkit.DawidSkene(n_iter=100)).fit_predict(
        answers.rename(columns={"item": "task", "source": "worker", "labels": "label"})
    )
    theirs_matrix = np.zeros_like(truth)
    for task, tags in theirs.items():
        theirs_matrix[task, list(tags)] = True
    assert (ours == truth).mean() >= (theirs_matrix == truth).mean() - 0.002


def test_empty_answers_unmarked_tags_and_named_tags():
    answers = pd.DataFrame(
        {"item": ["x", "x", "y"], "source": [1, 2, 1], "labels": [["a"], [], ("b",)]}
    )
    result = aggregate_multilabel(
        answers, aggregator=MajorityVote(tie_break="prior"), classes=["a", "b", "c"]
    )
    np.testing.assert_allclose(result.probas, [[0.5, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert result.to_frame()["labels"].tolist() == [["a"], ["b"]]
    assert len(result.aggregators) == 3


@pytest.mark.parametrize(
    ("answers", "kwargs", "kind", "message"),
    [
        (
            pd.DataFrame({"item": [1], "source": [1], "labels": ["a"]}),
            {},
            TypeError,
            r"`labels` must be a list \(or tuple, set\) of tags in every row, empty for none; got 'a' at row 0",
        ),
        (
            pd.DataFrame({"item": [1], "source": [1], "tags": [["a"]]}),
            {},
            ValueError,
            r"`df` must be a table with the columns 'item', 'source', 'labels'; got no column\(s\) 'labels'",
        ),
        (
            pd.DataFrame({"item": [1], "source": [1], "labels": [["z"]]}),
            {"classes": ["a"]},
            ValueError,
            r"`labels` must be one of the given classes 'a'; got unknown 'z'",
        ),
        (
            pd.DataFrame({"item": [1, 1], "source": [1, 1], "labels": [["a"], []]}),
            {},
            ValueError,
            r"`duplicates` must be 'keep' or 'last'",
        ),
    ],
)
def test_bad_input(answers, kwargs, kind, message):
    with pytest.raises(kind, match=message):
        aggregate_multilabel(answers, **kwargs)
