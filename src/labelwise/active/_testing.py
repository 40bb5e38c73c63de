"""Active testing: estimate a model's test risk from few labels, without bias.

Kossen, Farquhar, Gal & Rainforth (ICML 2021), "Active Testing: Sample-Efficient Model
Evaluation": test points are drawn without replacement with probability proportional to a
surrogate's expected loss of the model, and the LURE weights of Farquhar, Gal & Rainforth
(ICLR 2021), "On Statistical Bias In Active Learning: How and When To Fix It", undo the
selection bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise._validation import check_choice, check_fraction, check_pred_probs, fail
from labelwise._validation.active import check_indices, check_pending, check_test_labels
from labelwise._validation.trust import check_stage

LOSSES = ("cross_entropy", "zero_one")
PROPOSALS = ("root_mean_square", "expected_loss")
#: Probabilities are floored here before a log (cross-entropy of a confident wrong model).
LOG_FLOOR = 1e-12


@dataclass(frozen=True)
class RiskEstimate:
    """An active-testing estimate of the model's mean test loss.

    Attributes
    ----------
    risk : float
        LURE estimate of the mean loss over all ``n_pool`` points (for ``"zero_one"``: the
        error rate; the accuracy is ``1 - risk``).
    standard_error : float
        Approximate standard error: the spread of the weighted losses ``v_m L_m`` over
        ``sqrt(M)``, with the finite-population factor ``sqrt((N - M) / (N - 1))``.
    n_labelled, n_pool : int
        ``M`` and ``N``.
    """

    risk: float
    standard_error: float
    n_labelled: int
    n_pool: int


def lure_weights(q: np.ndarray, n_pool: int) -> np.ndarray:
    """LURE weights ``v_m = 1 + (N-M)/(N-m) * (1 / ((N-m+1) q_m) - 1)`` for ``m = 1..M``.

    ``q`` holds each pick's selection probability among the points left at its step.
    """
    m = np.arange(1, q.size + 1, dtype=np.float64)
    n, big_m = float(n_pool), float(q.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(n - m > 0, (n - big_m) / (n - m), 0.0)
    out: np.ndarray = 1.0 + ratio * (1.0 / ((n - m + 1.0) * q) - 1.0)
    return out


class ActiveTester:
    """Pick test points to label one at a time and estimate the model's risk without bias.

    Active testing (Kossen et al., ICML 2021): step ``m`` draws one of the ``N - m + 1`` points
    not yet drawn with probability ``q_m`` proportional to an acquisition score computed from
    a surrogate's view of the true class, mixed with a ``uniform`` share so no point is
    impossible. Kossen et al. use the expected loss ``E_{y ~ s}[L(f(x), y)]``
    (cross-entropy: ``-sum_y s(y|x) log f(y|x)``; zero-one: ``1 - s(argmax f | x)``). The
    default here is its root mean square ``sqrt(E_{y ~ s}[L^2])``, the variance-minimising
    importance-sampling proposal for a mean of random losses (Owen, "Monte Carlo theory,
    methods and examples", 2013, ch. 9); for a 0/1 loss it is the square root of the expected
    loss. On the real CIFAR-10 ``pred_probs`` (``benchmarks/active_relabel.py``) it has about
    half the variance of the expected loss. The risk is estimated with LURE (Farquhar et al.,
    ICLR 2021):
    ``R = (1/M) sum_m v_m L_m``, ``v_m = 1 + (N-M)/(N-m) (1/((N-m+1) q_m) - 1)``, unbiased for
    the mean loss over the pool whatever the surrogate. With ``uniform=1`` it is plain random
    sampling (all ``v_m = 1``).

    The steps are ``propose`` (which points to label), ``record`` (their labels) and
    ``estimate``; ``estimate`` before any ``record`` is refused.

    Parameters
    ----------
    model_pred_probs : array-like of shape (N, K)
        The evaluated model's probabilities on the unlabeled test pool.
    surrogate_pred_probs : array-like of shape (N, K)
        A surrogate's probabilities for the true class (another model, an ensemble, or the
        model itself).
    loss : {"cross_entropy", "zero_one"}, default="cross_entropy"
    proposal : {"root_mean_square", "expected_loss"}, default="root_mean_square"
        Acquisition score the draws are proportional to (see above).
    uniform : float in [0, 1], default=0.1
        Share of the proposal mass spread uniformly over the remaining points.
    random_state : int, Generator or None

    Attributes
    ----------
    acquisition : ndarray of shape (N,)
        The acquisition score per point (the surrogate's expected loss of the model, or its
        root mean square).

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.active import ActiveTester
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.integers(0, 2, size=500)
    >>> p = np.clip(np.where(truth == 1, 0.7, 0.3) + rng.normal(0, 0.2, 500), 0.01, 0.99)
    >>> probs = np.column_stack([1 - p, p])
    >>> tester = ActiveTester(probs, probs, loss="zero_one", random_state=0)
    >>> for _ in range(100):
    ...     i = tester.propose()
    ...     _ = tester.record(i, truth[i])
    >>> result = tester.estimate()
    >>> result.n_labelled, result.n_pool
    (100, 500)
    >>> true_error = float(np.mean(probs.argmax(axis=1) != truth))
    >>> bool(abs(result.risk - true_error) < 3 * result.standard_error)
    True
    """

    def __init__(
        self,
        model_pred_probs: object,
        surrogate_pred_probs: object,
        *,
        loss: str = "cross_entropy",
        proposal: str = "root_mean_square",
        uniform: float = 0.1,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.loss = check_choice(loss, "loss", LOSSES)
        self.proposal = check_choice(proposal, "proposal", PROPOSALS)
        self.uniform = check_fraction(uniform, "uniform", allow_zero=True)
        self.model_pred_probs = check_pred_probs(model_pred_probs, name="model_pred_probs")
        surrogate = check_pred_probs(surrogate_pred_probs, name="surrogate_pred_probs")
        if surrogate.shape != self.model_pred_probs.shape:
            fail(
                "surrogate_pred_probs",
                f"the shape of model_pred_probs {self.model_pred_probs.shape}",
                f"shape {surrogate.shape}",
            )
        self.surrogate_pred_probs = surrogate
        self.acquisition = self._acquisition()
        self.reset(random_state)

    def reset(self, random_state: int | np.random.Generator | None = None) -> ActiveTester:
        """Forget every proposal and label and start again from ``random_state``.

        The checked inputs and ``acquisition`` are kept, so repeated simulations (many
        seeds on one pool) skip the input checks; returns ``self``.
        """
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self._available = np.ones(self.n_pool, dtype=bool)
        self._order: list[int] = []  # drawn points, in draw order
        self._q: list[float] = []  # their selection probabilities
        self._losses: dict[int, float] = {}
        self._pending: set[int] = set()
        return self

    def _acquisition(self) -> np.ndarray:
        f, s = self.model_pred_probs, self.surrogate_pred_probs
        if self.loss == "zero_one":
            top = np.argmax(f, axis=1)
            out = 1.0 - s[np.arange(f.shape[0]), top]  # L = L**2 for a 0/1 loss
            moment = out
        else:
            log_f = np.log(np.clip(f, LOG_FLOOR, None))
            out = -(s * log_f).sum(axis=1)
            moment = (s * log_f**2).sum(axis=1)
        if self.proposal == "root_mean_square":
            out = np.sqrt(np.clip(moment, 0.0, None))
        return np.clip(np.asarray(out, dtype=np.float64), 0.0, None)

    @property
    def n_pool(self) -> int:
        return int(self.model_pred_probs.shape[0])

    def propose(self) -> int:
        """Draw the next test point to label (without replacement); returns its position."""
        left = int(self._available.sum())
        if left == 0:
            fail("ActiveTester.propose", "called while unlabelled points remain", "none left")
        weights = np.where(self._available, self.acquisition, 0.0)
        total = weights.sum()
        share = np.where(self._available, 1.0 / left, 0.0)
        q = (1.0 - self.uniform) * weights / total + self.uniform * share if total > 0 else share
        cumulative = np.cumsum(q)
        pick = int(np.searchsorted(cumulative, self._rng.random() * cumulative[-1], side="right"))
        pick = min(pick, q.size - 1)
        while not self._available[pick]:  # rounding at the very end of the cumsum
            pick -= 1
        self._available[pick] = False
        self._pending.add(pick)
        self._order.append(pick)
        self._q.append(float(q[pick] / cumulative[-1]))
        return pick

    def record(self, index: object, label: object) -> ActiveTester:
        """Give the true label(s) of proposed point(s); returns ``self``."""
        positions = check_indices(index, self.n_pool)
        check_pending(positions, self._pending)
        labels = check_test_labels(label, positions.size, self.model_pred_probs.shape[1])
        probs = self.model_pred_probs[positions]
        if self.loss == "zero_one":
            losses = (np.argmax(probs, axis=1) != labels).astype(np.float64)
        else:
            losses = -np.log(np.clip(probs[np.arange(labels.size), labels], LOG_FLOOR, None))
        for i, value in zip(positions.tolist(), losses.tolist(), strict=True):
            self._losses[i] = float(value)
            self._pending.discard(i)
        return self

    def estimate(self) -> RiskEstimate:
        """LURE estimate of the mean loss over the pool, from the recorded labels."""
        check_stage(bool(self._losses), self, "record", "estimate")
        if self._pending:
            waiting = [i for i in self._order if i in self._pending]
            fail(
                "ActiveTester.estimate",
                "called after every proposed point is recorded",
                f"{len(waiting)} proposed but unrecorded, first {waiting[0]}",
            )
        q = np.asarray(self._q)
        losses = np.asarray([self._losses[i] for i in self._order])
        terms = lure_weights(q, self.n_pool) * losses
        m, n = terms.size, self.n_pool
        spread = float(terms.std(ddof=1)) if m > 1 else float("nan")
        correction = np.sqrt((n - m) / (n - 1)) if n > 1 else 0.0
        return RiskEstimate(
            risk=float(terms.mean()),
            standard_error=spread / np.sqrt(m) * correction,
            n_labelled=m,
            n_pool=n,
        )
