"""The optimizer's variables that are not slots: which are carried, and why the others are not.

Pure Python. The step is carried by :mod:`.slots` (``optimizer_step="carry"`` and a slot
carried). What goes with it is carried with it, from the checkpoint's optimizer at the same
level: Nadam's ``_u_product`` is the product of its momentum schedule up to the step, so a
carried step with a fresh product makes Nadam's first updates several times too large; a
loss-scale optimizer's ``dynamic_scale`` and ``step_counter`` are where its scaling had got.
With the step reset, they keep their current values too. The learning rate (and any other
hyperparameter held in a variable) is the optimizer's own: never carried. Gradient
accumulators start at zero: an unfinished accumulation is not carried.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..entries import SourceEntry, StateKind, TargetState
from ..plan import Action, StateEntry, StateOutcome, Step, Strategy
from .decide import cast_action

__all__ = ["plan_state"]

_WRAPPER_EDGES = ("inner_optimizer", "_optimizer")  # how a wrapper holds the optimizer it wraps


def plan_state(
    sources: Sequence[SourceEntry],
    targets: Sequence[TargetState],
    *,
    counter: Step | None,
    step_reason: str,
    casts: frozenset[tuple[str, str]] = frozenset(),
) -> tuple[tuple[Step, ...], tuple[StateEntry, ...], tuple[str, ...]]:
    """Steps for the state tied to the step, what happened to every target, and warnings.

    ``counter`` is the step's load, if it is carried; ``step_reason`` says why it is not.
    """
    by_name = {s.name: s for s in sources}
    inner = counter.source.rsplit("/", 1)[0] if counter is not None and "/" in counter.source else None
    outer = inner.rsplit("/", 1)[0] if inner is not None and inner.rsplit("/", 1)[-1] in _WRAPPER_EDGES else None
    steps: list[Step] = []
    out: list[StateEntry] = []
    warnings: list[str] = []
    for t in sorted(targets, key=lambda t: (t.kind != StateKind.STEP, t.handle)):
        if t.kind is StateKind.STEP:
            if counter is not None:
                out.append(StateEntry(t.handle, t.kind, StateOutcome.CARRIED, counter.source))
            else:
                out.append(StateEntry(t.handle, t.kind, StateOutcome.KEPT, reason=step_reason))
        elif t.kind is StateKind.LEARNING_RATE:
            out.append(StateEntry(t.handle, t.kind, StateOutcome.KEPT,
                                  reason="a hyperparameter: the optimizer's own value, never carried"))
        elif t.kind is StateKind.ACCUMULATOR:
            out.append(StateEntry(t.handle, t.kind, StateOutcome.KEPT,
                                  reason="gradient accumulators start at zero: an unfinished accumulation "
                                         "is not carried"))
        elif counter is None:
            out.append(StateEntry(t.handle, t.kind, StateOutcome.KEPT,
                                  reason=f"goes with the step, which is not carried ({step_reason})"))
        else:
            prefix = outer if t.wrapper else inner
            src = by_name.get(f"{prefix}/{t.path}") if prefix is not None else None
            decided = _decide(t, src, counter, prefix, casts)
            if isinstance(decided, Step):
                steps.append(decided)
                out.append(StateEntry(t.handle, t.kind, StateOutcome.CARRIED, decided.source))
            elif t.wrapper and prefix is None:  # day 1 had no wrapper (a switch to mixed precision)
                out.append(StateEntry(t.handle, t.kind, StateOutcome.KEPT,
                                      reason=f"the checkpoint's optimizer was not wrapped (its step is "
                                             f"{counter.source!r}): the wrapper's own state starts as new "
                                             f"(a loss scale adapts by itself)"))
            else:
                out.append(StateEntry(t.handle, t.kind, StateOutcome.SKIPPED, reason=decided))
                warnings.append(f"optimizer state {t.handle!r} goes with the step, which was carried from "
                                f"{counter.source!r}, but was not carried: {decided}; the first updates "
                                f"will differ from training's (e.g. Nadam's bias correction)")
    return tuple(steps), tuple(out), tuple(warnings)


def _decide(t: TargetState, src: SourceEntry | None, counter: Step, prefix: str | None,
            casts: frozenset[tuple[str, str]]) -> Step | str:
    if src is None:
        if prefix is None:
            return f"the checkpoint's optimizer is not wrapped (its step is {counter.source!r}); it keeps its current value"
        return f"the checkpoint has no '{prefix}/{t.path}'; it keeps its current value"
    if src.shape != t.shape:
        return f"shape_mismatch: checkpoint {src.shape} != optimizer {t.shape}"
    action = cast_action(src.dtype, t.dtype, casts)
    if action is None and src.dtype.startswith("int") and t.dtype.startswith("int"):
        action = Action.CAST  # a counter, like the step (int32 in JAX, int64 in TF)
    if action is None:
        return f"dtype_mismatch: checkpoint {src.dtype} != optimizer {t.dtype}"
    return Step(target=t.handle, source=src.name, key=src.key, action=action, shape=t.shape,
                source_shape=src.shape, dtype=t.dtype, source_dtype=src.dtype, strategy=Strategy.NAME)
