"""CrowdLab's compiled row loops against the plain numpy formulas they replace."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from labelwise import Annotations
from labelwise.aggregate import _crowdlab_kernels as kernels
from labelwise.aggregate.crowdlab import (
    PROB_FLOOR,
    TEMPERATURE_GRID,
    WEIGHT_FLOOR,
    calibration_temperature,
    majority_vote_with_ties,
    temperature_scale,
    temperature_scaled_confidence,
)

NO_GROUPS = np.empty(0, dtype=np.int64)  # indptr, order, label when the votes are dense


def grouped(ann: Annotations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, order, label)`` of the kernels' grouped-annotation inputs."""
    indptr, order = ann.item_groups()
    return indptr, NO_GROUPS if order is None else order, ann.label


def annotations_of(votes: np.ndarray, seed: int, *, shuffle: bool) -> Annotations:
    """Annotations with the integer ``votes`` (n, K) as counts, in item order or shuffled."""
    n, k = votes.shape
    item = np.repeat(np.repeat(np.arange(n), k), votes.astype(np.int64).ravel())
    label = np.repeat(np.tile(np.arange(k), n), votes.astype(np.int64).ravel())
    if shuffle:
        perm = np.random.default_rng(seed).permutation(item.size)
        item, label = item[perm], label[perm]
    source = np.arange(item.size) % 7
    return Annotations(item, source, label, np.arange(n), np.arange(7), np.arange(k))


