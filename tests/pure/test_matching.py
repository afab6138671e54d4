"""Matching: entries and rules in, a Plan out. Pure: no TensorFlow.

The first tests check that importing the pure modules (and these test files) does not
import TensorFlow; the rest build SourceEntry/TargetEntry values by hand.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, reject, settings
from hypothesis import strategies as st

from warmstart.entries import EntryKind, NameSource, SourceEntry, TargetEntry
from warmstart.errors import RuleError
from warmstart.matching import make_plan
from warmstart.plan import Action, Plan, SkipReason, Strategy
from warmstart.rules import OnMismatch, compile_rules

DENSE = ((0, "dense"),)


def src(name, shape=(2, 3), dtype="float32", *, key=None, paths=(), kind=EntryKind.VARIABLE,
        name_source=NameSource.FULL_NAME, **kw):
    return SourceEntry(name, key or f"ckpt/{name}", tuple(shape), dtype, kind=kind, paths=tuple(paths),
                       name_source=name_source, **kw)


def tgt(name, shape=(2, 3), dtype="float32", *, paths=(), auto=()):
    return TargetEntry(name, tuple(shape), dtype, paths=tuple(paths), auto_components=tuple(auto))


def plan(sources, targets, **rules):
    return make_plan(sources, targets, compile_rules(**rules))


def loaded(p):
    return {s.target: s for s in p.steps}


def skipped(p):
    return {s.target: s for s in p.skipped}


_ERRORED = re.compile(r"cannot warm-start '([^']*)' from '([^']*)'")


def errored(p):
    """target -> source of each on_mismatch="error" pair, read from its message."""
    found = [_ERRORED.match(m) for m in p.mismatch_errors]
    assert all(found), p.mismatch_errors
    return {m.group(1): m.group(2) for m in found}


# --- pairing by name ------------------------------------------------------------------------


def test_pairs_by_equal_name():
    p = plan([src("d1/kernel", key="k1"), src("d1/bias", (3,), key="k2")],
             [tgt("d1/kernel"), tgt("d1/bias", (3,))])
    assert isinstance(p, Plan)
    step = loaded(p)["d1/kernel"]
    assert (step.source, step.key, step.action) == ("d1/kernel", "k1", Action.COPY)
    assert step.strategy is Strategy.NAME
    assert (step.shape, step.source_shape) == ((2, 3), (2, 3))
    assert (step.dtype, step.source_dtype) == ("float32", "float32")
    assert step.rule is None and step.by_structure is False
    assert step.block == (2, 3)
    assert set(loaded(p)) == {"d1/kernel", "d1/bias"}
    assert (p.skipped, p.missing, p.unused, p.mismatch_errors, p.incomplete) == ((), (), (), (), ())


def test_outputs_are_sorted():
    names = ["z/kernel", "a/kernel", "m/kernel", "b/kernel"]
    p = plan([src(n) for n in names] + [src("y/extra"), src("c/extra")],
             [tgt(n) for n in names] + [tgt("q/new"), tgt("d/new")],
             exclude=["m/kernel"], expect_missing=["q/new"])
    assert [s.target for s in p.steps] == sorted(["z/kernel", "a/kernel", "b/kernel"])
    assert p.missing == ("d/new", "q/new")
    assert p.unused == ("c/extra", "m/kernel", "y/extra")
    assert list(p.missing_detail) == ["d/new", "q/new"]


def test_missing_target_has_a_detail():
    p = plan([src("a")], [tgt("a"), tgt("new/kernel")])
    assert p.missing == ("new/kernel",)
    assert "no variable of that name" in p.missing_detail["new/kernel"]


def test_plan_nbytes_counts_what_is_read():
    p = plan([src("a", (4, 5)), src("b", (3,), "float16")], [tgt("a", (4, 5)), tgt("b", (3,), "float32")])
    assert p.nbytes == 4 * 5 * 4 + 3 * 2


def test_duplicate_target_names_are_rule_error():
    with pytest.raises(RuleError, match="shared by several variables.*'d/kernel'"):
        plan([src("d/kernel")], [tgt("d/kernel"), tgt("d/kernel"), tgt("d/bias")])


def test_nothing_to_pair_is_a_plan_not_an_error():
    p = plan([], [tgt("a")])
    assert (p.steps, p.missing, p.incomplete) == ((), ("a",), ("a",))
    p = plan([src("a")], [])
    assert (p.steps, p.unused) == ((), ("a",))


# --- rename ---------------------------------------------------------------------------------


def test_rename_with_backreference():
    p = plan([src("old/t0/kernel"), src("old/t1/kernel", (4,))],
             [tgt("new/t0/kernel"), tgt("new/t1/kernel", (4,))],
             rename=[(r"new/(t\d)/kernel", r"old/\1/kernel")])
    for i in (0, 1):
        step = loaded(p)[f"new/t{i}/kernel"]
        assert step.source == f"old/t{i}/kernel"
        assert step.strategy is Strategy.RENAME
        assert step.rule == r"new/(t\d)/kernel"
    assert p.unused == () and p.missing == ()


def test_rename_given_as_dict():
    p = plan([src("old/kernel")], [tgt("new/kernel")], rename={"new/(.*)": r"old/\1"})
    assert loaded(p)["new/kernel"].source == "old/kernel"


def test_rename_takes_priority_over_an_equal_name():
    p = plan([src("a"), src("b")], [tgt("a")], rename=[("a", "b")])
    assert loaded(p)["a"].source == "b"
    assert p.unused == ("a",)


def test_rename_first_fullmatch_wins():
    p = plan([src("first"), src("second")], [tgt("t/k"), tgt("t/j")],
             rename=[("t/k", "first"), ("t/.*", "second")])
    assert {t: (s.source, s.rule) for t, s in loaded(p).items()} == {
        "t/k": ("first", "t/k"), "t/j": ("second", "t/.*"),
    }


def test_rename_shadowed_by_an_earlier_rule_did_nothing():
    with pytest.raises(RuleError, match="rename 't/k'"):
        plan([src("first"), src("second")], [tgt("t/k")], rename=[("t/.*", "first"), ("t/k", "second")])


def test_rename_swap():
    p = plan([src("a", key="ka"), src("b", key="kb")], [tgt("a"), tgt("b")], rename=[("a", "b"), ("b", "a")])
    assert {t: s.key for t, s in loaded(p).items()} == {"a": "kb", "b": "ka"}


def test_rename_to_none_is_not_loaded():
    p = plan([src("head/kernel"), src("d/kernel")], [tgt("head/kernel"), tgt("d/kernel")],
             rename=[("head/.*", None)])
    (skip,) = p.skipped
    assert (skip.target, skip.source, skip.reason) == ("head/kernel", None, SkipReason.RENAME_NONE)
    assert "head/.*" in skip.detail
    assert set(loaded(p)) == {"d/kernel"}
    assert p.unused == ("head/kernel",)
    assert p.missing == () and p.incomplete == ()


def test_rename_partly_found_reports_the_rest_missing():
    p = plan([src("old/t0")], [tgt("new/t0"), tgt("new/t1")], rename=[(r"new/(.*)", r"old/\1")])
    assert loaded(p)["new/t0"].source == "old/t0"
    assert p.missing == ("new/t1",)
    detail = p.missing_detail["new/t1"]
    assert "'old/t1'" in detail and "not in the checkpoint" in detail
    assert p.incomplete == ("new/t1",)


def test_rename_whose_sources_never_exist_is_rule_error():
    with pytest.raises(RuleError) as info:
        plan([src("encoder/d1/kernel"), src("encoder/d2/kernel")],
             [tgt("tower/d1/kernel"), tgt("tower/d2/kernel")],
             rename=[(r"tower/(.*)", r"encodr/\1")])
    message = str(info.value)
    assert "rename 'tower/(.*)'" in message
    assert "found none of their sources" in message
    assert "'encodr/d1/kernel'" in message
    assert "Checkpoint names nearby: encoder/d1/kernel" in message
    assert "Fix:" in message


def test_two_targets_renamed_onto_one_source_is_rule_error():
    with pytest.raises(RuleError) as info:
        plan([src("shared/kernel")], [tgt("a/kernel"), tgt("b/kernel")],
             rename=[(r"(a|b)/kernel", "shared/kernel")])
    message = str(info.value)
    assert "'shared/kernel'" in message
    assert "2 targets" in message and "a/kernel" in message and "b/kernel" in message
    assert "(a|b)/kernel" in message
    assert "Fix:" in message


def test_two_rename_rules_onto_one_source_is_rule_error():
    with pytest.raises(RuleError, match="would be loaded into 2 targets"):
        plan([src("s")], [tgt("a"), tgt("b")], rename=[("a", "s"), ("b", "s")])


def test_rename_to_a_name_two_sources_share_is_decided_by_structure():
    sources = [src("model/kernel", key="k1", paths=("p/1",)), src("model/kernel", key="k2", paths=("p/2",))]
    p = plan(sources, [tgt("d/kernel", paths=("p/2",))], rename=[("d/kernel", "model/kernel")])
    step = loaded(p)["d/kernel"]
    assert (step.key, step.strategy, step.by_structure) == ("k2", Strategy.RENAME, True)


def test_rename_to_a_name_two_sources_share_and_structure_cannot_decide_is_rule_error():
    sources = [src("model/kernel", key="k1", paths=("p/1",)), src("model/kernel", key="k2", paths=("p/1",))]
    with pytest.raises(RuleError, match="two or more sources named 'model/kernel'"):
        plan(sources, [tgt("d/kernel", paths=("p/1",))], rename=[("d/kernel", "model/kernel")])


def test_ambiguous_rename_is_one_problem():
    sources = [src("model/kernel", key="k1", paths=("p/1",)), src("model/kernel", key="k2", paths=("p/1",))]
    with pytest.raises(RuleError) as info:
        plan(sources, [tgt("d/kernel", paths=("p/1",))], rename=[("d/kernel", "model/kernel")])
    message = str(info.value)
    assert "two or more sources named 'model/kernel'" in message
    assert "found none of their sources" not in message
    assert "problems)" not in message


def test_rename_to_a_shared_name_without_shared_paths_says_ambiguous():
    sources = [src("model/kernel", key="k1", paths=("p/1",)), src("model/kernel", key="k2", paths=("p/2",))]
    with pytest.raises(RuleError) as info:
        plan(sources, [tgt("d/kernel", paths=("p/3",))], rename=[("d/kernel", "model/kernel")])
    assert "not in the checkpoint" not in str(info.value)
    assert "two or more sources named 'model/kernel'" in str(info.value)


def test_target_whose_source_a_rename_took_is_told_why():
    p = plan([src("a"), src("b")], [tgt("a"), tgt("b")], rename=[("a", "b")])
    assert loaded(p)["a"].source == "b"
    assert p.missing == ("b",)
    assert p.missing_detail["b"] == "its checkpoint variable 'b' is loaded into 'a' (by rename 'a')"


def test_target_whose_drifted_source_an_exact_name_took_is_not_told_of_a_rename():
    p = plan([src("dense_1/kernel", key="k1")],
             [tgt("dense_1/kernel"), tgt("dense_2/kernel", auto=((0, "dense"),))])
    assert loaded(p)["dense_1/kernel"].strategy is Strategy.NAME
    assert p.missing_detail["dense_2/kernel"] == (
        "its checkpoint variable 'dense_1/kernel' is loaded into 'dense_1/kernel' (by name)")


def test_rename_template_with_bad_escape_is_rule_error():
    with pytest.raises(RuleError, match=r"rename"):
        plan([src("a/kernel")], [tgt("a/kernel")], rename=[(r"(a)/kernel", r"\1/\q")])


# --- include / exclude ----------------------------------------------------------------------


def test_include_and_exclude_skip_as_excluded():
    names = ["tower/t0/kernel", "tower/t1/kernel", "head/kernel"]
    p = plan([src(n) for n in names], [tgt(n) for n in names], include=["tower/.*"], exclude=["tower/t1/.*"])
    assert set(loaded(p)) == {"tower/t0/kernel"}
    by = skipped(p)
    assert {t: s.reason for t, s in by.items()} == {
        "tower/t1/kernel": SkipReason.EXCLUDED, "head/kernel": SkipReason.EXCLUDED,
    }
    assert by["head/kernel"].detail == "not matched by any include pattern"
    assert by["tower/t1/kernel"].detail == "exclude 'tower/t1/.*'"
    assert all(s.source is None for s in p.skipped)
    assert p.unused == ("head/kernel", "tower/t1/kernel")
    assert p.incomplete == ()


def test_rename_reaching_only_excluded_targets_did_nothing():
    # rename rules apply to included targets; one that only excluded targets reach did nothing
    with pytest.raises(RuleError, match="rename 'head/.*'"):
        plan([src("x")], [tgt("head/kernel"), tgt("x")], exclude=["head/.*"], rename=[("head/.*", "x")])


# --- shape policy ---------------------------------------------------------------------------


def test_shape_mismatch_skips_by_default():
    p = plan([src("d/kernel", (4, 8))], [tgt("d/kernel", (4, 12))])
    (skip,) = p.skipped
    assert (skip.target, skip.source, skip.reason) == ("d/kernel", "d/kernel", SkipReason.SHAPE_MISMATCH)
    assert "(4, 8)" in skip.detail and "(4, 12)" in skip.detail
    assert p.steps == () and p.mismatch_errors == ()
    assert p.unused == ()  # paired, so not unused
    assert p.incomplete == ("d/kernel",)


@pytest.mark.parametrize("policy", ["overlap", OnMismatch.OVERLAP])
def test_overlap_copies_the_common_block(policy):
    p = plan([src("emb", (10, 4)), src("d", (4, 8))], [tgt("emb", (12, 4)), tgt("d", (4, 6))],
             on_mismatch=policy)
    assert loaded(p)["emb"].action is Action.OVERLAP
    assert loaded(p)["emb"].block == (10, 4)
    assert loaded(p)["d"].block == (4, 6)
    assert (loaded(p)["d"].shape, loaded(p)["d"].source_shape) == ((4, 6), (4, 8))


def test_overlap_needs_equal_ranks():
    p = plan([src("d", (4, 8))], [tgt("d", (4, 8, 1))], on_mismatch="overlap")
    (skip,) = p.skipped
    assert skip.reason is SkipReason.SHAPE_MISMATCH
    assert "overlap needs equal ranks (2 != 3)" in skip.detail
    assert p.steps == ()


def test_equal_shapes_are_copied_under_any_policy():
    for policy in ("error", "skip", "overlap"):
        p = plan([src("d")], [tgt("d")], on_mismatch=policy)
        assert loaded(p)["d"].action is Action.COPY


def test_error_policy_collects_a_message_per_pair():
    p = plan([src("tower/t0/kernel", (16, 8)), src("tower/t1/kernel", (2,)), src("ok")],
             [tgt("tower/t0/kernel", (16, 12)), tgt("tower/t1/kernel", (3,)), tgt("ok")],
             on_mismatch="error")
    assert set(loaded(p)) == {"ok"}
    assert p.missing == ()
    # a real run raises these; a dry run shows them as skipped, so every target is accounted for
    assert {(s.target, s.reason) for s in p.skipped} == {
        ("tower/t0/kernel", SkipReason.SHAPE_MISMATCH), ("tower/t1/kernel", SkipReason.SHAPE_MISMATCH)}
    assert len(p.mismatch_errors) == 2
    first = p.mismatch_errors[0]
    assert first.startswith("cannot warm-start 'tower/t0/kernel' from 'tower/t0/kernel':")
    assert "checkpoint shape (16, 8) != model shape (16, 12)" in first
    fix = [line.strip() for line in first.splitlines() if "Fix:" in line]
    assert fix and "on_mismatch={'tower/t0/.*': \"overlap\"}" in fix[0]
    assert "exclude=['tower/t0/.*']" in first and 'on_mismatch="skip"' in first
    assert set(p.incomplete) == {"tower/t0/kernel", "tower/t1/kernel"}


def test_error_policy_rank_mismatch_says_so():
    p = plan([src("d", (4,))], [tgt("d", (4, 1))], on_mismatch="error")
    (message,) = p.mismatch_errors
    assert "(4,) != model shape (4, 1)" in message and "Fix:" in message


def test_error_policy_message_for_a_top_level_name():
    (message,) = plan([src("bias", (2,))], [tgt("bias", (3,))], on_mismatch="error").mismatch_errors
    assert "on_mismatch={'bias': \"overlap\"}" in message


def test_policy_map_per_name():
    names = {"tower/k": ((4, 8), (4, 6)), "emb/e": ((10, 2), (12, 2)), "head/k": ((3,), (4,))}
    p = plan([src(n, s) for n, (s, _) in names.items()], [tgt(n, t) for n, (_, t) in names.items()],
             on_mismatch={"tower/.*": "overlap", "emb/.*": "error"})
    assert loaded(p)["tower/k"].action is Action.OVERLAP
    assert list(errored(p)) == ["emb/e"]
    assert skipped(p)["head/k"].reason is SkipReason.SHAPE_MISMATCH  # unmatched: skip


def test_error_policy_target_is_still_accounted_for():
    p = plan([src("d", (4, 8))], [tgt("d", (4, 6))], on_mismatch="error")
    accounted = set(loaded(p)) | set(skipped(p)) | set(p.missing)
    assert accounted == {"d"}


# --- dtype policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "model"),
    [("float32", "bfloat16"), ("float32", "float16"), ("float16", "float32"), ("bfloat16", "float32")],
)
def test_safe_casts(stored, model):
    p = plan([src("d", dtype=stored)], [tgt("d", dtype=model)])
    step = loaded(p)["d"]
    assert step.action is Action.CAST
    assert (step.source_dtype, step.dtype) == (stored, model)


@pytest.mark.parametrize(
    ("stored", "model"),
    [("int32", "float32"), ("float64", "float32"), ("float32", "float64"), ("int64", "int32"),
     ("float16", "bfloat16"), ("bfloat16", "float16"), ("float32", "int32"), ("string", "float32")],
)
@pytest.mark.parametrize("policy", ["skip", "overlap"])
def test_unsafe_casts_are_dtype_mismatch(stored, model, policy):
    p = plan([src("d", dtype=stored)], [tgt("d", dtype=model)], on_mismatch=policy)
    (skip,) = p.skipped
    assert (skip.reason, skip.source) == (SkipReason.DTYPE_MISMATCH, "d")
    assert stored in skip.detail and model in skip.detail
    assert p.steps == ()


def test_dtype_mismatch_under_error_policy():
    (message,) = plan([src("t/k", dtype="int32")], [tgt("t/k")], on_mismatch="error").mismatch_errors
    assert message.startswith("cannot warm-start 't/k' from 't/k':")
    assert "int32" in message and "float32" in message and "Fix:" in message


def test_cast_and_overlap_together():
    p = plan([src("e", (10, 4), "float32")], [tgt("e", (12, 4), "bfloat16")], on_mismatch="overlap")
    step = loaded(p)["e"]
    assert step.action is Action.OVERLAP
    assert (step.source_dtype, step.dtype, step.block) == ("float32", "bfloat16", (10, 4))


# --- auto-name drift ------------------------------------------------------------------------


def test_auto_name_drift_matches():
    p = plan([src("dense_3/kernel"), src("dense_3/bias", (3,))],
             [tgt("dense_7/kernel", auto=DENSE), tgt("dense_7/bias", (3,), auto=DENSE)])
    step = loaded(p)["dense_7/kernel"]
    assert (step.source, step.strategy, step.by_structure) == ("dense_3/kernel", Strategy.AUTO_NAME, False)
    assert loaded(p)["dense_7/bias"].source == "dense_3/bias"
    assert p.unused == ()


def test_auto_name_first_instance_without_counter():
    p = plan([src("dense/kernel")], [tgt("dense_2/kernel", auto=DENSE)])
    assert loaded(p)["dense_2/kernel"].source == "dense/kernel"


def test_auto_name_drift_inside_a_named_block():
    auto = ((1, "dense"),)
    p = plan([src("block_2/dense_1/kernel")],
             [tgt("block_2/dense_9/kernel", auto=auto), tgt("block_1/dense_8/kernel", auto=auto)])
    assert loaded(p)["block_2/dense_9/kernel"].source == "block_2/dense_1/kernel"
    assert p.missing == ("block_1/dense_8/kernel",)


def test_user_named_component_does_not_drift():
    p = plan([src("block_1/kernel")], [tgt("block_2/kernel")])
    assert p.steps == ()
    assert p.missing == ("block_2/kernel",)
    assert p.unused == ("block_1/kernel",)


def test_auto_name_needs_the_target_to_say_which_component_is_auto():
    p = plan([src("dense_3/kernel")], [tgt("dense_7/kernel", auto=((0, "conv"),))])
    assert p.steps == ()


def test_exact_name_beats_drift():
    p = plan([src("dense/kernel", key="k0"), src("dense_1/kernel", key="k1")],
             [tgt("dense_1/kernel", auto=DENSE)])
    step = loaded(p)["dense_1/kernel"]
    assert (step.key, step.strategy) == ("k1", Strategy.NAME)
    assert p.unused == ("dense/kernel",)


def test_drift_does_not_take_a_source_an_exact_name_took():
    p = plan([src("dense/kernel", key="k0"), src("dense_1/kernel", key="k1")],
             [tgt("dense/kernel", auto=DENSE), tgt("dense_5/kernel", auto=DENSE)])
    assert {t: s.key for t, s in loaded(p).items()} == {"dense/kernel": "k0", "dense_5/kernel": "k1"}
    assert loaded(p)["dense_5/kernel"].strategy is Strategy.AUTO_NAME


def test_drift_ambiguity_decided_by_structure():
    sources = [src("dense/kernel", key="k0", paths=("_ops/1/_kernel",)),
               src("dense_1/kernel", key="k1", paths=("_ops/2/_kernel",))]
    targets = [tgt("dense_2/kernel", auto=DENSE, paths=("_ops/1/_kernel",)),
               tgt("dense_3/kernel", auto=DENSE, paths=("_ops/2/_kernel", "other/path"))]
    p = plan(sources, targets)
    assert {t: (s.key, s.strategy, s.by_structure) for t, s in loaded(p).items()} == {
        "dense_2/kernel": ("k0", Strategy.AUTO_NAME, True),
        "dense_3/kernel": ("k1", Strategy.AUTO_NAME, True),
    }


def test_drift_ambiguity_without_structure_is_missing():
    p = plan([src("dense/kernel"), src("dense_1/kernel")], [tgt("dense_4/kernel", auto=DENSE)])
    assert p.steps == ()
    assert p.missing == ("dense_4/kernel",)
    detail = p.missing_detail["dense_4/kernel"]
    assert "ambiguous" in detail
    assert "dense/kernel" in detail and "dense_1/kernel" in detail
    assert p.unused == ("dense/kernel", "dense_1/kernel")


def test_one_source_wanted_by_two_targets_goes_to_neither():
    p = plan([src("dense/kernel")], [tgt("dense_4/kernel", auto=DENSE), tgt("dense_5/kernel", auto=DENSE)])
    assert p.steps == ()
    assert p.missing == ("dense_4/kernel", "dense_5/kernel")
    for name in p.missing:
        assert "ambiguous" in p.missing_detail[name]
        assert "dense_4/kernel" in p.missing_detail[name] and "dense_5/kernel" in p.missing_detail[name]
    assert p.unused == ("dense/kernel",)


# --- structure ------------------------------------------------------------------------------


def test_duplicate_names_decided_by_shared_path():
    sources = [src("model/kernel", key="k1", paths=("a/_kernel",)),
               src("model/kernel", key="k2", paths=("b/_kernel",))]
    p = plan(sources, [tgt("model/kernel", paths=("b/_kernel",))])
    step = loaded(p)["model/kernel"]
    assert (step.key, step.strategy, step.by_structure) == ("k2", Strategy.NAME, True)


def test_duplicate_names_without_shared_path_are_missing():
    sources = [src("model/kernel", key="k1", paths=("a",)), src("model/kernel", key="k2", paths=("b",))]
    p = plan(sources, [tgt("model/kernel", paths=("c",))])
    assert p.missing == ("model/kernel",)
    assert "ambiguous: 2 checkpoint variables" in p.missing_detail["model/kernel"]


def test_structure_named_sources_match_by_path():
    structure = NameSource.STRUCTURE
    sources = [src("model/kernel", key="k1", paths=("_d1/_kernel",), name_source=structure),
               src("model/kernel", key="k2", paths=("_d2/_kernel",), name_source=structure),
               src("model/bias", (3,), key="k3", paths=("_d2/_bias",), name_source=structure)]
    targets = [tgt("d1/kernel", paths=("_d1/_kernel",)), tgt("d2/kernel", paths=("_d2/_kernel",)),
               tgt("d2/bias", (3,), paths=("_d2/_bias", "x"))]
    p = plan(sources, targets)
    assert {t: (s.key, s.strategy) for t, s in loaded(p).items()} == {
        "d1/kernel": ("k1", Strategy.STRUCTURE),
        "d2/kernel": ("k2", Strategy.STRUCTURE),
        "d2/bias": ("k3", Strategy.STRUCTURE),
    }
    assert p.unused == () and p.missing == ()


def test_structure_named_source_without_shared_path_is_not_matched():
    p = plan([src("model/kernel", paths=("_d9/_kernel",), name_source=NameSource.STRUCTURE)],
             [tgt("d1/kernel", paths=("_d1/_kernel",))])
    assert p.steps == () and p.missing == ("d1/kernel",) and p.unused == ("model/kernel",)


def test_name_beats_structure():
    sources = [src("d1/kernel", key="by-name"),
               src("model/kernel", key="by-path", paths=("_d1/_kernel",), name_source=NameSource.STRUCTURE)]
    p = plan(sources, [tgt("d1/kernel", paths=("_d1/_kernel",))])
    assert (loaded(p)["d1/kernel"].key, loaded(p)["d1/kernel"].strategy) == ("by-name", Strategy.NAME)


@pytest.mark.parametrize("name_source", [NameSource.FULL_NAME, NameSource.KEY])
def test_named_sources_are_never_matched_by_path_alone(name_source):
    # v1: a, b at positions 1, 2. v2 inserts "new" at position 2: it must not get b's weights.
    sources = [src("a/kernel", paths=("_ops/1/_kernel",), name_source=name_source),
               src("b/kernel", paths=("_ops/2/_kernel",), name_source=name_source)]
    targets = [tgt("a/kernel", paths=("_ops/1/_kernel",)), tgt("new/kernel", paths=("_ops/2/_kernel",)),
               tgt("b/kernel", paths=("_ops/3/_kernel",))]
    p = plan(sources, targets)
    assert {t: s.source for t, s in loaded(p).items()} == {"a/kernel": "a/kernel", "b/kernel": "b/kernel"}
    assert p.missing == ("new/kernel",)
    # and with "b" removed from the model, its weights stay unused rather than moving over
    p = plan(sources, targets[:2])
    assert p.missing == ("new/kernel",) and p.unused == ("b/kernel",)


# --- rules that did nothing -----------------------------------------------------------------

MODEL = ["tower/t0/kernel", "tower/t1/kernel", "head/kernel"]


def _rule_error(**rules) -> str:
    with pytest.raises(RuleError) as info:
        plan([src(n) for n in MODEL], [tgt(n) for n in MODEL], **rules)
    return str(info.value)


@pytest.mark.parametrize(
    ("rules", "kind", "pattern", "near"),
    [
        ({"include": ["tower/.*", "towr/t0/.*"]}, "include", "towr/t0/.*", "tower/t0/kernel"),
        ({"exclude": ["haed/kernel"]}, "exclude", "haed/kernel", "head/kernel"),
        ({"rename": [("tower/t2/kernel", "x")]}, "rename", "tower/t2/kernel", "tower/t1/kernel"),
        ({"on_mismatch": {"head/kernl": "overlap"}}, "on_mismatch", "head/kernl", "head/kernel"),
        ({"expect_missing": ["tower/t0/kernels"]}, "expect_missing", "tower/t0/kernels", "tower/t0/kernel"),
    ],
)
def test_rule_that_matched_nothing_is_rule_error(rules, kind, pattern, near):
    message = _rule_error(**rules)
    assert f"{kind} {pattern!r} matched no variable of the model." in message
    assert "Perhaps you meant one of:" in message
    assert near in message.split("Perhaps you meant one of:")[1]


def test_rule_matching_only_checkpoint_names_is_still_unused():
    # rules are written against target names; a checkpoint-only name is a rule that did nothing
    with pytest.raises(RuleError, match="exclude 'old/kernel' matched no variable"):
        plan([src("old/kernel"), src("a")], [tgt("a")], exclude=["old/kernel"])


def test_all_rule_problems_raised_once():
    message = _rule_error(include=["towr/.*", "tower/.*"], exclude=["haed/.*"],
                          expect_missing=["nope"])
    assert message.startswith("the rules cannot be applied: (3 problems)")
    assert "include 'towr/.*'" in message
    assert "exclude 'haed/.*'" in message
    assert "expect_missing 'nope'" in message


def test_rule_without_near_names_has_no_hint():
    message = _rule_error(exclude=["zzzzzzzzzzzzzz"])
    assert "matched no variable of the model." in message
    assert "Perhaps" not in message


def test_used_rules_are_not_errors():
    p = plan([src(n) for n in MODEL], [tgt(n) for n in MODEL],
             include=["tower/.*", "head/.*"], exclude=["head/.*"],
             rename=[("tower/t1/kernel", "tower/t1/kernel")],
             on_mismatch={"tower/.*": "overlap"}, expect_missing=["head/kernel"])
    assert set(loaded(p)) == {"tower/t0/kernel", "tower/t1/kernel"}


def test_exclude_shadowed_by_include_still_counts_as_used():
    p = plan([src(n) for n in MODEL], [tgt(n) for n in MODEL], include=["tower/.*"], exclude=["head/.*"])
    assert skipped(p)["head/kernel"].detail == "not matched by any include pattern"


def test_expect_missing_on_a_loaded_target_is_fine():
    p = plan([src("a")], [tgt("a")], expect_missing=["a"])
    assert set(loaded(p)) == {"a"} and p.incomplete == ()


# --- unused ---------------------------------------------------------------------------------


def test_slots_and_other_entries_are_never_unused_nor_paired():
    sources = [
        src("d/kernel", key="model/d/kernel"),
        src("d/kernel", key="slot/m", kind=EntryKind.SLOT, slot_owner="d/kernel", slot_name="m"),
        src("d/bias", key="slot/v", kind=EntryKind.SLOT, slot_owner="d/bias", slot_name="v"),
        src("iterations", (), "int64", key="optimizer/iterations", kind=EntryKind.OTHER),
        src("save_counter", (), "int64", key="save_counter", kind=EntryKind.OTHER),
        src("old/kernel"),
    ]
    p = plan(sources, [tgt("d/kernel"), tgt("d/bias"), tgt("iterations", (), "int64")])
    assert {t: s.key for t, s in loaded(p).items()} == {"d/kernel": "model/d/kernel"}
    assert p.missing == ("d/bias", "iterations")
    assert p.unused == ("old/kernel",)


def test_unused_is_what_was_not_paired():
    p = plan([src("a"), src("b", (5,)), src("c"), src("d")],
             [tgt("a"), tgt("b", (6,)), tgt("x"), tgt("c")], exclude=["c"])
    assert set(loaded(p)) == {"a"}
    assert skipped(p)["b"].reason is SkipReason.SHAPE_MISMATCH
    assert p.unused == ("c", "d")


# --- strict bookkeeping ---------------------------------------------------------------------


def test_incomplete_is_included_targets_not_loaded():
    sources = [src("ok"), src("wide", (4, 8)), src("int", dtype="int32"), src("gone"), src("dense_1/k"),
               src("dense_2/k")]
    targets = [
        tgt("ok"),  # loaded
        tgt("wide", (4, 9)),  # shape mismatch: incomplete
        tgt("int"),  # dtype mismatch: incomplete
        tgt("new/kernel"),  # missing: incomplete
        tgt("new/bias"),  # missing but expected
        tgt("head/kernel"),  # excluded: intentional
        tgt("drop"),  # rename -> None: intentional
        tgt("dense_5/k", auto=DENSE),  # ambiguous: incomplete
        tgt("other", paths=("p",)),  # not included: intentional
    ]
    p = plan(sources, targets, include=["(?!other).*"], exclude=["head/.*"], rename=[("drop", None)],
             expect_missing=["new/bias"])
    assert p.incomplete == ("dense_5/k", "int", "new/kernel", "wide")
    assert set(p.missing) == {"dense_5/k", "new/bias", "new/kernel"}


def test_expect_missing_does_not_hide_a_mismatch_but_covers_it():
    p = plan([src("w", (2,))], [tgt("w", (3,))], expect_missing=["w"])
    assert skipped(p)["w"].reason is SkipReason.SHAPE_MISMATCH
    assert p.incomplete == ()


# --- properties -----------------------------------------------------------------------------

SHAPES = [(2,), (3,), (2, 3), (3, 2), (2, 2, 1)]
DTYPES = ["float32", "float32", "float32", "float16", "bfloat16", "int32"]
PATHS = ["p0", "p1", "p2", "p3"]
PLAIN = [f"l{i}/{leaf}" for i in range(5) for leaf in ("kernel", "bias")]
AUTO_TARGETS = [f"dense_{i}/kernel" for i in range(4, 8)]
AUTO_SOURCES = [f"dense_{i}/kernel" for i in range(3)] + ["dense/kernel"]


@st.composite
def scenarios(draw, *, unique_source_names=False):
    """Small random sources, targets and valid-looking rules (RuleErrors are rejected).

    Most targets get a checkpoint counterpart (same name, a drifted auto name, or a
    STRUCTURE-named ``model/kernel`` sharing a path), mostly of the same shape and dtype;
    unrelated checkpoint variables and optimizer state are added around them.
    """
    pool = PLAIN + AUTO_TARGETS * 2
    target_names = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=7, unique=True))
    targets = [
        tgt(n, draw(st.sampled_from(SHAPES)), draw(st.sampled_from(DTYPES)),
            paths=draw(st.lists(st.sampled_from(PATHS), max_size=2, unique=True)),
            auto=DENSE if n.startswith("dense_") else ())
        for n in target_names
    ]
    taken: set[str] = set()

    def source(name, shape, dtype, paths, name_source=NameSource.FULL_NAME):
        if unique_source_names and name in taken:
            return
        taken.add(name)
        sources.append(src(name, shape, dtype, key=f"k{len(sources)}", paths=paths, name_source=name_source))

    sources: list = []
    for t in targets:
        how = draw(st.sampled_from(["same", "same", "drift", "structure", "none"]))
        if how == "none":
            continue
        shape = t.shape if draw(st.integers(0, 3)) else draw(st.sampled_from(SHAPES))
        dtype = t.dtype if draw(st.integers(0, 4)) else draw(st.sampled_from(DTYPES))
        paths = tuple(draw(st.lists(st.sampled_from(PATHS), max_size=2, unique=True)))
        if how == "structure" and t.paths:
            shared = draw(st.sampled_from(t.paths))
            source("model/kernel", shape, dtype, (*paths, shared), NameSource.STRUCTURE)
        elif how == "drift" and t.auto_components:
            if t.paths and draw(st.booleans()):  # lets the object graph decide between drifted names
                paths = (*paths, draw(st.sampled_from(t.paths)))
            source(draw(st.sampled_from(AUTO_SOURCES)), shape, dtype, paths)
        else:
            source(t.name, shape, dtype, paths)
    for n in draw(st.lists(st.sampled_from(PLAIN + AUTO_SOURCES + ["model/kernel"]), max_size=3)):
        structure = n == "model/kernel" or draw(st.integers(0, 9)) == 0
        source(n, draw(st.sampled_from(SHAPES)), draw(st.sampled_from(DTYPES)),
               tuple(draw(st.lists(st.sampled_from(PATHS), max_size=2, unique=True))),
               NameSource.STRUCTURE if structure else NameSource.FULL_NAME)
    source_names = [s.name for s in sources]
    # optimizer state, sometimes carrying a target's name: never paired, never unused
    for i, n in enumerate(draw(st.lists(st.sampled_from(target_names), max_size=2))):
        kind = draw(st.sampled_from([EntryKind.SLOT, EntryKind.OTHER]))
        sources.append(src(n, key=f"opt{i}", kind=kind, paths=tuple(PATHS[:2])))

    def some_target_pattern():
        name = draw(st.sampled_from(target_names))
        return draw(st.sampled_from([re.escape(name), re.escape(name.split("/")[0]) + "/.*",
                                     ".*/" + re.escape(name.split("/")[1])]))

    rules: dict = {}
    if draw(st.integers(0, 3)) == 0:
        rules["include"] = [some_target_pattern() for _ in range(draw(st.integers(1, 2)))]
    if draw(st.booleans()):
        rules["exclude"] = [some_target_pattern() for _ in range(draw(st.integers(1, 2)))]
    if draw(st.booleans()):
        renames = []
        for _ in range(draw(st.integers(1, 2))):
            kind = draw(st.sampled_from(["literal", "literal", "none", "backref"]))
            if kind == "backref":
                renames.append((r"l(\d)/kernel", r"l\1/bias"))
            else:
                template = None if kind == "none" else draw(st.sampled_from(source_names or ["l0/kernel"]))
                renames.append((re.escape(draw(st.sampled_from(target_names))), template))
        rules["rename"] = renames
    policies = st.sampled_from(["skip", "overlap", "error"])
    if draw(st.booleans()):
        rules["on_mismatch"] = draw(policies)
    else:
        rules["on_mismatch"] = {some_target_pattern(): draw(policies) for _ in range(draw(st.integers(0, 2)))}
    if draw(st.booleans()):
        rules["expect_missing"] = [some_target_pattern()]
    return sources, targets, rules


def _plan_or_reject(sources, targets, rules):
    try:
        return make_plan(sources, targets, compile_rules(**rules))
    except RuleError:
        reject()


PROPERTY = settings(max_examples=100, deadline=None)  # ~1 s each


@given(scenarios())
@PROPERTY
def test_property_targets_partitioned(scenario):
    sources, targets, rules = scenario
    p = _plan_or_reject(sources, targets, rules)
    names = [t.name for t in targets]
    steps = [s.target for s in p.steps]
    skips = [s.target for s in p.skipped]
    errors = list(errored(p))
    assert len(steps) == len(set(steps)), "a target assigned twice"
    assert len(skips) == len(set(skips))
    assert len(errors) == len(p.mismatch_errors)
    assert set(errors) <= set(skips), "an 'error' pair is also shown as skipped"
    groups = [set(steps), set(skips), set(p.missing)]
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            assert not a & b
    assert set().union(*groups) == set(names)
    # the report's three tables cover every target, "error" pairs included
    assert set(p.missing_detail) == set(p.missing)


@given(scenarios())
@PROPERTY
def test_property_no_source_loaded_twice(scenario):
    sources, targets, rules = scenario
    p = _plan_or_reject(sources, targets, rules)
    keys = [s.key for s in p.steps]
    assert len(keys) == len(set(keys))
    implicit = [s.key for s in p.steps if s.strategy is not Strategy.RENAME]
    assert len(implicit) == len(set(implicit))
    variables = {s.key for s in sources if s.kind is EntryKind.VARIABLE}
    assert set(keys) <= variables, "optimizer state loaded as a variable"
    by_key = {s.key: s for s in sources}
    by_name = {t.name: t for t in targets}
    compiled = compile_rules(**rules)
    for step in p.steps:
        s, t = by_key[step.key], by_name[step.target]
        assert (step.source, step.source_shape, step.source_dtype) == (s.name, s.shape, s.dtype)
        assert (step.shape, step.dtype) == (t.shape, t.dtype)
        if step.strategy is Strategy.STRUCTURE:
            assert s.name_source is NameSource.STRUCTURE and set(s.paths) & set(t.paths)
        if step.strategy is Strategy.NAME:
            assert s.name == t.name
        assert compiled.exclusion(step.target) is None


@given(scenarios(), st.randoms(use_true_random=False))
@PROPERTY
def test_property_plan_independent_of_input_order(scenario, rnd):
    sources, targets, rules = scenario
    try:
        expected = make_plan(sources, targets, compile_rules(**rules))
    except RuleError as e:
        expected = e
    shuffled_sources, shuffled_targets = list(sources), list(targets)
    rnd.shuffle(shuffled_sources)
    rnd.shuffle(shuffled_targets)
    try:
        got = make_plan(shuffled_sources, shuffled_targets, compile_rules(**rules))
    except RuleError as e:
        assert isinstance(expected, RuleError), f"only the shuffled order raised: {e}"
        return
    assert got == expected


@given(scenarios(unique_source_names=True))
@PROPERTY
def test_property_unused_is_the_unpaired_variables(scenario):
    sources, targets, rules = scenario
    p = _plan_or_reject(sources, targets, rules)
    paired = {s.source for s in p.steps} | {s.source for s in p.skipped if s.source}
    paired |= set(errored(p).values())
    variables = {s.name for s in sources if s.kind is EntryKind.VARIABLE}
    assert not set(p.unused) & paired
    assert set(p.unused) == variables - paired
    assert p.unused == tuple(sorted(p.unused))


@given(scenarios())
@example((
    [src("model/kernel", key="k1", paths=("p0",), name_source=NameSource.STRUCTURE),
     src("model/kernel", key="k2", paths=("p1",), name_source=NameSource.STRUCTURE)],
    [tgt("l0/kernel", paths=("p0",))],
    {},
))
@PROPERTY
def test_property_unused_disjoint_from_paired_with_repeated_names(scenario):
    sources, targets, rules = scenario
    p = _plan_or_reject(sources, targets, rules)
    paired = {s.source for s in p.steps} | {s.source for s in p.skipped if s.source}
    assert not set(p.unused) & paired


def _left_out_on_purpose(name: str, rules: dict) -> bool:
    """The rules' own meaning, read off the raw rules (not the compiled ones, not the plan):
    not included, excluded, or renamed to None by the first rename that matches."""
    include = rules.get("include")
    if include is not None and not any(re.fullmatch(p, name) for p in include):
        return True
    if any(re.fullmatch(p, name) for p in rules.get("exclude", ())):
        return True
    for pattern, template in rules.get("rename", ()):
        if re.fullmatch(pattern, name):
            return template is None
    return False


@given(scenarios())
@PROPERTY
def test_property_incomplete_is_included_and_not_loaded(scenario):
    sources, targets, rules = scenario
    p = _plan_or_reject(sources, targets, rules)
    expected = {
        t.name for t in targets
        if t.name not in loaded(p)
        and not _left_out_on_purpose(t.name, rules)
        and not any(re.fullmatch(q, t.name) for q in rules.get("expect_missing", ()))
    }
    assert set(p.incomplete) == expected
    assert not set(p.incomplete) & set(loaded(p))


# --- auto-named layers that differ in number -------------------------------------------------


def _auto_targets(*layers):
    return [tgt(f"{layer}/{w}", auto=DENSE) for layer in layers for w in ("kernel", "bias")]


def _sources(*layers):
    return [src(f"{layer}/{w}", key=f"{layer}-{w}") for layer in layers for w in ("kernel", "bias")]


def test_an_inserted_auto_named_layer_makes_the_counter_pairing_a_guess():
    p = plan(_sources("dense", "dense_1", "dense_2"), _auto_targets("dense", "dense_1", "dense_2", "dense_3"))
    (message,) = p.ambiguities
    assert "auto-named 'dense' layers: the model has 4 (dense, dense_1, dense_2, dense_3), the checkpoint 3" in message
    assert "Fix: name the layers" in message
    assert set(p.ambiguous) == {f"dense{s}/{w}" for s in ("", "_1", "_2") for w in ("kernel", "bias")}
    assert not p.warnings  # the ambiguity is its own list


def test_equal_counts_or_renames_leave_no_guess():
    assert plan(_sources("dense", "dense_1"), _auto_targets("dense", "dense_5")).ambiguities == ()
    renamed = plan(_sources("dense", "dense_1"), _auto_targets("dense", "dense_1", "dense_2"),
                   rename=[(r"dense_(1|2)/.*", None), (r"dense/(.*)", r"dense/\1")])
    assert renamed.ambiguities == ()


def test_auto_named_layers_in_different_places_are_counted_apart():
    sources = _sources("tower/dense", "tower/dense_1", "head/dense")
    targets = [tgt(f"{p}/{w}", auto=((1, "dense"),)) for p in ("tower/dense", "tower/dense_1", "head/dense")
               for w in ("kernel", "bias")]
    assert plan(sources, targets).ambiguities == ()
    p = plan(sources + _sources("head/dense_1"), targets)
    (message,) = p.ambiguities
    assert "under 'head'" in message and set(p.ambiguous) == {"head/dense/kernel", "head/dense/bias"}


# --- rules that an earlier rule shadows --------------------------------------------------------


def test_a_rename_shadowed_by_an_earlier_one_says_by_which():
    with pytest.raises(RuleError) as e:
        plan([src("head/kernel"), src("score/kernel")], [tgt("head/kernel")],
             rename=[(r"head/.*", "score/kernel"), ("head/kernel", "head/kernel")])
    message = str(e.value)
    assert "rename 'head/kernel' does nothing: every variable it matches is taken first by the earlier " \
           "rename 'head/.*' (e.g. 'head/kernel')" in message
    assert "Perhaps you meant" not in message


def test_the_same_pattern_twice_is_a_rule_error():
    with pytest.raises(RuleError, match=r"rename\[1\] 'a' is given twice \(also rename\[0\]\)"):
        compile_rules(rename=[("a", "b"), ("a", "c")])
    with pytest.raises(RuleError, match=r"exclude\[1\] 'x/.\*' is given twice"):
        compile_rules(exclude=["x/.*", "x/.*"])


def test_a_policy_shadowed_for_every_name_it_matches_is_a_rule_error():
    targets = [tgt("tower/t0/kernel"), tgt("tower/t1/kernel")]
    sources = [src("tower/t0/kernel"), src("tower/t1/kernel")]
    with pytest.raises(RuleError, match=r"on_mismatch 'tower/t0/.\*' does nothing.*'tower/.\*'"):
        plan(sources, targets, on_mismatch={"tower/.*": "skip", "tower/t0/.*": "overlap"})
    plan(sources, targets, on_mismatch={"tower/t0/.*": "overlap", "tower/.*": "skip"})  # the other way works
