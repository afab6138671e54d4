"""MirroredStrategy (two logical CPU devices, in a process of its own: TF fixes its devices once
per process): every value warm_start writes is checked on every replica against numpy; the
errors leave every replica as it was. The job is ``dist_jobs/mirrored.py``."""

from __future__ import annotations

import numpy as np
import pytest
from dist_jobs.launch import check_case, expected, run, sources_of
from dist_jobs.tokens import grown, tokens

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

ROWS = 40_000


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    cases, arrays = run("mirrored.py", tmp_path_factory.mktemp("mirrored"), timeout=420)
    return cases, arrays, sources_of(cases, arrays, "day1")


def vocab():
    return tokens(ROWS), grown(tokens(ROWS))


def replicas(case, name):
    return len(case["vars"][name]["pieces"])


def accounted(report) -> set[str]:
    return ({e["target"] for e in report["loaded"]} | {e["target"] for e in report["skipped"]}
            | {e["target"] for e in report["missing"]})


@pytest.mark.parametrize("name", ["held_outside", "held_inside", "streamed_inside", "streamed_outside"])
def test_every_replica_gets_the_warm_start(job, name):
    cases, arrays, day1 = job
    case = cases[name]
    assert check_case(case, arrays, day1, vocab()) == 15  # 5 variables, 10 Adam slots
    assert all(replicas(case, n) == 2 for n in case["vars"])
    report = case["report"]
    assert {e["target"]: e["action"] for e in report["loaded"]} == {
        "emb/embeddings": "vocab", "d1/kernel": "overlap", "d1/bias": "overlap", "head/kernel": "overlap",
        "head/bias": "copy"}
    assert accounted(report) == {n for n in case["vars"] if "@" not in n}
    assert sum(s["outcome"] == "loaded" for s in report["slots"]) == 10
    assert any("MirroredStrategy: 16 mirrored variable(s) written on each of their 2 replicas" in n
               for n in report["notes"])
    assert not report["shards"]  # nothing is sharded or sliced (16: the optimizer step counter too)
    assert any("streaming them" in line for line in case["log"]) == name.startswith("streamed")
    assert case["copy_on_read_off"] == [True, True]
    if name == "held_outside":
        assert case["built_by_call"] and any("was not built" in n for n in report["notes"])


def test_preserve_zeroes_new_inputs_on_every_replica(job):
    cases, arrays, day1 = job
    case = cases["preserve"]
    for name, got in case["vars"].items():
        want = expected(name, arrays[got["before"]], day1[name], vocab())
        if name == "head/kernel":
            want[4:] = 0  # the new units of d1 feed the head through zero weights
        for k, piece in enumerate(got["pieces"]):
            np.testing.assert_array_equal(arrays[piece], want, err_msg=f"{name} replica {k}")
    assert {e["target"]: e["action"] for e in case["report"]["loaded"]}["head/kernel"] == "preserve"


def test_cast_to_every_replica(job):
    cases, arrays, _ = job
    case = cases["cast"]
    source = np.array(case["source"]["w"])
    check_case(case, arrays, {"w": source})
    assert case["report"]["loaded"][0]["action"] == "cast"


def test_dry_run_writes_nothing(job):
    cases, arrays, _ = job
    case = cases["dry_run"]
    check_case(case, arrays, {}, written=False)
    assert case["report"]["dry_run"] and len(case["report"]["loaded"]) == 5 and case["report"]["ok"]
    assert not case["built"]


def test_strict_refuses_before_any_write(job):
    cases, arrays, _ = job
    case = cases["strict"]
    assert case["error"]["type"] == "IncompleteError" and "extra/w" in case["error"]["message"]
    check_case(case, arrays, {}, written=False)


def test_out_of_sync_replicas_written_whole_end_in_sync(job):
    cases, arrays, day1 = job
    case = cases["out_of_sync_whole"]
    assert check_case(case, arrays, day1, vocab()) == 5  # every replica of every variable
    assert accounted(case["report"]) == set(case["vars"])
    assert {e["target"]: e["action"] for e in case["report"]["loaded"]}["d1/kernel"] == "copy"
    assert "d1/kernel: its replicas differed before the warm start; written whole, they are equal now" in \
        case["report"]["notes"]
    bn = cases["bn_after_fit"]
    assert bn["differed"]  # Keras 3's fit left the moving statistics different per replica
    source = {n: np.array(v, np.float32) for n, v in bn["source"].items()}
    assert check_case(bn, arrays, source) == 8
    assert len(bn["report"]["loaded"]) == 8 and accounted(bn["report"]) == set(bn["vars"])