def random_probs(seed: int, n: int = 500, k: int = 4, *, zeros: bool = True) -> np.ndarray:
    """Rows summing to one, with exact zeros, one-hot rows and near-ties when ``zeros``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, k))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    if zeros:
        probs[rng.random((n, k)) < 0.15] = 0.0
        probs[np.arange(n), rng.integers(0, k, n)] += 1e-3  # no all-zero row
        probs[:5] = 0.0
        probs[np.arange(5), np.arange(5) % k] = 1.0  # one-hot rows
        probs[5:8] = 1.0  # all classes equal
    return probs / probs.sum(axis=1, keepdims=True)


def random_votes(seed: int, n: int, k: int) -> np.ndarray:
    """Vote counts, 0 to 4 votes per row (some rows unlabelled)."""
    rng = np.random.default_rng(seed + 100)
    counts = np.zeros((n, k))
    votes = rng.integers(0, 5, n)
    for i in range(n):
        np.add.at(counts[i], rng.integers(0, k, votes[i]), 1.0)
    return counts


def reference_loss(probs: np.ndarray, votes: np.ndarray, temp: float) -> float:
    """The numpy calibration loss, n_items x K at a time."""
    k = probs.shape[1]
    votes = votes / np.maximum(votes.sum(axis=1), 1.0)[:, None]
    labelled = votes.sum(axis=1) > 0
    p, w = probs[labelled], votes[labelled]
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    top = np.max(np.where(np.isfinite(log_p), log_p, -np.inf), axis=1, keepdims=True)
    shifted = (log_p - top) / max(temp, WEIGHT_FLOOR)
    log_q = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_q = np.maximum(log_q, np.log(PROB_FLOOR))
    cells = w != 0
    return float(-(w[cells] * log_q[cells]).sum() / np.log(k) / labelled.sum())


def reference_scale(probs: np.ndarray, temp: float) -> np.ndarray:
    clipped = np.clip(probs, PROB_FLOOR, None)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    logits = np.log(clipped) / max(temp, WEIGHT_FLOOR)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_exp_nonpositive_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            -rng.exponential(5.0, 5000),
            -rng.uniform(0, 800, 2000),
            [0.0, -0.0, -1e-300, -np.inf, -700.0, -700.0001, -708.4, -745.0, -746.0, -1e6],
        ]
    )
    for factor in (1.0, 0.3, 7.0):
        out = np.empty_like(x)
        kernels.exp_nonpositive(x, factor, out, x.size)
        expected = np.exp(x * factor)
        # (libm below -700: subnormal results may differ from numpy's in their last bit)
        np.testing.assert_allclose(out, expected, rtol=3e-16, atol=1e-320)
        assert np.array_equal(out == 0, expected == 0)
        assert out[x == 0.0].tolist() == [1.0, 1.0]
    # only the first ``size`` entries are written
    part = np.full(4, 7.0)
    kernels.exp_nonpositive(np.array([-1.0, -2.0, -3.0, -4.0]), 1.0, part, 2)
    assert part[2:].tolist() == [7.0, 7.0]


def test_log_positive_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.random(5000),
            np.exp(-rng.uniform(0, 700, 3000)),
            1.0 + rng.normal(0, 1e-6, 1000),
            rng.uniform(0.5, 3.0, 2000),
            np.exp(rng.uniform(0, 700, 1000)),
            [1.0, 2.0, 0.5, np.sqrt(2), np.nextafter(np.sqrt(2), 2), np.finfo(float).tiny],
        ]
    )
    out = np.empty_like(x)
    kernels.log_positive(x, out, x.size)
    expected = np.log(x)
    np.testing.assert_allclose(out, expected, rtol=5e-16, atol=0)
    assert out[x == 1.0].tolist() == [0.0] * int((x == 1.0).sum())
    edges = np.array([0.0, 5e-324, 1e-310, np.inf])
    out = np.empty(4)
    kernels.log_positive(edges, out, 4)
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(out, np.log(edges))  # libm for 0, subnormals, inf


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [2, 5, 10])
@pytest.mark.parametrize("n_chunks", [1, 3])
def test_calibration_losses_match_numpy(seed: int, k: int, n_chunks: int) -> None:
    probs = random_probs(seed, k=k)
    votes = random_votes(seed, probs.shape[0], k)
    temps = [*TEMPERATURE_GRID, 1e-7, 0.85, 1.75, 30.0]
    inverses = 1.0 / np.maximum(np.array(temps), WEIGHT_FLOOR)
    sums, n_labelled = kernels.calibration_losses(
        probs, votes, NO_GROUPS, NO_GROUPS, NO_GROUPS, inverses, np.log(PROB_FLOOR), n_chunks
    )
    assert n_labelled == np.count_nonzero(votes.sum(axis=1) > 0)
    ours = -sums / np.log(k) / n_labelled
    expected = [reference_loss(probs, votes, t) for t in temps]
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)
    # the votes counted from the annotations grouped by item: the same sums, bit for bit
    counts = np.round(votes * 3)  # integer counts
    dense = kernels.calibration_losses(
        probs, counts, NO_GROUPS, NO_GROUPS, NO_GROUPS, inverses, np.log(PROB_FLOOR), n_chunks
    )
    for shuffle in (False, True):
        ann = annotations_of(counts, seed, shuffle=shuffle)
        from_groups = kernels.calibration_losses(
            probs, np.empty((0, k)), *grouped(ann), inverses, np.log(PROB_FLOOR), n_chunks
        )
        np.testing.assert_array_equal(from_groups[0], dense[0])
        assert from_groups[1] == dense[1]


def test_calibration_losses_skip_unlabelled_rows() -> None:
    probs = random_probs(1, n=50, k=3)
    votes = random_votes(1, 50, 3)
    votes[::2] = 0.0
    inverses = np.array([1.0, 0.5])
    full, n_full = kernels.calibration_losses(
        probs, votes, NO_GROUPS, NO_GROUPS, NO_GROUPS, inverses, np.log(PROB_FLOOR), 2
    )
    kept, n_kept = kernels.calibration_losses(
        probs[1::2], votes[1::2], NO_GROUPS, NO_GROUPS, NO_GROUPS, inverses, np.log(PROB_FLOOR), 1
    )
    np.testing.assert_allclose(full, kept, rtol=1e-13)
    assert n_full == n_kept


def reference_temperature(probs: np.ndarray, votes: np.ndarray) -> float:
    """cleanlab's coarse-then-fine grid search over the numpy loss."""
    coarse = list(TEMPERATURE_GRID)
    best = int(np.argmin([reference_loss(probs, votes, t) for t in coarse]))
    fine: list[float] = []
    if best > 0:
        fine += list(np.linspace(coarse[best - 1], coarse[best], 4, endpoint=False))
    if best < len(coarse) - 1:
        fine += list(np.linspace(coarse[best], coarse[best + 1], 5, endpoint=True))
    return float(fine[int(np.argmin([reference_loss(probs, votes, t) for t in fine]))])


