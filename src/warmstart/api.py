"""``warm_start``: rules, source and target in; a report out. The sequence of steps only:
each step lives in its own stage (rules, remap, sources, targets, matching, validation,
apply, report)."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .apply import DEFAULT_MEMORY_BUDGET, Progress, execute
from .apply.claims import claimed
from .entries import SourceEntry
from .matching import make_plan, plan_slots
from .plan import Plan, SlotOutcome, SlotPlan, Step
from .remap import build_row_maps
from .report import Report, report_from_plan
from .rules import MismatchPolicy, PatternLike, RenameRules, VocabRules, compile_rules
from .sources import Source, open_source
from .targets import ITERATIONS, Target, dtype_of, walk_optimizer, walk_target
from .targets.optimizer import provisionally_built
from .validation import Problem, plan_problems, predicted_slots, slot_problems

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
    ``warmstart inspect`` shows. All or nothing: the checkpoint is read from files opened
    once (renaming, deleting or rewriting it meanwhile changes nothing read), every byte is
    verified before it is written, and any failure while writing (a read error, an exception
    or ``KeyboardInterrupt`` from ``progress``, a SIGINT) puts every variable and optimizer
    slot back before the error is raised. Warm starts into the same variables from several
    threads run one after the other.

    ``vocab``: ``{regex: ws.Vocab(old, new, ...)}`` moves each row (or column) of a matched
    table to its token's new position; new tokens keep their initial rows.

    ``optimizer``: a Keras optimizer whose slots (Adam's moments, ...) load along with the
    variables they belong to, through the same rename and overlap; an unbuilt one is built
    on the target's trainable variables first (and left unbuilt if the call fails).
    ``optimizer_step="carry"`` (the default) also loads the step counter when any slot is
    carried: Adam's bias correction divides the moments by ``1 - beta**step``, so moments
    from step 10,000 read at step 1 would be rescaled. Use ``"reset"`` to restart a
    step-based learning-rate schedule instead.

    ``memory_budget`` (bytes) bounds the memory the call takes above the model: up to this
    much verified data is held before writing; larger tensors are checksummed in a first
    pass, then streamed in row chunks, and what they overwrite goes to an anonymous
    temporary file for the undo. Beyond the budget: a remap's row pairs (32 bytes a carried
    row) and its vocabulary join. Tables written in place are left as ``restore`` leaves
    them (out of TF's copy-on-read mode): later forward passes do not copy them. ``None``
    holds everything, as ``tf.train.Checkpoint.restore`` does. ``progress`` is called with
    ``(bytes_done, bytes_total)`` across both passes; an exception from it stops the call
    (``AbortedError``, everything undone).

    Returns the :class:`~warmstart.Report`. Raises a :class:`~warmstart.WarmStartError`
    subclass (and leaves nothing written) when the source cannot be read or changes under
    it, a rule is wrong, a vocabulary does not fit, ``strict`` finds a target that would stay
    new, a pair under ``on_mismatch="error"`` differs, nothing at all would load, or the call
    was stopped (``AbortedError``); ``RollbackError`` if undoing writes failed, naming which
    variables hold what.

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
        row_maps = build_row_maps(rules.vocab)
        live = walk_target(target)
        with claimed(() if dry_run else [*live.variables.values(), optimizer]), open_source(source) as src:
            plan = make_plan(src.entries, live.entries, rules, row_maps)
            problems = plan_problems(plan, src.entries, strict=strict)
            if not dry_run and problems:
                problems[0].raise_()
            label = os.fspath(source)
            if optimizer is None:
                return _finish(plan, None, [], problems, src, live.variables, label, started,
                               dry_run=dry_run, memory_budget=memory_budget, progress=progress)
            if dry_run and not getattr(optimizer, "built", True):
                slots = plan_slots(plan.steps, src.entries, predicted_slots(plan, src.entries), carry_step=False)
                notes = [f"optimizer {optimizer.name!r} is not built: slots predicted from the checkpoint"]
                return _finish(plan, slots, notes, problems + slot_problems(slots, strict=strict), src,
                               live.variables, label, started, dry_run=True)
            with provisionally_built(optimizer, _build_on(target, live)) as built_now:
                slots, notes, handles = _plan_optimizer(optimizer, live, plan, src.entries,
                                                        carry_step=optimizer_step == "carry")
                if built_now:
                    notes.insert(0, f"optimizer {optimizer.name!r} was not built: built it on "
                                    f"{len(_build_on(target, live))} trainable variables")
                more = slot_problems(slots, strict=strict)
                if not dry_run and more:
                    more[0].raise_()
                return _finish(plan, slots, notes, problems + more, src, {**live.variables, **handles}, label,
                               started, dry_run=dry_run, memory_budget=memory_budget, progress=progress)


def inspect_checkpoint(source: str | os.PathLike[str]) -> tuple[SourceEntry, ...]:
    """Every entry of a checkpoint, with the names rules can refer to."""
    src = open_source(source)
    src.close()
    return src.entries


def _finish(plan: Plan, slots: SlotPlan | None, notes: list[str], problems: list[Problem], src: Source,
            variables: Mapping[str, Any], label: str, started: float, *, dry_run: bool,
            memory_budget: int | None = None, progress: Progress | None = None) -> Report:
    """Execute (unless a dry run) and report."""
    if not dry_run:
        execute(_steps(plan, slots), src, variables, memory_budget=memory_budget, progress=progress)
    report = report_from_plan(
        plan, label, dry_run=dry_run, problems=tuple(p.message for p in problems),
        seconds=None if dry_run else time.perf_counter() - started, slots=slots, notes=tuple(notes),
    )
    log.info("%s", report.summary())
    if not dry_run and plan.incomplete:
        n = plan.incomplete
        log.warning("warm start: %d included variable(s) were not loaded (%s%s)", len(n),
                    ", ".join(n[:5]), ", ..." if len(n) > 5 else "")
    return report


def _steps(plan: Plan, slots: SlotPlan | None) -> list[Step]:
    steps = list(plan.steps)
    if slots is not None:
        steps += list(slots.steps) + ([slots.counter] if slots.counter else [])
    return steps


def _build_on(target: Any, live: Target) -> list[Any]:
    """What ``fit`` builds an optimizer on: the model's trainable variables."""
    build_on = getattr(target, "trainable_variables", None)
    if build_on is None:
        build_on = [v for v in live.variables.values() if getattr(v, "trainable", True)]
    return list(build_on)


def _plan_optimizer(optimizer: Any, live: Target, plan: Plan, entries: tuple[SourceEntry, ...], *,
                    carry_step: bool) -> tuple[SlotPlan, list[str], Mapping[str, Any]]:
    """Slot steps for the loaded variables, from the built optimizer's slots."""
    opt = walk_optimizer(optimizer, live.variables)
    counter = (ITERATIONS, dtype_of(opt.variables[ITERATIONS]))
    slots = plan_slots(plan.steps, entries, opt.slots, iterations=counter, carry_step=carry_step)
    notes = []
    if slots.counter is not None:
        notes.append(f"optimizer step carried from {slots.counter.source!r}")
    elif carry_step and any(s.outcome is SlotOutcome.LOADED for s in slots.results):
        notes.append("optimizer step not found in the checkpoint: it starts from its current value")
    return slots, notes, opt.variables


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No garbage collection during a warm start: walking a Keras model allocates enough to
    trigger full collections over its ~10^5 tracked objects, a third of the time on a
    2,000-variable model. ``gc.disable`` is process-wide, so it is done only when the calling
    thread is the only Python thread (nothing else can see it); with other threads running,
    collection goes on as usual. The previous state is restored."""
    if threading.active_count() > 1 or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
