"""Optimizer slots follow their variables: plan which slot loads from where.

Pure Python. A target slot (owner variable, slot name) loads from the checkpoint slot of
the same name attached to the checkpoint variable its owner loads from, with the same
transform as the owner (copy, cast, overlap, preserve: the block lands where the owner's did;
no zeros are written into slots, and new entries, like a remap's new rows, keep their initial
values whatever the owner's initializer). A variable that was not loaded keeps fresh
slots; a loaded variable whose slot is missing or does not fit keeps a fresh slot too,
and that is reported as ``skipped`` with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ..entries import EntryKind, SourceEntry, TargetSlot
from ..plan import Action, Remap, SlotEntry, SlotOutcome, SlotPlan, Step, Strategy
from .decide import cast_action

__all__ = ["find_step_counter", "plan_slots"]


def plan_slots(
    steps: Sequence[Step],
    sources: Sequence[SourceEntry],
    slots: Sequence[TargetSlot],
    *,
    iterations: tuple[str, str] | None = None,  # (handle, dtype) of the target's counter
    carry_step: bool = True,
    casts: frozenset[tuple[str, str]] = frozenset(),
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
        src = min(found, key=lambda s: s.key)
        decided = _decide(t, src, var, casts)
        if isinstance(decided, Step):
            out_steps.append(decided)
            results.append(SlotEntry(t.owner, t.slot, SlotOutcome.LOADED, action=decided.action))
        else:
            results.append(SlotEntry(t.owner, t.slot, SlotOutcome.SKIPPED, reason=decided))
    counter = None
    if carry_step and iterations is not None and out_steps:
        counter = _counter_step(sources, *iterations)
    warning = _other_kind(sources, slots, len(out_steps))
    return SlotPlan(tuple(out_steps), tuple(results), counter, warnings=(warning,) if warning else ())


def _other_kind(sources: Sequence[SourceEntry], slots: Sequence[TargetSlot], loaded: int) -> str:
    """A warning when the checkpoint's optimizer keeps other kinds of slots than this one: it
    is likely another optimizer, whose slot of the same name means something else (an SGD's
    ``momentums`` are steps in parameter units, an Adam's a gradient average)."""
    theirs = {s.slot_name for s in sources if s.kind is EntryKind.SLOT and s.slot_name is not None}
    ours = {t.slot for t in slots}
    if not loaded or not theirs or theirs == ours:
        return ""
    return (f"the checkpoint's optimizer keeps {_kinds(theirs)} slots for each variable, this optimizer "
            f"{_kinds(ours)}: probably another optimizer class, whose slots of the same name need not mean the "
            f"same thing (an SGD's momentums are steps, an Adam's gradient averages); {loaded} slot(s) were "
            f"loaded by name.\n  Fix: carry slots only into the optimizer class that wrote them, or leave out "
            f"optimizer= for fresh slots.")


def _kinds(names: set[str]) -> str:
    return "{" + ", ".join(sorted(names)) + "}"


def find_step_counter(sources: Sequence[SourceEntry]) -> SourceEntry | None:
    """The checkpoint optimizer's step counter (the innermost one under a loss-scale wrapper)."""
    found = [
        s for s in sources
        if s.kind is EntryKind.OTHER and s.name.rsplit("/", 1)[-1] in ("_iterations", "iter")
        and s.shape == ()
    ]
    return max(found, key=lambda s: (s.name.count("/"), s.name)) if found else None


def _counter_step(sources: Sequence[SourceEntry], handle: str, dtype: str) -> Step | None:
    src = find_step_counter(sources)
    if src is None or not (src.dtype == dtype or src.dtype.startswith("int") and dtype.startswith("int")):
        return None
    action = Action.COPY if src.dtype == dtype else Action.CAST
    return Step(target=handle, source=src.name, key=src.key, action=action, shape=(), source_shape=(),
                dtype=dtype, source_dtype=src.dtype, strategy=Strategy.NAME)


def _decide(t: TargetSlot, src: SourceEntry, var: Step, casts: frozenset[tuple[str, str]]) -> Step | str:
    action = cast_action(src.dtype, t.dtype, casts)
    if action is None:
        return f"dtype_mismatch: checkpoint slot {src.dtype} != optimizer slot {t.dtype}"
    remap = None
    if var.remap is not None and _follows_rows(t.shape, src.shape, var):
        # a preserve whose inputs moved is a row remap too, and is reported as a preserve
        action, remap = (Action.PRESERVE if var.action is Action.PRESERVE else Action.VOCAB), var.remap
        if remap.initializer is not None:  # new rows' slots keep their init
            remap = Remap(remap.rows, remap.axis)
    elif src.shape != t.shape:
        if var.action not in (Action.OVERLAP, Action.PRESERVE) or len(src.shape) != len(t.shape):
            return f"shape_mismatch: checkpoint slot {src.shape} != optimizer slot {t.shape}"
        action = var.action
    offset = var.offset if src.shape != t.shape else ()
    if offset and (t.shape, src.shape) != (var.shape, var.source_shape):
        return (f"shape_mismatch: the variable's block was placed at offset {var.offset}, and this slot "
                f"({src.shape} -> {t.shape}) is not laid out like it")
    return Step(target=t.handle, source=src.name, key=src.key, action=action, shape=t.shape,
                source_shape=src.shape, dtype=t.dtype, source_dtype=src.dtype, strategy=var.strategy,
                by_structure=var.by_structure, rule=var.rule, remap=remap, offset=offset,
                detail=remap.rows.describe() if remap is not None else "", rows=var.rows if remap is not None else ())


def _follows_rows(shape: tuple[int, ...], source_shape: tuple[int, ...], var: Step) -> bool:
    """Is this slot laid out along the variable's remapped axis? Moments have the variable's
    shape; Adafactor's row factor has it without the last axis."""
    assert var.remap is not None
    axis = var.remap.axis
    if len(shape) == len(var.shape) and len(source_shape) == len(var.source_shape):
        same = shape == var.shape and source_shape == var.source_shape
        return same or (shape[axis] == var.shape[axis] and source_shape[axis] == var.source_shape[axis])
    return (
        axis < len(var.shape) - 1
        and shape == var.shape[:-1]
        and source_shape == var.source_shape[:-1]
    )
