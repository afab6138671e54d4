"""``on_mismatch="preserve"`` and ``Vocab(initializer="mean")`` in the plan: the steps, their
placement data, slots, strict. Pure: entries built by hand, no TensorFlow."""

from __future__ import annotations

import pytest

from warmstart.entries import EntryKind, Feed, LayerInfo, SourceEntry, TargetEntry, TargetSlot
from warmstart.errors import IncompleteError, RuleError, VocabError
from warmstart.matching import make_plan, plan_slots
from warmstart.plan import Action, SkipReason
from warmstart.remap import Vocab, row_map
from warmstart.rules import OnMismatch, compile_rules
from warmstart.validation import plan_problems

STRAIGHT = Feed((("", -1, 1),))  # fed by one model input: new inputs are its last ones
DENSE = LayerInfo("Dense", "kernel", name="tower", feed=STRAIGHT)
CONV = LayerInfo("Conv2D", "kernel", name="conv", padding="same", strides=(1, 1), dilation=(1, 1), feed=STRAIGHT)


def src(name, shape, **kw):
    return SourceEntry(name, f"ckpt/{name}", tuple(shape), "float32", **kw)


def tgt(name, shape, layer=None):
    return TargetEntry(name, tuple(shape), "float32", layer=layer)


def plan(sources, targets, row_maps=(), **rules):
    return make_plan(sources, targets, compile_rules(**rules), row_maps)


def one(p):
    (step,) = p.steps
    return step


def test_preserve_is_a_policy_also_in_the_map():
    assert OnMismatch("preserve") is OnMismatch.PRESERVE
    rules = compile_rules(on_mismatch={"tower/.*": "preserve"})
    assert rules.mismatch_policy("tower/kernel") is OnMismatch.PRESERVE
    with pytest.raises(RuleError, match="'preserve'"):
        compile_rules(on_mismatch="preserv")  # the choices name it


def test_dense_kernel_step_carries_its_zero_box():
    step = one(plan([src("tower/kernel", (16, 8))], [tgt("tower/kernel", (24, 12), DENSE)],
                    on_mismatch="preserve"))
    assert step.action is Action.PRESERVE and step.action == "preserve"
    assert step.offset == () and step.origin == (0, 0) and step.block == (16, 8)
    assert step.zero == (((16, 0), (24, 8)),)
    assert step.detail == "new inputs 16-23 zero; new units 8-11 as initialised"
    assert step.unpreserved == ""


def test_conv_step_carries_the_window_offset():
    step = one(plan([src("conv/kernel", (3, 3, 2, 4))], [tgt("conv/kernel", (5, 5, 2, 8), CONV)],
                    on_mismatch={"conv/.*": "preserve"}))
    assert step.action is Action.PRESERVE and step.offset == (1, 1, 0, 0) == step.origin
    assert step.detail.startswith("3x3 window centred in 5x5, around it zero")


def test_without_a_layer_preserve_loads_as_overlap_and_says_so():
    p = plan([src("v", (4, 3))], [tgt("v", (6, 3))], on_mismatch="preserve")
    step = one(p)
    assert step.action is Action.OVERLAP and step.zero == () and step.offset == ()
    assert step.detail == "not function-preserving: no Keras layer owns it, so which axes are inputs is unknown"
    assert step.unpreserved.startswith("no Keras layer owns it")
    assert plan_problems(p, (), strict=False) == []


def test_strict_fails_on_a_step_that_is_not_function_preserving():
    ln = LayerInfo("LayerNormalization", "gamma", name="ln")
    p = plan([src("ln/gamma", (8,)), src("tower/kernel", (4, 8))],
             [tgt("ln/gamma", (12,), ln), tgt("tower/kernel", (6, 8), DENSE)], on_mismatch="preserve")
    steps = {s.target: s for s in p.steps}
    assert steps["ln/gamma"].action is Action.OVERLAP
    assert steps["ln/gamma"].detail == "not function-preserving: LayerNormalization normalises over the new width"
    assert steps["tower/kernel"].action is Action.PRESERVE
    (problem,) = plan_problems(p, (), strict=True)
    assert problem.error is IncompleteError
    assert problem.message.startswith("strict warm start cannot preserve the function:\n'ln/gamma' would load as "
                                      "an overlap, not function-preserving: LayerNormalization normalises")
    assert "Fix: on_mismatch={'ln/gamma': \"overlap\"} to accept the change, or exclude=['ln/gamma']" in problem.message


def test_preserve_needs_equal_ranks():
    p = plan([src("tower/kernel", (4,))], [tgt("tower/kernel", (4, 2), DENSE)], on_mismatch="preserve")
    (skip,) = p.skipped
    assert skip.reason is SkipReason.SHAPE_MISMATCH and "preserve needs equal ranks (1 != 2)" in skip.detail


def test_error_policy_suggests_preserve_too():
    p = plan([src("tower/kernel", (4, 8))], [tgt("tower/kernel", (6, 8), DENSE)], on_mismatch="error")
    assert '"preserve" to keep' in p.mismatch_errors[0]


