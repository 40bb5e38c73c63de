"""Split conformal prediction sets for multi-class classification: LAC, APS and RAPS."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from labelwise._numerics import threads_for
from labelwise._validation import (
    LabelwiseWarning,
    check_bool,
    check_choice,
    check_classification,
    check_fraction,
    check_int,
    check_positive,
    check_pred_probs,
    fail,
)
from labelwise._validation.trust import check_level, check_same_width, check_stage
from labelwise.conformal._kernels import (
    APS,
    LAC,
    classwise_sets,
    conformal_quantile,
    lac_sets,
    min_calibration_size,
    prefix_sets,
    true_label_scores,
)

SCORES = ("lac", "aps", "raps")


def uniforms(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws from U(0, 1) as a float64 array."""
    return np.asarray(rng.random(size), dtype=np.float64)


def entries(values: object) -> int:
    """Number of entries of an array-like (0 when it has no shape), to size thread use."""
    shape = getattr(values, "shape", None)
    return int(np.prod(shape)) if shape is not None else 0


#: The λ grid of the RAPS reference code (Angelopoulos et al., ICLR 2021, ``pick_lamda_size``).
RAPS_LAMBDAS = (0.001, 0.01, 0.1, 0.2, 0.5)


class SplitConformal(BaseEstimator):
    """Split conformal prediction sets with a coverage guarantee (LAC, APS, RAPS).

    ``calibrate(pred_probs, labels)`` on held-out labelled data computes a conformity score per
    example and the finite-sample quantile ``q`` = the ``ceil((n + 1)(1 - alpha))``-th smallest
    score; ``predict_set(pred_probs)`` returns ``{y : s(x, y) <= q}``, which contains the true
    label with probability at least ``1 - alpha = confidence_level`` for exchangeable data
    (Vovk, Gammerman & Shafer 2005; Angelopoulos & Bates 2021).

    Scores, with ``p_(1) >= p_(2) >= ...`` the sorted probabilities and ``o`` the rank of ``y``
    (ties broken by class index):

    - ``"lac"``: ``1 - p_y`` (Sadinle, Lei & Wasserman, JASA 2019): the smallest sets on average.
    - ``"aps"``: ``sum_{j<o} p_(j) + u p_y`` (Romano, Sesia & Candès, NeurIPS 2020): sets adapt
      to how hard the example is.
    - ``"raps"``: APS plus ``lam * max(0, o - k_reg)`` (Angelopoulos, Bates, Malik & Jordan,
      "Uncertainty Sets for Image Classifiers using Conformal Prediction", ICLR 2021): penalises
      long tails of unlikely labels, so sets stay small. Unless both are given, ``k_reg`` and
      ``lam`` are tuned as in the paper's code on a random ``tuning_fraction`` of the
      calibration data, which is then left out of the quantile: ``k_reg`` = the
      ``1 - alpha`` quantile (``"higher"``) of the 0-based true-label rank, plus one; ``lam``
      from ``(0.001, 0.01, 0.1, 0.2, 0.5)``, the one giving the smallest mean set size on the
      tuning data (calibrated on it).

    ``randomized=False`` uses ``u = 1``; ``randomized=True`` draws ``u ~ U(0, 1)`` per example
    at calibration and at prediction, which makes coverage exact (``1 - alpha`` up to
    ``1 / (n + 1)``) rather than at least ``1 - alpha``; without it, APS/RAPS sets of very
    confident models are conservative. Sets may be empty (the model is confident that no label
    fits well enough); ``allow_empty=False`` adds the top label to empty sets, which can only
    raise coverage. ``class_conditional=True`` calibrates one quantile per class (Mondrian
    conformal prediction, Vovk et al. 2005), guaranteeing coverage within each class; classes
    with too few calibration examples then always stay in the sets (a warning says which).

    Scores and sets are computed row by row by compiled kernels that read float32 or float64
    ``pred_probs`` in place: no float64 copy of the input is made, so 10⁶ x 1000 float32 inputs
    need little more than the boolean output.

    Parameters
    ----------
    score : {"lac", "aps", "raps"}, default="lac"
    confidence_level : float in (0, 1), default=0.9
        ``1 - alpha``, the coverage to guarantee.
    randomized : bool, default=False
    class_conditional : bool, default=False
    allow_empty : bool, default=True
    k_reg : int >= 1, optional
        RAPS: the rank after which labels are penalised (tuned when None).
    lam : float >= 0, optional
        RAPS: the penalty per rank beyond ``k_reg`` (tuned when None).
    tuning_fraction : float in (0, 1), default=0.3
        RAPS: the share of the calibration data used to tune ``k_reg``/``lam`` when either is
        None (0.3 is the reference code's ``pct_paramtune``).
    random_state : int, Generator or None
        Seeds the tuning split and, when ``randomized``, the uniforms.

    Attributes
    ----------
    threshold_ : float or ndarray of shape (K,)
        ``q``: a float, or one per class when ``class_conditional`` (``inf``: class always in).
    k_reg_ : int
        The rank threshold used (1 unless RAPS).
    lam_ : float
        The penalty used (0 unless RAPS).
    calibration_scores_ : ndarray of shape (n_used,)
        The scores the quantile was taken from.
    n_calibration_ : int
    n_classes_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.conformal import SplitConformal
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 5, 2000)
    >>> logits = rng.normal(size=(2000, 5)) + 2.0 * np.eye(5)[labels]
    >>> probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    >>> cp = SplitConformal(score="aps", randomized=True, random_state=0)
    >>> sets = cp.calibrate(probs[:1000], labels[:1000]).predict_set(probs[1000:])
    >>> sets.shape, bool(abs(sets[np.arange(1000), labels[1000:]].mean() - 0.9) < 0.03)
    ((1000, 5), True)
    """

    def __init__(
        self,
        *,
        score: str = "lac",
        confidence_level: float = 0.9,
        randomized: bool = False,
        class_conditional: bool = False,
        allow_empty: bool = True,
        k_reg: int | None = None,
        lam: float | None = None,
        tuning_fraction: float = 0.3,
        random_state: Any = None,
    ) -> None:
        self.score = score
        self.confidence_level = confidence_level
        self.randomized = randomized
        self.class_conditional = class_conditional
        self.allow_empty = allow_empty
        self.k_reg = k_reg
        self.lam = lam
        self.tuning_fraction = tuning_fraction
        self.random_state = random_state

    # ------------------------------------------------------------------ options

    def _options(self) -> tuple[str, float, bool, bool, bool]:
        score = check_choice(self.score, "score", SCORES)
        level = check_level(self.confidence_level, "confidence_level")
        randomized = check_bool(self.randomized, "randomized")
        by_class = check_bool(self.class_conditional, "class_conditional")
        allow_empty = check_bool(self.allow_empty, "allow_empty")
        if score != "raps" and (self.k_reg is not None or self.lam is not None):
            fail("k_reg and lam", 'None unless score="raps"', f"score={score!r}")
        if self.k_reg is not None:
            check_int(self.k_reg, "k_reg", minimum=1)
        if self.lam is not None:
            check_positive(self.lam, "lam", allow_zero=True)
        fraction = check_fraction(self.tuning_fraction, "tuning_fraction")
        if fraction >= 1.0:
            fail("tuning_fraction", "a number in (0, 1)", repr(self.tuning_fraction))
        return score, level, randomized, by_class, allow_empty

    def _streams(self) -> list[np.random.Generator]:
        """Independent generators: tuning split, calibration uniforms, prediction uniforms."""
        return np.random.default_rng(self.random_state).spawn(3)

    # ------------------------------------------------------------------ calibrate

    def calibrate(self, pred_probs: Any, labels: Any) -> SplitConformal:
        """Compute the conformity threshold from held-out ``pred_probs`` (n, K) and ``labels``.

        Returns
        -------
        self
        """
        score, level, randomized, by_class, allow_empty = self._options()
        with threads_for(entries(pred_probs)):
            checked = check_classification(labels, pred_probs, require_all_classes=False)
        probs, y = checked.pred_probs, checked.labels
        n, k = probs.shape
        kind = LAC if score == "lac" else APS
        tune_rng, cal_rng, _ = self._streams()
        k_reg, lam = 1, 0.0
        rows = np.arange(n)
        with threads_for(probs.size):
            if score == "raps":
                k_reg = int(self.k_reg) if self.k_reg is not None else 1
                lam = float(self.lam) if self.lam is not None else 0.0
                if self.k_reg is None or self.lam is None:
                    order = tune_rng.permutation(n)
                    n_tune = int(np.ceil(self.tuning_fraction * n))
                    tune, rows = np.sort(order[:n_tune]), np.sort(order[n_tune:])
                    if rows.size == 0:
                        fail(
                            "labels",
                            "enough calibration examples to keep some after the RAPS tuning split",
                            f"{n} examples with tuning_fraction={self.tuning_fraction}",
                        )
                    k_reg, lam = self._tune(
                        probs, tune, y[tune], level, randomized, allow_empty, tune_rng
                    )
            self._check_size(rows.size, level, by_class)
            u = uniforms(cal_rng, rows.size) if randomized else np.ones(1)
            scores, _ = true_label_scores(probs, rows, y[rows], u, randomized, lam, k_reg, kind)
        if by_class:
            threshold: float | np.ndarray = self._class_thresholds(scores, y[rows], k, level)
        else:
            threshold = conformal_quantile(scores, level)
        self.threshold_ = threshold
        self.k_reg_ = k_reg
        self.lam_ = lam
        self.calibration_scores_ = scores
        self.n_calibration_ = int(scores.size)
        self.n_classes_ = k
        return self

    def _check_size(self, n: int, level: float, by_class: bool) -> None:
        needed = min_calibration_size(level)
        if not by_class and n < needed:
            fail(
                "labels",
                f"at least {needed} calibration examples for confidence_level={level:g} "
                "(else every set is the full label set)",
                f"{n}",
            )

    def _class_thresholds(
        self, scores: np.ndarray, y: np.ndarray, k: int, level: float
    ) -> np.ndarray:
        order = np.lexsort((scores, y))
        sorted_scores, sorted_y = scores[order], y[order]
        starts = np.searchsorted(sorted_y, np.arange(k), side="left")
        counts = np.bincount(y, minlength=k)
        ranks = np.ceil((counts + 1) * level * (1.0 - 1e-12)).astype(np.int64)
        finite = ranks <= counts
        thresholds = np.full(k, np.inf)
        thresholds[finite] = sorted_scores[starts[finite] + ranks[finite] - 1]
        if not finite.all():
            few = np.flatnonzero(~finite)
            warnings.warn(
                f"classes {few[:10].tolist()}{' ...' if few.size > 10 else ''} have fewer than "
                f"{min_calibration_size(level)} calibration examples: they are in every "
                "class-conditional set.",
                LabelwiseWarning,
                stacklevel=3,
            )
        return thresholds

    def _tune(
        self,
        probs: np.ndarray,
        tune: np.ndarray,
        y: np.ndarray,
        level: float,
        randomized: bool,
        allow_empty: bool,
        rng: np.random.Generator,
    ) -> tuple[int, float]:
        """RAPS ``k_reg`` and ``lam`` on the tuning rows (the reference code's procedure)."""
        u = uniforms(rng, tune.size) if randomized else np.ones(1)
        _, ranks = true_label_scores(probs, tune, y, u, randomized, 0.0, 1, APS)
        if self.k_reg is not None:
            k_reg = int(self.k_reg)
        else:
            k_reg = int(np.quantile(ranks - 1, level, method="higher")) + 1
        if self.lam is not None:
            return k_reg, float(self.lam)
        best_lam, best_size = RAPS_LAMBDAS[0], np.inf
        sets = np.empty((tune.size, probs.shape[1]), dtype=bool)
        for lam in RAPS_LAMBDAS:  # five candidate penalties, each one vectorised pass
            scores, _ = true_label_scores(probs, tune, y, u, randomized, lam, k_reg, APS)
            q = conformal_quantile(scores, level)
            sets[:] = False
            prefix_sets(probs, tune, q, u, randomized, lam, k_reg, allow_empty, sets)
            size = sets.sum() / tune.size
            if size < best_size:
                best_lam, best_size = lam, size
        return k_reg, best_lam

    # ------------------------------------------------------------------ predict

    def predict_set(self, pred_probs: Any) -> np.ndarray:
        """Prediction sets for new examples.

        Parameters
        ----------
        pred_probs : array-like of shape (n, K)

        Returns
        -------
        ndarray of shape (n, K), bool
            ``True`` where the class is in the example's set.
        """
        check_stage(hasattr(self, "threshold_"), self, "calibrate", "predict_set")
        score, _, randomized, by_class, allow_empty = self._options()
        with threads_for(entries(pred_probs)):
            probs = check_pred_probs(pred_probs)
        check_same_width(probs, self.n_classes_, "pred_probs", "calibrate")
        n, k = probs.shape
        out = np.zeros((n, k), dtype=bool)
        u = uniforms(self._streams()[2], n) if randomized and score != "lac" else np.ones(1)
        thresholds = np.broadcast_to(np.asarray(self.threshold_, dtype=np.float64), (k,))
        thresholds = np.ascontiguousarray(thresholds)
        with threads_for(probs.size):
            if score == "lac":
                lac_sets(probs, thresholds, out)
            elif by_class:
                classwise_sets(probs, thresholds, u, randomized, self.lam_, self.k_reg_, out)
            else:
                prefix_sets(
                    probs,
                    np.arange(n),
                    float(self.threshold_),
                    u,
                    randomized,
                    self.lam_,
                    self.k_reg_,
                    allow_empty,
                    out,
                )
        if not allow_empty and (score == "lac" or by_class):
            empty = ~out.any(axis=1)
            if empty.any():
                rows = np.flatnonzero(empty)
                out[rows, np.argmax(probs[rows], axis=1)] = True
        return out
