"""The report as data and as tables, and the problems that stop a run. Pure: plans by hand."""

from __future__ import annotations

import json

from warmstart.entries import EntryKind, SourceEntry, TargetEntry
from warmstart.errors import IncompleteError, NothingToLoadError, ShapeMismatchError, join_problems
from warmstart.matching import make_plan
from warmstart.plan import Action, SkipReason, SlotEntry, SlotOutcome, SlotPlan
from warmstart.report import Report, report_from_plan
from warmstart.rules import compile_rules
from warmstart.validation import plan_problems, slot_problems


def src(name, shape=(2, 3), dtype="float32"):
    return SourceEntry(name, f"ckpt/{name}", shape, dtype)


def tgt(name, shape=(2, 3), dtype="float32"):
    return TargetEntry(name, shape, dtype)


SOURCES = [src("d1/kernel"), src("d1/bias", (3,)), src("head/kernel", (3, 1)), src("gone/kernel"),
           src("wide/kernel", (2, 3))]
TARGETS = [tgt("d1/kernel"), tgt("d1/bias", (3,), "bfloat16"), tgt("score/kernel", (3, 1)),
           tgt("wide/kernel", (2, 5)), tgt("new/kernel"), tgt("aux/kernel")]
RULES = {"rename": [(r"score/(.*)", r"head/\1")], "exclude": ["aux/.*"]}


def report(**kw) -> Report:
    plan = make_plan(SOURCES, TARGETS, compile_rules(**RULES))
    slots = SlotPlan((), (SlotEntry("d1/kernel", "momentums", SlotOutcome.LOADED, action=Action.COPY),
                          SlotEntry("new/kernel", "momentums", SlotOutcome.FRESH, reason="variable not loaded")))
    return report_from_plan(plan, "runs/v1", slots=slots, **{"dry_run": False, **kw})


def test_to_dict_is_json_and_accounts_for_every_target():
    data = report(seconds=0.5).to_dict()
    assert json.loads(json.dumps(data)) == data
    loaded = {e["target"]: e for e in data["loaded"]}
    assert loaded["score/kernel"]["source"] == "head/kernel" and loaded["score/kernel"]["strategy"] == "rename"
    assert loaded["d1/bias"]["action"] == "cast"
    skipped = {e["target"]: e for e in data["skipped"]}
    assert skipped["wide/kernel"]["reason"] == "shape_mismatch"
    assert skipped["aux/kernel"] == {"target": "aux/kernel", "source": None, "reason": "excluded",
                                     "detail": "exclude 'aux/.*'"}
    assert [m["target"] for m in data["missing"]] == ["new/kernel"]
    assert data["unused"] == ["gone/kernel"]
    every = set(loaded) | set(skipped) | {m["target"] for m in data["missing"]}
    assert every == {t.name for t in TARGETS}
    assert data["slots"][1] == {"target": "new/kernel", "slot": "momentums", "outcome": "fresh", "action": None,
                                "reason": "variable not loaded"}
    assert data["bytes"] == 2 * 3 * 4 + 3 * 4 + 3 * 1 * 4 and data["ok"] and data["seconds"] == 0.5


def test_table_shows_each_outcome_with_its_reason():
    text = str(report())
    assert text.startswith("warm start from runs/v1: loaded 3, skipped 2, missing 1, unused 1")
    for expected in ("Loaded (3)", "rename 'score/(.*)'", "Skipped (2)", "shape_mismatch",
                     "Missing: not in the checkpoint", "no variable of that name", "Unused checkpoint variables (1)",
                     "Optimizer slots (1 of 2 loaded)"):
        assert expected in text, expected


def test_square_brackets_in_names_are_printed_not_taken_as_markup():
    plan = make_plan([src("a"), src("x[bold]y")], [tgt("a")], compile_rules())
    assert "x[bold]y" in str(report_from_plan(plan, "p", dry_run=False))


def test_dry_run_lists_problems_and_is_not_ok():
    plan = make_plan(SOURCES, TARGETS, compile_rules(**RULES, on_mismatch={"wide/.*": "error"}))
    problems = plan_problems(plan, SOURCES, strict=True)
    assert [p.error for p in problems] == [ShapeMismatchError, IncompleteError]
    r = report_from_plan(plan, "runs/v1", dry_run=True, problems=tuple(p.message for p in problems))
    assert not r.ok and r.dry_run and "would load 3" in r.summary() and "2 problem(s)" in r.summary()
    assert "PROBLEM: shapes or dtypes differ" in str(r)


def test_nothing_to_load_names_the_closest_checkpoint_names():
    plan = make_plan([src("encoder/kernel")], [tgt("encoder/kernal", (9, 9))], compile_rules())
    (problem,) = plan_problems(plan, [src("encoder/kernel")], strict=False)
    assert problem.error is NothingToLoadError
    assert "'encoder/kernal': no variable of that name" in problem.message
    assert "Checkpoint names near 'encoder/kernal': encoder/kernel." in problem.message


def test_slot_problems_only_under_strict():
    slots = SlotPlan((), (SlotEntry("a", "velocities", SlotOutcome.SKIPPED, reason="no slot"),))
    assert slot_problems(slots, strict=False) == []
    (problem,) = slot_problems(slots, strict=True)
    assert problem.error is IncompleteError and "slot 'velocities' of 'a'" in problem.message


def test_join_problems_counts_shows_the_first_in_full_and_lists_the_rest():
    first = "cannot warm-start 'a':\n    shapes differ.\n    Fix: do this."
    others = [f"cannot warm-start 'x{i}':\n    shapes differ.\n    Fix: do that." for i in range(25)]
    text = join_problems("shapes or dtypes differ:", [first, *others])
    lines = text.splitlines()
    assert lines[0] == "shapes or dtypes differ: (26 problems)"
    assert "\n".join(lines[1:4]) == first
    assert lines[4] == "The other 25:"
    assert lines[5] == "  - cannot warm-start 'x0': shapes differ."  # one line each, without its fix
    assert lines[-1] == "  ... and 5 more" and len(lines) == 5 + 20 + 1
    assert join_problems("h:", ["only"]) == "h:\nonly"
    assert join_problems("h:", []) == "h:"


def test_skip_reasons_and_entry_kinds_are_strings():
    assert SkipReason.EXCLUDED == "excluded" and EntryKind.SLOT == "slot" and Action("overlap") is Action.OVERLAP
