"""The report as rich renderables: a summary line, then one table per outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import RenderResult
from rich.table import Table
from rich.text import Text

from ..entries import shape_text
from ..plan import Action, SlotOutcome

if TYPE_CHECKING:
    from .report import Report

__all__ = ["renderables"]


def renderables(report: Report) -> RenderResult:
    yield Text(report.summary())
    if report.loaded:
        t = Table(title=f"{'Would load' if report.dry_run else 'Loaded'} ({len(report.loaded)})",
                  title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("target", "source", "action", "shape", "matched by"):
            t.add_column(col)
        for e in report.loaded:
            shape = shape_text(e.shape) if e.shape == e.source_shape else f"{shape_text(e.source_shape)} -> {shape_text(e.shape)}"
            how = str(e.strategy) + (f" {e.rule!r}" if e.rule else "")
            action = f"{e.action}: {e.detail}" if e.detail else str(e.action)
            t.add_row(e.target, "" if e.source == e.target else e.source, action, shape, how)
        yield t
    if report.skipped:
        t = Table(title=f"Skipped ({len(report.skipped)})", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("target", "source", "reason", "detail"):
            t.add_column(col)
        for skip in report.skipped:
            t.add_row(skip.target, skip.source or "", str(skip.reason), skip.detail)
        yield t
    if report.missing:
        t = Table(title=f"Missing: not in the checkpoint, left as initialised ({len(report.missing)})",
                  title_justify="left", box=box.SIMPLE_HEAD)
        t.add_column("target")
        t.add_column("detail")
        for n in report.missing:
            t.add_row(n, report.missing_detail.get(n, ""))
        yield t
    if report.unused:
        yield Text(f"Unused checkpoint variables ({len(report.unused)}): " + ", ".join(report.unused))
    if report.slots:
        yield _slot_table(report)
    for n in report.notes:
        yield Text(f"note: {n}")
    for w in report.warnings:
        yield Text(f"WARNING: {w}")
    for p in report.problems:
        yield Text(f"PROBLEM: {p}")


def _slot_table(report: Report) -> Table:
    """One row per variable: its slots grouped by outcome (a model has thousands)."""
    rows: dict[str, dict[str, list[str]]] = {}
    for e in report.slots:
        if e.outcome is SlotOutcome.LOADED:
            cell = e.slot if e.action in (None, Action.COPY) else f"{e.slot} ({e.action})"
        else:  # a fresh slot's reason is always that its variable was not loaded
            cell = e.slot if e.outcome is SlotOutcome.FRESH else f"{e.slot} ({e.reason})"
        rows.setdefault(e.target, {}).setdefault(str(e.outcome), []).append(cell)
    loaded = sum(1 for e in report.slots if e.outcome is SlotOutcome.LOADED)
    t = Table(title=f"Optimizer slots ({loaded} of {len(report.slots)} loaded)", title_justify="left",
              box=box.SIMPLE_HEAD)
    for col in ("variable", "loaded", "fresh (variable not loaded)", "skipped (why)"):
        t.add_column(col)
    for target, by in sorted(rows.items()):
        t.add_row(target, ", ".join(by.get("loaded", [])), ", ".join(by.get("fresh", [])),
                  "; ".join(by.get("skipped", [])))
    return t


