"""``warm_start``: rules, source and target in; a report out. Orchestration only."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .apply import DEFAULT_MEMORY_BUDGET, Progress, execute
from .entries import EntryKind, SourceEntry, TargetSlot
from .errors import IncompleteError, NothingToLoadError, ShapeMismatchError, join_problems
from .matching import make_plan
from .names import closest
from .optimizers import ITERATIONS, walk_optimizer
from .plan import Plan
from .report import Report, report_from_plan
from .rules import MismatchPolicy, PatternLike, RenameRules, VocabRules, compile_rules
from .slots import SlotOutcome, SlotPlan, plan_slots
from .sources import open_source
from .targets import dtype_of, walk_target

__all__ = ["inspect_checkpoint", "warm_start"]

log = logging.getLogger("warmstart")


def warm_start(
    target: Any,
    source: str | os.PathLike[str],
    *,
    include: Iterable[PatternLike] | PatternLike | None = None,
    exclude: Iterable[PatternLike] | PatternLike = (),
    rename: RenameRules = (),
    on_mismatch: MismatchPolicy = "skip",
    vocab: VocabRules | None = None,
    optimizer: Any = None,
    strict: bool = False,
    expect_missing: Iterable[PatternLike] | PatternLike = (),
    dry_run: bool = False,
    optimizer_step: str = "carry",
    progress: Progress | None = None,
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
) -> Report:
    """Load every checkpoint variable that fits into ``target``, by name; report the rest.

    ``target`` is a built ``keras.Model``, a ``tf.Module`` or a ``Mapping[str, tf.Variable]``;
    ``source`` a checkpoint prefix, a ``CheckpointManager`` directory (its latest) or a
    SavedModel directory. Rules use ``re.fullmatch`` on target names, the names
    ``warmstart inspect`` shows. Nothing is written unless everything checks out: an error
    leaves every variable as it was.

    ``vocab``: ``{regex: ws.Vocab(old, new, ...)}`` moves each row (or column) of a matched
    table to its token's new position; new tokens keep their initial rows.

    ``optimizer``: a Keras optimizer whose slots (Adam's moments, ...) load along with the
    variables they belong to, through the same rename and overlap; an unbuilt one is built
    on the target's trainable variables first. ``optimizer_step="carry"`` (the default)
    also loads the step counter when any slot is carried: Adam's bias correction divides
    the moments by ``1 - beta**step``, so moments from step 10,000 read at step 1 would be
    rescaled (updates 3-10x too small for the first thousand steps). Use ``"reset"`` to
    restart a step-based learning-rate schedule instead.

    ``memory_budget`` (bytes): up to this much verified data is held before writing;
    larger tables are checksummed in a first pass, then streamed in row chunks (peak memory
    near the budget; the streamed tables are left in TF's copy-on-read mode, which training
    enters anyway). ``None`` holds everything, as ``tf.train.Checkpoint.restore`` does.
    ``progress`` is called with ``(bytes_done, bytes_total)`` across both passes.

    >>> report = ws.warm_start(model, "runs/v1", exclude=["head/.*"],
    ...                        on_mismatch={"tower/.*": "overlap"})  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
    """
    if optimizer_step not in ("carry", "reset"):
        raise ValueError(f"optimizer_step must be 'carry' or 'reset', not {optimizer_step!r}")
    with _gc_paused():
        started = time.perf_counter()
        rules = compile_rules(
            include=include, exclude=exclude, rename=rename,
            on_mismatch=on_mismatch, expect_missing=expect_missing, vocab=vocab,
        )
        live = walk_target(target)
        src = open_source(source)
        plan = make_plan(src.entries, live.entries, rules)
        problems = _problems(plan, src.entries, strict=strict)
        label = os.fspath(source)
        if not dry_run:
            for kind, message in problems:
                raise kind(message)
        slot_plan, notes, handles = None, [], dict(live.variables)
        if optimizer is not None:
            slot_plan, notes, opt_handles = _plan_optimizer(
                optimizer, target, live, plan, src.entries, dry_run=dry_run, carry_step=optimizer_step == "carry"
            )
            handles.update(opt_handles)
            slot_problems = _slot_problems(slot_plan, strict=strict)
            if slot_problems and not dry_run:
                raise IncompleteError(join_problems("strict warm start is incomplete:", slot_problems))
            problems += [(IncompleteError, p) for p in slot_problems]
        if dry_run:
            report = report_from_plan(plan, label, dry_run=True, problems=tuple(p for _, p in problems),
                                      slots=slot_plan, notes=tuple(notes))
            log.info("%s", report.summary())
            return report
        steps = list(plan.steps)
        if slot_plan is not None:
            steps += list(slot_plan.steps) + ([slot_plan.step_entry] if slot_plan.step_entry else [])
        execute(steps, src, handles, memory_budget=memory_budget, progress=progress)
        report = report_from_plan(plan, label, dry_run=False, seconds=time.perf_counter() - started,
                                  slots=slot_plan, notes=tuple(notes))
        log.info("%s", report.summary())
        not_loaded = plan.incomplete  # included, not loaded, not covered by expect_missing
        if not_loaded:
            log.warning("warm start: %d included variable(s) were not loaded (%s%s)", len(not_loaded),
                        ", ".join(not_loaded[:5]), ", ..." if len(not_loaded) > 5 else "")
        return report


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No garbage collection during a warm start: walking a Keras model allocates enough to
    trigger full collections over its ~10^5 tracked objects, a third of the time on a
    2,000-variable model. The previous state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan_optimizer(optimizer, target, live, plan, entries, *, dry_run: bool, carry_step: bool):
    """Slot steps for the loaded variables. An unbuilt optimizer is built on the target's
    trainable variables, except in a dry run, where its slots are predicted from the
    checkpoint instead."""
    build_on = getattr(target, "trainable_variables", None)
    if build_on is None:
        build_on = [v for v in live.variables.values() if getattr(v, "trainable", True)]
    unbuilt = not getattr(optimizer, "built", True)
    if dry_run and unbuilt:
        predicted = plan_slots(plan.steps, entries, _predicted_slots(plan, entries), carry_step=False)
        return predicted, [f"optimizer {optimizer.name!r} is not built: slots predicted from the checkpoint"], {}
    opt = walk_optimizer(optimizer, live.variables, build_on)
    notes = []
    if opt.built_now:
        notes.append(f"optimizer {opt.name!r} was not built: built it on {len(build_on)} trainable variables")
    counter = (ITERATIONS, dtype_of(opt.variables[ITERATIONS]))
    slot_plan = plan_slots(plan.steps, entries, opt.slots, iterations=counter,
                           carry_step=carry_step)
    if slot_plan.step_entry is not None:
        notes.append(f"optimizer step carried from {slot_plan.step_entry.source!r}")
    elif carry_step and any(s.outcome is SlotOutcome.LOADED for s in slot_plan.results):
        notes.append("optimizer step not found in the checkpoint: it starts from its current value")
    return slot_plan, notes, opt.variables


def _predicted_slots(plan: Plan, entries) -> list[TargetSlot]:
    loaded = {s.source: s for s in plan.steps}
    return [
        TargetSlot(loaded[e.slot_owner].target, e.slot_name, loaded[e.slot_owner].shape if e.shape ==
                   loaded[e.slot_owner].source_shape else e.shape, e.dtype, f"{e.slot_owner}@{e.slot_name}")
        for e in entries
        if e.kind is EntryKind.SLOT and e.slot_owner in loaded and e.slot_name
    ]


def _slot_problems(slot_plan: SlotPlan, *, strict: bool) -> list[str]:
    if not strict:
        return []
    bad = [s for s in slot_plan.results if s.outcome is SlotOutcome.SKIPPED]
    return [f"slot {s.slot!r} of {s.target!r} would not be loaded: {s.reason}." for s in bad]


def inspect_checkpoint(source: str | os.PathLike[str]) -> tuple[SourceEntry, ...]:
    """Every entry of a checkpoint, with the names rules can refer to."""
    return open_source(source).entries


def _problems(plan: Plan, entries, *, strict: bool) -> list[tuple[type[Exception], str]]:
    """What stops a real run, in the order it is raised; a dry run lists them instead."""
    out: list[tuple[type[Exception], str]] = []
    if plan.mismatch_errors:
        out.append((ShapeMismatchError, join_problems("shapes or dtypes differ:", list(plan.mismatch_errors))))
    if strict and plan.incomplete:
        lines = [
            f"{n!r} would not be loaded: {plan.missing_detail.get(n) or _skip_detail(plan, n)}."
            for n in plan.incomplete
        ]
        lines[0] += "\n  Fix: add a rule that loads it, or expect_missing=[...] the names you expect to stay new."
        out.append((IncompleteError, join_problems("strict warm start is incomplete:", lines)))
    if not plan.steps:
        sources = [e.name for e in entries if e.kind is EntryKind.VARIABLE]
        targets = list(plan.missing) + [s.target for s in plan.skipped]
        near = closest(targets[0], sources) if targets and sources else []
        out.append((NothingToLoadError, (
            f"nothing would be loaded: {len(targets)} target variable(s), {len(sources)} checkpoint "
            f"variable(s), no pair that fits"
            + (f" (e.g. {targets[0]!r}; checkpoint names nearby: {', '.join(near)})" if near else "")
            + ".\n  Fix: compare the names with `warmstart inspect`, then add rename rules or loosen "
            "include/exclude."
        )))
    return out


def _skip_detail(plan: Plan, name: str) -> str:
    for s in plan.skipped:
        if s.target == name:
            return f"{s.reason}: {s.detail}"
    return "not loaded"
