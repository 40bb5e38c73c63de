"""What every trainer shares: the network, the seeded training loop and early stopping.

A trainer standardises the features, builds a linear head or a small MLP, and runs Adam over
shuffled mini-batches; after each epoch it scores a held-out validation split with a
method-specific score (higher is better) and keeps the weights of the best epoch, stopping
after ``patience`` epochs without improvement. Everything lives on ``device``; randomness comes
only from ``random_state`` (NumPy for the split, a torch ``Generator`` for the shuffles and the
initial weights).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import Tensor, nn
from tqdm.auto import tqdm

from labelwise._validation import (
    check_bool,
    check_device_name,
    check_features,
    check_fraction,
    check_hidden_layer_sizes,
    check_int,
    check_positive,
    fail,
)

PREDICT_CHUNK = 65_536


def build_network(
    n_features: int, n_outputs: int, hidden_layer_sizes: Sequence[int], dropout: float
) -> nn.Module:
    """``Linear`` when ``hidden_layer_sizes`` is empty, else Linear-ReLU(-Dropout) blocks."""
    layers: list[nn.Module] = []
    width = n_features
    for size in hidden_layer_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def average_precision(scores: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Per-column average precision (n, L) → (L,); NaN for a column without positives.

    The mean of the precision at the rank of each positive, scores sorted descending (ties in
    a stable order), as ``sklearn.metrics.average_precision_score`` up to tie handling.
    """
    order = np.argsort(-scores, axis=0, kind="stable")
    hits = np.take_along_axis(positives, order, axis=0).astype(np.float64)
    ranks = np.arange(1, scores.shape[0] + 1, dtype=np.float64)[:, None]
    precision = np.cumsum(hits, axis=0) / ranks
    n_pos = hits.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pos > 0, (precision * hits).sum(axis=0) / n_pos, np.nan)


