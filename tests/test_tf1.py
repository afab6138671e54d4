"""TF1 name-based checkpoints written by ``tf.compat.v1.train.Saver``: names are keys,
partitioned variables are one entry, TF1 Adam's slots carry into a Keras Adam."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import (
    assert_untouched,
    check_day2,
    check_day2_slots,
    day2_rules,
    keras_slots,
    rec,
    snapshot,
    warm_day2,
)

import warmstart as ws

v1 = tf.compat.v1


def _from(values, key):
    """An initializer giving a (partition of a) variable its day-1 value."""

    def init(shape, dtype=None, partition_info=None):
        offset = partition_info.var_offset[0] if partition_info is not None else 0
        return tf.constant(values[key][offset : offset + shape[0]], dtype=dtype)

    return init


def _saver_checkpoint(values, directory, *, partitions=3, train=True, parts_as_keys=False):
    """The day-1 variables under their Keras names in a TF1 graph (``emb/embeddings``
    partitioned), a few Adam steps, saved by ``Saver``. Returns (prefix, saved values, slots)."""
    graph = tf.Graph()
    with graph.as_default():
        variables = {}
        for key, value in values.items():
            partitioner = v1.fixed_size_partitioner(partitions) if key == "emb/embeddings" else None
            variables[key] = v1.get_variable(key, shape=value.shape, initializer=_from(values, key),
                                             partitioner=partitioner)
        loss = sum(tf.reduce_sum(tf.square(tf.convert_to_tensor(v))) for v in variables.values())
        counter = v1.train.get_or_create_global_step()
        step = v1.train.AdamOptimizer(0.01).minimize(loss, global_step=counter) if train else tf.no_op()
        if parts_as_keys:  # the parts as separate keys, as a var_list of the parts saves them
            parts = list(variables["emb/embeddings"])
            var_list = {k: v for k, v in variables.items() if k != "emb/embeddings"}
            var_list.update({f"emb/embeddings/part_{i}": p for i, p in enumerate(parts)})
            saver = v1.train.Saver(var_list=var_list)
        else:
            saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            for _ in range(3):
                session.run(step)
            prefix = saver.save(session, os.path.join(directory, "model"), global_step=3)
    reader = tf.train.load_checkpoint(prefix)
    saved = {k: reader.get_tensor(k) for k in values} if not parts_as_keys else None
    slots = ({(k, s): reader.get_tensor(f"{k}/{n}") for k in values for n, s in
              (("Adam", "momentums"), ("Adam_1", "velocities"))} if train and not parts_as_keys else None)
    return prefix, saved, slots


def test_every_change_and_adams_slots_from_a_saver_checkpoint(day1, tmp_path):
    _, source, _ = day1
    prefix, saved, slots = _saver_checkpoint(source, str(tmp_path))
    assert ws.locate(prefix).format == "tf1-checkpoint"
    day2, before, report = warm_day2(prefix)
    check_day2(report, day2, before, saved)
    day2 = rec(day=2, seed=3)
    optimizer = keras.optimizers.Adam()
    report = ws.warm_start(day2, prefix, optimizer=optimizer, **day2_rules())
    zeros = {k: np.zeros_like(v) for k, v in keras_slots(day2, optimizer).items()}
    check_day2_slots(report, day2, optimizer, zeros, slots)


def test_inspect_shows_keys_as_names_a_partitioned_variable_as_one(day1, tmp_path):
    _, source, _ = day1
    prefix, _, _ = _saver_checkpoint(source, str(tmp_path))
    entries = {e.name: e for e in ws.inspect_checkpoint(prefix)}
    assert entries["emb/embeddings"].shape == (6, 4) and entries["emb/embeddings"].kind is ws.EntryKind.VARIABLE
    assert entries["emb/embeddings/Adam_1"].kind is ws.EntryKind.SLOT
    assert (entries["emb/embeddings/Adam_1"].slot_owner, entries["emb/embeddings/Adam_1"].slot_name) == (
        "emb/embeddings", "velocities")
    assert {entries[k].kind for k in ("global_step", "beta1_power", "beta2_power")} == {ws.EntryKind.OTHER}


def test_part_keys_are_merged_into_one_variable(day1, tmp_path):
    _, source, _ = day1
    prefix, _, _ = _saver_checkpoint(source, str(tmp_path), train=False, parts_as_keys=True)
    keys = set(tf.train.load_checkpoint(prefix).get_variable_to_shape_map())
    assert {"emb/embeddings/part_0", "emb/embeddings/part_2"} <= keys and "emb/embeddings" not in keys
    day2, before, report = warm_day2(prefix)
    check_day2(report, day2, before, source)


def test_streamed_from_a_sliced_tf1_variable(tmp_path):
    table = np.random.default_rng(0).normal(size=(6000, 64)).astype("float32")  # 1.5 MB
    prefix, _, _ = _saver_checkpoint({"emb/embeddings": table}, str(tmp_path), partitions=4, train=False)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((1,), dtype="int32"), keras.layers.Embedding(6000, 64, name="emb")],
                             name="t")
    ws.warm_start(model, prefix, memory_budget=1 << 20)
    np.testing.assert_array_equal(model.get_layer("emb").embeddings.numpy(), table)


def test_a_missing_shard_is_a_read_error_naming_it(day1, tmp_path):
    _, source, _ = day1
    graph = tf.Graph()
    with graph.as_default():
        for i, (key, value) in enumerate(source.items()):
            with tf.device(f"/cpu:{i % 2}"):
                v1.get_variable(key, initializer=tf.constant(value))
        saver = v1.train.Saver(sharded=True)
        with v1.Session(graph=graph, config=v1.ConfigProto(device_count={"CPU": 2})) as session:
            session.run(v1.global_variables_initializer())
            prefix = saver.save(session, str(tmp_path / "sharded"))
    shard = f"{prefix}.data-00001-of-00002"
    os.remove(shard)
    day2 = rec(day=2, seed=4)
    before = snapshot(day2)
    with pytest.raises(ws.CheckpointReadError, match="missing 1 of its 2 data shards") as info:
        ws.warm_start(day2, prefix, **day2_rules())
    assert shard in str(info.value)
    assert_untouched(before, day2)
