"""EM for the label model: parameters, the M-steps and the two EM loops.

:func:`em_one_coin` is the fast path (one accuracy per source, a coverage that does not depend
on the class): the E-step is a weighted vote, one compiled pass over the votes per iteration
(:func:`labelwise.aggregate._label_model_kernels.onecoin_em_step`). :func:`em_general` covers
full confusions and class-dependent coverage with the Dawid-Skene kernels: a table of
per-vote log-likelihood rows for :func:`em_log_joint`, counts from :func:`em_m_counts`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labelwise.aggregate._base import ConvergenceWarning
from labelwise.aggregate._kernels import em_log_joint, em_m_counts, n_chunks_for
from labelwise.aggregate._label_model_kernels import (
    gather_items,
    onecoin_em_step,
    pattern_keys,
    same_patterns,
)
from labelwise.aggregate.dawid_skene import _prior_pseudo_counts
from labelwise.annotations import Annotations

#: Accuracies and probabilities are kept this far from 0 and 1 before taking logs.
FLOOR = 1e-6
#: Pseudo-count per class of the class-balance prior.
_BALANCE_PSEUDO = 1.0
#: Pseudo-items per class, at the source's overall coverage, in its class coverage estimate.
_COVER_PSEUDO = 10.0
#: Pseudo-count in every cell of a full confusion row.
_SMOOTHING = 0.01
#: The one-coin EM runs over distinct vote patterns when an evenly spaced sample of about
#: ``_PATTERN_SAMPLE`` items has at most ``_PATTERN_SHARE`` distinct ones per item.
_PATTERN_SAMPLE = 20_000
_PATTERN_SHARE = 0.25


@dataclass(frozen=True)
class EMOptions:
    """The label model's settings that the EM needs (``name`` words the warning)."""

    method: str
    confusion: str
    prior_strength: float
    prior_accuracy: float
    max_iter: int
    tol: float
    name: str


@dataclass(frozen=True)
class State:
    """The label model's parameters: confusions (n_sources, K, K), the coverage
    P(votes | class) (n_sources, K) or None when it does not depend on the class, and the
    class balance (K,)."""

    confusions: np.ndarray
    cover: np.ndarray | None
    balance: np.ndarray

    def distance(self, other: State) -> float:
        """The largest absolute change of any parameter."""
        change = max(
            float(np.abs(self.confusions - other.confusions).max()),
            float(np.abs(self.balance - other.balance).max()),
        )
        if self.cover is not None and other.cover is not None:
            change = max(change, float(np.abs(self.cover - other.cover).max()))
        return change


@dataclass(frozen=True)
class Structure:
    """Which sources have which kind of parameters (boolean masks over sources).

    ``by_class``: coverage that depends on the class; ``held``: confusions held at their
    closed-form (triplet) values.
    """

    by_class: np.ndarray
    held: np.ndarray


