"""NoisyLabelClassifier: multi-class training on labels known to contain errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labelwise._validation import check_choice, check_int, check_labels, fail
from labelwise.losses import (
    CoTeachingLoss,
    ForwardCorrectedLoss,
    GeneralizedCrossEntropyLoss,
    LabelSmoothingLoss,
    LogitNormLoss,
    SelfDistillationLoss,
    SymmetricCrossEntropyLoss,
    anchor_transition_matrix,
    coteaching_keep_rate,
)
from labelwise.models._base import TorchTrainer, build_network
from labelwise.models.partial_label import _softmax

LOSSES = (
    "ce",
    "gce",
    "sce",
    "label_smoothing",
    "forward",
    "coteaching",
    "self_distillation",
    "logitnorm",
)


class _Pair(nn.Module):
    """Two networks trained together (co-teaching); ``forward`` is the first one's."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first, self.second = first, second

    def forward(self, x: Tensor) -> Tensor:
        return self.first(x)


class NoisyLabelClassifier(TorchTrainer):
    """Multi-class classifier trained with a loss that tolerates wrong labels.

    ``loss`` (``loss_options`` in brackets): ``"ce"`` (plain cross-entropy, the baseline),
    ``"gce"`` (``q`` = 0.7), ``"sce"`` (``alpha`` = 0.1, ``beta`` = 1), ``"label_smoothing"``
    (``smoothing`` = 0.1; negative allowed), ``"forward"`` (forward correction with
    ``transition``; when not given, T is estimated from anchor points of a first
    cross-entropy model), ``"coteaching"`` (two networks; ``forget_rate`` = the noise rate,
    default 0.2, ``warmup_epochs`` = 10), ``"self_distillation"`` (a cross-entropy teacher,
    then a student with ``weight`` = 0.5 (may exceed 1) and ``temperature`` = 1) and
    ``"logitnorm"`` (``temperature`` = 0.04). Early stopping uses accuracy on the (noisy)
    validation labels.

    Parameters
    ----------
    loss : str, default="ce"
    loss_options : dict, optional
    n_classes : int, optional
        Defaults to ``max(labels) + 1``.
    hidden_layer_sizes, dropout, lr, weight_decay, batch_size, max_epochs,
    validation_fraction, patience, standardize, device, random_state, progress
        As in :class:`~labelwise.models.PartialMultilabelClassifier`.

    Attributes
    ----------
    transition_ : ndarray of shape (K, K) or None
        The T used by "forward".

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.models import NoisyLabelClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 400)
    >>> X = rng.normal(size=(400, 4)) + 3 * np.eye(3, 4)[y]
    >>> noisy = np.where(rng.random(400) < 0.3, rng.integers(0, 3, 400), y)
    >>> model = NoisyLabelClassifier(loss="gce", random_state=0).fit(X, noisy)
    >>> bool((model.predict(X) == y).mean() > 0.85)
    True
    """

    def __init__(
        self,
        loss: str = "ce",
        *,
        loss_options: dict[str, Any] | None = None,
        n_classes: int | None = None,
        hidden_layer_sizes: Any = (),
        dropout: float = 0.0,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 50,
        validation_fraction: float = 0.2,
        patience: int = 10,
        standardize: bool = True,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = False,
    ) -> None:
        self.loss = loss
        self.loss_options = loss_options
        self.n_classes = n_classes
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

    def _fit_network(
        self,
        x: Tensor,
        y: Tensor,
        train_t: Tensor,
        val_t: Tensor,
        loss_fn: Any,
        *,
        pair: bool = False,
        teacher: Tensor | None = None,
        forget_rate: float = 0.0,
        ramp: int = 10,
    ) -> nn.Module:
        k = self.n_classes_
        make = lambda: build_network(x.shape[1], k, self._hidden, self._dropout)  # noqa: E731
        network: nn.Module = _Pair(make(), make()) if pair else make()

        def batch_loss(net: nn.Module, rows: Tensor, epoch: int) -> Tensor:
            if isinstance(net, _Pair):
                keep = coteaching_keep_rate(epoch - 1, forget_rate, ramp)
                return loss_fn(net.first(x[rows]), net.second(x[rows]), y[rows], keep)
            if teacher is not None:
                return loss_fn(net(x[rows]), y[rows], teacher[rows])
            return loss_fn(net(x[rows]), y[rows])

        def score(net: nn.Module) -> float:
            return float((net(x[val_t]).argmax(dim=1) == y[val_t]).float().mean())

        return self._train(
            network,
            batches=lambda epoch, gen: self._row_batches(train_t, gen),
            batch_loss=batch_loss,
            score=score if val_t.numel() else None,
            generator=self._generator(),
            description=f"NoisyLabelClassifier({self.loss})",
        )

    def fit(self, X: object, labels: object) -> NoisyLabelClassifier:
        """Train on features ``X`` (n, d) and noisy class ids ``labels`` (n,)."""
        name = check_choice(self.loss, "loss", LOSSES)
        self._check_common()
        x = self._features(X, fit=True)
        raw = np.asarray(labels)
        if self.n_classes is None:
            if raw.ndim != 1 or raw.dtype.kind not in "iu" or raw.size == 0:
                fail(
                    "labels",
                    "a 1-D array of integer class ids 0..K-1 (or pass n_classes)",
                    f"shape {raw.shape}, dtype {raw.dtype}",
                )
            k = max(int(raw.max()) + 1, 2)
        else:
            k = check_int(self.n_classes, "n_classes", minimum=2)
        y_np = check_labels(labels, n_classes=k, n_examples=x.shape[0]).labels
        self.n_classes_ = k
        y = torch.as_tensor(y_np, device=self.device_)
        train_rows, val_rows = self._split(x.shape[0])
        train_t = torch.as_tensor(train_rows, device=self.device_)
        val_t = torch.as_tensor(val_rows, device=self.device_)
        options = dict(self.loss_options or {})
        self.transition_ = None
        ce = lambda logits, target: F.cross_entropy(logits, target)  # noqa: E731
        try:
            if name in ("ce", "forward", "self_distillation") and (
                name != "forward" or "transition" not in options
            ):
                first = self._fit_network(x, y, train_t, val_t, ce)
                if name == "ce":
                    self.network_ = first
                    return self._done()
            if name == "forward":
                if "transition" in options:
                    transition = np.asarray(options.pop("transition"), dtype=np.float64)
                else:
                    with torch.no_grad():
                        probs = torch.softmax(first(x[train_t]), dim=1).cpu().numpy()
                    transition = anchor_transition_matrix(probs, **options)
                    options = {}
                self.transition_ = transition
                self.network_ = self._fit_network(
                    x, y, train_t, val_t, ForwardCorrectedLoss(transition, **options)
                )
            elif name == "self_distillation":
                with torch.no_grad():
                    teacher = first(x)
                self.network_ = self._fit_network(
                    x, y, train_t, val_t, SelfDistillationLoss(**options), teacher=teacher
                )
            elif name == "coteaching":
                forget = float(options.pop("forget_rate", 0.2))
                ramp = int(options.pop("warmup_epochs", 10))
                pair = self._fit_network(
                    x,
                    y,
                    train_t,
                    val_t,
                    CoTeachingLoss(**options),
                    pair=True,
                    forget_rate=forget,
                    ramp=ramp,
                )
                self.network_ = pair
            else:
                losses = {
                    "gce": GeneralizedCrossEntropyLoss,
                    "sce": SymmetricCrossEntropyLoss,
                    "label_smoothing": LabelSmoothingLoss,
                    "logitnorm": LogitNormLoss,
                }
                self.network_ = self._fit_network(x, y, train_t, val_t, losses[name](**options))
        except TypeError as error:
            fail(
                "loss_options",
                f"keyword arguments of the {name!r} loss",
                f"{sorted(options)} ({error})",
                kind=TypeError,
            )
        return self._done()

    def _done(self) -> NoisyLabelClassifier:
        self.classes_ = np.arange(self.n_classes_)
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities (n, K), rows summing to 1 (float64)."""
        self._check_fitted("predict_proba")
        return _softmax(self.decision_function(X))

    def predict(self, X: object) -> np.ndarray:
        """The most probable class, (n,) int64."""
        return np.argmax(self.decision_function(X), axis=1).astype(np.int64)
