"""Slot planning: optimizer slots follow the variables they belong to. Pure: entries by hand."""

from __future__ import annotations

import numpy as np

from warmstart.entries import EntryKind, SourceEntry, TargetSlot
from warmstart.matching import find_step_counter, plan_slots
from warmstart.plan import Action, Remap, SlotOutcome, Step, Strategy
from warmstart.remap import row_map


def var_step(target, source, shape, source_shape, action=Action.COPY, remap=None, dtype="float32"):
    return Step(target=target, source=source, key=f"k/{source}", action=action, shape=shape,
                source_shape=source_shape, dtype=dtype, source_dtype=dtype, strategy=Strategy.NAME, remap=remap)


def slot(owner, name, shape, dtype="float32"):
    return SourceEntry(f"optimizer/{owner}/{name}", f"opt/{owner}/{name}", shape, dtype, EntryKind.SLOT,
                       slot_owner=owner, slot_name=name)


def live(owner, name, shape, dtype="float32"):
    return TargetSlot(owner, name, shape, dtype, f"{owner}@{name}")


def by_slot(plan):
    return {(r.target, r.slot): r for r in plan.results}


def test_slot_follows_its_variable_through_a_rename():
    steps = [var_step("score/kernel", "head/kernel", (4, 1), (4, 1))]
    sources = [slot("head/kernel", "momentums", (4, 1)), slot("head/kernel", "velocities", (4, 1))]
    plan = plan_slots(steps, sources, [live("score/kernel", "momentums", (4, 1)),
                                       live("score/kernel", "velocities", (4, 1))])
    assert [(s.target, s.source, s.action) for s in plan.steps] == [
        ("score/kernel@momentums", "optimizer/head/kernel/momentums", Action.COPY),
        ("score/kernel@velocities", "optimizer/head/kernel/velocities", Action.COPY),
    ]
    assert {r.outcome for r in plan.results} == {SlotOutcome.LOADED}


def test_variable_not_loaded_keeps_fresh_slots_and_a_missing_slot_is_skipped():
    steps = [var_step("a", "a", (3,), (3,))]
    plan = plan_slots(steps, [slot("a", "momentums", (3,))],
                      [live("a", "momentums", (3,)), live("a", "velocities", (3,)), live("new", "momentums", (2,))])
    results = by_slot(plan)
    assert results[("a", "momentums")].outcome is SlotOutcome.LOADED
    assert results[("a", "velocities")].outcome is SlotOutcome.SKIPPED
    assert "no 'velocities' slot for 'a'" in results[("a", "velocities")].reason
    assert results[("new", "momentums")].outcome is SlotOutcome.FRESH
    assert [s.target for s in plan.steps] == ["a@momentums"]


def test_slot_of_an_overlapped_variable_overlaps_and_of_a_copied_one_must_fit():
    steps = [var_step("w", "w", (4, 6), (4, 3), Action.OVERLAP), var_step("b", "b", (3,), (3,))]
    plan = plan_slots(steps, [slot("w", "m", (4, 3)), slot("b", "m", (2,))],
                      [live("w", "m", (4, 6)), live("b", "m", (3,))])
    results = by_slot(plan)
    assert results[("w", "m")].action is Action.OVERLAP
    assert results[("b", "m")].outcome is SlotOutcome.SKIPPED
    assert results[("b", "m")].reason.startswith("shape_mismatch")


def test_slot_casts_like_its_variable_and_refuses_an_unsafe_dtype():
    steps = [var_step("a", "a", (2,), (2,)), var_step("b", "b", (2,), (2,))]
    plan = plan_slots(steps, [slot("a", "m", (2,), "float32"), slot("b", "m", (2,), "int32")],
                      [live("a", "m", (2,), "bfloat16"), live("b", "m", (2,), "float32")])
    results = by_slot(plan)
    assert results[("a", "m")].action is Action.CAST
    assert results[("b", "m")].reason.startswith("dtype_mismatch")


def test_slot_of_a_remapped_table_is_remapped_and_a_row_factor_follows_too():
    rows = row_map(["x", "y", "z"], ["z", "new", "x"])
    remap = Remap(rows, axis=0)
    steps = [var_step("emb", "emb", (3, 4), (3, 4), Action.VOCAB, remap)]
    plan = plan_slots(steps, [slot("emb", "m", (3, 4)), slot("emb", "r", (3,)), slot("emb", "c", (4,))],
                      [live("emb", "m", (3, 4)), live("emb", "r", (3,)), live("emb", "c", (4,))])
    got = {s.target: s for s in plan.steps}
    assert got["emb@m"].action is Action.VOCAB and got["emb@m"].remap is remap
    assert got["emb@r"].action is Action.VOCAB  # Adafactor's row factor: one value per row
    assert got["emb@c"].action is Action.COPY and got["emb@c"].remap is None  # per column: as stored
    np.testing.assert_array_equal(got["emb@m"].remap.rows.old_rows, [2, 0])


def test_step_counter_is_carried_only_when_a_slot_is():
    counter = SourceEntry("optimizer/_iterations", "opt/iter", (), "int64", EntryKind.OTHER)
    inner = SourceEntry("optimizer/inner_optimizer/_iterations", "opt/inner/iter", (), "int64", EntryKind.OTHER)
    assert find_step_counter([counter, inner]) is inner  # the innermost, under a loss-scale wrapper
    steps = [var_step("a", "a", (2,), (2,))]
    with_slot = plan_slots(steps, [counter, slot("a", "m", (2,))], [live("a", "m", (2,))],
                           iterations=("optimizer/iterations", "int64"))
    assert with_slot.counter is not None and with_slot.counter.source == "optimizer/_iterations"
    none_loaded = plan_slots(steps, [counter], [live("a", "m", (2,))], iterations=("optimizer/iterations", "int64"))
    assert none_loaded.counter is None
    reset = plan_slots(steps, [counter, slot("a", "m", (2,))], [live("a", "m", (2,))],
                       iterations=("optimizer/iterations", "int64"), carry_step=False)
    assert reset.counter is None
