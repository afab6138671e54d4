"""The optimizer's other variables (pure: no TensorFlow)."""

from __future__ import annotations

from warmstart.entries import EntryKind, NameSource, SourceEntry, StateKind, TargetState
from warmstart.matching import plan_state
from warmstart.plan import Action, StateOutcome, Step, Strategy


def other(name, shape=(), dtype="float32"):
    return SourceEntry(name, name, shape, dtype, EntryKind.OTHER, (), "", NameSource.STRUCTURE)


def counter(source):
    return Step(target="optimizer/iterations", source=source, key=source, action=Action.COPY, shape=(),
                source_shape=(), dtype="int64", source_dtype="int64", strategy=Strategy.NAME)


U = TargetState("optimizer/inner_optimizer/_u_product", StateKind.TIED, "_u_product", False, (), "float32")
SCALE = TargetState("optimizer/dynamic_scale", StateKind.TIED, "dynamic_scale", True, (), "float32")
STEP = TargetState("optimizer/iterations", StateKind.STEP, "_iterations", False, (), "int64")
RATE = TargetState("optimizer/_learning_rate", StateKind.LEARNING_RATE, "_learning_rate", True, (), "float32")


def test_state_is_found_at_the_level_of_the_carried_step():
    sources = [other("optimizer/_u_product"), other("optimizer/inner_optimizer/_u_product"),
               other("optimizer/dynamic_scale")]
    steps, out, warnings = plan_state(sources, [U, SCALE, STEP, RATE],
                                      counter=counter("optimizer/inner_optimizer/_iterations"), step_reason="")
    assert {s.target: s.source for s in steps} == {U.handle: "optimizer/inner_optimizer/_u_product",
                                                   SCALE.handle: "optimizer/dynamic_scale"}
    assert {e.target: e.outcome for e in out} == {U.handle: StateOutcome.CARRIED, SCALE.handle: StateOutcome.CARRIED,
                                                  STEP.handle: StateOutcome.CARRIED, RATE.handle: StateOutcome.KEPT}
    assert not warnings


def test_an_unwrapped_checkpoint_has_no_wrapper_state_and_says_so_without_alarm():
    # day 1 without a LossScaleOptimizer, day 2 with one (a switch to mixed precision): the
    # scale starts as new and adapts; nothing about the first updates is off
    steps, out, warnings = plan_state([other("optimizer/_u_product")], [U, SCALE],
                                      counter=counter("optimizer/_iterations"), step_reason="")
    assert [s.target for s in steps] == [U.handle]
    scale = {e.target: e for e in out}[SCALE.handle]
    assert scale.outcome is StateOutcome.KEPT and "was not wrapped" in scale.reason
    assert not warnings


def test_nothing_is_carried_without_the_step():
    steps, out, warnings = plan_state([other("optimizer/_u_product")], [U, STEP], counter=None,
                                      step_reason="optimizer_step='reset'")
    assert not steps and not warnings
    assert all(e.outcome is StateOutcome.KEPT and "optimizer_step='reset'" in e.reason for e in out)


def test_a_shape_or_dtype_that_does_not_fit_is_a_warning():
    sources = [other("optimizer/_u_product", shape=(2,))]
    steps, out, warnings = plan_state(sources, [U], counter=counter("optimizer/_iterations"), step_reason="")
    assert not steps and out[0].outcome is StateOutcome.SKIPPED and "shape_mismatch" in out[0].reason
    assert warnings
