"""What the demo prints after the runs: the curve table and the summary.

Text only, from values the other demo modules computed; nothing here trains or loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

import warmstart as ws

from .results import Comparison

if TYPE_CHECKING:
    from .timing import RestoreAttempt, Timing

__all__ = ["Carried", "carried", "curve_table", "summary_lines"]


def curve_table(comparison: Comparison, console: Console, *, max_rows: int = 16) -> None:
    """Held-out loss and AUC per evaluated step, thinned to ``max_rows`` (curves.json has all)."""
    steps = comparison.full.steps
    stride = max(1, -(-(len(steps) - 1) // (max_rows - 1)))
    rows = [i for i in range(len(steps)) if i % stride == 0 or i == len(steps) - 1]
    shown = f", every {steps[stride] - steps[0]} steps" if stride > 1 else ""
    title = f"held-out day-2 log loss / AUC{shown}"
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column("step", justify="right")
    for c in comparison.curves:
        table.add_column(c.name, justify="right")
    for i in rows:
        table.add_row(f"{steps[i]:,}", *(f"{c.loss[i]:.4f} / {c.auc[i]:.4f}" for c in comparison.curves))
    console.print(table)


@dataclass(frozen=True)
class Carried:
    """The report, condensed for the summary."""

    by_action: dict[str, list[str]]  # action -> loaded targets
    vocab_detail: dict[str, str]  # table -> "N rows carried, M new, K old dropped"
    slots_loaded: int
    slots_total: int
    not_carried: list[str]  # "name (why)"


def carried(report: ws.Report) -> Carried:
    by_action: dict[str, list[str]] = {}
    vocab_detail = {}
    for e in report.loaded:
        name = e.target if e.source == e.target else f"{e.target} <- {e.source}"
        by_action.setdefault(str(e.action), []).append(name)
        if e.detail and e.action is ws.Action.VOCAB:
            vocab_detail[e.target] = e.detail
    fresh_slots: dict[str, list[str]] = {}
    for s in report.slots:
        if s.outcome != ws.SlotOutcome.LOADED:
            fresh_slots.setdefault(s.target, []).append(s.slot)
    not_carried = [f"{n}: {report.missing_detail.get(n) or 'not in the checkpoint'}"
                   + (" (its optimizer slots start fresh too)" if fresh_slots.pop(n, None) else "")
                   for n in report.missing]
    not_carried += [f"{e.target}: {e.reason}, {e.detail}" for e in report.skipped]
    not_carried += [f"the optimizer slots {', '.join(v)} of {k}: they start fresh"
                    for k, v in fresh_slots.items()]
    loaded = sum(1 for s in report.slots if s.outcome == ws.SlotOutcome.LOADED)
    return Carried(by_action, vocab_detail, loaded, len(report.slots), not_carried)


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def _at(curve_steps: list[int], values: list[float], step: int) -> float | None:
    return dict(zip(curve_steps, values, strict=True)).get(step)


def summary_lines(*, report: ws.Report, comparison: Comparison, timing: Timing, attempt: RestoreAttempt,
                  day1: dict[str, Any], steps: int) -> list[str]:
    """The closing summary: printed even with --quiet."""
    c = carried(report)
    s, w, f = comparison.curves
    targets = len(report.loaded) + len(report.skipped) + len(report.missing)
    lines = [(f"Carried: {len(report.loaded)} of {targets} variables and {c.slots_loaded} of {c.slots_total} "
              f"optimizer slots, {_mb(report.nbytes)}.")]
    for action, names in sorted(c.by_action.items()):
        lines.append(f"  {action:8} {', '.join(names)}")
    for table, detail in c.vocab_detail.items():
        lines.append(f"  {table}: {detail}")
    lines += [f"Not carried: {item}." for item in c.not_carried]
    lines.append(f"Time: ws.warm_start {timing.warm_start * 1e3:.1f} ms, tf.train.Checkpoint.restore "
                 f"{timing.restore * 1e3:.1f} ms ({timing.ratio:.1f}x; medians of {timing.repeats} runs).")
    if attempt.error:
        overwritten = f" after overwriting {', '.join(attempt.overwritten)}" if attempt.overwritten else ""
        lines.append(f"  restore was timed into an identical day-1 model: it cannot load the changed one, it "
                     f"raised{overwritten}: {attempt.error}")
    lines.append(f"Day 1 model, held-out day-1 logs: log loss {day1['eval_loss']:.4f}, "
                 f"AUC {day1['eval_auc']:.4f}.")
    lines.append(f"Held-out day-2 logs before day-2 training, log loss / AUC: day-1 model (final) "
                 f"{day1['eval_loss_day2']:.4f} / {day1['eval_auc_day2']:.4f}, warm-started day-2 model (step 0, "
                 f"preserve) {f.loss[0]:.4f} / {f.auc[0]:.4f}.")
    widths = (17, 17, 19)
    lines.append(f"{'Day 2, held-out log loss / AUC:':<32}"
                 + "  ".join(f"{c.name:>{width}}" for c, width in zip((s, w, f), widths, strict=True)))
    early = comparison.early_steps
    for step in sorted({0, early, s.steps[-1]}):
        cells = [(_at(x.steps, x.loss, step), _at(x.steps, x.auc, step)) for x in (s, w, f)]
        if all(v is not None for cell in cells for v in cell):
            values = [f"{loss:.4f} / {area:.4f}" for loss, area in cells]
            lines.append(f"  {f'step {step:,}':<30}"
                         + "  ".join(f"{v:>{width}}" for v, width in zip(values, widths, strict=True)))
    reach = comparison.scratch_steps_to_warm_start("loss")
    reach_auc = comparison.scratch_steps_to_warm_start("auc")
    lines.append("Scratch reaches the warm start's step-0 loss " + (
        f"at step {reach:,}" if reach is not None else f"not within {steps:,} steps") + " (its AUC " + (
        f"at step {reach_auc:,}" if reach_auc is not None else f"not within {steps:,} steps") + ").")
    mean = comparison.early_train_loss
    lines.append(f"First {early} steps after the warm start, mean training loss: weights only {mean(w):.4f}, "
                 f"weights + optimizer {mean(f):.4f} (scratch {mean(s):.4f}).")
    return lines
