"""Writes into sharded variables, in this process (a ``ShardedVariable`` of local variables, as
``ParameterServerStrategy`` makes of remote ones): rows, ranges and boxes that straddle
shards, narrower rows, columns, whole values; the undo puts every shard back; streamed
ranges are cut at shard and slice boundaries. The strategies themselves run in processes of
their own (test_distributed_mirrored/ps/multi_worker)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import warmstart as ws
from warmstart.apply.stream import plan_stream
from warmstart.apply.undo import Journal
from warmstart.plan import Action, Step, Strategy
from warmstart.targets.distributed import Kind, placement

ShardedVariable = tf.__internal__.distribute.ShardedVariable
ROWS = (4, 3, 3)


def table(width: int = 5) -> tuple[ShardedVariable, np.ndarray]:
    full = np.arange(10 * width, dtype="float32").reshape(10, width)
    cuts = np.cumsum(ROWS)[:-1]
    return ShardedVariable([tf.Variable(part) for part in np.split(full, cuts)]), full


def shards(sv) -> list[np.ndarray]:
    return [v.numpy() for v in sv.variables]


def whole(sv) -> np.ndarray:
    return np.concatenate(shards(sv))


def test_placement():
    assert placement(tf.Variable(1.0)).kind is Kind.PLAIN
    assert placement(keras.Variable(np.zeros(3))).kind is Kind.PLAIN
    sv, _ = table()
    where = placement(sv)
    assert where.kind is Kind.SHARDED and [(s.start, s.stop) for s in where.shards] == [(0, 4), (4, 7), (7, 10)]
    assert where.bounds == (4, 7) and list(where.owner(np.array([0, 3, 4, 6, 7, 9]))) == [0, 0, 1, 1, 2, 2]


def test_rows_boxes_and_values_across_shards_then_undone():
    sv, full = table()
    journal = Journal()
    want = full.copy()
    rows = np.array([9, 0, 4, 3, 7], np.int64)  # every shard, out of order
    values = np.full((5, 5), -1, "float32") * np.arange(1, 6, dtype="float32")[:, None]
    journal.rows("t", sv, rows, tf.constant(values))
    want[rows] = values
    journal.rows("t", sv, range(2, 8), tf.constant(np.full((6, 5), 7, "float32")))  # a range over all three
    want[2:8] = 7
    journal.rows("t", sv, np.array([5, 1], np.int64), tf.constant(np.full((2, 2), 9, "float32")))  # narrower
    want[[5, 1], :2] = 9
    journal.region("t", sv, (3, 1), tf.constant(np.full((5, 3), 8, "float32")))  # a box over all three
    want[3:8, 1:4] = 8
    journal.rows("t", sv, np.array([4, 0], np.int64), tf.constant(np.full((10, 2), 6, "float32")), axis=1)
    want[:, [4, 0]] = 6
    np.testing.assert_array_equal(whole(sv), want)
    journal.assign("t", sv, tf.constant(np.full((10, 5), 3, "float32")))
    assert all((s == 3).all() for s in shards(sv)) and [s.shape[0] for s in shards(sv)] == list(ROWS)
    journal.rollback()
    for got, orig in zip(shards(sv), np.split(full, np.cumsum(ROWS)[:-1]), strict=True):
        np.testing.assert_array_equal(got, orig)


def test_spilled_whole_values_go_back_into_each_shard():
    sv, full = table()
    journal = Journal(keep_limit=0)  # nothing held by reference: every old shard goes to the undo file
    journal.assign("t", sv, tf.zeros((10, 5)))
    assert journal.spilled_bytes == full.nbytes and not whole(sv).any()
    journal.rollback()
    np.testing.assert_array_equal(whole(sv), full)


def test_a_commit_ends_copy_on_read_on_every_shard():
    sv, _ = table()
    journal = Journal()
    journal.rows("t", sv, np.array([0, 5, 9], np.int64), tf.zeros((3, 5)))
    journal.commit()
    for v in sv.variables:  # copy-on-read off: two reads share one buffer (notes §13)
        assert np.asarray(v.read_value()).ctypes.data == np.asarray(v.read_value()).ctypes.data


def test_streamed_ranges_never_straddle_a_shard_or_a_slice():
    s = Step(target="t", source="t", action=Action.COPY, shape=(100, 4), source_shape=(100, 4), dtype="float32",
             source_dtype="float32", strategy=Strategy.NAME, key="k")
    plan = plan_stream(s, 1600, working=40 * (3 * 16 + 5 * 16 + 16 + 48), bounds=(34, 50, 67), split=True)
    assert plan.rows_per_chunk == 40
    assert plan.ranges == ((0, 34), (34, 50), (50, 67), (67, 100))
    plan = plan_stream(s, 1600, working=10 * (3 * 16 + 5 * 16 + 16), bounds=(25,))
    assert plan.ranges[:3] == ((0, 10), (10, 20), (20, 25)) and plan.ranges[3] == (25, 35)


def test_a_sliced_checkpoint_into_other_shards_in_process(tmp_path):
    """A table saved from 2 shards (stored as 2 slices) into 3 shards and into a plain
    variable, held and streamed; the report gives both layouts and each shard's bytes."""
    full = np.random.default_rng(0).normal(size=(30_000, 16)).astype("float32")  # 1.8 MiB
    two = ShardedVariable([tf.Variable(full[:15_000]), tf.Variable(full[15_000:])])
    prefix = tf.train.Checkpoint(emb=two).write(str(tmp_path / "ckpt"))
    for budget in (None, 1 << 20):
        three = ShardedVariable([tf.Variable(np.zeros((n, 16), "float32")) for n in (10_000, 10_000, 10_000)])
        report = ws.warm_start({"emb": three}, prefix, memory_budget=budget)
        for k, v in enumerate(three.variables):
            np.testing.assert_array_equal(v.numpy(), full[k * 10_000 : (k + 1) * 10_000], err_msg=f"shard {k}")
        (layout,) = report.shards
        assert layout.text() == "3 shards of 10k rows ← 2 slices of 15k rows"
        assert layout.read == (640_000,) * 3
        plain = tf.Variable(np.zeros((30_000, 16), "float32"))
        report = ws.warm_start({"emb": plain}, prefix, memory_budget=budget)
        np.testing.assert_array_equal(plain.numpy(), full)
        assert report.shards[0].text() == "unsharded (30k rows) ← 2 slices of 15k rows"