def test_equal_shapes_are_copied():
    assert one(plan([src("tower/kernel", (4, 8))], [tgt("tower/kernel", (4, 8), DENSE)],
                    on_mismatch="preserve")).action is Action.COPY


def _slots(step_plan, shapes):
    sources = [src(f"conv/kernel@{n}", s, kind=EntryKind.SLOT, slot_owner="conv/kernel", slot_name=n)
               for n, (s, _) in shapes.items()]
    slots = [TargetSlot("conv/kernel", n, t, "float32", f"h/{n}") for n, (_, t) in shapes.items()]
    return plan_slots(step_plan.steps, sources, slots)


def test_slots_land_where_their_variable_did_and_get_no_zeros():
    p = plan([src("conv/kernel", (3, 3, 2, 4))], [tgt("conv/kernel", (5, 5, 2, 8), CONV)], on_mismatch="preserve")
    sp = _slots(p, {"m": ((3, 3, 2, 4), (5, 5, 2, 8)), "r": ((3, 3, 2), (5, 5, 2))})
    steps = {s.target: s for s in sp.steps}
    assert steps["h/m"].action is Action.PRESERVE and steps["h/m"].offset == (1, 1, 0, 0)
    assert steps["h/m"].zero == ()  # slots of new entries keep their init
    skipped = {e.slot: e for e in sp.results if e.outcome == "skipped"}
    assert "placed at offset (1, 1, 0, 0)" in skipped["r"].reason  # a factored slot cannot follow it


def test_slots_of_a_leading_corner_preserve_follow_as_overlap_would():
    p = plan([src("conv/kernel", (3, 3, 2, 4))], [tgt("conv/kernel", (3, 3, 4, 8), CONV)], on_mismatch="preserve")
    sp = _slots(p, {"m": ((3, 3, 2, 4), (3, 3, 4, 8)), "r": ((3, 3, 2), (3, 3, 4))})
    assert {s.target: (s.action, s.offset, s.zero) for s in sp.steps} == {
        "h/m": (Action.PRESERVE, (), ()), "h/r": (Action.PRESERVE, (), ())}


# --- vocab ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["avg", "Mean", 3, b"mean"])
def test_vocab_initializer_is_checked_when_made(bad):
    with pytest.raises(VocabError, match="initializer must be None"):
        Vocab(["a"], ["a"], initializer=bad)


def test_vocab_initializer_accepts_none_mean_and_callables():
    for ok in (None, "mean", lambda shape, dtype: 0):
        assert Vocab(["a"], ["a"], initializer=ok).initializer is ok


def _vocab_plan(initializer, target_shape=(4, 3), layer=None, axis=0, source_shape=(3, 3), **rules):
    old, new = ["a", "b", "c"], ["c", "x", "a", "y"]
    v = Vocab(old, new, axis=axis, initializer=initializer)
    return plan([src("emb/embeddings", source_shape)], [tgt("emb/embeddings", target_shape, layer)],
                row_maps=(row_map(old, new),), vocab={"emb/.*": v}, **rules)


def test_mean_rows_are_named_in_the_detail():
    step = one(_vocab_plan("mean"))
    assert step.action is Action.VOCAB
    assert step.detail == "2 rows carried, 2 new (mean), 1 old dropped"
    assert dict(step.rows) == {"carried": 2, "new": 2, "dropped": 1}
    assert one(_vocab_plan(None)).detail == "2 rows carried, 2 new, 1 old dropped"


def test_mean_needs_a_carried_row():
    v = Vocab(["a"], ["b"], initializer="mean")
    with pytest.raises(VocabError, match="no row would be carried"):
        plan([src("emb/embeddings", (1, 3))], [tgt("emb/embeddings", (1, 3))],
             row_maps=(row_map(["a"], ["b"]),), vocab={"emb/.*": v})


def test_slot_remaps_never_take_the_initializer():
    p = _vocab_plan("mean")
    sources = [src("emb/embeddings@m", (3, 3), kind=EntryKind.SLOT, slot_owner="emb/embeddings", slot_name="m")]
    sp = plan_slots(p.steps, sources, [TargetSlot("emb/embeddings", "m", (4, 3), "float32", "h/m")])
    (slot,) = sp.steps
    assert slot.action is Action.VOCAB and slot.remap is not None and slot.remap.initializer is None
    assert slot.detail == "2 rows carried, 2 new, 1 old dropped"


def test_vocab_and_preserve_on_a_class_output_layer_with_more_inputs():
    """Columns follow the classes; the new inputs' rows are zero for every class."""
    step = one(_vocab_plan(None, target_shape=(5, 4), layer=DENSE, axis=1,
                           source_shape=(2, 3), on_mismatch="preserve"))
    assert step.action is Action.VOCAB and step.zero == (((2, 0), (5, 4)),)
    assert step.detail == "2 rows carried, 2 new, 1 old dropped; new inputs 2-4 zero"


def test_vocab_and_preserve_without_a_layer_is_an_overlap_that_says_so():
    step = one(_vocab_plan(None, target_shape=(4, 5), on_mismatch="preserve"))
    assert step.action is Action.VOCAB and step.zero == ()
    assert step.unpreserved.startswith("no Keras layer owns it")
    assert "not function-preserving" in step.detail
