"""The demo's picture: held-out loss and AUC of the three day-2 runs, step by step.

Drawn with matplotlib's object API on an Agg canvas (no pyplot): no global backend is
switched, no window opens, and it works on a headless machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .results import Comparison

__all__ = ["INSTALL_MATPLOTLIB", "plot", "plot_unavailable"]

INSTALL_MATPLOTLIB = "pip install 'warmstart[demo]'"  # the extra that brings it

COLOURS = {"scratch": "#888888", "weights only": "#4c72b0", "weights + optimizer": "#dd8452"}


SMOOTH = 20  # steps in the moving average of the training loss


def plot_unavailable() -> str | None:
    """Why the picture cannot be drawn here ("matplotlib is not installed"), or None.

    The demo asks before it trains, not a minute later; a matplotlib that is installed but
    fails to import raises here, as early.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] != "matplotlib":  # one of its own dependencies
            raise
        return "matplotlib is not installed"
    return None


def plot(comparison: Comparison, path: Path, *, title: str) -> Path:
    """Three panels against the day-2 step: held-out log loss (the warm start's step-0
    level and the step where scratch reaches it marked), held-out AUC, and the training
    loss of the first steps, where the carried optimizer state matters."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 4.2), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, auc_ax, early_ax = fig.subplots(1, 3)
    for curve in comparison.curves:
        colour = COLOURS.get(curve.name)
        loss_ax.plot(curve.steps, curve.loss, label=curve.name, color=colour, lw=1.8)
        auc_ax.plot(curve.steps, curve.auc, label=curve.name, color=colour, lw=1.8)
    reach = comparison.scratch_steps_to_warm_start("loss")
    loss_ax.axhline(comparison.warm_start_loss, color="#555555", lw=0.8, ls="--")
    if reach is not None:
        loss_ax.axvline(reach, color="#555555", lw=0.8, ls=":")
        loss_ax.annotate(f"scratch reaches the warm\nstart's step-0 loss: step {reach}",
                         xy=(reach, comparison.warm_start_loss), xytext=(8, 12), textcoords="offset points",
                         fontsize=8, color="#333333")
    early = comparison.early_steps
    for curve in comparison.curves:
        losses = np.asarray(curve.train_loss[:early])
        k = min(SMOOTH, losses.size)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        early_ax.plot(np.arange(k, losses.size + 1), smooth, label=curve.name, color=COLOURS.get(curve.name),
                      lw=1.5)
    loss_ax.set(title="held-out log loss (lower is better)", xlabel="day-2 training step", ylabel="log loss")
    auc_ax.set(title="held-out AUC (higher is better)", xlabel="day-2 training step", ylabel="AUC")
    early_ax.set(title=f"training loss, first {early} steps ({SMOOTH}-step mean)",
                 xlabel="day-2 training step", ylabel="log loss")
    for ax in (loss_ax, auc_ax, early_ax):
        ax.grid(alpha=0.3)
    auc_ax.legend(loc="lower right", fontsize=9)
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