@pytest.mark.parametrize("seed", range(6))
def test_calibration_temperature_matches_the_numpy_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    probs = random_probs(seed, n=800, k=k, zeros=seed % 2 == 0)
    # sharpen or flatten so that the optimum moves along the grid
    probs = reference_scale(probs, float(rng.choice([0.15, 0.6, 1.0, 2.5, 7.0])))
    votes = random_votes(seed, probs.shape[0], k)
    assert calibration_temperature(probs, votes) == reference_temperature(probs, votes)
    counts = np.round(votes * 3)
    ann = annotations_of(counts, seed, shuffle=seed % 2 == 1)
    assert calibration_temperature(probs, ann) == calibration_temperature(probs, counts)


@pytest.mark.parametrize("temp", [1e-7, 0.1, 0.85, 1.0, 3.0, 8.0, 50.0])
@pytest.mark.parametrize("k", [2, 10])
def test_temperature_scale_matches_numpy(temp: float, k: int) -> None:
    probs = random_probs(int(temp * 10) + k, k=k)
    expected = reference_scale(probs, temp)
    scaled = temperature_scale(probs, temp)
    np.testing.assert_allclose(scaled, expected, rtol=1e-12, atol=1e-300)
    assert np.array_equal(scaled == 0, expected == 0)
    np.testing.assert_allclose(
        temperature_scaled_confidence(probs, temp), expected.max(axis=1), rtol=1e-12
    )
    # non-contiguous and many-chunk inputs give the same numbers
    many = np.empty_like(probs)
    kernels.scaled_probs(np.ascontiguousarray(probs), max(temp, WEIGHT_FLOOR), 1e-30, many, 7)
    np.testing.assert_array_equal(many, scaled)
    np.testing.assert_array_equal(temperature_scale(np.asfortranarray(probs), temp), scaled)


