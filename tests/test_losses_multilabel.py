"""Partial / single-positive multi-label losses against hand-computed values (methods.md D.1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from labelwise.losses import (  # noqa: E402
    AssumeNegativeLoss,
    AsymmetricLoss,
    EntropyMaximizationAPLLoss,
    EntropyMaximizationLoss,
    ExpectedPositiveLoss,
    LargeLossLoss,
    PUMultilabelLoss,
    ROLELoss,
    WeakAssumeNegativeLoss,
)

LOGITS = torch.tensor([[1.0, -2.0, 0.5], [-1.0, 3.0, 0.0]])
TARGETS = torch.tensor([[1, -1, 0], [-1, 1, -1]], dtype=torch.int8)


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def nlog(p: float) -> float:
    return -math.log(p)


def test_assume_negative_matches_hand_values() -> None:
    expected = [
        [nlog(sig(1.0)), nlog(1 - sig(-2.0)), nlog(1 - sig(0.5))],
        [nlog(1 - sig(-1.0)), nlog(sig(3.0)), nlog(1 - sig(0.0))],
    ]
    got = AssumeNegativeLoss(reduction="none")(LOGITS, TARGETS)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    mean = AssumeNegativeLoss()(LOGITS, TARGETS).item()
    assert mean == pytest.approx(np.mean(expected), rel=1e-6)  # Σ / (B·L)


def test_weak_assume_negative_weights_unknowns_by_one_over_l_minus_one() -> None:
    got = WeakAssumeNegativeLoss(reduction="none")(LOGITS, TARGETS).numpy()
    an = AssumeNegativeLoss(reduction="none")(LOGITS, TARGETS).numpy()
    weight = np.where(TARGETS.numpy() == -1, 0.5, 1.0)  # L = 3
    np.testing.assert_allclose(got, an * weight, rtol=1e-6)
    fixed = WeakAssumeNegativeLoss(unknown_weight=0.25, reduction="none")(LOGITS, TARGETS)
    np.testing.assert_allclose(
        fixed.numpy(), an * np.where(TARGETS.numpy() == -1, 0.25, 1.0), rtol=1e-6
    )


def test_an_label_smoothing_smooths_both_sides() -> None:
    got = AssumeNegativeLoss(label_smoothing=0.1, reduction="none")(LOGITS, TARGETS).numpy()
    p = sig(1.0)
    assert got[0, 0] == pytest.approx(0.9 * nlog(p) + 0.1 * nlog(1 - p), rel=1e-6)
    q = sig(-2.0)
    assert got[0, 1] == pytest.approx(0.9 * nlog(1 - q) + 0.1 * nlog(q), rel=1e-6)


def test_epr_uses_observed_entries_and_the_count_penalty() -> None:
    got = ExpectedPositiveLoss(expected_positives=1.5)(LOGITS, TARGETS).item()
    probs = torch.sigmoid(LOGITS).numpy()
    observed = nlog(sig(1.0)) + nlog(1 - sig(0.5)) + nlog(sig(3.0))
    penalty = (probs.sum(axis=1).mean() - 1.5) ** 2 / 9
    assert got == pytest.approx(observed / 6 + penalty, rel=1e-6)


def test_em_maximises_entropy_on_unknowns() -> None:
    alpha = 0.2
    got = EntropyMaximizationLoss(alpha=alpha, reduction="none")(LOGITS, TARGETS).numpy()

    def entropy(x: float) -> float:
        p = sig(x)
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    assert got[0, 1] == pytest.approx(-alpha * entropy(-2.0), rel=1e-6)
    assert got[1, 2] == pytest.approx(-alpha * math.log(2), rel=1e-6)
    assert got[0, 2] == pytest.approx(nlog(1 - sig(0.5)), rel=1e-6)


def test_em_is_finite_for_extreme_logits() -> None:
    logits = torch.tensor([[200.0, -200.0]], requires_grad=True)
    loss = EntropyMaximizationLoss()(logits, torch.tensor([[-1, -1]]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_asl_matches_the_formula() -> None:
    got = AsymmetricLoss(reduction="none")(LOGITS, TARGETS).numpy()
    p = sig(1.0)
    assert got[0, 0] == pytest.approx((1 - p) * nlog(p), rel=1e-5)
    p = sig(0.5)
    q = min(1.0, 1 - p + 0.05)
    assert got[0, 2] == pytest.approx((1 - q) ** 4 * nlog(q), rel=1e-5)
    discarded = AsymmetricLoss(reduction="none")(torch.tensor([[-4.0]]), torch.tensor([[-1]]))
    assert discarded.item() == 0.0  # p = 0.018 < clip: the easy negative costs nothing


def test_asl_without_focusing_or_clip_is_bce() -> None:
    asl = AsymmetricLoss(gamma_neg=0, gamma_pos=0, clip=0)(LOGITS, TARGETS)
    an = AssumeNegativeLoss()(LOGITS, TARGETS)
    assert asl.item() == pytest.approx(an.item(), rel=1e-6)


def test_role_loss_value_and_label_matrix_init() -> None:
    targets = torch.tensor([[1, -1], [0, 1]])
    loss = ROLELoss(targets, expected_positives=1.0, random_state=0)
    theta = loss.label_logits.detach()
    assert theta[0, 0].item() == pytest.approx(math.log(0.995 / 0.005), rel=1e-5)
    assert theta[1, 0].item() == pytest.approx(math.log(0.005 / 0.995), rel=1e-5)
    assert abs(theta[0, 1].item()) <= math.log(0.6 / 0.4) + 1e-6
    with torch.no_grad():
        loss.label_logits.zero_()  # ŷ = 0.5 everywhere
    logits = torch.zeros(2, 2)
    value = loss(logits, targets, torch.tensor([0, 1])).item()
    # observed: ½(log 2 + log 2) per observed entry (3 of them); cross: ½(log 2 + log 2) everywhere
    matrix = 0.5 * 3 * 2 * math.log(2) + 0.5 * 4 * 2 * math.log(2)
    assert value == pytest.approx(matrix / 4, rel=1e-6)  # penalties are 0: Σp = 1 = k


def test_role_trains_the_label_matrix() -> None:
    targets = torch.tensor([[1, -1]])
    loss = ROLELoss(targets, expected_positives=1.0, random_state=0)
    logits = torch.tensor([[2.0, -3.0]], requires_grad=True)
    loss(logits, targets, torch.tensor([0])).backward()
    assert loss.label_logits.grad is not None and logits.grad is not None


def test_role_needs_indices() -> None:
    loss = ROLELoss(torch.tensor([[1, -1]]), expected_positives=1.0)
    with pytest.raises(
        ValueError,
        match=r"`indices` must be the batch's row indices into the training set \(ROLELoss keeps state\); got None\.",
    ):
        loss(torch.zeros(1, 2), torch.tensor([[1, -1]]), None)
    with pytest.raises(
        ValueError, match=r"`indices` must be row indices in 0..0; got values from 3 to 3\."
    ):
        loss(torch.zeros(1, 2), torch.tensor([[1, -1]]), torch.tensor([3]))


def test_apl_pseudo_labels_lowest_unknowns_and_uses_beta_bce() -> None:
    targets = torch.tensor([[1, -1], [-1, -1], [-1, 1]])
    loss = EntropyMaximizationAPLLoss(
        targets, alpha=0.1, beta=0.5, n_epochs=3, warmup_epochs=1, fraction=1.0, reduction="none"
    )
    # U = [2, 2]; per update floor(2 / 2) = 1 per class
    probs = torch.tensor([[0.9, 0.4], [0.2, 0.1], [0.6, 0.9]])
    assert loss.update_pseudo_labels(probs) == 2
    assert loss.pseudo_targets[1, 0].item() == pytest.approx(0.2)
    assert loss.pseudo_targets[1, 1].item() == pytest.approx(0.1)
    logits = torch.zeros(3, 2)
    got = loss(logits, targets, torch.arange(3)).numpy()
    assert got[1, 0] == pytest.approx(0.5 * math.log(2), rel=1e-6)  # β BCE(0.5, t) = β log 2
    assert got[0, 1] == pytest.approx(-0.1 * math.log(2), rel=1e-6)  # still EM
    assert loss.update_pseudo_labels(probs) == 2
    assert loss.update_pseudo_labels(probs) == 0  # every unknown already taken


def test_large_loss_modes() -> None:
    logits = torch.tensor([[0.0, 3.0, -1.0, 1.0]])
    targets = torch.tensor([[1, -1, -1, -1]])
    # epoch 1: nothing rejected
    plain = LargeLossLoss("rejection", delta_rel=0.25, reduction="none")(logits, targets, epoch=1)
    an = AssumeNegativeLoss(reduction="none")(logits, targets)
    np.testing.assert_allclose(plain.numpy(), an.numpy(), rtol=1e-6)
    # epoch 2: k = ceil(4 · 1 · 0.25) = 1, the unknown with logit 3
    rejected = LargeLossLoss("rejection", delta_rel=0.25, reduction="none")(
        logits, targets, epoch=2
    )
    assert rejected[0, 1].item() == 0.0 and rejected[0, 3].item() == pytest.approx(an[0, 3].item())
    corrected = LargeLossLoss("temporary", delta_rel=0.25, reduction="none")(
        logits, targets, epoch=2
    )
    assert corrected[0, 1].item() == pytest.approx(nlog(sig(3.0)), rel=1e-6)
    # epoch 3: k = 2
    rejected = LargeLossLoss("rejection", delta_rel=0.25, reduction="none")(
        logits, targets, epoch=3
    )
    assert rejected[0, 3].item() == 0.0 and rejected[0, 2].item() > 0


def test_large_loss_permanent_remembers_corrections() -> None:
    loss = LargeLossLoss("permanent", delta_rel=0.25, n_examples=2, n_classes=4, reduction="none")
    logits = torch.tensor([[0.0, 3.0, -1.0, 1.0]])
    targets = torch.tensor([[1, -1, -1, -1]])
    loss(logits, targets, epoch=1, indices=torch.tensor([1]))
    assert not loss.corrected.any()
    loss(logits, targets, epoch=2, indices=torch.tensor([1]))
    assert loss.corrected[1].tolist() == [False, True, False, False]
    # now the remembered positive costs -log p even with a new, low logit
    again = loss(
        torch.tensor([[0.0, -2.0, -1.0, 1.0]]), targets, epoch=2, indices=torch.tensor([1])
    )
    assert again[0, 1].item() == pytest.approx(nlog(sig(-2.0)), rel=1e-6)


def test_large_loss_permanent_needs_the_training_shape() -> None:
    with pytest.raises(
        ValueError,
        match=r'`n_examples` must be the training-set size with mode="permanent"; got None\.',
    ):
        LargeLossLoss("permanent")


def test_pu_mlc_is_finite_and_pushes_positives_up() -> None:
    logits = torch.tensor([[0.5, -0.5], [0.0, 0.2], [-0.3, 0.1]], requires_grad=True)
    targets = torch.tensor([[1, -1], [-1, 1], [-1, -1]])
    loss = PUMultilabelLoss()(logits, targets)
    loss.backward()
    assert torch.isfinite(loss)
    assert logits.grad[0, 0] < 0 and logits.grad[1, 1] < 0  # gradient descent raises them


def test_pu_mlc_with_gamma_zero_is_vpu() -> None:
    logits = torch.tensor([[1.0], [-1.0]])
    targets = torch.tensor([[1], [-1]])
    got = PUMultilabelLoss(alpha=100.0, gamma=0.0)(logits, targets).item()  # τ = 1
    s = [sig(1.0), sig(-1.0)]
    assert got == pytest.approx(math.log(np.mean(s)) - math.log(s[0]), rel=1e-6)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: AssumeNegativeLoss(label_smoothing=1.0),
            r"`label_smoothing` must be a number in \[0, 1\); got 1\.0\.",
        ),
        (
            lambda: AssumeNegativeLoss(reduction="avg"),
            r"`reduction` must be one of 'mean', 'sum', 'none'; got 'avg'\.",
        ),
        (
            lambda: ExpectedPositiveLoss(0.0),
            r"`expected_positives` must be a finite number > 0; got 0\.0\.",
        ),
        (
            lambda: ExpectedPositiveLoss(1.0, reduction="none"),
            r"`reduction` must be one of 'mean', 'sum'; got 'none'\.",
        ),
        (lambda: AsymmetricLoss(clip=1.0), r"`clip` must be a number in \[0, 1\); got 1\.0\."),
    ],
)
def test_option_errors(make, match) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_shape_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"`targets` must be a tensor of the logits' shape \(2, 3\); got shape \(2, 2\)\.",
    ):
        AssumeNegativeLoss()(LOGITS, TARGETS[:, :2])
    with pytest.raises(
        ValueError,
        match=r"`logits` must be a 2-D tensor of shape \(batch, n_classes\); got shape \(3,\)\.",
    ):
        AssumeNegativeLoss()(torch.zeros(3), torch.zeros(3))
