"""``warm_start``: rules, source and target in; a report out. The sequence of steps only:
each step lives in its own stage (rules, remap, sources, targets, matching, validation,
apply, report)."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .apply import DEFAULT_MEMORY_BUDGET, Progress, execute
from .apply.claims import claimed
from .apply.derived import refresh_derived_state
from .entries import SourceEntry
from .errors import CheckpointNotFoundError, ReplicasOutOfSyncError, WarmStartError
from .matching import make_plan, plan_slots, plan_state
from .plan import Plan, SlotOutcome, SlotPlan, Step
from .remap import build_row_maps
from .remap.lookups import check_lookup_layouts
from .report import Report, report_from_plan
from .report.provenance import rules_dict
from .rules import MismatchPolicy, PatternLike, RenameRules, VocabRules, compile_rules
from .sources import Source, locate, open_source
from .targets import ITERATIONS, Target, dtype_of, lookup_views, walk_optimizer, walk_target
from .targets.distributed_checks import distribution_notes, distribution_problems, diverged, shard_layouts
from .targets.optimizer import provisionally_built
from .targets.workers import plan_digest, workers_disagree
from .validation import (
    Problem,
    check_arguments,
    plan_problems,
    predicted_slots,
    raise_problems,
    slot_problems,
)

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
    cast: Iterable[str] | str = (),
    source_root: str | None = None,
) -> Report:
    """Load every checkpoint variable that fits into ``target``, by name; report the rest.

    ``target`` is a built ``keras.Model``, a ``tf.Module`` or a ``Mapping[str, tf.Variable]``;
    ``source`` a checkpoint prefix (TF2 or TF1), a ``CheckpointManager`` directory (its
    latest), a SavedModel directory, or a Keras file (``.weights.h5``, ``.keras``, legacy
    ``.h5``/``.hdf5``). Rules use ``re.fullmatch`` on target names, the names
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

    ``cast``: dtype changes to load beyond the safe ones, e.g. ``"float64->float32"`` (a
    ``tf.Variable`` made from numpy is float64). No cast, safe or allowed, changes a value's
    magnitude: a finite value the model's dtype cannot hold raises ``CastOverflowError``. ``source_root``: the '/'-separated path of the
    one sub-object of the checkpoint that is the model, for a checkpoint that holds several
    (``tf.train.Checkpoint(generator=g, discriminator=d)``: ``source_root="generator"``).

    Returns:
        Report: every target variable loaded (how, from which checkpoint variable, paired
            by which rule), skipped (why) or missing, the checkpoint variables left unused,
            and each optimizer slot. A dry run's report says what would be loaded and, in
            ``problems``, what would fail.

    Raises:
        CheckpointNotFoundError: nothing at ``source`` is a checkpoint.
        CheckpointReadError: the checkpoint is damaged, truncated, or changed under the call.
        RuleError: a rule is invalid or matched nothing.
        VocabError: a vocabulary does not fit its table or its lookup layer's layout.
        ShapeMismatchError: a pair under ``on_mismatch="error"`` differs.
        CastOverflowError: a cast meets a value the model's dtype cannot hold (inf, a wrapped int).
        IncompleteError: ``strict`` finds a target that would stay new
            (``AmbiguousMatchError``: a pairing that would be a guess).
        NothingToLoadError: nothing at all would load.
        TargetNotBuiltError: the model has no variables yet.
        UnsupportedTargetError: ``target`` is not a model, module or mapping.
        OptimizerError: ``optimizer`` belongs to another model.
        ArgumentError: an argument the call does not take.
        AbortedError: ``progress`` raised or a write failed; every write was undone.
        RollbackError: undoing the writes failed too; the message says which variables hold what.
        BusyError: called from the ``progress`` callback of a warm start into the same variables.

    Every error but ``RollbackError`` leaves the target and the optimizer as they were. With
    several problems, one error is raised, of the first problem's class, and the message
    lists the others after ``Also:``.

    Example:
        >>> report = ws.warm_start(model, "runs/v1", exclude=["head/.*"],
        ...                        on_mismatch={"tower/.*": "overlap"})  # doctest: +SKIP
        >>> print(report)  # doctest: +SKIP
    """
    check_arguments(source=source, optimizer_step=optimizer_step, memory_budget=memory_budget,
                    progress=progress, source_root=source_root, flags={"strict": strict, "dry_run": dry_run})
    with _gc_paused():
        agreement = _Agreement(target, dry_run)
        try:
            return _warm_start(agreement, target, source, include=include, exclude=exclude, rename=rename,
                               on_mismatch=on_mismatch, vocab=vocab, optimizer=optimizer, strict=strict,
                               expect_missing=expect_missing, dry_run=dry_run, optimizer_step=optimizer_step,
                               progress=progress, memory_budget=memory_budget, cast=cast, source_root=source_root)
        except WarmStartError as e:
            agreement.failed(e)  # a worker that fails takes part in the check too: the others learn it
            raise


def _warm_start(agreement: _Agreement, target: Any, source: str | os.PathLike[str], *, include: Any, exclude: Any,
                rename: RenameRules, on_mismatch: MismatchPolicy, vocab: VocabRules | None, optimizer: Any,
                strict: bool, expect_missing: Any, dry_run: bool, optimizer_step: str, progress: Progress | None,
                memory_budget: int | None, cast: Iterable[str] | str, source_root: str | None) -> Report:
    """:func:`warm_start` after its argument checks."""
    started = time.perf_counter()
    rules = compile_rules(
        include=include, exclude=exclude, rename=rename, on_mismatch=on_mismatch,
        expect_missing=expect_missing, vocab=vocab, cast=cast,
    )
    row_maps = build_row_maps(rules.vocab)
    live = walk_target(target)
    agreement.variables = list(live.variables.values())
    if rules.vocab:
        check_lookup_layouts(rules.vocab, row_maps, lookup_views(target))
    located = locate(source)
    layout = _keras_layout(located.format, target, live, optimizer)
    with claimed(() if dry_run else [*live.variables.values(), optimizer]), \
            _open_latest(source, located, target=layout, source_root=source_root) as src:
        plan = make_plan(src.entries, live.entries, rules, row_maps)
        problems = plan_problems(plan, src.entries, strict=strict, models=getattr(src, "models", ()))
        run = _Run(plan, problems, src, dict(live.variables), os.fspath(source), started, dry_run,
                   memory_budget, progress, notes=list(getattr(src, "notes", ())), target=target,
                   agreement=agreement)
        run.rules = rules_dict(rules, {"optimizer": optimizer is not None, "strict": strict,
                                       "optimizer_step": optimizer_step, "dry_run": dry_run,
                                       "cast": sorted(f"{a}->{b}" for a, b in rules.casts),
                                       "source_root": source_root})
        if optimizer is None:
            return run.finish()
        if dry_run and not getattr(optimizer, "built", True):
            run.slots = plan_slots(plan.steps, src.entries, predicted_slots(plan, src.entries),
                                   carry_step=False, casts=rules.casts)
            run.notes.append(f"optimizer {optimizer.name!r} is not built: slots predicted from the checkpoint")
            run.problems += slot_problems(run.slots, strict=strict)
            return run.finish()
        build_on = _build_on(target, live)
        if not getattr(optimizer, "built", True):  # building it is a collective under MultiWorkerMirroredStrategy:
            run.agree(list(plan.steps))  # every worker agrees first, so that none is left out of it
        with provisionally_built(optimizer, build_on) as built_now:
            if built_now:
                run.notes.append(f"optimizer {optimizer.name!r} was not built: built it on "
                                 f"{len(build_on)} trainable variables")
            _plan_optimizer(run, optimizer, live, carry_step=optimizer_step == "carry", casts=rules.casts)
            run.problems += slot_problems(run.slots, strict=strict) if run.slots else []
            return run.finish()


def _open_latest(source: str | os.PathLike[str], located: Any, **options: Any) -> Source:
    """Open ``located``; when ``source`` is a directory whose latest checkpoint went away
    between finding and opening it (another job's CheckpointManager deleting old ones), find
    the latest again, a few times."""
    for attempt in range(4):
        try:
            return open_source(located, **options)
        except CheckpointNotFoundError:
            if attempt == 3 or not os.path.isdir(source):
                raise
            again = locate(source)
            if again.path == located.path:
                raise
            log.info("warm start: the latest checkpoint of %s went away before it was opened (%s): %s is now the "
                     "latest", os.fspath(source), located.path, again.path)
            located = again
    raise AssertionError("unreachable")


def inspect_checkpoint(source: str | os.PathLike[str], *, source_root: str | None = None) -> tuple[SourceEntry, ...]:
    """Every entry of a checkpoint, with the names rules can refer to (under ``source_root``,
    when given: see :func:`warm_start`)."""
    check_arguments(source=source, source_root=source_root)
    with open_source(source, source_root=source_root) as src:
        return src.entries


@dataclass
class _Run:
    """One warm start between planning and its report: what is left to do is checks, the
    writes, and the report."""

    plan: Plan
    problems: list[Problem]
    src: Source
    variables: dict[str, Any]
    label: str
    started: float
    dry_run: bool
    memory_budget: int | None
    progress: Progress | None
    slots: SlotPlan | None = None
    notes: list[str] = field(default_factory=list)
    rules: dict[str, Any] = field(default_factory=dict)
    target: Any = None
    agreement: _Agreement | None = None

    def agree(self, steps: list[Step], *, last: bool = False) -> None:
        """One round of the workers' check (MultiWorkerMirroredStrategy; a no-op otherwise): a
        disagreement is raised now, with this worker's own problems first. Targets are
        compared by position (auto-name counters may differ between processes), problems by
        class (their texts name this worker's devices)."""
        if self.agreement is None:
            return
        checksums = getattr(self.src, "stored_checksums", lambda key: ())
        order = {name: i for i, name in enumerate(self.variables)}
        disagree = self.agreement.round(lambda: plan_digest(
            steps, checksums, [p.error.__name__ for p in self.problems], order), last=last)
        if disagree is not None:
            raise_problems([*self.problems, Problem(ReplicasOutOfSyncError, disagree)])

    def finish(self) -> Report:
        """Raise every problem at once (a real run), else execute (unless a dry run) and report."""
        steps = _steps(self.plan, self.slots)
        written = [(s.target, self.variables[s.target]) for s in steps if s.target in self.variables]
        in_part = {s.target for s in steps if not s.whole}  # the rest of each replica stays as it is
        self.problems += distribution_problems(written, partial=[(n, v) for n, v in written if n in in_part])
        self.agree(steps, last=True)  # every worker of a MultiWorkerMirroredStrategy comes here, problems or not
        if self.problems and not self.dry_run:
            raise_problems(self.problems)
        apart = diverged([(n, v) for n, v in written if n not in in_part]) if not self.dry_run else []
        self.notes += [f"{name}: its replicas differed before the warm start; written whole, they are equal now"
                       for name in apart]
        self.notes += distribution_notes(written)
        if not self.dry_run:
            execute(steps, self.src, self.variables, memory_budget=self.memory_budget, progress=self.progress,
                    diverged=apart)
            self.notes += refresh_derived_state(self.target, [v for _, v in written])
        report = report_from_plan(
            self.plan, self.label, dry_run=self.dry_run, problems=tuple(p.message for p in self.problems),
            seconds=None if self.dry_run else time.perf_counter() - self.started, slots=self.slots,
            notes=tuple(self.notes), location=self.src.location, rules=self.rules,
            shards=shard_layouts(steps, self.variables, getattr(self.src, "row_slices", lambda key: ())),
        )
        log.info("%s", report.summary())
        for w in report.warnings:
            log.warning("warm start: %s", w)
        if not self.dry_run and self.plan.incomplete:
            n = self.plan.incomplete
            log.warning("warm start: %d included variable(s) were not loaded (%s%s)", len(n),
                        ", ".join(n[:5]), ", ..." if len(n) > 5 else "")
        return report


_KERAS_FILES = frozenset({"keras-weights", "keras-archive", "keras-h5", "saved-model"})


def _keras_layout(fmt: str, target: Any, live: Target, optimizer: Any) -> Any:
    """What a Keras file reader needs of the live model (None for other formats and targets)."""
    if fmt not in _KERAS_FILES or live.kind != "keras":
        return None
    from .targets.layout import describe_keras

    return describe_keras(target, live.variables, optimizer if fmt != "saved-model" else None)


class _Agreement:
    """Under ``MultiWorkerMirroredStrategy`` every worker's call takes part in the same rounds
    of the workers' agreement check (:mod:`.targets.workers`) before any write: one before an
    unbuilt optimizer is built (a collective itself), and the last before the writes. A call
    that fails before the last round takes part in the next one with its failure, so that the
    others raise too and the workers' collectives stay in step. Not in a dry run (nothing is
    written). ``variables``: the target's, once walked (the strategy is found among them)."""

    def __init__(self, target: Any, dry_run: bool) -> None:
        self.target, self.done = target, dry_run
        self.variables: list[Any] | None = None

    def round(self, digest: Callable[[], int], *, last: bool = False) -> str | None:
        """One round; after a disagreement, or the last, no more."""
        if self.done:
            return None
        if self.variables is None:
            self.variables = list(walk_target(self.target).variables.values())
        answer = workers_disagree(self.variables, digest)
        self.done = last or answer is not None
        return answer

    def failed(self, error: BaseException) -> None:
        """Take part in the next round with ``error`` (the others, in that round, raise)."""
        try:
            self.round(lambda: plan_digest((), lambda key: (), [f"failed: {type(error).__name__}"]), last=True)
        except WarmStartError:  # the target is not a model: no strategy to agree under
            self.done = True


def _steps(plan: Plan, slots: SlotPlan | None) -> list[Step]:
    steps = list(plan.steps)
    if slots is not None:
        steps += list(slots.steps) + ([slots.counter] if slots.counter else []) + list(slots.state_steps)
    return steps


def _build_on(target: Any, live: Target) -> list[Any]:
    """What ``fit`` builds an optimizer on: the model's trainable variables."""
    build_on = getattr(target, "trainable_variables", None)
    if build_on is None:
        build_on = [v for v in live.variables.values() if getattr(v, "trainable", True)]
    return list(build_on)


def _plan_optimizer(run: _Run, optimizer: Any, live: Target, *, carry_step: bool,
                    casts: frozenset[tuple[str, str]]) -> None:
    """Slot steps for the loaded variables, from the built optimizer's slots; the step, and the
    state that goes with it, when a slot is carried; what happens to every other variable."""
    opt = walk_optimizer(optimizer, live.variables)
    counter = (ITERATIONS, dtype_of(opt.variables[ITERATIONS]))
    slots = plan_slots(run.plan.steps, run.src.entries, opt.slots, iterations=counter, carry_step=carry_step,
                       casts=casts)
    any_slot = any(s.outcome is SlotOutcome.LOADED for s in slots.results)
    why = ("optimizer_step='reset'" if not carry_step else "no slot was carried" if not any_slot
           else "the checkpoint has no step counter of its dtype")
    state_steps, state, warnings = plan_state(run.src.entries, opt.state, counter=slots.counter, step_reason=why,
                                              casts=casts)
    run.slots = dataclasses.replace(slots, state=state, state_steps=state_steps,
                                    warnings=slots.warnings + tuple(warnings))
    run.variables.update(opt.variables)
    if run.slots.counter is not None:
        carried = run.slots.counter
        stored = "" if carried.key.startswith(carried.source) else f" (stored as {carried.key!r})"
        run.notes.append(f"optimizer step carried from {carried.source!r}{stored}")
    elif carry_step and any_slot:
        run.notes.append("optimizer step not found in the checkpoint: it starts from its current value")


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
