"""ProportionClassifier: multi-class training from bags with known label proportions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from labelwise._validation import check_bags, check_choice, check_int
from labelwise.losses import DLLPLoss, ProportionIntervalLoss, mixbag
from labelwise.models._base import TorchTrainer, build_network
from labelwise.models.partial_label import _softmax

LOSSES = ("dllp", "mixbag")


class ProportionClassifier(TorchTrainer):
    """Multi-class classifier from bags of examples with their class proportions.

    ``loss="dllp"`` matches each bag's mean prediction to its proportions (Ardehaly & Culotta,
    2017). ``"mixbag"`` adds, for every original bag of a step, one bag mixed from two random
    training bags, trained with the confidence-interval loss (Asanomi et al., ICCV 2023; see
    :func:`labelwise.losses.mixbag`). The validation split holds whole bags; early stopping
    uses their DLLP loss.

    Parameters
    ----------
    loss : {"dllp", "mixbag"}, default="dllp"
    bags_per_batch : int, default=4
    hidden_layer_sizes, dropout, lr, weight_decay, max_epochs, validation_fraction, patience,
    standardize, device, random_state, progress
        As in :class:`~labelwise.models.PartialMultilabelClassifier`.

    Examples
    --------
    >>> import numpy as np
    >>> from labelwise.models import ProportionClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 800)
    >>> X = rng.normal(size=(800, 3)) + 2 * y[:, None]
    >>> bag_ids = np.repeat(np.arange(50), 16)
    >>> proportions = np.stack([np.bincount(y[bag_ids == b], minlength=2) / 16 for b in range(50)])
    >>> model = ProportionClassifier(random_state=0).fit(X, bag_ids, proportions)
    >>> bool((model.predict(X) == y).mean() > 0.8)
    True
    """

    def __init__(
        self,
        loss: str = "dllp",
        *,
        bags_per_batch: int = 4,
        hidden_layer_sizes: Any = (),
        dropout: float = 0.0,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        max_epochs: int = 100,
        validation_fraction: float = 0.2,
        patience: int = 10,
        standardize: bool = True,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = False,
    ) -> None:
        self.loss = loss
        self.bags_per_batch = bags_per_batch
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.standardize = standardize
        self.device = device
        self.random_state = random_state
        self.progress = progress

    batch_size = 1  # rows per step are set by bags_per_batch; kept for the shared checks

    def fit(self, X: object, bag_ids: object, proportions: object) -> ProportionClassifier:
        """Train on features ``X`` (n, d), ``bag_ids`` (n,) and ``proportions`` (n_bags, K)."""
        name = check_choice(self.loss, "loss", LOSSES)
        per_batch = check_int(self.bags_per_batch, "bags_per_batch", minimum=1)
        self._check_common()
        x = self._features(X, fit=True)
        ids, props_np = check_bags(bag_ids, proportions, x.shape[0])
        self.n_classes_ = props_np.shape[1]
        props = torch.as_tensor(props_np, dtype=torch.float32, device=self.device_)
        members = [np.flatnonzero(ids == b) for b in range(props_np.shape[0])]
        train_bags, val_bags = self._split(len(members))
        rng = np.random.default_rng(self.random_state)
        dllp, interval = DLLPLoss(), ProportionIntervalLoss()
        device = self.device_

        def gather(bags: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
            rows = np.concatenate([members[b] for b in bags])
            local = np.repeat(np.arange(bags.size), [members[b].size for b in bags])
            return (
                torch.as_tensor(rows, device=device),
                torch.as_tensor(local, device=device),
                props[torch.as_tensor(bags, device=device)],
            )

        def batches(epoch: int, gen: torch.Generator) -> Iterator[np.ndarray]:
            order = train_bags[torch.randperm(train_bags.size, generator=gen).numpy()]
            for start in range(0, order.size, per_batch):
                yield order[start : start + per_batch]

        train_members = [members[b] for b in train_bags]
        train_props = props_np[train_bags]

        def batch_loss(net: nn.Module, bags: np.ndarray, epoch: int) -> Tensor:
            rows, local, target = gather(bags)
            loss = dllp(net(x[rows]), local, target)
            if name == "mixbag" and len(train_members) >= 2:
                mixed = [mixbag(train_members, train_props, random_state=rng) for _ in bags]
                rows_m = torch.as_tensor(np.concatenate([m.rows for m in mixed]), device=device)
                local_m = torch.as_tensor(
                    np.repeat(np.arange(len(mixed)), [m.rows.size for m in mixed]), device=device
                )
                lower = torch.as_tensor(
                    np.stack([m.lower for m in mixed]), dtype=torch.float32, device=device
                )
                upper = torch.as_tensor(
                    np.stack([m.upper for m in mixed]), dtype=torch.float32, device=device
                )
                loss = loss + interval(net(x[rows_m]), local_m, lower, upper)
            return loss

        def score(net: nn.Module) -> float:
            rows, local, target = gather(val_bags)
            return -float(dllp(net(x[rows]), local, target))

        self.network_ = self._train(
            build_network(x.shape[1], self.n_classes_, self._hidden, self._dropout),
            batches=batches,
            batch_loss=batch_loss,
            score=score if val_bags.size else None,
            generator=self._generator(),
            description=f"ProportionClassifier({name})",
        )
        self.classes_ = np.arange(self.n_classes_)
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities (n, K), rows summing to 1 (float64)."""
        self._check_fitted("predict_proba")
        return _softmax(self.decision_function(X))

    def predict(self, X: object) -> np.ndarray:
        """The most probable class, (n,) int64."""
        return np.argmax(self.decision_function(X), axis=1).astype(np.int64)
