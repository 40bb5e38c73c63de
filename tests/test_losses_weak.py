"""PU, partial-label, proportion, noisy-label and distillation losses against hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from labelwise.losses import (  # noqa: E402
    ALIMLoss,
    CandidateAverageLoss,
    CoTeachingLoss,
    DistillationLoss,
    DLLPLoss,
    ForwardCorrectedLoss,
    GeneralizedCrossEntropyLoss,
    LabelSmoothingLoss,
    LogitNormLoss,
    MultilabelDistillationLoss,
    NaivePULoss,
    NNPULoss,
    POPLoss,
    PRODENLoss,
    ProportionIntervalLoss,
    SARPULoss,
    SelfDistillationLoss,
    SymmetricCrossEntropyLoss,
    UPULoss,
    alim_lambda,
    anchor_transition_matrix,
    coteaching_keep_rate,
    mixbag,
)


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# --------------------------------------------------------------------------- PU

G = torch.tensor([2.0, -1.0, 0.5, -3.0])
S = torch.tensor([1, 1, 0, 0])


def test_upu_case_control() -> None:
    pi = 0.4
    e_p_pos = (sig(-2.0) + sig(1.0)) / 2  # ℓ(g) = sigmoid(-g) on P
    e_p_neg = (sig(2.0) + sig(-1.0)) / 2
    e_u_neg = (sig(0.5) + sig(-3.0)) / 2
    got = UPULoss(prior=pi, unlabeled="unlabeled")(G, S).item()
    assert got == pytest.approx(pi * e_p_pos - pi * e_p_neg + e_u_neg, rel=1e-6)


def test_upu_single_sample_uses_every_row_as_unlabeled() -> None:
    pi = 0.4
    e_p_pos = (sig(-2.0) + sig(1.0)) / 2
    e_p_neg = (sig(2.0) + sig(-1.0)) / 2
    e_all_neg = (sig(2.0) + sig(-1.0) + sig(0.5) + sig(-3.0)) / 4
    got = UPULoss(prior=pi)(G, S).item()
    assert got == pytest.approx(pi * e_p_pos - pi * e_p_neg + e_all_neg, rel=1e-6)


def test_nnpu_clamps_and_defocuses_when_the_negative_risk_is_negative() -> None:
    logits = torch.tensor([-5.0, -5.0, 5.0, 5.0])  # positives scored negative, unlabeled positive
    labels = torch.tensor([1, 1, 0, 0])
    pi = 0.9
    loss = NNPULoss(prior=pi, unlabeled="unlabeled", loss="sigmoid")
    neg_part = sig(5.0) - pi * sig(-5.0)  # E_U ℓ(-g) - π E_P ℓ(-g) > 0 here
    assert loss(logits, labels).item() == pytest.approx(pi * sig(5.0) + neg_part, rel=1e-6)
    logits = torch.tensor([5.0, 5.0, -5.0, -5.0], requires_grad=True)
    neg_part = sig(-5.0) - pi * sig(5.0)  # < 0: uPU would overfit here
    assert loss.risk(logits, labels).item() == pytest.approx(pi * sig(-5.0), rel=1e-6)
    step = NNPULoss(prior=pi, unlabeled="unlabeled", gamma=0.5)(logits, labels)
    assert step.item() == pytest.approx(-0.5 * neg_part, rel=1e-6)
    upu = UPULoss(prior=pi, unlabeled="unlabeled")(logits, labels).item()
    assert upu == pytest.approx(pi * sig(-5.0) + neg_part, rel=1e-6)


def test_naive_and_sar_pu() -> None:
    naive = NaivePULoss()(G, S).item()
    expected = np.mean(
        [
            -math.log(sig(2.0)),
            -math.log(sig(-1.0)),
            -math.log(1 - sig(0.5)),
            -math.log(1 - sig(-3.0)),
        ]
    )
    assert naive == pytest.approx(expected, rel=1e-6)
    # propensity 1: every positive is labelled, so SAR is the plain logistic loss
    sar = SARPULoss()(G, S, torch.ones(4)).item()
    assert sar == pytest.approx(expected, rel=1e-6)
    e = torch.tensor([0.5, 0.25, 1.0, 1.0])
    got = SARPULoss()(G, S, e).item()
    rows = [
        2 * -math.log(sig(2.0)) + (1 - 2) * -math.log(1 - sig(2.0)),
        4 * -math.log(sig(-1.0)) + (1 - 4) * -math.log(1 - sig(-1.0)),
        -math.log(1 - sig(0.5)),
        -math.log(1 - sig(-3.0)),
    ]
    assert got == pytest.approx(np.mean(rows), rel=1e-6)


def test_pu_errors() -> None:
    with pytest.raises(ValueError, match=r"`prior` must be a class prior in \(0, 1\); got 1\.0\."):
        NNPULoss(prior=1.0)
    with pytest.raises(
        ValueError, match=r"`loss` must be one of 'sigmoid', 'logistic'; got 'hinge'\."
    ):
        UPULoss(prior=0.3, loss="hinge")
    with pytest.raises(
        ValueError, match=r"`labels` must be a 1-D tensor of length 4; got shape \(3,\)\."
    ):
        UPULoss(prior=0.3)(G, S[:3])


# --------------------------------------------------------------------------- partial labels

CANDIDATES = torch.tensor([[True, True, False], [False, True, True]])
LOGITS3 = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]])


def test_candidate_average_and_proden_first_step() -> None:
    log_p = torch.log_softmax(LOGITS3, dim=1).numpy()
    expected = [-(log_p[0, 0] + log_p[0, 1]) / 2, -(log_p[1, 1] + log_p[1, 2]) / 2]
    got = CandidateAverageLoss(reduction="none")(LOGITS3, CANDIDATES).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    proden = PRODENLoss(CANDIDATES, reduction="none")
    np.testing.assert_allclose(
        proden(LOGITS3, torch.tensor([0, 1])).detach().numpy(), expected, rtol=1e-6
    )
    probs = np.exp(log_p)
    w0 = probs[0, :2] / probs[0, :2].sum()
    np.testing.assert_allclose(proden.confidence[0, :2].numpy(), w0, rtol=1e-6)
    assert proden.confidence[0, 2].item() == 0.0
    second = proden(LOGITS3, torch.tensor([0, 1]))[0].item()
    assert second == pytest.approx(-(w0 * log_p[0, :2]).sum(), rel=1e-6)


def test_proden_does_not_update_in_eval_mode() -> None:
    proden = PRODENLoss(CANDIDATES).eval()
    before = proden.confidence.clone()
    proden(LOGITS3, torch.tensor([0, 1]))
    assert torch.equal(before, proden.confidence)


def test_pop_prunes_after_warmup_and_raises_the_threshold() -> None:
    pop = POPLoss(
        torch.ones(2, 3, dtype=torch.bool),
        warmup_epochs=1,
        window=2,
        threshold=0.3,
        growth=0.5,
        min_change=0.5,
    )
    logits = torch.tensor([[3.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    for _ in range(2):
        pop(logits, torch.tensor([0, 1]))
        assert pop.end_epoch() == 0  # epochs 1 and 2: warm-up, then collecting the window
    pop(logits, torch.tensor([0, 1]))
    assert pop.end_epoch() == 1  # epoch 3 = warm-up + window: prune class 1 of row 0
    assert pop.candidates.tolist() == [[True, False, True], [True, True, True]]
    assert pop.threshold == pytest.approx(0.4)  # 1 change < 0.5·6: θ·1.5 capped at 0.4


def test_alim_target_and_lambda() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    cand = torch.tensor([[False, True, True]])
    got = ALIMLoss(lam=0.5)(logits, cand).item()
    p = torch.softmax(logits, dim=1)[0].numpy()
    t = p * np.array([0.5, 1.0, 1.0])
    t /= t.sum()
    assert got == pytest.approx(-(t * np.log(p)).sum(), rel=1e-6)
    zero = ALIMLoss(lam=0.0)(logits, cand).item()
    assert zero == pytest.approx(-np.log(p[1:]).mean(), rel=1e-6)
    # the first row's ratio is p_in/p_out = 1/e², the second's 1
    lam = alim_lambda(
        torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]),
        torch.tensor([[False, True, True], [True, True, False]]),
        0.0,
    )
    assert lam == 0.0
    lam = alim_lambda(
        torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]]),
        torch.tensor([[False, True, True], [True, True, False]]),
        1.0,
    )
    assert lam == pytest.approx(math.exp(-2), rel=1e-5)


def test_partial_label_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"`candidates` must be at least one candidate per row; got 1 empty row\(s\)\.",
    ):
        PRODENLoss(torch.tensor([[True, False], [False, False]]))


# --------------------------------------------------------------------------- proportions


def test_dllp_loss() -> None:
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    bags = torch.tensor([0, 0, 1])
    props = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    got = DLLPLoss(reduction="none")(logits, bags, props).numpy()
    p = torch.softmax(logits, dim=1).numpy()
    bag0 = (p[0] + p[1]) / 2
    assert got[0] == pytest.approx(-(0.5 * np.log(bag0)).sum(), rel=1e-6)
    assert got[1] == pytest.approx(-(np.array([0.25, 0.75]) * np.log(p[2])).sum(), rel=1e-6)


def test_interval_loss_is_zero_inside() -> None:
    logits = torch.zeros(2, 2)
    inside = ProportionIntervalLoss()(
        logits, torch.tensor([0, 0]), torch.tensor([[0.4, 0.4]]), torch.tensor([[0.6, 0.6]])
    )
    assert inside.item() == 0.0


def test_mixbag_mixes_two_bags_with_an_interval() -> None:
    bags = [np.arange(0, 20), np.arange(20, 30), np.arange(30, 60)]
    props = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    mixed = mixbag(bags, props, random_state=1)
    assert np.unique(mixed.rows).size == mixed.rows.size
    assert mixed.proportions.sum() == pytest.approx(1.0)
    assert (mixed.lower <= mixed.proportions + 1e-12).all() and (
        mixed.proportions <= mixed.upper + 1e-12
    ).all()
    again = mixbag(bags, props, random_state=1)
    assert np.array_equal(mixed.rows, again.rows)


# --------------------------------------------------------------------------- noisy labels

LOGITS_N = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
LABELS_N = torch.tensor([0, 2])


def test_gce_limits_and_value() -> None:
    p = torch.softmax(LOGITS_N, dim=1).numpy()
    p_y = p[[0, 1], [0, 2]]
    got = GeneralizedCrossEntropyLoss(q=0.7, reduction="none")(LOGITS_N, LABELS_N).numpy()
    np.testing.assert_allclose(got, (1 - p_y**0.7) / 0.7, rtol=1e-6)
    mae = GeneralizedCrossEntropyLoss(q=1.0, reduction="none")(LOGITS_N, LABELS_N).numpy()
    np.testing.assert_allclose(mae, 1 - p_y, rtol=1e-6)
    near_ce = GeneralizedCrossEntropyLoss(q=1e-4, reduction="none")(LOGITS_N, LABELS_N).numpy()
    np.testing.assert_allclose(near_ce, -np.log(p_y), rtol=1e-3)
    truncated = GeneralizedCrossEntropyLoss(q=0.7, truncation=0.5, reduction="none")(
        LOGITS_N, LABELS_N
    ).numpy()
    assert truncated[1] == pytest.approx((1 - 0.5**0.7) / 0.7, rel=1e-6)  # p_y = 0.21 ≤ 0.5


def test_sce() -> None:
    p = torch.softmax(LOGITS_N, dim=1).numpy()
    p_y = p[[0, 1], [0, 2]]
    got = SymmetricCrossEntropyLoss(alpha=0.1, beta=1.0, reduction="none")(
        LOGITS_N, LABELS_N
    ).numpy()
    np.testing.assert_allclose(got, 0.1 * -np.log(p_y) + 4 * (1 - p_y), rtol=1e-6)


def test_label_smoothing_positive_and_negative() -> None:
    log_p = torch.log_softmax(LOGITS_N, dim=1).numpy()
    for eps in (0.3, -0.3):
        target = np.eye(3)[[0, 2]] * (1 - eps) + eps / 3
        got = LabelSmoothingLoss(smoothing=eps, reduction="none")(LOGITS_N, LABELS_N).numpy()
        np.testing.assert_allclose(got, -(target * log_p).sum(axis=1), rtol=1e-6)
    with pytest.raises(
        ValueError,
        match=r"`smoothing` must be a finite number < 1 \(negative for negative label smoothing\); got 1\.0\.",
    ):
        LabelSmoothingLoss(smoothing=1.0)


def test_forward_correction() -> None:
    t = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.0, 0.3, 0.7]])
    p = torch.softmax(LOGITS_N, dim=1).numpy()
    got = ForwardCorrectedLoss(t, reduction="none")(LOGITS_N, LABELS_N).numpy()
    noisy = p @ t
    np.testing.assert_allclose(got, -np.log(noisy[[0, 1], [0, 2]]), rtol=1e-5)
    identity = ForwardCorrectedLoss(np.eye(3))(LOGITS_N, LABELS_N).item()
    assert identity == pytest.approx(
        torch.nn.functional.cross_entropy(LOGITS_N, LABELS_N).item(), rel=1e-5
    )
    with pytest.raises(
        ValueError,
        match=r"`transition` must be row-stochastic \(rows sum to 1\); got row 0 sums to 0\.5\.",
    ):
        ForwardCorrectedLoss([[0.25, 0.25], [0.5, 0.5]])


def test_anchor_transition_matrix_recovers_anchor_rows() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=200)
    t = anchor_transition_matrix(probs, percentile=100)
    for i in range(3):
        np.testing.assert_allclose(t[i], probs[np.argmax(probs[:, i])])


def test_coteaching() -> None:
    assert coteaching_keep_rate(2, 0.4, warmup_epochs=4) == pytest.approx(0.8)
    logits_a = torch.tensor([[3.0, 0.0], [0.0, 2.0], [0.0, 0.0], [1.0, 0.0]])
    logits_b = torch.tensor([[0.0, 3.0], [0.0, 2.0], [2.0, 0.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 0])
    ce_a = torch.nn.functional.cross_entropy(logits_a, labels, reduction="none")
    ce_b = torch.nn.functional.cross_entropy(logits_b, labels, reduction="none")
    got = CoTeachingLoss()(logits_a, logits_b, labels, keep_rate=0.5).item()
    # a's two smallest: rows 0, 1; b's: rows 1, 2
    assert got == pytest.approx(ce_a[[1, 2]].mean().item() + ce_b[[0, 1]].mean().item(), rel=1e-6)


def test_self_distillation_weight_above_one() -> None:
    teacher = torch.tensor([[0.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    ce = torch.nn.functional.cross_entropy(LOGITS_N, LABELS_N, reduction="none")
    log_t = torch.log_softmax(teacher / 2, dim=1)
    log_s = torch.log_softmax(LOGITS_N / 2, dim=1)
    kl = (log_t.exp() * (log_t - log_s)).sum(dim=1)
    got = SelfDistillationLoss(weight=1.5, temperature=2.0, reduction="none")(
        LOGITS_N, LABELS_N, teacher
    )
    np.testing.assert_allclose(got.numpy(), (-0.5 * ce + 1.5 * 4 * kl).numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- distillation


def test_kd_and_multilabel_kd() -> None:
    student, teacher = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    t = 2.0
    pt = torch.softmax(teacher / t, dim=1)
    ps = torch.softmax(student / t, dim=1)
    kl = (pt * (pt.log() - ps.log())).sum().item()
    assert DistillationLoss(temperature=t)(student, teacher).item() == pytest.approx(
        t**2 * kl, rel=1e-6
    )
    a, b = sig(0.5), sig(0.0)
    kl_bin = a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))
    got = MultilabelDistillationLoss(temperature=2.0)(
        torch.zeros(1, 1), torch.tensor([[1.0]])
    ).item()
    assert got == pytest.approx(4 * kl_bin, rel=1e-6)


def test_logitnorm_is_scale_invariant() -> None:
    labels = torch.tensor([1])
    small = LogitNormLoss()(torch.tensor([[3.0, 4.0]]), labels).item()
    big = LogitNormLoss()(torch.tensor([[300.0, 400.0]]), labels).item()
    assert small == pytest.approx(big, rel=1e-5)
    expected = torch.nn.functional.cross_entropy(torch.tensor([[0.6, 0.8]]) / 0.04, labels).item()
    assert small == pytest.approx(expected, rel=1e-5)