def every_replica_as_before(case, before, arrays):
    """Each replica of each variable of ``case`` equals that replica in ``before``."""
    for name, got in case["vars"].items():
        for k, (a, b) in enumerate(zip(got["pieces"], before["vars"][name]["pieces"], strict=True)):
            np.testing.assert_array_equal(arrays[a], arrays[b], err_msg=f"{name} replica {k}")


def test_a_failed_warm_start_puts_back_each_replica_that_differed(job):
    cases, arrays, _ = job
    case, before = cases["rollback_diverged"], cases["rollback_diverged/before"]
    assert case["error"]["type"] == "AbortedError"
    every_replica_as_before(case, before, arrays)
    kernel = [arrays[k] for k in case["vars"]["d1/kernel"]["pieces"]]
    assert not np.array_equal(kernel[0], kernel[1])  # as they were: replica 0's first rows are ones


def test_out_of_sync_replicas_are_refused_before_any_write(job):
    cases, arrays, _ = job
    case, before = cases["out_of_sync"], cases["out_of_sync/before"]
    assert case["error"]["type"] == "ReplicasOutOfSyncError"
    assert "'d1/kernel'" in case["error"]["message"] and "replica 1" in case["error"]["message"]
    every_replica_as_before(case, before, arrays)
    kernel = [arrays[k] for k in case["vars"]["d1/kernel"]["pieces"]]
    assert not np.array_equal(kernel[0], kernel[1])  # still diverged: nothing synced them


def test_a_failure_mid_stream_restores_every_replica(job):
    cases, arrays, _ = job
    case, before = cases["rollback"], cases["rollback/before"]
    assert case["error"]["type"] == "AbortedError"
    every_replica_as_before(case, before, arrays)


def test_sync_on_read_replicas(job):
    cases, arrays, _ = job
    case = cases["sync_on_read"]
    assert case["kinds"]["bn/moving_mean"] == "SyncOnReadVariable"
    source = {n: np.array(v, "float32") for n, v in case["source"].items()}
    assert check_case(case, arrays, source) == 6  # MEAN: every replica holds the value
    summed = cases["sync_on_read_sum"]
    for piece in summed["vars"]["total"]["pieces"]:  # SUM: each holds half; a read adds them up
        np.testing.assert_array_equal(arrays[piece], [3.0, 4.0])
    assert summed["read"] == [6.0, 8.0]


def test_a_strategy_not_written_is_a_typed_error_before_any_write(job):
    cases, arrays, _ = job
    case = cases["central_storage"]
    assert case["error"]["type"] == "UnsupportedStrategyError"
    assert "AggregatingVariable of CentralStorageStrategy" in case["error"]["message"]
    check_case(case, arrays, {}, written=False)


def test_a_call_from_a_replica_context_is_refused(job):
    cases, arrays, _ = job
    case = cases["replica_context"]
    assert case["error"]["type"] == "UnsupportedStrategyError" and "replica context" in case["error"]["message"]
    check_case(case, arrays, {}, written=False)


def test_an_optimizer_is_not_built_in_another_strategys_scope(job):
    cases, arrays, _ = job
    case = cases["other_scope"]
    assert case["error"]["type"] == "OptimizerError" and "MirroredStrategy" in case["error"]["message"]
    assert not case["built"]  # left unbuilt, as it came
    check_case(case, arrays, {}, written=False)


def test_the_troubleshooting_page_shows_these_errors_as_they_are(job):
    """docs/troubleshooting.md shows the messages of the errors only a strategy's devices
    raise; they cannot run in the docs' own runner, so they are checked here."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md").read_text()
    shown = re.findall(r"```text\n(\w+Error): (.*?)\n```", page, re.DOTALL)
    cases, _, _ = job
    for case, kind in (("out_of_sync", "ReplicasOutOfSyncError"), ("central_storage", "UnsupportedStrategyError"),
                       ("replica_context", "UnsupportedStrategyError")):
        error = cases[case]["error"]
        assert error["type"] == kind
        assert (kind, error["message"]) in shown, f"docs/troubleshooting.md does not show {case}'s message as it is"
