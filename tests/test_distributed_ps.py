"""ParameterServerStrategy on an in-process localhost cluster (chief, 1 worker, 2 parameter
servers; a process of its own): Keras 3 and tf_keras tables as ``ShardedVariable``s, warm-started
from unsliced and sliced checkpoints across shard counts (2->3, 3->2, 1->4, unsliced->3,
sliced->unsharded) and through a vocabulary whose rows move between shards, with Adam's slots,
held and streamed. Every shard is checked against numpy. The job is
``dist_jobs/parameter_servers.py``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from dist_jobs.launch import check_case, expected, finish, run, sources_of, start
from dist_jobs.tokens import grown, tokens

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

ROWS = 40_000
VOCAB = (tokens(ROWS), grown(tokens(ROWS)))
EMB = "model/emb/embeddings/.ATTRIBUTES/VARIABLE_VALUE"


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    cases, arrays = run("parameter_servers.py", tmp_path_factory.mktemp("ps"), timeout=480)
    return cases, arrays, sources_of(cases, arrays, "day1")


def layouts(report) -> dict[str, dict]:
    return {e["target"]: e for e in report["shards"]}


def accounted(report) -> set[str]:
    return ({e["target"] for e in report["loaded"]} | {e["target"] for e in report["skipped"]}
            | {e["target"] for e in report["missing"]})


def check(job, name, *, vocab, shards, slots=10):
    cases, arrays, day1 = job
    case = cases[name]
    assert check_case(case, arrays, day1, VOCAB if vocab else None) == 5 + slots
    emb = case["vars"]["emb/embeddings"]
    if shards:
        assert emb["sharded"] and len(emb["pieces"]) == shards
    else:
        assert not emb["sharded"]
    report = case["report"]
    assert accounted(report) == {n for n in case["vars"] if "@" not in n}
    assert sum(s["outcome"] == "loaded" for s in report["slots"]) == slots
    return case, report


@pytest.mark.parametrize(("name", "source", "shards"), [
    ("two_to_three", "slices2", 3),
    ("three_to_two_streamed", "slices3", 2),
    ("one_to_four", "slices1", 4),
    ("unsliced_to_three", "unsliced", 3),
    ("sliced_to_unsharded", "slices2", None),
])
def test_each_shard_gets_exactly_its_rows_whatever_the_shard_counts(job, name, source, shards):
    cases, arrays, _ = job
    case, report = check(job, name, vocab=False, shards=shards)
    stored = cases["_sources"]["slices"][source].get(EMB, [])
    assert len(stored) == {"slices2": 2, "slices3": 3, "slices1": 0, "unsliced": 0}[source]
    emb = layouts(report).get("emb/embeddings")
    if shards is None and not stored:
        assert emb is None
        return
    pieces = [arrays[k].shape[0] for k in case["vars"]["emb/embeddings"]["pieces"]]
    assert emb["shards"] == (pieces if shards else [ROWS])
    assert sorted(emb["slices"]) == sorted(stored or [ROWS])
    assert emb["read"] == [rows * 8 * 4 for rows in emb["shards"]]  # every row, float32 x 8
    assert emb["layout"].startswith(f"{shards} shards of " if shards else "unsharded (40k rows)")
    assert emb["layout"].endswith(f"← {len(stored)} slices of 20k rows" if source == "slices2" else
                                  "← 3 slices of 13,334/13,333/13,333 rows" if source == "slices3" else "← unsliced")
    streamed = name in ("three_to_two_streamed", "unsliced_to_three", "sliced_to_unsharded")
    assert any("streaming them" in line for line in case["log"]) == streamed


@pytest.mark.parametrize(("name", "shards"), [("vocab_held", 3), ("vocab_streamed", 2)])
def test_a_vocabulary_moves_rows_and_slots_between_shards(job, name, shards):
    _, arrays, _ = job
    case, report = check(job, name, vocab=True, shards=shards)
    assert {e["target"]: e["action"] for e in report["loaded"]}["emb/embeddings"] == "vocab"
    # rows of every old shard land in every new shard
    old_shard = {t: i * (3 if name == "vocab_streamed" else 2) // ROWS for i, t in enumerate(VOCAB[0])}
    bounds = np.cumsum([arrays[k].shape[0] for k in case["vars"]["emb/embeddings"]["pieces"]])
    for k in range(shards):
        lo = 0 if k == 0 else bounds[k - 1]
        olds = {old_shard[t] for t in VOCAB[1][lo : bounds[k]] if t in old_shard}
        assert olds == set(range(3 if name == "vocab_streamed" else 2)), (k, olds)
    emb = layouts(report)["emb/embeddings"]
    carried = np.array([t in old_shard for t in VOCAB[1]])
    assert emb["read"] == [int(c.sum()) * 32 for c in np.split(carried, bounds[:-1])]
    assert any("streaming them" in line for line in case["log"]) == (name == "vocab_streamed")
    # what the table's writes overwrote stayed on the parameter servers (Keras 3 puts Adam's slots on
    # the chief: theirs went to this process's undo file)
    (undo,) = [line for line in case["log"] if line.startswith("undo log:")]
    # held: the 35,928 carried rows copied there (x 32 bytes); streamed: the shards kept whole (43,928 rows)
    kept = "1.3" if name == "vocab_streamed" else "1.1"
    assert undo.endswith(f" {kept} MiB kept on parameter servers"), undo


def test_tf_keras_tables_and_their_per_shard_slots_are_one_target(job):
    case, report = check(job, "vocab_tf_keras", vocab=True, shards=3)
    assert case["vars"]["emb/embeddings@momentums"]["sharded"]  # tf_keras: one slot per shard
    assert "emb/embeddings@momentums" in layouts(report)


def test_preserve_finds_the_layers_of_tf_keras_sharded_variables(job):
    cases, arrays, day1 = job
    case = cases["preserve_tf_keras"]
    actions = {e["target"]: e["action"] for e in case["report"]["loaded"]}
    assert actions["d1/kernel"] == actions["head/kernel"] == "preserve", actions
    assert accounted(case["report"]) == {n for n in case["vars"] if "@" not in n}
    for name, got in case["vars"].items():
        if "@" in name:
            continue
        want = expected(name, arrays[got["before"]], day1[name], VOCAB)
        if name == "head/kernel":
            want[4:] = 0  # d1's new units feed the head through zero weights
        parts = [arrays[k] for k in got["pieces"]]
        np.testing.assert_array_equal(np.concatenate(parts) if got["sharded"] else parts[0], want, err_msg=name)


def test_a_tf_keras_sharded_checkpoint_into_other_shards(job):
    cases, arrays, day1 = job
    case = cases["tf_keras_checkpoint"]
    assert check_case(case, arrays, day1) == 15  # 5 variables, 10 Adam slots: each shard against numpy
    assert accounted(case["report"]) == {n for n in case["vars"] if "@" not in n}
    assert sum(s["outcome"] == "loaded" for s in case["report"]["slots"]) == 10
    assert case["step"] == case["day1_step"] > 0
    # the per-shard slots' ShardedVariables are the slots, not optimizer state of their own
    assert [s["target"] for s in case["report"]["optimizer_state"]] == ["optimizer/iterations",
                                                                         "optimizer/_learning_rate"]
    assert layouts(case["report"])["emb/embeddings"]["layout"] == "3 shards of 13,334/13,333/13,333 rows ← 2 slices of 20k rows"


def test_dry_run_shows_the_layout_and_writes_nothing(job):
    cases, arrays, _ = job
    case = cases["dry_run"]
    check_case(case, arrays, {}, written=False)
    report = case["report"]
    assert report["dry_run"] and report["ok"] and "would read for each shard" in case["text"]
    assert layouts(report)["emb/embeddings"]["layout"].endswith("← 2 slices of 20k rows")


@pytest.mark.parametrize("name", ["rollback", "rollback_held"])
def test_a_failure_mid_write_restores_every_shard(job, name):
    cases, arrays, _ = job
    case = cases[name]
    assert case["error"]["type"] == "AbortedError"
    assert check_case(case, arrays, {}, written=False) == 15
    kept = [line for line in case["log"] if "kept on parameter servers" in line]
    assert not kept  # undone: the undo log reports only after a commit


def test_ws_save_of_a_sharded_keras_3_model_is_read_by_tensorflow(job):
    cases, _, _ = job
    case = cases["saved"]
    assert all(case["read_equal"].values()) and len(case["read_equal"]) == 5
    assert "optimizer/_momentums/0/.ATTRIBUTES/VARIABLE_VALUE" in case["keys"]
    assert sorted(cases["_sources"]["slices"]["slices3"][EMB]) == [13333, 13333, 13334]  # one slice a shard


def test_ws_save_keeps_the_optimizer_state_that_goes_with_the_step(job):
    cases, _, _ = job
    case = cases["saved_state"]
    assert case["got"] == {"dynamic_scale": 4096.0, "step_counter": 7, "iterations": 11, "u_product": 0.25}
    assert "optimizer/inner_optimizer/_u_product/.ATTRIBUTES/VARIABLE_VALUE" in case["keys"]
    assert "optimizer/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE" in case["keys"]
    assert not case["report"]["warnings"]


def test_the_readmes_parameter_server_example_runs(tmp_path):
    """README.md, "Distributed training": its example, verbatim, in a process of its own."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Distributed training"):]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    (tmp_path / "example.py").write_text(code)
    proc = start("run_file.py", tmp_path, str(tmp_path / "example.py"))
    (code_,) = finish([proc], timeout=240)
    log = (tmp_path / "log.txt").read_text()
    assert code_ == 0, log[-4000:]
    assert "3 shards of 40k rows ← 2 slices of 50k rows" in log and "item_emb/embeddings" in log


