"""LabelModel on votes it was not fitted on: the fitted model's E-step, LFs and classes by id."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from labelwise import Annotations
from labelwise.aggregate import ConvergenceWarning, LabelModel
from labelwise.simulate import simulate_labeling_functions


def _renamed(ann: Annotations, order: np.ndarray) -> Annotations:
    """The same votes with the items renamed and listed in ``order``; LFs listed in reverse
    (codes change, ids do not), annotations shuffled."""
    rng = np.random.default_rng(1)
    item_code = np.empty(ann.n_items, dtype=np.int64)
    item_code[order] = np.arange(ann.n_items)
    source_code = ann.n_sources - 1 - np.arange(ann.n_sources)
    shuffle = rng.permutation(ann.n_annotations)
    return Annotations(
        item_code[ann.item][shuffle],
        source_code[ann.source][shuffle],
        ann.label[shuffle],
        np.array([f"new-{i}" for i in ann.items[order]], dtype=object),
        ann.sources[::-1],
        ann.classes,
    )


def _votes_with_structure(n: int, k: int, seed: int) -> Annotations:
    """Votes of 6 LFs with abstains: 4 independent, 2 one-sided (class-dependent coverage),
    1 near-copy of LF 0 (a dependent pair); some items without votes."""
    sim = simulate_labeling_functions(n, 4, k, random_state=seed)
    rng = np.random.default_rng(seed)
    votes = np.full((n, 7), -1)
    votes[:, :4] = sim.annotations.to_matrix()
    for j, target in ((4, 0), (5, 1)):
        fires = rng.random(n) < np.where(sim.true_labels == target, 0.4, 0.05)
        votes[fires, j] = target
    votes[:, 6] = np.where(rng.random(n) < 0.98, votes[:, 0], -1)
    return Annotations.from_matrix(votes)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"coverage": "shared"},
        {"coverage": "by_class", "confusion": "full"},
        {"dependencies": "merge"},
        {"dependencies": "ignore", "method": "em"},
        {"method": "triplet"},
    ],
)
def test_scoring_the_fitted_votes_anew_gives_the_fitted_posteriors(k, params):
    """Posteriors of new votes are the fit's final E-step: on the fitted votes, renamed and
    reordered, they must equal ``probas_``."""
    ann = _votes_with_structure(3000, k, seed=k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LabelModel(**params).fit(ann)
    order = np.random.default_rng(2).permutation(ann.n_items)
    renamed = _renamed(ann, order)
    probas = model.predict_proba(renamed)
    np.testing.assert_allclose(probas, model.probas_[order], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(model.predict(renamed), model.labels_[order])
    # the fitted object gets the stored results; an equal copy is scored to the same
    assert model.predict_proba(ann) is model.probas_
    copy = Annotations(
        ann.item.copy(), ann.source.copy(), ann.label.copy(), ann.items, ann.sources, ann.classes
    )
    np.testing.assert_allclose(model.predict_proba(copy), model.probas_, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(model.predict(copy), model.labels_)


def test_held_out_items_are_labelled_as_well_as_fitted_ones():
    accuracies = []
    for seed in range(5):
        sim = simulate_labeling_functions(6000, 10, 3, random_state=seed)
        votes = sim.annotations.to_matrix()
        model = LabelModel().fit(Annotations.from_matrix(votes[:3000], classes=[0, 1, 2]))
        test = Annotations.from_matrix(votes[3000:], classes=[0, 1, 2])
        held_out = (model.predict(test) == sim.true_labels[3000:]).mean()
        fitted = (model.labels_ == sim.true_labels[:3000]).mean()
        accuracies.append((held_out, fitted))
        assert held_out > fitted - 0.03, (seed, held_out, fitted)
    assert np.mean([h for h, _ in accuracies]) > 0.85


def test_lfs_and_classes_are_matched_by_id():
    """New votes may list a subset of the LFs and classes, in another order: an LF that is
    not listed abstains on every item, exactly as one listed without votes."""
    rng = np.random.default_rng(0)
    n = 2000
    truth = rng.integers(0, 3, n)
    rows = []
    for lf, accuracy in (("kw", 0.8), ("regex", 0.7), ("model", 0.75), ("heur", 0.65)):
        fires = np.flatnonzero(rng.random(n) < 0.6)
        right = rng.random(fires.size) < accuracy
        wrong = (truth[fires] + rng.integers(1, 3, fires.size)) % 3
        labels = np.where(right, truth[fires], wrong)
        rows.append(pd.DataFrame({"item": fires, "source": lf, "label": labels}))
    table = pd.concat(rows, ignore_index=True)
    names = np.array(["cat", "dog", "eel"])
    table["label"] = names[table["label"]]
    model = LabelModel().fit(Annotations.from_long(table))

    new = table[(table["item"] < 300) & (table["source"] != "heur")]
    new = new[new["label"] != "eel"]  # a class subset: codes shift
    listed = Annotations.from_long(new, items=range(300), sources=["model", "kw", "regex", "heur"])
    unlisted = Annotations.from_long(new, items=range(300))
    assert list(unlisted.classes) == ["cat", "dog"]
    np.testing.assert_allclose(
        model.predict_proba(listed), model.predict_proba(unlisted), rtol=0, atol=1e-12
    )
    assert set(model.predict(unlisted)) <= {"cat", "dog", "eel"}
    # an item without votes gets the class balance
    empty = Annotations.from_long(new[new["item"] != 5], items=range(300))
    np.testing.assert_allclose(model.predict_proba(empty)[5], model.class_balance_)


def test_votes_from_an_unseen_lf_or_class_are_refused():
    table = pd.DataFrame(
        {"item": [0, 0, 1, 1, 2], "source": ["a", "b", "a", "b", "a"], "label": [0, 0, 1, 1, 1]}
    )
    model = LabelModel().fit(Annotations.from_long(table))
    unseen_lf = pd.DataFrame({"item": [0, 1], "source": ["a", "zz"], "label": [0, 1]})
    with pytest.raises(
        ValueError, match=r"fitted on \('a', 'b'\); got LFs \(sources\) it has not seen: 'zz'\."
    ):
        model.predict_proba(Annotations.from_long(unseen_lf))
    unseen_class = pd.DataFrame({"item": [0, 1], "source": ["a", "b"], "label": [0, 7]})
    with pytest.raises(ValueError, match=r"got classes it has not seen: 7\."):
        model.predict(Annotations.from_long(unseen_class))
    # an unseen LF listed without any vote is harmless; so are one class or no votes at all
    quiet = Annotations.from_long(table.iloc[:2], sources=["a", "b", "zz"])
    np.testing.assert_allclose(model.predict_proba(quiet), model.probas_[:1], atol=1e-12)
    empty = np.empty(0, dtype=np.int64)
    none = Annotations(
        empty, empty, empty, np.array([0, 1]), np.array(["a"], dtype=object), np.array([0])
    )
    np.testing.assert_allclose(model.predict_proba(none), [model.class_balance_] * 2)
    with pytest.raises(ValueError, match=r"must come before \.predict_proba"):
        LabelModel().predict_proba(Annotations.from_long(table))


def test_the_model_neither_keeps_nor_pickles_the_fitted_votes():
    import gc
    import pickle
    import weakref

    ann = _votes_with_structure(2000, 2, seed=0)
    model = LabelModel().fit(ann)
    assert model.predict_proba(ann) is model.probas_  # the fitted object: stored results
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(ann), model.probas_, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(restored.predict(ann), model.labels_)
    alive = weakref.ref(ann)
    del ann
    gc.collect()
    assert alive() is None