def reference_candidates(counts, probs):
    def mask_argmax(scores, candidates):
        masked = np.where(candidates, scores, -np.inf)
        return candidates & (masked == masked.max(axis=1, keepdims=True))

    tied = counts == counts.max(axis=1, keepdims=True)
    untied = tied.sum(axis=1) == 1
    tied = mask_argmax(probs, tied)
    tied = mask_argmax(-counts.sum(axis=0)[None, :], tied)
    return tied, untied


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_chunks", [1, 4])
def test_majority_candidates_match_numpy(seed: int, n_chunks: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 400, 4
    base = rng.integers(0, 3, (n // k, k)).astype(float)
    # rolled copies: every class has the same total, so some ties reach the third tie-break
    counts = np.concatenate([np.roll(base, j, axis=1) for j in range(k)])
    probs = rng.integers(1, 4, (n, k)).astype(float)  # many equal probabilities: deep ties
    probs /= probs.sum(axis=1, keepdims=True)
    n_top = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    n_left = np.empty(n, dtype=np.int64)
    totals = counts.sum(axis=0)
    kernels.majority_candidates(
        counts, NO_GROUPS, NO_GROUPS, NO_GROUPS, probs, totals, n_top, first, n_left, n_chunks
    )
    ref_tied, ref_untied = reference_candidates(counts, probs)
    np.testing.assert_array_equal(n_top == 1, ref_untied)
    np.testing.assert_array_equal(n_top, (counts == counts.max(axis=1, keepdims=True)).sum(1))
    np.testing.assert_array_equal(n_left, ref_tied.sum(axis=1))
    np.testing.assert_array_equal(first, np.argmax(ref_tied, axis=1))
    assert (n_left > 1).any()  # the data reach the third tie-break
    for shuffle in (False, True):  # the votes counted from the annotations grouped by item
        ann = annotations_of(counts, seed, shuffle=shuffle)
        again = [np.empty(n, dtype=np.int64) for _ in range(3)]
        kernels.majority_candidates(
            np.empty((0, k)), *grouped(ann), probs, totals, *again, n_chunks
        )
        for ours, theirs in zip(again, (n_top, first, n_left), strict=True):
            np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("n_chunks", [1, 3])
@pytest.mark.parametrize("table_order", ["shuffled", "grouped"])
def test_ensemble_probas_match_numpy(n_chunks: int, table_order: str) -> None:
    """Bit for bit the numpy formula with ``np.bincount`` sums."""
    rng = np.random.default_rng(5)
    n, k, m = 300, 3, 7
    probs = random_probs(5, n=n, k=k)
    n_ann = 900
    item = rng.integers(30, n, n_ann)  # items 0-19 unlabelled
    item[:30] = np.repeat(np.arange(20, 30), 3)  # items 20-29: one vote per class, one source
    source = rng.integers(0, m, n_ann)
    source[:30] = 0
    label = rng.integers(0, k, n_ann)
    label[:30] = np.tile(np.arange(k), 10)
    perm = rng.permutation(n_ann)
    if table_order == "grouped":
        perm = perm[np.argsort(item[perm], kind="stable")]
    item, source, label = item[perm], source[perm], label[perm]
    weights = rng.uniform(0.1, 1.0, m)
    probs[10:30] = 1.0 / k  # exact ties
    mw, likelihood, other = 0.7, 0.8, 0.1
    consensus = rng.integers(0, k, n)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(item, minlength=n))])
    order = np.argsort(item, kind="stable")
    if table_order == "grouped":
        order = np.empty(0, dtype=np.int64)

    per_item = np.bincount(item, weights=weights[source], minlength=n)
    voted = np.bincount(item * k + label, weights=weights[source], minlength=n * k)
    numerator = mw * probs + other * per_item[:, None] + (likelihood - other) * voted.reshape(n, k)
    expected = numerator / (mw + per_item)[:, None]
    best = expected.max(axis=1, keepdims=True)
    for rows in (n, 0):  # with and without the probabilities themselves
        probas = np.empty((rows, k))
        quality = np.empty(n)
        argmax = np.empty(n, dtype=np.int64)
        unique = np.empty(n, dtype=bool)
        kernels.ensemble_probas(
            probs, indptr, order, source, label, weights, mw, likelihood, other,
            consensus, probas, quality, argmax, unique, n_chunks,
        )  # fmt: skip
        if rows:
            np.testing.assert_array_equal(probas, expected)
        np.testing.assert_array_equal(quality, expected[np.arange(n), consensus])
        np.testing.assert_array_equal(argmax, np.argmax(expected, axis=1))
        np.testing.assert_array_equal(unique, (expected == best).sum(axis=1) == 1)
        assert not unique[10:30].any()


def test_source_sums_match_bincount() -> None:
    rng = np.random.default_rng(3)
    n, k, m, n_ann = 80, 3, 6, 500
    item = rng.integers(0, n - 10, n_ann)
    source = rng.integers(0, m - 1, n_ann)  # the last source never answers
    label = rng.integers(0, k, n_ann)
    counts = np.zeros((n, k))
    np.add.at(counts, (item, label), 1.0)
    n_per_item = counts.sum(axis=1)
    num, den = np.zeros(m), np.zeros(m)
    kernels.source_agreement_sums(item, source, label, counts, n_per_item, num, den)
    expected_num = np.bincount(source, weights=counts[item, label] - 1.0, minlength=m)
    np.testing.assert_array_equal(num, expected_num)
    np.testing.assert_array_equal(
        den, np.bincount(source, weights=n_per_item[item] - 1.0, minlength=m)
    )
    ann = Annotations(item, source, label, np.arange(n), np.arange(m), np.arange(k))
    indptr, order, _ = grouped(ann)
    g_num, g_den = np.zeros(m), np.zeros(m)
    kernels.grouped_agreement_sums(indptr, order, source, label, k, g_num, g_den)
    np.testing.assert_array_equal(g_num, num)
    np.testing.assert_array_equal(g_den, den)
    pick = rng.integers(0, k, n)
    for n_chunks in (1, 3):
        agreeing = np.empty(n)
        kernels.consensus_votes(indptr, order, label, pick, agreeing, n_chunks)
        np.testing.assert_array_equal(agreeing, counts[np.arange(n), pick])

    probas = random_probs(3, n=n, k=k)
    consensus = rng.integers(0, k, n)
    seen, score = np.zeros(m, dtype=np.int64), np.zeros(m)
    tries, hits = np.zeros(m, dtype=np.int64), np.zeros(m)
    kernels.source_quality_sums(
        item, source, label, probas, consensus, n_per_item, seen, score, tries, hits
    )
    overlap = n_per_item[item] >= 2
    agree = label == consensus[item]
    np.testing.assert_array_equal(seen, np.bincount(source, minlength=m))
    np.testing.assert_array_equal(
        score, np.bincount(source, weights=probas[item, label], minlength=m)
    )
    np.testing.assert_array_equal(tries, np.bincount(source[overlap], minlength=m))
    np.testing.assert_array_equal(
        hits, np.bincount(source[overlap], weights=agree[overlap], minlength=m)
    )


