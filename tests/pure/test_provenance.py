"""A report saved as JSON and loaded back is the same report (provenance)."""

from __future__ import annotations

import json

from warmstart import Vocab
from warmstart.plan import Action, LoadedEntry, SkippedEntry, SkipReason, SlotEntry, SlotOutcome, Strategy
from warmstart.report import Report
from warmstart.report.provenance import rules_dict
from warmstart.rules import compile_rules
from warmstart.sources.locate import Location


def _report():
    rules = compile_rules(rename=[("click/(.*)", r"head/\1")], on_mismatch={"d2/.*": "overlap"},
                          vocab={"emb/.*": Vocab("old.txt", ["a", "b"], num_oov_buckets=1)}, expect_missing="new/.*")
    return Report(
        source="runs/v1",
        loaded=(
            LoadedEntry(target="click/kernel", source="head/kernel", action=Action.OVERLAP, shape=(5, 1),
                        source_shape=(3, 1), dtype="float32", source_dtype="float32", strategy=Strategy.RENAME,
                        rule="click/(.*)"),
            LoadedEntry(target="emb/embeddings", source="emb/embeddings", action=Action.VOCAB, shape=(3, 4),
                        source_shape=(4, 4), dtype="bfloat16", source_dtype="float32", strategy=Strategy.NAME,
                        detail="2 rows carried", rows=(("carried", 2), ("new", 1), ("dropped", 2))),
        ),
        skipped=(SkippedEntry("d3/kernel", "d3/kernel", SkipReason.SHAPE_MISMATCH, "(2,) != (3,)"),),
        missing=("new/kernel",),
        unused=("old/bias",),
        slots=(SlotEntry("click/kernel", "momentums", SlotOutcome.LOADED, Action.OVERLAP),
               SlotEntry("new/kernel", "momentums", SlotOutcome.FRESH, reason="variable not loaded")),
        problems=("one problem",),
        missing_detail={"new/kernel": "no variable of that name in the checkpoint"},
        nbytes=123, seconds=0.5, notes=("a note",),
        location=Location("runs/v1/ckpt-3", "tf2-checkpoint", ("runs/v1/ckpt-3.index",)),
        rules=rules_dict(rules, {"optimizer": True}),
    )


def test_save_then_load_gives_the_same_report(tmp_path):
    report = _report()
    path = report.save(tmp_path / "report.json")
    loaded = Report.load(path)
    assert loaded.to_dict() == report.to_dict()
    assert loaded.loaded == report.loaded and loaded.slots == report.slots and loaded.location == report.location
    assert json.loads((tmp_path / "report.json").read_text())["location"]["format"] == "tf2-checkpoint"


def test_rules_are_kept_as_given():
    rules = _report().rules
    assert rules["rename"] == [["click/(.*)", r"head/\1"]]
    assert rules["on_mismatch"] == {"default": "skip", "rules": [["d2/.*", "overlap"]]}
    assert rules["vocab"] == [{"pattern": "emb/.*", "old": "old.txt", "new": "<2 tokens>", "num_oov_buckets": 1,
                               "old_num_oov_buckets": 0, "num_oov_indices": 0, "mask_token": None,
                               "old_num_oov_indices": None, "old_mask_token": "same", "axis": 0, "initializer": None}]
    assert rules["expect_missing"] == ["new/.*"] and rules["include"] is None and rules["optimizer"] is True


def test_a_resumed_report_says_so():
    report = Report(source="runs/v2/ckpt-4", loaded=(), skipped=(), missing=(), unused=(), resumed=True)
    assert report.ok and report.to_dict()["resumed"] is True and "resumed" in report.summary()
    assert Report.from_dict(report.to_dict()) == report
