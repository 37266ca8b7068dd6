"""Fit a small head on frozen features, and measure it honestly on the validation split.

The head is trained in torch (AdamW, early stopping on validation loss, best epoch kept)
and handed back as a numpy :class:`teachbox.serving.Head`; every validation number is
computed from that numpy head, the very code inference runs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from teachbox.serving import Head

__all__ = [
    "HeadConfig",
    "FitResult",
    "standardization",
    "build_head_module",
    "train_one_epoch",
    "evaluate",
    "fit_head",
    "warm_up",
    "classification_metrics",
]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadConfig:
    """How to train one candidate head. ``hidden=0`` is a linear head."""

    hidden: int = 0
    lr: float = 1e-2
    weight_decay: float = 1e-2
    dropout: float = 0.1
    max_epochs: int = 100
    patience: int = 10
    # An epoch counts as better only if it lowers validation loss by this much: on separable
    # data the loss creeps towards 0 for hundreds of epochs without changing a prediction.
    min_delta: float = 1e-3
    batch_size: int = 128
    seed: int = 0

    @property
    def type(self) -> str:
        return "mlp" if self.hidden else "linear"


@dataclass
class FitResult:
    head: Head
    config: HeadConfig
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    val_loss: float = math.inf
    val_acc: float = 0.0


def standardization(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale of the training rows; constant features get scale 1
    so they standardize to 0 instead of dividing by zero."""
    mean = x.mean(axis=0).astype(np.float32)
    scale = x.std(axis=0).astype(np.float32)
    scale[scale < 1e-6] = 1.0
    return mean, scale


def build_head_module(dim: int, n_classes: int, config: HeadConfig) -> nn.Module:
    if not config.hidden:
        return nn.Sequential(nn.Linear(dim, n_classes))
    return nn.Sequential(
        nn.Linear(dim, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
        nn.Linear(config.hidden, n_classes),
    )


def _to_head(module: nn.Module, mean: np.ndarray, scale: np.ndarray) -> Head:
    linears = [layer for layer in module if isinstance(layer, nn.Linear)]
    return Head(
        mean=mean, scale=scale,
        weights=[layer.weight.detach().numpy().astype(np.float32).copy() for layer in linears],
        biases=[layer.bias.detach().numpy().astype(np.float32).copy() for layer in linears],
    )


def train_one_epoch(
    module: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
    batch_size: int, generator: torch.Generator,
) -> tuple[float, float]:
    """One pass over shuffled mini-batches; returns (mean loss, accuracy) on the training rows."""
    module.train()
    order = torch.randperm(len(x), generator=generator)
    total_loss = 0.0
    correct = 0
    for start in range(0, len(x), batch_size):
        rows = order[start : start + batch_size]
        logits = module(x[rows])
        loss = nn.functional.cross_entropy(logits, y[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(rows)
        correct += int((logits.argmax(dim=1) == y[rows]).sum())
    return total_loss / len(x), correct / len(x)


def evaluate(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``module`` on the given rows, in eval mode."""
    module.eval()
    with torch.inference_mode():
        logits = module(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def warm_up() -> None:
    """Pay torch's one-time costs before the first job: building the first optimizer imports
    ``torch._dynamo`` (1.8 s measured here), which would otherwise land inside a job."""
    parameter = nn.Parameter(torch.zeros(1))
    torch.optim.AdamW([parameter]).step()


def fit_head(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
    n_classes: int, config: HeadConfig = HeadConfig(),
    on_epoch: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Train a head with early stopping on validation loss; keep the best epoch's weights.

    ``on_epoch(epoch, max_epochs)`` is called after each epoch: the caller's safe point for
    progress, cancellation and shutdown (it may raise to stop).
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    mean, scale = standardization(x_train)
    xt = torch.from_numpy((x_train - mean) / scale)
    xv = torch.from_numpy((x_val - mean) / scale)
    yt = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    yv = torch.from_numpy(np.asarray(y_val, dtype=np.int64))
    module = build_head_module(x_train.shape[1], n_classes, config)
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    result = FitResult(head=_to_head(module, mean, scale), config=config)
    best_state = None
    for epoch in range(1, config.max_epochs + 1):
        train_loss, train_acc = train_one_epoch(module, optimizer, xt, yt, config.batch_size, generator)
        val_loss, val_acc = evaluate(module, xv, yv)
        result.history.append({"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                               "val_loss": val_loss, "val_acc": val_acc})
        if val_loss < result.val_loss - config.min_delta:
            result.val_loss, result.val_acc, result.best_epoch = val_loss, val_acc, epoch
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        if on_epoch is not None:
            on_epoch(epoch, config.max_epochs)
        if epoch - result.best_epoch >= config.patience:
            break
    module.load_state_dict(best_state)
    result.head = _to_head(module, mean, scale)
    _logger.debug("%s head: best epoch %d of %d, val loss %.4f acc %.3f", config.type,
                  result.best_epoch, len(result.history), result.val_loss, result.val_acc)
    return result


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str],
    sample_ids: Sequence[str], sources: Sequence[str],
) -> dict:
    """Accuracy, macro F1, per-class precision/recall/F1/support, confusion (rows true,
    columns predicted), misclassified samples and every validation probability row."""
    y_true = np.asarray(y_true, dtype=np.int64)
    predicted = proba.argmax(axis=1)
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, predicted), 1)
    per_class = []
    for c, name in enumerate(class_names):
        tp = int(confusion[c, c])
        predicted_c = int(confusion[:, c].sum())
        support = int(confusion[c].sum())
        precision = tp / predicted_c if predicted_c else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"class": name, "precision": precision, "recall": recall, "f1": f1,
                          "support": support})
    misclassified = [
        {"sha256": sample_ids[i], "source": sources[i], "true": class_names[y_true[i]],
         "predicted": class_names[predicted[i]], "confidence": float(proba[i, predicted[i]])}
        for i in np.flatnonzero(predicted != y_true)
    ]
    misclassified.sort(key=lambda m: -m["confidence"])  # confident mistakes first
    return {
        "accuracy": float((predicted == y_true).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean([c["f1"] for c in per_class])),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "misclassified": misclassified,
        "val_predictions": [
            {"sha256": sample_ids[i], "probabilities": [float(p) for p in proba[i]]}
            for i in range(len(y_true))
        ],
    }
