"""What the three day-2 curves say: where each starts, when scratch catches up, the early steps.

Pure Python over :class:`~warmstart.demo.train.Curve` values, so the numbers the demo
prints, writes to ``curves.json`` and the tests assert are computed once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .train import Curve

__all__ = ["Comparison"]


@dataclass(frozen=True)
class Comparison:
    """Scratch, warm-started weights only, and weights with the optimizer state, trained
    alike; ``window``: the early steps compared for the optimizer state (200)."""

    scratch: Curve
    weights: Curve
    full: Curve
    window: int = 200

    @property
    def curves(self) -> tuple[Curve, Curve, Curve]:
        return self.scratch, self.weights, self.full

    @property
    def warm_start_loss(self) -> float:
        """Held-out loss of the warm-started model before any day-2 step (the optimizer
        state does not change the model, so both warm runs start here)."""
        return self.full.loss[0]

    @property
    def warm_start_auc(self) -> float:
        return self.full.auc[0]

    def scratch_steps_to_warm_start(self, metric: str = "loss") -> int | None:
        """The first evaluated step at which scratch is as good as the warm-started model
        at step 0; None if it never gets there in this run."""
        s = self.scratch
        if metric == "loss":
            hit = [step for step, v in zip(s.steps, s.loss, strict=True) if v <= self.warm_start_loss]
        else:
            hit = [step for step, v in zip(s.steps, s.auc, strict=True) if v >= self.warm_start_auc]
        return hit[0] if hit else None

    @property
    def early_steps(self) -> int:
        """The window, or fewer when the runs are shorter."""
        return min(self.window, len(self.full.train_loss))

    def early_train_loss(self, curve: Curve) -> float:
        """Mean training loss over the first ``early_steps`` steps: every batch counts, so
        a spike after the warm start shows, which sparse evaluations can miss."""
        return float(np.mean(curve.train_loss[: self.early_steps]))

    def early_eval_loss(self, curve: Curve) -> float | None:
        """Held-out loss at the end of the window, if it was evaluated there."""
        return dict(zip(curve.steps, curve.loss, strict=True)).get(self.early_steps)

    def to_dict(self) -> dict[str, Any]:
        early = {
            c.name: {"mean_train_loss": self.early_train_loss(c), "eval_loss": self.early_eval_loss(c)}
            for c in self.curves
        }
        return {
            "runs": [c.to_dict() for c in self.curves],
            "warm_start": {"eval_loss": self.warm_start_loss, "eval_auc": self.warm_start_auc},
            "scratch_step0": {"eval_loss": self.scratch.loss[0], "eval_auc": self.scratch.auc[0]},
            "scratch_steps_to_warm_start": {"loss": self.scratch_steps_to_warm_start("loss"),
                                            "auc": self.scratch_steps_to_warm_start("auc")},
            "first_steps": {"steps": self.early_steps, **early},
        }
