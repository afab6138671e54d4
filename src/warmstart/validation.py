"""What stops a real run: checked on the plan before anything is written.

Pure Python. A real run raises the first problem's error; a dry run lists every problem in
the report instead, so that a plan can always be inspected.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .entries import EntryKind, SourceEntry, TargetSlot
from .errors import (
    AmbiguousMatchError,
    ArgumentError,
    IncompleteError,
    NothingToLoadError,
    ShapeMismatchError,
    WarmStartError,
    join_problems,
)
from .names import ACCUMULATOR_LISTS, closest
from .plan import Plan, SlotOutcome, SlotPlan

__all__ = ["Problem", "check_arguments", "plan_problems", "predicted_slots", "raise_problems", "slot_problems"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a real run fails: the error it raises, and its message."""

    error: type[WarmStartError]
    message: str

    def raise_(self) -> None:
        raise self.error(self.message)


def check_arguments(*, source: object, optimizer_step: object = "carry", memory_budget: object = None,
                    progress: object = None, source_root: object = None, flags: dict[str, object] | None = None) -> None:
    """The call's own arguments, before anything is read: each wrong one is an ``ArgumentError``."""
    if isinstance(source, bytes) or not isinstance(source, (str, os.PathLike)):
        raise ArgumentError(f"source must be a path (str or os.PathLike), not {type(source).__name__} {source!r}.\n"
                            f"  Fix: pass the checkpoint prefix, its directory or the file as a str.")
    if optimizer_step not in ("carry", "reset"):
        raise ArgumentError(f"optimizer_step must be 'carry' or 'reset', not {optimizer_step!r}.")
    if memory_budget is not None and (isinstance(memory_budget, bool) or not isinstance(memory_budget, int)
                                      or memory_budget < 0):
        raise ArgumentError(f"memory_budget must be None (hold everything) or a number of bytes >= 0, "
                            f"not {memory_budget!r}.")
    if progress is not None and not callable(progress):
        raise ArgumentError(f"progress must be a callable (bytes_done, bytes_total), not {type(progress).__name__}.")
    if source_root is not None and (not isinstance(source_root, str) or not source_root.strip("/")):
        raise ArgumentError(f"source_root must be a '/'-separated path in the checkpoint, not {source_root!r}.")
    for name, value in (flags or {}).items():
        if not isinstance(value, bool):
            raise ArgumentError(f"{name} must be True or False, not {value!r}.")


def raise_problems(problems: Sequence[Problem]) -> None:
    """One error for every problem: the first one's class, every message."""
    first = problems[0]
    if len(problems) == 1:
        first.raise_()
    rest = "\n".join(f"Also: {p.message}" for p in problems[1:])
    raise first.error(f"{first.message}\n{rest}")


def plan_problems(plan: Plan, entries: Sequence[SourceEntry], *, strict: bool,
                  models: Sequence[str] = ()) -> list[Problem]:
    """What stops a real run, in the order it is raised."""
    out: list[Problem] = []
    if plan.mismatch_errors:
        out.append(Problem(ShapeMismatchError, join_problems("shapes or dtypes differ:", list(plan.mismatch_errors))))
    if strict and plan.ambiguities:
        out.append(Problem(AmbiguousMatchError, join_problems(
            "strict warm start: a pairing is a guess:", list(plan.ambiguities))))
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
        out.append(Problem(NothingToLoadError, _nothing_message(plan, entries, models)))
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
        if f"_{e.slot_name}" in ACCUMULATOR_LISTS:  # not a slot: it starts at zero
            continue
        step = loaded[e.slot_owner]
        shape = step.shape if e.shape == step.source_shape else e.shape
        out.append(TargetSlot(step.target, e.slot_name, shape, e.dtype, f"{e.slot_owner}@{e.slot_name}"))
    return out


def _nothing_message(plan: Plan, entries: Sequence[SourceEntry], models: Sequence[str]) -> str:
    """Loading nothing is an error; say why for each target, which is usually one reason."""
    sources = [e.name for e in entries if e.kind is EntryKind.VARIABLE]
    reasons = [f"{s.target!r}: {s.reason}: {s.detail}" for s in plan.skipped]
    reasons += [f"{n!r}: {plan.missing_detail.get(n, 'not in the checkpoint')}" for n in plan.missing]
    shown = "\n".join(f"  {r}" for r in sorted(reasons)[:6])
    more = f"\n  ... and {len(reasons) - 6} more" if len(reasons) > 6 else ""
    near = closest(plan.missing[0], sources) if plan.missing and sources else []
    hint = f"\n  Checkpoint names near {plan.missing[0]!r}: {', '.join(near)}." if near else ""
    if len(models) > 1:
        fix = (f"  Fix: the checkpoint holds {len(models)} models ({', '.join(models)}); pick the one to load "
               f"from with source_root={models[0]!r} (CLI: --source-root).")
    else:
        fix = ("  Fix: compare the names with `warmstart inspect`, then add rename rules or loosen include/exclude "
               "(or the policy, cast= for dtypes).")
    return (f"nothing would be loaded: {len(reasons)} target variable(s), {len(sources)} checkpoint "
            f"variable(s), no pair that fits:\n{shown}{more}{hint}\n{fix}")


def _skip_detail(plan: Plan, name: str) -> str:
    for s in plan.skipped:
        if s.target == name:
            return f"{s.reason}: {s.detail}"
    return "not loaded"