def reference_majority(ann: Annotations, counts: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """The numpy majority vote with cleanlab's tie-break order (before the kernel)."""

    def mask_argmax(scores, candidates):
        masked = np.where(candidates, scores, -np.inf)
        return candidates & (masked == masked.max(axis=1, keepdims=True))

    tied = counts == counts.max(axis=1, keepdims=True)
    untied = tied.sum(axis=1) == 1
    tied = mask_argmax(probs, tied)
    tied = mask_argmax(-counts.sum(axis=0)[None, :], tied)
    still = tied.sum(axis=1) > 1
    if still.any() and untied.any():
        on_untied = untied[ann.item]
        winner = np.argmax(counts, axis=1)[ann.item]
        agree = np.bincount(
            ann.source[on_untied],
            weights=(ann.label == winner)[on_untied],
            minlength=ann.n_sources,
        )
        seen = np.bincount(ann.source[on_untied], minlength=ann.n_sources)
        quality = np.divide(agree, seen, out=np.full(agree.shape, np.nan), where=seen > 0)
        quality[seen == 0] = np.nanmean(quality)
        sums = sparse.csr_matrix(
            (quality[ann.source], (ann.item, ann.label)), shape=counts.shape
        ).toarray()
        mean = np.divide(sums, counts, out=np.full(sums.shape, -np.inf), where=counts > 0)
        tied[still] = mask_argmax(mean[still], tied[still])
    return np.argmax(tied, axis=1)


@pytest.mark.parametrize("seed", range(5))
def test_majority_vote_with_ties_matches_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m, k = 300, 6, 3
    base = np.where(rng.random((n // k, m)) < 0.4, rng.integers(0, k, (n // k, m)), -1)
    base[:, 0] = rng.integers(0, k, n // k)
    # shifted copies of the labels: equal class totals, so ties reach the third tie-break
    matrix = np.concatenate([np.where(base >= 0, (base + j) % k, -1) for j in range(k)])
    ann = Annotations.from_matrix(matrix)
    counts = ann.dense_vote_counts()
    probs = np.full((n, k), 1.0 / k)  # every tie survives the model's tie-break
    probs[: n // 2] = random_probs(seed, n=n // 2, k=k, zeros=False)
    n_top, first, n_left = (np.empty(n, dtype=np.int64) for _ in range(3))
    kernels.majority_candidates(
        counts, NO_GROUPS, NO_GROUPS, NO_GROUPS, probs, counts.sum(axis=0), n_top, first, n_left, 1
    )
    assert (n_left > 1).any() and (n_top == 1).any()
    ours = majority_vote_with_ties(ann, counts, probs)
    np.testing.assert_array_equal(ours, reference_majority(ann, counts, probs))
    # counted from the annotations (no dense counts), also on a shuffled table
    np.testing.assert_array_equal(majority_vote_with_ties(ann, None, probs), ours)
    perm = np.random.default_rng(seed).permutation(ann.n_annotations)
    shuffled = Annotations(
        ann.item[perm], ann.source[perm], ann.label[perm], ann.items, ann.sources, ann.classes
    )
    np.testing.assert_array_equal(majority_vote_with_ties(shuffled, None, probs), ours)
