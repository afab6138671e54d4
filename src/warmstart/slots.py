"""Optimizer slots follow their variables: plan which slot loads from where.

Pure Python. A target slot (owner variable, slot name) loads from the checkpoint slot of
the same name attached to the checkpoint variable its owner loads from, with the same
transform as the owner (copy, cast, overlap). A variable that was not loaded keeps fresh
slots; a loaded variable whose slot is missing or does not fit keeps a fresh slot too,
and that is reported as ``skipped`` with the reason.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from .entries import EntryKind, SourceEntry, TargetSlot
from .matching import SAFE_CASTS
from .plan import Action, Step, Strategy

__all__ = ["SlotEntry", "SlotOutcome", "SlotPlan", "plan_slots", "step_entry"]


class SlotOutcome(enum.StrEnum):
    LOADED = "loaded"
    FRESH = "fresh"  # its variable was not loaded: the slot keeps its initial value
    SKIPPED = "skipped"  # its variable was loaded, but this slot could not be


@dataclass(frozen=True, slots=True)
class SlotEntry:
    """What happened to one optimizer slot of one target variable."""

    target: str  # the owner variable
    slot: str
    outcome: SlotOutcome
    action: Action | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SlotPlan:
    steps: tuple[Step, ...]
    results: tuple[SlotEntry, ...]
    step_entry: Step | None = None  # the optimizer's iteration counter, when carried


def plan_slots(
    steps: Sequence[Step],
    sources: Sequence[SourceEntry],
    slots: Sequence[TargetSlot],
    *,
    iterations: tuple[str, str] | None = None,  # (handle, dtype) of the target's counter
    carry_step: bool = True,
) -> SlotPlan:
    by_owner: dict[tuple[str, str], list[SourceEntry]] = defaultdict(list)
    for s in sources:
        if s.kind is EntryKind.SLOT and s.slot_owner is not None and s.slot_name is not None:
            by_owner[(s.slot_owner, s.slot_name)].append(s)
    loaded = {s.target: s for s in steps}
    out_steps: list[Step] = []
    results: list[SlotEntry] = []
    for t in sorted(slots, key=lambda t: (t.owner, t.slot)):
        var = loaded.get(t.owner)
        if var is None:
            results.append(SlotEntry(t.owner, t.slot, SlotOutcome.FRESH, reason="variable not loaded"))
            continue
        found = by_owner.get((var.source, t.slot), [])
        if not found:
            results.append(SlotEntry(
                t.owner, t.slot, SlotOutcome.SKIPPED,
                reason=f"the checkpoint has no {t.slot!r} slot for {var.source!r}",
            ))
            continue
        src = sorted(found, key=lambda s: s.key)[0]
        decided = _decide(t, src, var)
        if isinstance(decided, Step):
            out_steps.append(decided)
            results.append(SlotEntry(t.owner, t.slot, SlotOutcome.LOADED, action=decided.action))
        else:
            results.append(SlotEntry(t.owner, t.slot, SlotOutcome.SKIPPED, reason=decided))
    counter = None
    if carry_step and iterations is not None and out_steps:
        counter = _iteration_step(sources, *iterations)
    return SlotPlan(tuple(out_steps), tuple(results), counter)


def step_entry(sources: Sequence[SourceEntry]) -> SourceEntry | None:
    """The checkpoint optimizer's step counter (the innermost one under a loss-scale wrapper)."""
    found = [
        s for s in sources
        if s.kind is EntryKind.OTHER and s.name.rsplit("/", 1)[-1] in ("_iterations", "iter")
        and s.shape == ()
    ]
    return max(found, key=lambda s: (s.name.count("/"), s.name)) if found else None


def _iteration_step(sources: Sequence[SourceEntry], handle: str, dtype: str) -> Step | None:
    src = step_entry(sources)
    if src is None or not (src.dtype == dtype or src.dtype.startswith("int") and dtype.startswith("int")):
        return None
    action = Action.COPY if src.dtype == dtype else Action.CAST
    return Step(handle, src.name, src.key, action, (), (), dtype, src.dtype, Strategy.NAME)


def _decide(t: TargetSlot, src: SourceEntry, var: Step) -> Step | str:
    if not (src.dtype == t.dtype or (src.dtype, t.dtype) in SAFE_CASTS):
        return f"dtype_mismatch: checkpoint slot {src.dtype} != optimizer slot {t.dtype}"
    action = Action.COPY if src.dtype == t.dtype else Action.CAST
    if var.action is Action.VOCAB and _follows_rows(t.shape, src.shape, var):
        return dataclasses.replace(
            Step(t.handle, src.name, src.key, Action.VOCAB, t.shape, src.shape, t.dtype, src.dtype,
                 var.strategy, var.by_structure, var.rule),
            vocab=var.vocab, axis=var.axis,
        )
    if src.shape != t.shape:
        if var.action is not Action.OVERLAP or len(src.shape) != len(t.shape):
            return f"shape_mismatch: checkpoint slot {src.shape} != optimizer slot {t.shape}"
        action = Action.OVERLAP
    return Step(t.handle, src.name, src.key, action, t.shape, src.shape, t.dtype, src.dtype,
                var.strategy, var.by_structure, var.rule)


def _follows_rows(shape: tuple[int, ...], source_shape: tuple[int, ...], var: Step) -> bool:
    """Is this slot laid out along the variable's remapped axis? Moments have the variable's
    shape; Adafactor's row factor has it without the last axis."""
    axis = var.axis
    if len(shape) == len(var.shape) and len(source_shape) == len(var.source_shape):
        same = shape == var.shape and source_shape == var.source_shape
        return same or (shape[axis] == var.shape[axis] and source_shape[axis] == var.source_shape[axis])
    return (
        axis < len(var.shape) - 1
        and shape == var.shape[:-1]
        and source_shape == var.source_shape[:-1]
    )
