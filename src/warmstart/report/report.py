"""The outcome of a warm start: what was loaded, skipped (and why), missing and unused.

``str(report)`` is a table grouped by outcome (rendered with rich, no colour; see
:mod:`.render`); ``report.to_dict()`` is JSON-ready.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult

from ..plan import LoadedEntry, Plan, SkippedEntry, SlotEntry, SlotPlan

__all__ = ["Report", "report_from_plan"]


@dataclass(frozen=True, slots=True)
class Report:
    """What a warm start did (or, with ``dry_run``, would do) with every target variable.

    ``loaded``, ``skipped`` and ``missing`` partition the target's variables; ``unused`` are
    the checkpoint variables nothing loaded from; ``slots`` the optimizer's slots; ``problems``
    what fails (or in a dry run would fail) a real run, and ``ok`` is true when there are none.
    """

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
    warnings: tuple[str, ...] = ()

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
            "warnings": list(self.warnings),
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
            + (f"; {len(self.warnings)} warning(s)" if self.warnings else "")
            + ("" if self.ok else f"; {len(self.problems)} problem(s)")
        )

    def __str__(self) -> str:
        buffer = io.StringIO()
        Console(file=buffer, width=120, color_system=None, force_terminal=False).print(self)
        return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).strip("\n")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """``console.print(report)`` draws the tables on any rich console (with colour on a
        terminal); the library itself never prints."""
        from .render import renderables

        yield from renderables(self)


def report_from_plan(plan: Plan, source: str, *, dry_run: bool, problems: tuple[str, ...] = (),
                     seconds: float | None = None, slots: SlotPlan | None = None,
                     notes: tuple[str, ...] = ()) -> Report:
    extra = () if slots is None else slots.steps
    return Report(
        source=source,
        loaded=plan.steps,
        skipped=plan.skipped,
        missing=plan.missing,
        unused=plan.unused,
        dry_run=dry_run,
        problems=problems,
        missing_detail=dict(plan.missing_detail),
        nbytes=plan.nbytes + sum(s.nbytes for s in extra),
        seconds=seconds,
        slots=() if slots is None else slots.results,
        notes=notes,
        warnings=plan.ambiguities + plan.warnings,
    )
