"""The outcome of a warm start: what was loaded, skipped (and why), missing and unused.

``str(report)`` is a table grouped by outcome (rendered with rich, no colour);
``report.to_dict()`` is JSON-ready.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from .entries import nbytes, shape_text
from .plan import Action, Plan, SkipReason, Strategy
from .slots import SlotEntry, SlotOutcome, SlotPlan

__all__ = ["LoadedEntry", "Report", "SkippedEntry", "SlotEntry", "report_from_plan"]

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LoadedEntry:
    target: str
    source: str
    action: Action
    shape: Shape
    source_shape: Shape
    strategy: Strategy
    rule: str | None = None
    detail: str = ""  # for a vocab remap: rows carried, new, dropped
    rows: tuple[tuple[str, int], ...] = ()  # the same as numbers: (("carried", n), ("new", n), ("dropped", n))


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    target: str
    source: str | None
    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class Report:
    source: str
    loaded: tuple[LoadedEntry, ...]
    skipped: tuple[SkippedEntry, ...]
    missing: tuple[str, ...]
    unused: tuple[str, ...]
    slots: tuple[SlotEntry, ...] = ()
    dry_run: bool = False
    problems: tuple[str, ...] = ()  # what fails (or would fail) a real run
    missing_detail: dict[str, str] = field(default_factory=dict)
    nbytes: int = 0
    seconds: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "problems": list(self.problems),
            "bytes": self.nbytes,
            "seconds": self.seconds,
            "loaded": [
                {"target": e.target, "source": e.source, "action": str(e.action),
                 "shape": list(e.shape), "source_shape": list(e.source_shape),
                 "strategy": str(e.strategy), "rule": e.rule, "detail": e.detail,
                 "rows": dict(e.rows) if e.rows else None}
                for e in self.loaded
            ],
            "skipped": [
                {"target": e.target, "source": e.source, "reason": str(e.reason), "detail": e.detail}
                for e in self.skipped
            ],
            "missing": [{"target": n, "detail": self.missing_detail.get(n, "")} for n in self.missing],
            "unused": list(self.unused),
            "notes": list(self.notes),
            "slots": [
                {"target": e.target, "slot": e.slot, "outcome": str(e.outcome),
                 "action": None if e.action is None else str(e.action), "reason": e.reason}
                for e in self.slots
            ],
        }

    def summary(self) -> str:
        verb = "would load" if self.dry_run else "loaded"
        return (
            f"warm start from {self.source}: {verb} {len(self.loaded)}, skipped {len(self.skipped)}, "
            f"missing {len(self.missing)}, unused {len(self.unused)}"
            + ("" if self.ok else f"; {len(self.problems)} problem(s)")
        )

    def __str__(self) -> str:
        buffer = io.StringIO()
        Console(file=buffer, width=120, color_system=None, force_terminal=False).print(self)
        return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).strip("\n")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """``console.print(report)`` draws the tables on any rich console (with colour on a
        terminal); the library itself never prints."""
        yield from _renderables(self)


def _renderables(report: Report) -> RenderResult:
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


def _row_counts(step) -> tuple[tuple[str, int], ...]:
    if step.vocab is None:
        return ()
    rows = step.vocab[1]
    return (("carried", rows.carried), ("new", rows.fresh), ("dropped", rows.dropped))


def report_from_plan(plan: Plan, source: str, *, dry_run: bool, problems: tuple[str, ...] = (),
                     seconds: float | None = None, slots: SlotPlan | None = None,
                     notes: tuple[str, ...] = ()) -> Report:
    extra = () if slots is None else slots.steps
    return Report(
        source=source,
        loaded=tuple(
            LoadedEntry(s.target, s.source, s.action, s.shape, s.source_shape, s.strategy, s.rule, s.detail,
                        _row_counts(s))
            for s in plan.steps
        ),
        skipped=tuple(SkippedEntry(s.target, s.source, s.reason, s.detail) for s in plan.skipped),
        missing=plan.missing,
        unused=plan.unused,
        dry_run=dry_run,
        problems=problems,
        missing_detail=dict(plan.missing_detail),
        nbytes=plan.nbytes + sum(nbytes(s.source_dtype, s.source_shape) for s in extra),
        seconds=seconds,
        slots=() if slots is None else slots.results,
        notes=notes,
    )
