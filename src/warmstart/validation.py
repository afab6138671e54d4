"""What stops a real run: checked on the plan before anything is written.

Pure Python. A real run raises the first problem's error; a dry run lists every problem in
the report instead, so that a plan can always be inspected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .entries import EntryKind, SourceEntry, TargetSlot
from .errors import (
    IncompleteError,
    NothingToLoadError,
    ShapeMismatchError,
    WarmStartError,
    join_problems,
)
from .names import closest
from .plan import Plan, SlotOutcome, SlotPlan

__all__ = ["Problem", "plan_problems", "predicted_slots", "slot_problems"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a real run fails: the error it raises, and its message."""

    error: type[WarmStartError]
    message: str

    def raise_(self) -> None:
        raise self.error(self.message)


def plan_problems(plan: Plan, entries: Sequence[SourceEntry], *, strict: bool) -> list[Problem]:
    """What stops a real run, in the order it is raised."""
    out: list[Problem] = []
    if plan.mismatch_errors:
        out.append(Problem(ShapeMismatchError, join_problems("shapes or dtypes differ:", list(plan.mismatch_errors))))
    if strict and plan.incomplete:
        lines = [
            f"{n!r} would not be loaded: {plan.missing_detail.get(n) or _skip_detail(plan, n)}."
            for n in plan.incomplete
        ]
        lines[0] += "\n  Fix: add a rule that loads it, or expect_missing=[...] the names you expect to stay new."
        out.append(Problem(IncompleteError, join_problems("strict warm start is incomplete:", lines)))
    unpreserved = [s for s in plan.steps if s.unpreserved] if strict else []
    if unpreserved:
        lines = [f"{s.target!r} would load as an overlap, not function-preserving: {s.unpreserved}."
                 for s in unpreserved]
        name = unpreserved[0].target
        lines[0] += (f"\n  Fix: on_mismatch={{{name!r}: \"overlap\"}} to accept the change, or exclude=[{name!r}] "
                     f"to leave it as initialised.")
        out.append(Problem(IncompleteError, join_problems("strict warm start cannot preserve the function:", lines)))
    if not plan.steps:
        sources = [e.name for e in entries if e.kind is EntryKind.VARIABLE]
        targets = list(plan.missing) + [s.target for s in plan.skipped]
        near = closest(targets[0], sources) if targets and sources else []
        out.append(Problem(NothingToLoadError, (
            f"nothing would be loaded: {len(targets)} target variable(s), {len(sources)} checkpoint "
            f"variable(s), no pair that fits"
            + (f" (e.g. {targets[0]!r}; checkpoint names nearby: {', '.join(near)})" if near else "")
            + ".\n  Fix: compare the names with `warmstart inspect`, then add rename rules or loosen "
            "include/exclude."
        )))
    return out


def slot_problems(slot_plan: SlotPlan, *, strict: bool) -> list[Problem]:
    """Under ``strict``, a loaded variable whose slot would not be loaded is incomplete."""
    if not strict:
        return []
    bad = [f"slot {s.slot!r} of {s.target!r} would not be loaded: {s.reason}."
           for s in slot_plan.results if s.outcome is SlotOutcome.SKIPPED]
    return [Problem(IncompleteError, join_problems("strict warm start is incomplete:", bad))] if bad else []


def predicted_slots(plan: Plan, entries: Sequence[SourceEntry]) -> list[TargetSlot]:
    """The slots an unbuilt optimizer will have, predicted from the checkpoint's slots of the
    variables that load (a dry run does not build the optimizer)."""
    loaded = {s.source: s for s in plan.steps}
    out = []
    for e in entries:
        if e.kind is not EntryKind.SLOT or e.slot_owner not in loaded or not e.slot_name:
            continue
        step = loaded[e.slot_owner]
        shape = step.shape if e.shape == step.source_shape else e.shape
        out.append(TargetSlot(step.target, e.slot_name, shape, e.dtype, f"{e.slot_owner}@{e.slot_name}"))
    return out


def _skip_detail(plan: Plan, name: str) -> str:
    for s in plan.skipped:
        if s.target == name:
            return f"{s.reason}: {s.detail}"
    return "not loaded"
