"""MultiWorkerMirroredStrategy with two worker processes on localhost (``TF_CONFIG``): both
call warm_start with the same arguments; both end with the same values, which numpy expects.
The job is ``dist_jobs/multi_worker.py``."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from dist_jobs.launch import check_case, finish, load, run, sources_of, start
from dist_jobs.tokens import grown, tokens

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

ROWS = 40_000


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    out = tmp_path_factory.mktemp("mwms")
    prepared, arrays = run("multi_worker.py", out / "prepare", "prepare", timeout=240)
    day1 = sources_of(prepared, arrays, "day1")
    ports = [str(p) for p in free_ports(2)]
    source = str(out / "prepare" / "day1" / "ckpt")
    procs = [start("multi_worker.py", out / f"w{i}", str(i), *ports, source) for i in range(2)]
    codes = finish(procs, timeout=300)
    return [load(out / f"w{i}", code) for i, code in enumerate(codes)], day1


def test_workers_given_different_vocabularies_both_refuse_before_any_write(workers):
    results, _ = workers
    for index, (cases, arrays) in enumerate(results):
        case = cases["disagree"]
        assert case["error"]["type"] == "ReplicasOutOfSyncError", case
        message = case["error"]["message"]
        assert "would write different values" in message
        assert ("this worker's plan differs" if index == 1 else "another worker's plan differs") in message
        check_case(case, arrays, {}, written=False)  # every variable and slot as it was


@pytest.mark.parametrize("name", ["one_fails", "one_fails_unbuilt"])
def test_a_worker_failing_before_writing_stops_the_others_and_the_workers_stay_in_step(workers, name):
    results, _ = workers
    (zero, arrays_zero), (one, arrays_one) = results
    assert one[name]["error"]["type"] == "VocabError"
    assert zero[name]["error"]["type"] == "ReplicasOutOfSyncError"
    assert "another worker's plan differs" in zero[name]["error"]["message"]
    check_case(zero[name], arrays_zero, {}, written=False)
    check_case(one[name], arrays_one, {}, written=False)
    assert zero["after"]["error"] is None and one["after"]["error"] is None  # the collectives are still in step


@pytest.mark.parametrize("name", ["held", "streamed", "after"])
def test_both_workers_end_with_the_same_right_values(workers, name):
    results, day1 = workers
    for cases, arrays in results:
        assert cases[name]["replicas"] == 2
        assert check_case(cases[name], arrays, day1, (tokens(ROWS), grown(tokens(ROWS)))) == 15
        assert any("MultiWorkerMirroredStrategy: 16 mirrored variable(s)" in n for n in cases[name]["report"]["notes"])
        assert any("streaming them" in line for line in cases[name]["log"]) == (name == "streamed")
        report = cases[name]["report"]  # every variable of the model in the report
        assert ({e["target"] for e in report["loaded"]} | {e["target"] for e in report["skipped"]}
                | {e["target"] for e in report["missing"]}) == {n for n in cases[name]["vars"] if "@" not in n}
    (a, arrays_a), (b, arrays_b) = results
    for var in a[name]["vars"]:
        for ka, kb in zip(a[name]["vars"][var]["pieces"], b[name]["vars"][var]["pieces"], strict=True):
            np.testing.assert_array_equal(arrays_a[ka], arrays_b[kb], err_msg=f"{var}: worker 0 != worker 1")