@dataclass(frozen=True)
class Votes:
    """The votes grouped by item, with what every estimation step needs."""

    indptr: np.ndarray
    source: np.ndarray
    label: np.ndarray
    n_votes: np.ndarray  # (n_sources,) votes per source
    labelled: np.ndarray  # (n_items,) bool, at least one vote
    k: int

    @classmethod
    def of(
        cls, annotations: Annotations, by_item: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> Votes:
        indptr, source, label = by_item
        # 32-bit codes halve the memory traffic of every EM pass.
        return cls(
            indptr,
            source.astype(np.int32),
            label.astype(np.int32),
            annotations.source_counts(),
            np.diff(indptr) > 0,
            annotations.n_classes,
        )

    @property
    def n_items(self) -> int:
        return int(self.indptr.size - 1)

    @property
    def n_sources(self) -> int:
        return int(self.n_votes.size)


def log_odds(accuracy: np.ndarray, k: int) -> np.ndarray:
    """``log(a (K - 1) / (1 - a))``: the weight of a vote of a one-coin source."""
    a = np.clip(accuracy, FLOOR, 1.0 - FLOOR)
    return np.log(a) + np.log(k - 1) - np.log1p(-a)


def symmetric_confusions(accuracy: np.ndarray, k: int) -> np.ndarray:
    """(n_sources, K, K): ``a`` on the diagonal, ``(1 - a) / (K - 1)`` elsewhere."""
    off = (1.0 - accuracy) / (k - 1)
    confusions = np.broadcast_to(off[:, None, None], (accuracy.size, k, k)).copy()
    diagonal = np.arange(k)
    confusions[:, diagonal, diagonal] = accuracy[:, None]
    return confusions


def update_balance(class_totals: np.ndarray) -> np.ndarray:
    """The class balance from expected class totals, with one pseudo-item per class."""
    smoothed = class_totals + _BALANCE_PSEUDO
    return smoothed / smoothed.sum()


def update_confusions(
    counts: np.ndarray,
    n_votes: np.ndarray,
    model: Structure,
    previous: np.ndarray | None,
    opts: EMOptions,
) -> np.ndarray:
    """M-step of the confusions from expected counts ``[source, class, voted]``: one-coin
    (a Beta prior on the accuracy) or full rows (a Dirichlet prior); ``model.held`` rows
    keep ``previous``.

    A one-coin source whose coverage depends on the class (``model.by_class``) keeps an
    accuracy of at least ``1 / K`` (its vote at least as likely right as each wrong class,
    the usual better-than-random assumption). Why: such a vote of label ``l`` has likelihood
    ``cover[s, k] * C[s, k, l]``; for a one-sided LF (always label ``c``) the coverage alone
    already fits P(votes | class), and the one-coin factor adds about ``-n_s H(a_s)`` (the
    entropy of the posterior share of its votes on class ``c``), which is 0 only when all of
    each LF's votes fall in one class. Unconstrained, the fit that puts every item in one
    class and makes the other class's LFs "always wrong" (``a`` near 0) pays nothing: on
    ws_youtube without ``short_comment`` that collapse (class balance 0.001 / 0.999) beats
    the fit near the truth whatever the accuracy prior, and EM started from the gold labels
    ends in it. With ``a >= 1 / K`` each vote an LF casts on items of another class costs at
    least ``log K`` and there the collapse loses (log-likelihood -8012 against -7834). The
    one-coin MAP objective is concave in ``a``, so the clipped value is the constrained
    M-step."""
    k = counts.shape[1]
    strength = float(opts.prior_strength) * k
    if opts.confusion == "one_coin":
        right = strength * float(opts.prior_accuracy)
        correct = np.trace(counts, axis1=1, axis2=2)
        accuracy = (correct + right) / np.maximum(n_votes + strength, FLOOR)
        accuracy = np.where(n_votes + strength > 0, accuracy, 1.0 / k)
        accuracy = np.where(model.by_class, np.maximum(accuracy, 1.0 / k), accuracy)
        confusions = symmetric_confusions(np.clip(accuracy, FLOOR, 1 - FLOOR), k)
    else:
        pseudo = _prior_pseudo_counts(
            k, float(opts.prior_strength), float(opts.prior_accuracy), smoothing=_SMOOTHING
        )
        smoothed = counts + pseudo
        confusions = smoothed / smoothed.sum(axis=2, keepdims=True)
    if previous is not None and model.held.any():
        confusions[model.held] = previous[model.held]
    return confusions


def update_cover(
    counts: np.ndarray, class_mass: np.ndarray, overall: np.ndarray, model: Structure
) -> np.ndarray | None:
    """(n_sources, K) P(source votes | class), or None when no source's coverage depends
    on the class: its votes' posterior mass per class over the class's mass, with
    ``_COVER_PSEUDO`` pseudo-items per class at its overall coverage; the overall coverage
    (which cancels out of the posteriors) for the other sources."""
    if not model.by_class.any():
        return None
    cover = np.repeat(overall[:, None], counts.shape[1], axis=1)
    mass = counts[model.by_class].sum(axis=2)
    prior = _COVER_PSEUDO * overall[model.by_class, None]
    cover[model.by_class] = (mass + prior) / (class_mass + _COVER_PSEUDO)
    return np.clip(cover, FLOOR, 1.0 - FLOOR)


def _iterations(estimate_balance: bool, model: Structure, by_class: bool, opts: EMOptions) -> int:
    """EM iterations allowed: none when nothing is left to estimate."""
    if not estimate_balance and not by_class and model.held.all():
        return 0
    return int(opts.max_iter)


def _warn(converged: bool, opts: EMOptions) -> None:
    if not converged:
        warnings.warn(
            f"{opts.name}: EM stopped at max_iter={opts.max_iter} before no "
            f"parameter moved by more than tol={opts.tol}; raise `max_iter`.",
            ConvergenceWarning,
            stacklevel=8,
        )


def distinct_patterns(
    votes: Votes,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(indptr, source, label, count, pattern)``: the distinct vote patterns (one item each,
    item-grouped), how many items have each, and each item's pattern; None when they are not
    much fewer than the items (judged on an evenly spaced sample) or a hash collided."""
    stride = max(1, votes.n_items // _PATTERN_SAMPLE)
    sample = gather_items(
        votes.indptr, votes.source, votes.label, np.arange(0, votes.n_items, stride)
    )
    sample_keys = pattern_keys(*sample, votes.k)
    if np.unique(sample_keys).size > _PATTERN_SHARE * sample_keys.size:
        return None
    keys = pattern_keys(votes.indptr, votes.source, votes.label, votes.k)
    codes, uniques = pd.factorize(keys)
    pattern = codes.astype(np.int64)
    first = np.empty(len(uniques), dtype=np.int64)
    first[pattern[::-1]] = np.arange(pattern.size - 1, -1, -1)
    if not same_patterns(votes.indptr, votes.source, votes.label, pattern, first):
        return None
    indptr, source, label = gather_items(votes.indptr, votes.source, votes.label, first)
    count = np.bincount(pattern, minlength=first.size).astype(np.float64)
    return indptr, source, label, count, pattern


def em_one_coin(
    votes: Votes,
    weights: np.ndarray,
    state: State,
    model: Structure,
    estimate_balance: bool,
    opts: EMOptions,
    count: np.ndarray | None = None,
) -> tuple[np.ndarray, State, int]:
    """EM of the one-coin model with class-free coverage: each item's log-posterior is a
    weighted vote, one compiled pass per iteration (:func:`onecoin_em_step`). Items with the
    same votes have the same posterior, so with few distinct vote patterns (few LFs) the
    passes run over the patterns, each counted as often as it occurs. ``count``: ``votes``
    are already distinct patterns, each standing for ``count`` items (the posteriors are then
    per pattern)."""
    k = votes.k
    patterns = distinct_patterns(votes) if count is None else None
    if patterns is not None:
        indptr, source, label, count, _ = patterns
    else:
        indptr, source, label = votes.indptr, votes.source, votes.label
        count = np.ones(votes.n_items) if count is None else count
    chunks = n_chunks_for(source.size)
    posteriors = np.empty((count.size, k))

    def step(vote_weight: np.ndarray, log_balance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return onecoin_em_step(
            indptr, source, label, vote_weight, log_balance, count, posteriors, chunks
        )

    new_state, done = one_coin_loop(
        step, votes.n_votes, weights, state, model, estimate_balance, opts
    )
    one_coin_final(step, weights, new_state)  # the posteriors of the final parameters
    if patterns is not None:
        posteriors = posteriors[patterns[4]]
    posteriors[~votes.labelled] = new_state.balance
    return posteriors, new_state, done


def one_coin_final(
    step: Callable[[np.ndarray, np.ndarray], Any], weights: np.ndarray, state: State
) -> Any:
    """Run ``step`` once with the final parameters (the posteriors)."""
    k = state.balance.size
    vote_weight = weights * log_odds(state.confusions[:, 0, 0], k)
    return step(vote_weight, np.log(np.maximum(state.balance, FLOOR)))


def one_coin_loop(
    step: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    n_votes: np.ndarray,
    weights: np.ndarray,
    state: State,
    model: Structure,
    estimate_balance: bool,
    opts: EMOptions,
) -> tuple[State, int]:
    """The one-coin EM iterations; ``step(vote_weight, log_balance)`` returns the expected
    right votes per source and the class totals over all items (in memory, or added over
    partitions)."""
    k = state.balance.size
    strength = float(opts.prior_strength) * k
    right = strength * float(opts.prior_accuracy)
    accuracy = state.confusions[:, 0, 0].copy()
    balance = state.balance
    max_iter = _iterations(estimate_balance, model, False, opts)
    converged, done = max_iter == 0, 0
    for done in range(1, max_iter + 1):  # noqa: B007 - EM iterations, not items
        vote_weight = weights * log_odds(accuracy, k)
        correct, totals = step(vote_weight, np.log(np.maximum(balance, FLOOR)))
        denominator = n_votes + strength
        new_accuracy = np.divide(
            correct + right,
            denominator,
            out=np.full(accuracy.shape, 1.0 / k),
            where=denominator > 0,
        )
        new_accuracy = np.where(model.held, accuracy, new_accuracy)
        new_balance = update_balance(totals) if estimate_balance else balance
        delta = max(
            float(np.abs(new_accuracy - accuracy).max()),
            float(np.abs(new_balance - balance).max()),
        )
        accuracy, balance = new_accuracy, new_balance
        if delta <= opts.tol:
            converged = True
            break
    _warn(converged, opts)
    return State(symmetric_confusions(accuracy, k), None, balance), done


def em_general(
    votes: Votes,
    weights: np.ndarray,
    state: State,
    model: Structure,
    estimate_balance: bool,
    opts: EMOptions,
    count: np.ndarray | None = None,
) -> tuple[np.ndarray, State, int]:
    """EM with full confusions and/or class-dependent coverage: a table of per-vote
    log-likelihood rows for :func:`em_log_joint`, counts from :func:`em_m_counts`.
    ``count``: ``votes`` are distinct vote patterns, each standing for ``count`` items."""
    k, m = votes.k, votes.n_sources
    answer = votes.source * k + votes.label
    chunks = n_chunks_for(answer.size)
    posteriors = np.empty((votes.n_items, k))

    def e_step(table: np.ndarray, log_prior: np.ndarray) -> None:
        em_log_joint(votes.indptr, answer, table, log_prior, posteriors, chunks)
        np.exp(posteriors, out=posteriors)

    def counts(table: np.ndarray, log_prior: np.ndarray) -> tuple[np.ndarray, ...]:
        e_step(table, log_prior)
        if count is None:
            flat, totals, _ = em_m_counts(votes.indptr, answer, posteriors, m * k, chunks, True)
            return flat, totals, posteriors.sum(axis=0)
        np.divide(posteriors, posteriors.sum(axis=1, keepdims=True), out=posteriors)
        weighted = posteriors * count[:, None]
        flat, totals, _ = em_m_counts(votes.indptr, answer, weighted, m * k, chunks, False)
        return flat, totals, weighted.sum(axis=0)

    n_items = votes.n_items if count is None else int(count.sum())
    state, done = general_loop(
        counts, votes.n_votes, n_items, weights, state, model, estimate_balance, opts
    )
    e_step(*e_step_terms(state, weights))
    posteriors /= posteriors.sum(axis=1, keepdims=True)
    posteriors[~votes.labelled] = state.balance
    return posteriors, state, done


def e_step_terms(state: State, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(table, log_prior)`` for :func:`em_log_joint`: ``table[s * K + l, k]`` =
    ``w_s (log C[s, k, l] + log rho[s, k] - log(1 - rho[s, k]))``; the abstain terms
    ``sum(w_s log(1 - rho[s, k]))`` go into the prior."""
    k = state.balance.size
    log_conf = np.log(np.maximum(state.confusions, FLOOR)).transpose(0, 2, 1)
    log_prior = np.log(np.maximum(state.balance, FLOOR))
    if state.cover is not None:
        log_conf = log_conf + (np.log(state.cover) - np.log1p(-state.cover))[:, None, :]
        log_prior = log_prior + weights @ np.log1p(-state.cover)
    table = np.ascontiguousarray(log_conf * weights[:, None, None]).reshape(-1, k)
    return table, log_prior


def general_loop(
    counts: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]],
    n_votes: np.ndarray,
    n_items: int,
    weights: np.ndarray,
    state: State,
    model: Structure,
    estimate_balance: bool,
    opts: EMOptions,
) -> tuple[State, int]:
    """The general EM iterations; ``counts(table, log_prior)`` runs the E-step and returns
    :func:`em_m_counts`' expected answer counts and class totals and the sum of the
    normalised posteriors over all items (in memory, or added over partitions)."""
    k, m = state.balance.size, n_votes.size
    overall = n_votes / n_items
    max_iter = _iterations(estimate_balance, model, state.cover is not None, opts)
    converged, done = max_iter == 0, 0
    for done in range(1, max_iter + 1):  # noqa: B007 - EM iterations, not items
        flat, class_totals, posterior_sum = counts(*e_step_terms(state, weights))
        expected = flat.reshape(m, k, k).transpose(0, 2, 1)  # [source, class, voted]
        confusions = update_confusions(expected, n_votes, model, state.confusions, opts)
        cover = None
        if state.cover is not None:
            class_totals = posterior_sum
            cover = update_cover(expected, class_totals, overall, model)
        balance = update_balance(class_totals) if estimate_balance else state.balance
        new = State(confusions, cover, balance)
        delta = state.distance(new)
        state = new
        if delta <= opts.tol:
            converged = True
            break
    _warn(converged, opts)
    return state, done
