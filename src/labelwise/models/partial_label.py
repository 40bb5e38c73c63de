"""PartialLabelClassifier: multi-class training from candidate label sets."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from labelwise._validation import check_candidates, check_choice, fail
from labelwise.losses import ALIMLoss, CandidateAverageLoss, POPLoss, PRODENLoss, alim_lambda
from labelwise.models._base import TorchTrainer, build_network

LOSSES = ("proden", "pop", "alim", "cc_average")


class PartialLabelClassifier(TorchTrainer):
    """Multi-class classifier from candidate sets (bool (n, K), True = candidate).

    ``loss``: ``"proden"`` (Lv et al., ICML 2020), ``"pop"`` (PRODEN + progressive
    purification, Xu et al., ICML 2023; ``loss_options``: ``warmup_epochs``, ``window``,
    ``threshold``, ...), ``"alim"`` (noisy candidate sets, Xu et al., NeurIPS 2023;
    ``loss_options``: ``noise_rate`` (default 0.1), from which λ is re-set after every epoch
    once ``warmup_epochs`` (default 5) epochs with λ = 0 are done, or a fixed ``lam``) and
    ``"cc_average"`` (the naive baseline: cross-entropy averaged over the candidates). Early
    stopping uses the validation rows' mean log-probability of their candidate set.

    Parameters
    ----------
    loss : str, default="proden"
    loss_options : dict, optional
    hidden_layer_sizes, dropout, lr, weight_decay, batch_size, max_epochs,
    validation_fraction, patience, standardize, device, random_state, progress
        As in :class:`~labelwise.models.PartialMultilabelClassifier`.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.models import PartialLabelClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 300)
    >>> X = rng.normal(size=(300, 4)) + 3 * np.eye(3, 4)[y]
    >>> candidates = np.eye(3, dtype=bool)[y] | (rng.random((300, 3)) < 0.3)
    >>> model = PartialLabelClassifier(random_state=0).fit(X, candidates)
    >>> bool((model.predict(X) == y).mean() > 0.8)
    True
    """

    def __init__(
        self,
        loss: str = "proden",
        *,
        loss_options: dict[str, Any] | None = None,
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

    def fit(self, X: object, candidates: object) -> PartialLabelClassifier:
        """Train on features ``X`` (n, d) and candidate sets (n, K)."""
        name = check_choice(self.loss, "loss", LOSSES)
        self._check_common()
        x = self._features(X, fit=True)
        cand_np = check_candidates(candidates, x.shape[0])
        self.n_classes_ = cand_np.shape[1]
        cand = torch.as_tensor(cand_np, device=self.device_)
        options = dict(self.loss_options or {})
        noise_rate = float(options.pop("noise_rate", 0.1)) if name == "alim" else 0.0
        warmup = int(options.pop("warmup_epochs", 5)) if name == "alim" else 0
        try:
            if name == "proden":
                loss_fn: nn.Module = PRODENLoss(cand.cpu(), **options)
            elif name == "pop":
                loss_fn = POPLoss(cand.cpu(), **options)
            elif name == "alim":
                loss_fn = ALIMLoss(**options)
            else:
                loss_fn = CandidateAverageLoss(**options)
        except TypeError as error:
            fail(
                "loss_options",
                f"keyword arguments of the {name!r} loss",
                f"{sorted(options)} ({error})",
                kind=TypeError,
            )
        loss_fn = loss_fn.to(self.device_)
        fixed_lambda = "lam" in options
        train_rows, val_rows = self._split(x.shape[0])
        train_t = torch.as_tensor(train_rows, device=self.device_)
        val_t = torch.as_tensor(val_rows, device=self.device_)
        network = build_network(x.shape[1], self.n_classes_, self._hidden, self._dropout)
        generator = self._generator()

        def batch_loss(net: nn.Module, rows: Tensor, epoch: int) -> Tensor:
            logits = net(x[rows])
            if isinstance(loss_fn, PRODENLoss):
                return loss_fn(logits, rows)
            return loss_fn(logits, cand[rows])

        def score(net: nn.Module) -> float:
            log_probs = torch.log_softmax(net(x[val_t]), dim=1)
            masked = log_probs.masked_fill(~cand[val_t], -torch.inf)
            return float(torch.logsumexp(masked, dim=1).mean())

        def end_epoch(net: nn.Module, epoch: int) -> None:
            if isinstance(loss_fn, POPLoss):
                loss_fn.end_epoch()
            elif isinstance(loss_fn, ALIMLoss) and not fixed_lambda and epoch >= warmup:
                loss_fn.lam = alim_lambda(net(x[train_t]), cand[train_t], noise_rate)

        self.network_ = self._train(
            network,
            batches=lambda epoch, gen: self._row_batches(train_t, gen),
            batch_loss=batch_loss,
            score=score if val_rows.size else None,
            end_epoch=end_epoch,
            generator=generator,
            description=f"PartialLabelClassifier({name})",
        )
        self.loss_ = loss_fn
        self.classes_ = np.arange(self.n_classes_)
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities (n, K), rows summing to 1 (float64)."""
        self._check_fitted("predict_proba")
        return _softmax(self.decision_function(X))

    def predict(self, X: object) -> np.ndarray:
        """The most probable class, (n,) int64."""
        return np.argmax(self.decision_function(X), axis=1).astype(np.int64)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
