"""PartialMultilabelClassifier: multi-label training from partial or single-positive labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from labelwise._validation import check_choice, check_partial_targets, fail
from labelwise.losses import (
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
from labelwise.models._base import TorchTrainer, average_precision, build_network

LOSSES = (
    "an",
    "wan",
    "an_ls",
    "epr",
    "role",
    "em",
    "em_apl",
    "asl",
    "ll_r",
    "ll_ct",
    "ll_cp",
    "pu_mlc",
)
_LL_MODES = {"ll_r": "rejection", "ll_ct": "temporary", "ll_cp": "permanent"}


class PartialMultilabelClassifier(TorchTrainer):
    """Multi-label classifier trained on partial targets (1 positive / 0 negative / -1 unknown).

    A linear head (the linear-probe protocol of Cole et al., 2021) or a small MLP on a feature
    matrix, trained with one of the losses of :mod:`labelwise.losses` chosen by the short
    names of the papers' tables:

    ========== ==========================================================================
    ``loss``   method (:mod:`labelwise.losses` class; ``loss_options`` it accepts)
    ========== ==========================================================================
    "an"       assume negative (AssumeNegativeLoss)
    "wan"      weak AN, unknowns weighted 1/(L-1) (WeakAssumeNegativeLoss)
    "an_ls"    AN with label smoothing (``label_smoothing``, default 0.1)
    "epr"      expected-positive regularisation (``expected_positives``)
    "role"     online label estimation (``expected_positives``, ``lr_scale`` = 10)
    "em"       entropy maximisation (``alpha`` = 0.1)
    "em_apl"   EM + asymmetric pseudo-labels (``alpha``, ``beta`` = 0.2,
               ``warmup_epochs`` = 1, ``fraction`` = 0.9)
    "asl"      asymmetric loss (``gamma_neg`` = 4, ``gamma_pos`` = 1, ``clip`` = 0.05)
    "ll_r"     large-loss rejection (``delta_rel`` = 0.002)
    "ll_ct"    large-loss temporary correction (``delta_rel``)
    "ll_cp"    large-loss permanent correction (``delta_rel``)
    "pu_mlc"   PU-MLC-style loss (``alpha`` = 1, ``gamma`` = 1)
    ========== ==========================================================================

    ``expected_positives`` defaults to the mean number of observed positives per training row
    (1 for single-positive data, an under-estimate: pass the known label cardinality).
    Early stopping uses the mean average precision on the validation rows with their observed
    positives as positives and every other entry as negative.

    Parameters
    ----------
    loss : str, default="an"
    loss_options : dict, optional
        Keyword arguments of the loss (see the table).
    hidden_layer_sizes : tuple of int, default=()
        Empty: a linear model.
    dropout : float, default=0.0
    lr : float, default=1e-2
    weight_decay : float, default=0.0
    batch_size : int, default=64
    max_epochs : int, default=25
    validation_fraction : float in [0, 1), default=0.2
    patience : int, default=5
    standardize : bool, default=True
        Standardise the features with the training mean and standard deviation (0/1 columns
        are left as they are).
    device : str, default="auto"
        "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".
    random_state : int, optional
    progress : bool, default=False
        A tqdm bar over epochs.

    Attributes
    ----------
    network_ : torch.nn.Module
    n_classes_ : int
    n_epochs_, best_epoch_ : int
    history_ : list of float
        Validation mAP per epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.models import PartialMultilabelClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> targets = np.full((200, 3), -1, dtype=np.int8)  # -1: unknown
    >>> targets[np.arange(200), np.argmax(X[:, :3], axis=1)] = 1  # one observed positive
    >>> model = PartialMultilabelClassifier(loss="em", random_state=0).fit(X, targets)
    >>> model.predict_proba(X).shape
    (200, 3)
    """

    def __init__(
        self,
        loss: str = "an",
        *,
        loss_options: dict[str, Any] | None = None,
        hidden_layer_sizes: Any = (),
        dropout: float = 0.0,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 25,
        validation_fraction: float = 0.2,
        patience: int = 5,
        standardize: bool = True,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = False,
    ) -> None:
        self.loss = loss
        self.loss_options = loss_options
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.standardize = standardize
        self.device = device
        self.random_state = random_state
        self.progress = progress

    def _make_loss(self, targets: Tensor, train_rows: np.ndarray) -> tuple[nn.Module, float]:
        options = dict(self.loss_options or {})
        name = self.loss
        lr_scale = float(options.pop("lr_scale", 10.0 if name == "role" else 1.0))
        if name in ("epr", "role") and "expected_positives" not in options:
            observed = (targets[torch.as_tensor(train_rows)] == 1).sum(dim=1).float().mean()
            options["expected_positives"] = float(observed)
        try:
            if name == "an":
                return AssumeNegativeLoss(**options), lr_scale
            if name == "wan":
                return WeakAssumeNegativeLoss(**options), lr_scale
            if name == "an_ls":
                return AssumeNegativeLoss(**{"label_smoothing": 0.1, **options}), lr_scale
            if name == "epr":
                return ExpectedPositiveLoss(**options), lr_scale
            if name == "role":
                seeded = {"random_state": self.random_state, **options}
                return ROLELoss(targets.cpu(), **seeded), lr_scale
            if name == "em":
                return EntropyMaximizationLoss(**options), lr_scale
            if name == "em_apl":
                defaults = {
                    "n_epochs": int(self.max_epochs),
                    "warmup_epochs": min(1, int(self.max_epochs) - 1),
                }
                return EntropyMaximizationAPLLoss(
                    targets.cpu(), **{**defaults, **options}
                ), lr_scale
            if name == "asl":
                return AsymmetricLoss(**options), lr_scale
            if name in _LL_MODES:
                extra = (
                    {"n_examples": targets.shape[0], "n_classes": targets.shape[1]}
                    if name == "ll_cp"
                    else {}
                )
                return LargeLossLoss(_LL_MODES[name], **{**extra, **options}), lr_scale
            return PUMultilabelLoss(**options), lr_scale
        except TypeError as error:
            fail(
                "loss_options",
                f"keyword arguments of the {name!r} loss",
                f"{sorted(options)} ({error})",
                kind=TypeError,
            )

    def fit(self, X: object, targets: object) -> PartialMultilabelClassifier:
        """Train on features ``X`` (n, d) and partial targets (n, L): 1 / 0 / -1 (unknown)."""
        check_choice(self.loss, "loss", LOSSES)
        self._check_common()
        x = self._features(X, fit=True)
        y_np = check_partial_targets(targets, x.shape[0])
        self.n_classes_ = y_np.shape[1]
        y = torch.as_tensor(y_np, device=self.device_)
        train_rows, val_rows = self._split(x.shape[0])
        loss_fn, lr_scale = self._make_loss(y, train_rows)
        loss_fn = loss_fn.to(self.device_)
        name = self.loss
        generator = self._generator()
        network = build_network(x.shape[1], self.n_classes_, self._hidden, self._dropout)
        train_t = torch.as_tensor(train_rows, device=self.device_)
        val_t = torch.as_tensor(val_rows, device=self.device_)
        observed_val = y_np[val_rows] == 1

        def batch_loss(net: nn.Module, rows: Tensor, epoch: int) -> Tensor:
            logits = net(x[rows])
            if name in ("role", "em_apl"):
                return loss_fn(logits, y[rows], rows)
            if name in _LL_MODES:
                return loss_fn(logits, y[rows], epoch, rows)
            return loss_fn(logits, y[rows])

        def score(net: nn.Module) -> float:
            probs = torch.sigmoid(net(x[val_t])).cpu().numpy()
            return float(np.nanmean(average_precision(probs, observed_val)))

        def end_epoch(net: nn.Module, epoch: int) -> None:
            if isinstance(loss_fn, EntropyMaximizationAPLLoss) and epoch > loss_fn.warmup_epochs:
                probs = torch.sigmoid(net(x))
                loss_fn.update_pseudo_labels(probs)

        has_val = val_rows.size > 0 and observed_val.any()
        self.network_ = self._train(
            network,
            batches=lambda epoch, gen: self._row_batches(train_t, gen),
            batch_loss=batch_loss,
            score=score if has_val else None,
            end_epoch=end_epoch,
            extra=loss_fn,
            extra_lr_scale=lr_scale,
            generator=generator,
            description=f"{type(self).__name__}({name})",
        )
        self.loss_ = loss_fn
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        """Independent per-class probabilities, (n, L) float64."""
        self._check_fitted("predict_proba")
        logits = self.decision_function(X)
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def predict(self, X: object, threshold: float = 0.5) -> np.ndarray:
        """0/1 indicator matrix (n, L): probability at or above ``threshold``."""
        return (self.predict_proba(X) >= threshold).astype(np.int8)
