"""Training and evaluation for the demo: minibatch Adam steps, held-out log loss and AUC.

All three day-2 runs call :func:`train` with the same data, batch order (``seed``) and
evaluation points, so their curves differ only by how the model started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .features import Features

if TYPE_CHECKING:
    import keras

__all__ = ["Curve", "auc", "evaluate", "log_loss", "train"]

OnStep = Callable[[int, float], None]  # (steps done, that batch's loss)


@dataclass
class Curve:
    """One run: held-out loss and AUC at ``steps``, and every training batch's loss."""

    name: str
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    auc: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "steps": self.steps, "eval_loss": self.loss, "eval_auc": self.auc,
                "train_loss": self.train_loss}


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy, clipped as Keras clips it."""
    y, p = np.ravel(y).astype("float64"), np.clip(np.ravel(p).astype("float64"), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic, ties counted half: exact, unlike a
    thresholded estimate, so small differences between runs are real."""
    y, p = np.ravel(y) > 0.5, np.ravel(p)
    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        return float("nan")
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based rank, averaged over ties
    ranks = average_rank[inverse]
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def evaluate(model: keras.Model, data: Features) -> tuple[float, float]:
    """Held-out log loss and AUC. A plain call, not ``predict``: no tf.function to trace
    for every model the demo builds."""
    p = np.asarray(model(data.inputs, training=False))
    return log_loss(data.label, p), auc(data.label, p)


def train(model: keras.Model, data: Features, *, steps: int, batch: int, seed: int, name: str = "",
          held_out: Features | None = None, every: int = 0, on_step: OnStep | None = None) -> Curve:
    """``steps`` minibatch steps of the compiled ``model`` over shuffled epochs of ``data``.

    With ``held_out``, evaluates at step 0 and every ``every`` steps (and at the end).
    """
    rng = np.random.default_rng(seed)
    curve = Curve(name)
    order = np.empty(0, "int64")
    for step in range(steps + 1):
        if held_out is not None and (step % every == 0 or step == steps):
            loss, area = evaluate(model, held_out)
            curve.steps.append(step)
            curve.loss.append(loss)
            curve.auc.append(area)
        if step == steps:
            break
        if order.size < batch:
            order = np.concatenate([order, rng.permutation(len(data))])
        index, order = order[:batch], order[batch:]
        x, y = data.batch(index)
        value = float(np.asarray(model.train_on_batch(x, y)))
        curve.train_loss.append(value)
        if on_step is not None:
            on_step(step + 1, value)
    return curve
