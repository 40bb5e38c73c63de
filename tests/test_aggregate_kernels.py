"""The compiled paths of the aggregators and of Annotations against plain numpy references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from labelwise import Annotations
from labelwise.aggregate import DawidSkene, MajorityVote, OneCoinDawidSkene, _kernels


def random_annotations(
    seed: int, n_items=150, n_sources=9, k=4, unlabelled=10, grouped=False
) -> Annotations:
    """Sparse random answers with some repeated (item, source) pairs and unlabelled items;
    ``grouped``: the table is written item by item (the no-reorder fast paths)."""
    rng = np.random.default_rng(seed)
    n = 600
    frame = pd.DataFrame(
        {
            "item": rng.integers(0, n_items - unlabelled, n),
            "source": rng.integers(0, n_sources, n),
            "label": rng.integers(0, k, n),
        }
    )
    if grouped:
        frame = frame.sort_values("item", kind="stable", ignore_index=True)
    return Annotations.from_long(
        frame, duplicates="keep", items=range(n_items), sources=range(n_sources), classes=range(k)
    )


def reference_dawid_skene(ann: Annotations, n_iter: int, pseudo: np.ndarray, one_coin=False):
    """Dense textbook EM (MAP M-step with Dirichlet pseudo-counts), one annotation at a time."""
    n, s, k = ann.n_items, ann.n_sources, ann.n_classes
    votes = np.zeros((n, k))
    np.add.at(votes, (ann.item, ann.label), 1.0)
    totals = votes.sum(axis=1, keepdims=True)
    post = np.where(totals > 0, votes / np.maximum(totals, 1), 1.0 / k)
    labelled = totals[:, 0] > 0

    def m_step(post):
        counts = np.zeros((s, k, k))  # (source, true, answered)
        np.add.at(counts, (ann.source, slice(None), ann.label), post[ann.item])
        if one_coin:
            acc = (np.trace(counts, axis1=1, axis2=2) + np.trace(pseudo)) / (
                counts.sum(axis=(1, 2)) + pseudo.sum()
            )
            conf = np.broadcast_to(((1 - acc) / (k - 1))[:, None, None], (s, k, k)).copy()
            conf[:, np.arange(k), np.arange(k)] = acc[:, None]
        else:
            conf = (counts + pseudo) / (counts + pseudo).sum(axis=2, keepdims=True)
        return np.log(np.maximum(conf, 1e-10)), post[labelled].mean(axis=0)

    log_conf, prior = m_step(post)
    for _ in range(n_iter):
        joint = np.tile(np.log(np.maximum(prior, 1e-10)), (n, 1))
        np.add.at(joint, ann.item, log_conf[ann.source, :, ann.label])
        evidence = logsumexp(joint, axis=1, keepdims=True)
        post = np.exp(joint - evidence)
        log_conf, prior = m_step(post)
    log_likelihood = evidence[labelled].sum() / ann.n_annotations
    return post, np.exp(log_conf), prior, log_likelihood


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("cls", [DawidSkene, OneCoinDawidSkene])
@pytest.mark.parametrize(
    ("strength", "accuracy", "smoothing"), [(0.0, 0.9, 0.01), (2.0, 0.9, 0.01), (3.0, 0.6, 0.0)]
)
@pytest.mark.parametrize("k", [2, 4, 17])  # 17: above the class counts compiled one by one
def test_dawid_skene_equals_the_dense_reference(
    monkeypatch, cls, parallel, grouped, strength, accuracy, smoothing, k
):
    if parallel:  # the chunked, per-thread-buffer path, on small data
        monkeypatch.setattr(_kernels, "_PARALLEL_MIN", 0)
    pseudo = np.full((k, k), strength * (1 - accuracy) / (k - 1) + smoothing)
    np.fill_diagonal(pseudo, strength * accuracy + smoothing)
    for seed in range(3):
        ann = random_annotations(seed, k=k, grouped=grouped)
        assert (ann.item_groups()[1] is None) == grouped
        model = cls(
            max_iter=6,
            tol=0.0,
            prior_strength=strength,
            prior_accuracy=accuracy,
            smoothing=smoothing,
        )
        with pytest.warns(Warning, match="max_iter=6"):
            model.fit(ann)
        post, conf, prior, log_likelihood = reference_dawid_skene(
            ann, 6, pseudo, one_coin=cls is OneCoinDawidSkene
        )
        np.testing.assert_allclose(model.probas_, post, atol=1e-10)
        assert model.log_likelihood_ == pytest.approx(log_likelihood, abs=1e-12)
        np.testing.assert_allclose(model.confusions_, conf / conf.sum(2, keepdims=True), atol=1e-10)
        np.testing.assert_allclose(model.priors_, prior, atol=1e-12)
        assert model.n_iter_ == 6


def test_prior_accuracy_must_be_a_share():
    ann = random_annotations(0)
    with pytest.raises(
        ValueError, match=r"^`prior_accuracy` must be a share in \[0, 1\]; got 1\.5"
    ):
        DawidSkene(prior_accuracy=1.5).fit(ann)
    with pytest.raises(ValueError, match=r"^`prior_strength` must be a finite number >= 0"):
        DawidSkene(prior_strength=-1).fit(ann)


def test_majority_vote_ties_only_drawn_for_tied_items():
    # Untied items are the plain argmax whatever the seed; tied ones vary with the seed.
    M = np.array([[0, 0, 1], [1, 1, 0], [0, 1, -1], [2, 1, -1], [2, 2, 2]])
    ann = Annotations.from_matrix(M)
    seen = {tuple(MajorityVote(random_state=seed).fit_predict(ann)) for seed in range(40)}
    assert {labels[:2] + labels[4:] for labels in seen} == {(0, 1, 2)}
    assert {labels[2] for labels in seen} == {0, 1}
    assert {labels[3] for labels in seen} == {1, 2}


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=60),
    spread=st.sampled_from([1, 3, 10**9]),
)
def test_integer_ids_code_like_pandas(values, spread):
    ids = np.asarray(values, dtype=np.int64) // spread  # dense (fast path) and sparse ids
    frame = pd.DataFrame({"item": ids, "source": np.arange(ids.size), "label": ids % 3})
    ann = Annotations.from_long(frame)
    codes, uniques = pd.factorize(ids, sort=True)
    np.testing.assert_array_equal(ann.item, codes)
    np.testing.assert_array_equal(ann.items, uniques)


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4)), min_size=1, max_size=80))
def test_last_of_each_pair_matches_a_sort_based_reference(pairs):
    item, source = np.asarray(pairs, dtype=np.int64).T
    frame = pd.DataFrame({"item": item, "source": source, "label": 0})
    last = Annotations.from_long(frame, duplicates="last", classes=[0, 1])
    expected = ~frame.duplicated(["item", "source"], keep="last").to_numpy()
    np.testing.assert_array_equal(last.items[last.item], item[expected])
    np.testing.assert_array_equal(last.sources[last.source], source[expected])
    if expected.all():
        Annotations.from_long(frame, classes=[0, 1])  # no repeats: "error" accepts
    else:
        first = int(np.flatnonzero(~expected)[0])
        with pytest.raises(ValueError, match=f"repeated pair\\(s\\), first at row {first}"):
            Annotations.from_long(frame, classes=[0, 1])


@pytest.mark.parametrize("grouped", [False, True])
def test_item_groups_list_each_items_annotations_in_table_order(grouped):
    for seed in range(4):
        ann = random_annotations(seed, grouped=grouped)
        indptr, order = ann.item_groups()
        assert ann.item_groups()[0] is indptr  # computed once
        positions = np.arange(ann.n_annotations) if order is None else order
        for i in range(ann.n_items):
            group = positions[indptr[i] : indptr[i + 1]]
            np.testing.assert_array_equal(group, np.flatnonzero(ann.item == i))


@settings(max_examples=80, deadline=None)
@given(
    votes=st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 5), st.integers(0, 3)),
        min_size=1,
        max_size=70,
    ),
    tie_break=st.sampled_from(["random", "prior"]),
    grouped=st.booleans(),
)
def test_majority_vote_kernels_match_a_numpy_reference(votes, tie_break, grouped):
    frame = pd.DataFrame(votes, columns=["item", "source", "label"])
    if grouped:
        frame = frame.sort_values("item", kind="stable", ignore_index=True)
    ann = Annotations.from_long(
        frame, duplicates="keep", items=range(14), sources=range(6), classes=range(4)
    )
    mv = MajorityVote(tie_break=tie_break, random_state=0).fit(ann)
    labels = mv.labels_.astype(np.int64)  # the classes are 0..3
    counts = np.zeros((14, 4))
    np.add.at(counts, (frame["item"], frame["label"]), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.where(totals > 0, counts / np.maximum(totals, 1), 0.25)
    np.testing.assert_array_equal(mv.probas_, shares)
    prior = np.bincount(frame["label"], minlength=4) / len(frame)
    np.testing.assert_array_equal(mv.prior_, prior)
    top = counts == counts.max(axis=1, keepdims=True)
    assert top[np.arange(14), labels].all()  # always one of the most voted classes
    if tie_break == "prior":  # among those, the one with the largest prior (first on equal)
        rank = np.argsort(np.argsort(-prior, kind="stable"), kind="stable")
        expected = np.argmin(np.where(top, rank, 99), axis=1)
        np.testing.assert_array_equal(labels, expected)
    agree = labels[frame["item"]] == frame["label"].to_numpy()
    answered = np.bincount(frame["source"], minlength=6)
    hits = np.bincount(frame["source"], weights=agree, minlength=6)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_allclose(mv.source_quality_, hits / answered, equal_nan=True)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64"])
def test_small_integer_id_columns_code_like_pandas(dtype):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 100, 300).astype(dtype)
    frame = pd.DataFrame({"item": ids, "source": np.arange(300), "label": ids % 3})
    ann = Annotations.from_long(frame)
    codes, uniques = pd.factorize(ids, sort=True)
    np.testing.assert_array_equal(ann.item, codes)
    np.testing.assert_array_equal(ann.items, uniques)
    assert ann.item.dtype == np.int64


def test_nullable_integer_column_with_a_missing_value_is_refused():
    frame = pd.DataFrame(
        {"item": pd.array([0, None, 2], dtype="Int64"), "source": [0, 1, 2], "label": [0, 1, 0]}
    )
    with pytest.raises(ValueError, match=r"a value in every row of column 'item'"):
        Annotations.from_long(frame)


@pytest.mark.parametrize("shape", [(7, 3), (1_000_003, 2)])
def test_exp_inplace_equals_numpy(shape):
    from labelwise._numerics import exp_inplace

    values = np.random.default_rng(0).normal(scale=30, size=shape)
    expected = np.exp(values)
    exp_inplace(values)  # the large shape goes through the thread blocks
    np.testing.assert_array_equal(values, expected)
    strided = np.random.default_rng(1).normal(size=(6, 4))[:, ::2]
    expected = np.exp(strided)
    exp_inplace(strided)
    np.testing.assert_array_equal(strided, expected)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.sampled_from([0.0, 0.25, 0.5, 1.0, -1.0, np.nan, np.inf]), min_size=3, max_size=3
        ),
        min_size=1,
        max_size=30,
    )
)
def test_row_argmax_equals_numpy(rows):
    from labelwise._numerics import row_argmax

    values = np.asarray(rows, dtype=np.float64)
    np.testing.assert_array_equal(row_argmax(values), np.argmax(values, axis=1))