def test_preserve_inside_the_scope_zeroes_new_inputs_across_shards(job):
    from dist_jobs.launch import expected

    cases, arrays, day1 = job
    case = cases["preserve_inside"]
    for name, got in case["vars"].items():
        want = expected(name, arrays[got["before"]], day1[name], VOCAB)
        if name == "head/kernel":
            want[4:] = 0  # d1's new units feed the head through zero weights
        parts = [arrays[k] for k in got["pieces"]]
        np.testing.assert_array_equal(np.concatenate(parts) if got["sharded"] else parts[0], want, err_msg=name)
    assert len(case["vars"]["head/kernel"]["pieces"]) == 3  # the zero rows 4-5 lie in the last shards
    assert {e["target"]: e["action"] for e in case["report"]["loaded"]}["head/kernel"] == "preserve"


def test_cast_into_shards(job):
    cases, arrays, _ = job
    case = cases["cast"]
    assert check_case(case, arrays, {"w": np.array(case["source"]["w"])}) == 1
    assert case["vars"]["w"]["sharded"] and len(case["vars"]["w"]["pieces"]) == 3
    assert case["report"]["loaded"][0]["action"] == "cast"


def test_strict_refuses_before_any_shard_is_written(job):
    cases, arrays, _ = job
    case = cases["strict"]
    assert case["error"]["type"] == "IncompleteError" and "extra/w" in case["error"]["message"]
    assert check_case(case, arrays, {}, written=False) == 6
