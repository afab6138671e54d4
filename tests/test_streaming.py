"""Tables larger than the memory budget: verified first, then streamed in row chunks."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import assert_untouched, save, snapshot

import warmstart as ws

ROWS, WIDTH = 20_000, 64  # 5 MiB of float32: five 1 MiB chunks under a 1 MiB budget
BUDGET = 1 << 20
rng = np.random.default_rng(0)
TABLE = rng.normal(size=(ROWS, WIDTH)).astype("float32")


@pytest.fixture
def big(tmp_path):
    return save(tmp_path, emb=tf.Variable(TABLE), small=tf.Variable(np.ones(3, "float32")))


def target(rows=ROWS, width=WIDTH, dtype="float32", fill=-1.0):
    return {"emb": tf.Variable(np.full((rows, width), fill, dtype)), "small": tf.Variable(np.zeros(3, "float32"))}


def test_streamed_copy_equals_the_table_and_reports_progress(big):
    t = target()
    seen = []
    ws.warm_start(t, big, memory_budget=BUDGET, progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_array_equal(t["emb"].numpy(), TABLE)
    np.testing.assert_array_equal(t["small"].numpy(), np.ones(3))
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and seen[-1][0] == seen[-1][1]
    assert seen[-1][1] >= 2 * TABLE.nbytes  # two passes over the streamed table


def test_streamed_overlap_cast_and_keras_embedding(big):
    t = target(rows=ROWS + 100, width=48, dtype="float16")
    ws.warm_start(t, big, memory_budget=BUDGET, on_mismatch="overlap")
    got = t["emb"].numpy()
    np.testing.assert_array_equal(got[:ROWS], TABLE[:, :48].astype("float16"))
    assert (got[ROWS:] == -1).all()

    inp = keras.Input((1,), dtype="int32")
    model = keras.Model(inp, keras.layers.Embedding(ROWS, WIDTH, name="emb")(inp))
    prefix = os.path.dirname(big) + "/keras"
    tf.train.Checkpoint(model=keras.Model(inp, keras.layers.Embedding(ROWS, WIDTH, name="emb")(inp))).write(prefix)
    old = tf.train.load_checkpoint(prefix)
    key = next(k for k in old.get_variable_to_shape_map() if "embeddings" in k)
    report = ws.warm_start(model, prefix, memory_budget=BUDGET)
    assert report.loaded[0].target == "emb/embeddings"
    np.testing.assert_array_equal(model.get_layer("emb").embeddings.numpy(), old.get_tensor(key))


def test_streamed_vocab_remap_equals_the_in_memory_one(big, tmp_path):
    old_vocab = [f"t{i}" for i in range(ROWS)]
    keep = rng.permutation(ROWS)[: ROWS * 4 // 5]
    new_vocab = [old_vocab[i] for i in keep] + [f"new{i}" for i in range(ROWS // 5)]
    rng.shuffle(new_vocab)
    vocab = {"emb": ws.Vocab(old_vocab, new_vocab, num_oov_buckets=3)}
    streamed, held = target(rows=len(new_vocab) + 3), target(rows=len(new_vocab) + 3)
    ws.warm_start(streamed, big, vocab=vocab, memory_budget=BUDGET)
    ws.warm_start(held, big, vocab=vocab)
    np.testing.assert_array_equal(streamed["emb"].numpy(), held["emb"].numpy())
    index = {t: i for i, t in enumerate(old_vocab)}
    got = streamed["emb"].numpy()
    for i in rng.integers(0, len(new_vocab), 50):
        token = new_vocab[i]
        expected = TABLE[index[token]] if token in index else np.full(WIDTH, -1.0)
        np.testing.assert_array_equal(got[i], expected, err_msg=token)

    narrow = target(rows=len(new_vocab) + 3, width=40)
    ws.warm_start(narrow, big, vocab=vocab, memory_budget=BUDGET, on_mismatch="overlap")
    np.testing.assert_array_equal(narrow["emb"].numpy(), held["emb"].numpy()[:, :40])


def test_sliced_checkpoint_streams_from_its_slices(tmp_path):
    shards = [tf.Variable(TABLE[:7000]), tf.Variable(TABLE[7000:13000]), tf.Variable(TABLE[13000:])]
    sharded = tf.__internal__.distribute.ShardedVariable(shards)
    prefix = save(tmp_path, emb=sharded, small=tf.Variable(np.ones(3, "float32")))
    t = target()
    ws.warm_start(t, prefix, memory_budget=BUDGET)
    np.testing.assert_array_equal(t["emb"].numpy(), TABLE)


def _damage(prefix, *, flip=None, truncate=None):
    data = prefix + ".data-00000-of-00001"
    if truncate is not None:
        with open(data, "r+b") as f:
            f.truncate(truncate)
        return
    with open(data, "r+b") as f:
        f.seek(flip)
        b = f.read(1)
        f.seek(flip)
        f.write(bytes([b[0] ^ 0x01]))


@pytest.mark.parametrize("damage", ["bit-flip", "truncated"])
def test_damage_in_the_middle_of_a_streamed_table_writes_nothing(big, damage):
    reader = tf.train.load_checkpoint(big)
    assert reader.get_variable_to_shape_map()["emb/.ATTRIBUTES/VARIABLE_VALUE"] == [ROWS, WIDTH]
    from warmstart.sources.bundle import read_index

    entry = read_index(big).entry("emb/.ATTRIBUTES/VARIABLE_VALUE")
    middle = entry.offset + entry.size // 2 + 12345
    if damage == "bit-flip":
        _damage(big, flip=middle)
    else:  # the object graph is written after the table, so this also cuts the graph
        _damage(big, truncate=middle)
    t = target()
    before = snapshot(t)
    with pytest.raises(ws.CheckpointReadError, match="crc32c.*damaged|truncated") as info:
        ws.warm_start(t, big, memory_budget=BUDGET)
    if damage == "bit-flip":
        assert "'emb/.ATTRIBUTES/VARIABLE_VALUE'" in str(info.value)
        assert str(info.value).startswith("cannot read 'emb' (key 'emb/.ATTRIBUTES/VARIABLE_VALUE')")
    assert_untouched(before, t)


@pytest.mark.parametrize("budget", [None, 64 << 10], ids=["held", "streamed"])
def test_a_damaged_slot_is_named_by_its_variable_and_slot(tmp_path, budget):
    """Not by the checkpoint's name for it (``optimizer/_variables/3``), which says nothing."""
    def model():
        inp = keras.Input((1,), dtype="int32")
        return keras.Model(inp, keras.layers.Dense(2, name="d")(keras.layers.Embedding(4_000, 16, name="emb")(inp)))

    day1, adam = model(), keras.optimizers.Adam()
    adam.build(day1.trainable_variables)
    for v in adam.variables[1:]:
        v.assign(tf.random.uniform(v.shape))
    prefix = tf.train.Checkpoint(model=day1, optimizer=adam).write(str(tmp_path / "ckpt"))
    from warmstart.sources.bundle import read_index

    reader = tf.train.load_checkpoint(prefix)
    key = next(k for k in reader.get_variable_to_shape_map()  # the table's velocity (Adam's _velocities[0])
               if k.startswith("optimizer/_variables/") and np.array_equal(reader.get_tensor(k),
                                                                           adam._velocities[0].numpy()))
    entry = read_index(prefix).entry(key)
    _damage(prefix, flip=entry.offset + entry.size // 2)
    day2, adam2 = model(), keras.optimizers.Adam()
    adam2.build(day2.trainable_variables)
    before = snapshot({**{v.path: v for v in day2.weights}, **{v.path: v for v in adam2.variables}})
    with pytest.raises(ws.CheckpointReadError, match="crc32c") as info:
        ws.warm_start(day2, prefix, optimizer=adam2, memory_budget=budget)
    assert f"cannot read 'emb/embeddings@velocities' (key {key!r})" in str(info.value)
    assert_untouched(before, {**{v.path: v for v in day2.weights}, **{v.path: v for v in adam2.variables}})