def test_one_device_strategy_variables_are_ordinary(tmp_path):
    prefix = tf.train.Checkpoint(w=tf.Variable(np.ones((4, 2), "float32"))).write(str(tmp_path / "ckpt"))
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        plain = tf.Variable(np.zeros((4, 2), "float32"))
    assert placement(plain).kind is Kind.PLAIN
    report = ws.warm_start({"w": plain}, prefix)
    np.testing.assert_array_equal(plain.numpy(), 1)
    assert not report.shards and not any("Strategy" in n for n in report.notes)


def test_a_streamed_table_reads_only_the_stored_slices_it_needs(tmp_path):
    """A 2-slice checkpoint whose second slice is damaged: a smaller table that takes rows of the
    first slice only loads, streamed (the second slice is never read); held whole, the damage is
    found (the whole tensor is read), and nothing is written."""
    from warmstart.sources.bundle import read_index

    full = np.random.default_rng(1).normal(size=(40_000, 16)).astype("float32")  # 2.4 MiB
    prefix = tf.train.Checkpoint(emb=ShardedVariable([tf.Variable(full[:20_000]), tf.Variable(full[20_000:])])).write(
        str(tmp_path / "ckpt"))
    index = read_index(prefix)
    second = max(index.parts("emb/.ATTRIBUTES/VARIABLE_VALUE"), key=lambda p: p.part.extents[0].start)
    with open(f"{prefix}.data-00000-of-00001", "r+b") as f:
        f.seek(second.offset + 100)
        f.write(b"\xff" * 64)
    small = ShardedVariable([tf.Variable(np.zeros((6_000, 16), "float32")) for _ in range(3)])  # rows 0-17,999
    report = ws.warm_start({"emb": small}, prefix, on_mismatch="overlap", memory_budget=1 << 20)
    np.testing.assert_array_equal(np.concatenate([v.numpy() for v in small.variables]), full[:18_000])
    assert report.shards[0].text() == "3 shards of 6k rows ← 2 slices of 20k rows"
    fresh = ShardedVariable([tf.Variable(np.zeros((6_000, 16), "float32")) for _ in range(3)])
    with pytest.raises(ws.CheckpointReadError, match="crc32c"):
        ws.warm_start({"emb": fresh}, prefix, on_mismatch="overlap", memory_budget=None)
    assert not any(v.numpy().any() for v in fresh.variables)