class TorchTrainer(BaseEstimator):
    """Base of the trainers; subclasses define ``__init__`` (storing parameters) and ``fit``."""

    hidden_layer_sizes: Any
    dropout: float
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    validation_fraction: float
    patience: int
    standardize: bool
    device: str
    random_state: int | None
    progress: bool

    # ----------------------------------------------------------------- set-up

    def _check_common(self) -> None:
        self._hidden = check_hidden_layer_sizes(self.hidden_layer_sizes)
        self._dropout = check_fraction(self.dropout, "dropout", allow_zero=True)
        check_positive(self.lr, "lr")
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.max_epochs, "max_epochs", minimum=1)
        fraction = check_fraction(self.validation_fraction, "validation_fraction", allow_zero=True)
        if fraction >= 1:
            fail("validation_fraction", "a number in [0, 1)", repr(self.validation_fraction))
        check_int(self.patience, "patience", minimum=1)
        check_bool(self.standardize, "standardize")
        check_bool(self.progress, "progress")
        self.device_ = torch.device(check_device_name(self.device, torch.cuda.is_available))

    def _features(self, X: object, *, fit: bool) -> Tensor:
        x = check_features(X, name="X", min_rows=1 if not fit else 2).features
        if fit:
            self.n_features_in_ = x.shape[1]
            if self.standardize:
                # 0/1 columns (bag-of-words, one-hot) stay as they are: dividing a rare
                # indicator by its small standard deviation makes it dominate a linear model
                binary = ((x == 0) | (x == 1)).all(axis=0)
                scale = x.std(axis=0)
                self.mean_ = np.where(binary, 0.0, x.mean(axis=0))
                self.scale_ = np.where(binary | (scale == 0), 1.0, scale)
        elif x.shape[1] != self.n_features_in_:
            fail("X", f"{self.n_features_in_} columns (as in fit)", f"shape {x.shape}")
        if self.standardize:
            x = (x - self.mean_) / self.scale_
        return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=self.device_)

    def _split(self, groups: int) -> tuple[np.ndarray, np.ndarray]:
        """Shuffled train and validation ids among ``groups`` rows (or bags)."""
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(groups)
        n_val = round(self.validation_fraction * groups)
        if self.validation_fraction > 0 and (n_val < 1 or n_val >= groups):
            fail(
                "validation_fraction",
                f"a share of the {groups} rows/bags that leaves both splits non-empty",
                repr(self.validation_fraction),
            )
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _generator(self) -> torch.Generator:
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        return torch.Generator().manual_seed(seed)

    def _row_batches(self, rows: Tensor, generator: torch.Generator) -> Iterable[Tensor]:
        perm = rows[torch.randperm(rows.numel(), generator=generator).to(rows.device)]
        return perm.split(int(self.batch_size))

    # ----------------------------------------------------------------- training

    def _train(
        self,
        network: nn.Module,
        *,
        batches: Callable[[int, torch.Generator], Iterable[Any]],
        batch_loss: Callable[[nn.Module, Any, int], Tensor],
        score: Callable[[nn.Module], float] | None,
        end_epoch: Callable[[nn.Module, int], None] | None = None,
        extra: nn.Module | None = None,
        extra_lr_scale: float = 1.0,
        generator: torch.Generator,
        description: str = "",
    ) -> nn.Module:
        """Run the epochs; keep the best-scoring weights. Sets ``n_epochs_``, ``best_epoch_``,
        ``history_`` (validation scores, or training losses when there is no validation)."""
        network = network.to(self.device_)
        groups = [{"params": list(network.parameters()), "lr": float(self.lr)}]
        if extra is not None:
            extra = extra.to(self.device_)
            extra_params = [p for p in extra.parameters() if p.requires_grad]
            if extra_params:
                groups.append({"params": extra_params, "lr": float(self.lr) * extra_lr_scale})
        optimizer = torch.optim.Adam(groups, weight_decay=float(self.weight_decay))
        best, best_state, best_epoch, waited = -math.inf, None, 0, 0
        history: list[float] = []
        epochs = tqdm(
            range(1, int(self.max_epochs) + 1),
            desc=description or type(self).__name__,
            disable=not self.progress,
            leave=False,
        )
        epoch = 0
        for epoch in epochs:
            network.train()
            if extra is not None:
                extra.train()
            total, count = 0.0, 0
            for batch in batches(epoch, generator):
                loss = batch_loss(network, batch, epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
                count += 1
            network.eval()
            if extra is not None:
                extra.eval()
            with torch.no_grad():
                value = score(network) if score is not None else -total / max(count, 1)
            if end_epoch is not None:
                with torch.no_grad():
                    end_epoch(network, epoch)
            if not math.isfinite(value):
                value = -math.inf
            history.append(value)
            epochs.set_postfix(score=f"{value:.4g}")
            if score is None:
                best_epoch = epoch
                continue
            if value > best or best_state is None:
                best, best_epoch, waited = value, epoch, 0
                best_state = copy.deepcopy(network.state_dict())
            else:
                waited += 1
                if waited >= int(self.patience):
                    break
        if best_state is not None:
            network.load_state_dict(best_state)
        network.eval()
        self.n_epochs_ = epoch
        self.best_epoch_ = best_epoch
        self.history_ = history
        return network

    # ----------------------------------------------------------------- prediction

    def _check_fitted(self, step: str) -> None:
        if not hasattr(self, "network_"):
            raise ValueError(
                f"{type(self).__name__}.fit(...) must come before .{step}(...); "
                f"got .{step} on an unfitted trainer."
            )

    def decision_function(self, X: object) -> np.ndarray:
        """The network's logits, (n, n_outputs) (float32)."""
        self._check_fitted("decision_function")
        x = self._features(X, fit=False)
        with torch.no_grad():
            parts = [self.network_(chunk).float().cpu() for chunk in x.split(PREDICT_CHUNK)]
        return torch.cat(parts).numpy()
