"""PUClassifier: binary classification from positive and unlabeled data."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from labelwise._validation import check_choice, check_fraction, check_pu_labels, fail
from labelwise.class_prior import METHODS as PRIOR_METHODS
from labelwise.class_prior import estimate_class_prior
from labelwise.losses import NaivePULoss, NNPULoss, UPULoss
from labelwise.models._base import TorchTrainer, build_network

LOSSES = ("nnpu", "upu", "naive")


class PUClassifier(TorchTrainer):
    """Binary classifier from labelled positives (1) and unlabeled examples (0).

    ``loss="nnpu"`` minimises the non-negative PU risk (Kiryo et al., NeurIPS 2017),
    ``"upu"`` the unbiased one (du Plessis et al., 2015) and ``"naive"`` the logistic loss of
    labelled against unlabeled (the baseline that treats every unlabeled example as negative).
    The data are one sample whose labelled positives were picked at random (SCAR), so the
    unlabeled side of the risk is every row and ``prior`` is the positive share of the data;
    when ``prior`` is None it is estimated with :func:`labelwise.class_prior.estimate_class_prior`
    (``prior_method``). Early stopping uses the validation split's risk under the same loss
    (the nnPU risk for "nnpu").

    Parameters
    ----------
    loss : {"nnpu", "upu", "naive"}, default="nnpu"
    prior : float in (0, 1), optional
        ``π = P(y=1)``; estimated when None (not used by "naive").
    prior_method : {"elkan_noto", "tice"}, default="elkan_noto"
    surrogate : {"sigmoid", "logistic"}, default="sigmoid"
        ℓ of the PU risks.
    beta, gamma : float, default=0.0, 1.0
        nnPU's defocusing threshold and step.
    hidden_layer_sizes, dropout, lr, weight_decay, batch_size, max_epochs,
    validation_fraction, patience, standardize, device, random_state, progress
        As in :class:`~labelwise.models.PartialMultilabelClassifier`.

    Attributes
    ----------
    prior_ : float or None
        The prior used (given or estimated).
    prior_estimate_ : ClassPriorEstimate or None
    network_, n_epochs_, best_epoch_, history_

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.models import PUClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(600) < 0.4
    >>> X = rng.normal(size=(600, 4)) + 2 * y[:, None]
    >>> s = (y & (rng.random(600) < 0.5)).astype(int)
    >>> model = PUClassifier(prior=0.4, random_state=0).fit(X, s)
    >>> bool((model.predict(X) == y).mean() > 0.85)
    True
    """

    def __init__(
        self,
        loss: str = "nnpu",
        prior: float | None = None,
        *,
        prior_method: str = "elkan_noto",
        surrogate: str = "sigmoid",
        beta: float = 0.0,
        gamma: float = 1.0,
        hidden_layer_sizes: Any = (),
        dropout: float = 0.0,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 50,
        validation_fraction: float = 0.2,
        patience: int = 5,
        standardize: bool = True,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = False,
    ) -> None:
        self.loss = loss
        self.prior = prior
        self.prior_method = prior_method
        self.surrogate = surrogate
        self.beta = beta
        self.gamma = gamma
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

    def fit(self, X: object, labels: object) -> PUClassifier:
        """Train on features ``X`` (n, d) and PU ``labels`` (n,): 1 labelled, 0 unlabeled."""
        check_choice(self.loss, "loss", LOSSES)
        check_choice(self.prior_method, "prior_method", PRIOR_METHODS)
        self._check_common()
        x = self._features(X, fit=True)
        s_np = check_pu_labels(labels, x.shape[0])
        self.prior_estimate_ = None
        prior = self.prior
        if self.loss != "naive":
            if prior is None:
                self.prior_estimate_ = estimate_class_prior(
                    s_np,
                    np.asarray(X, dtype=np.float64),
                    method=self.prior_method,
                    random_state=self.random_state,
                )
                prior = min(self.prior_estimate_.prior, 1 - 1e-3)
            else:
                prior = check_fraction(prior, "prior")
                if prior >= 1:
                    fail("prior", "a class prior in (0, 1)", repr(self.prior))
        self.prior_ = prior
        loss_fn: nn.Module
        if self.loss == "nnpu":
            assert prior is not None
            loss_fn = NNPULoss(prior, loss=self.surrogate, beta=self.beta, gamma=self.gamma)
        elif self.loss == "upu":
            assert prior is not None
            loss_fn = UPULoss(prior, loss=self.surrogate)
        else:
            loss_fn = NaivePULoss()
        s = torch.as_tensor(s_np, device=self.device_)
        train_rows, val_rows = self._split(x.shape[0])
        train_t = torch.as_tensor(train_rows, device=self.device_)
        val_t = torch.as_tensor(val_rows, device=self.device_)
        network = build_network(x.shape[1], 1, self._hidden, self._dropout)
        generator = self._generator()

        def batch_loss(net: nn.Module, rows: Tensor, epoch: int) -> Tensor:
            return loss_fn(net(x[rows])[:, 0], s[rows])

        def score(net: nn.Module) -> float:
            logits = net(x[val_t])[:, 0]
            risk = loss_fn.risk if isinstance(loss_fn, NNPULoss) else loss_fn
            return -float(risk(logits, s[val_t]))

        self.network_ = self._train(
            network,
            batches=lambda epoch, gen: self._row_batches(train_t, gen),
            batch_loss=batch_loss,
            score=score if val_rows.size else None,
            generator=generator,
            description=f"PUClassifier({self.loss})",
        )
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        """(n, 2): columns P(y=0), P(y=1) (the sigmoid of the score; not calibrated)."""
        self._check_fitted("predict_proba")
        logits = self.decision_function(X)[:, 0].astype(np.float64)
        positive = 1.0 / (1.0 + np.exp(-logits))
        return np.column_stack([1 - positive, positive])

    def predict(self, X: object) -> np.ndarray:
        """1 where the score is positive, else 0."""
        return (self.decision_function(X)[:, 0] > 0).astype(np.int64)
