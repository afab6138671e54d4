"""All or nothing on the paths the transactional tests' model does not take: a streamed
function-preserving load (block at an offset, zero boxes), mean rows of a streamed remap, and a
streamed Keras ``.weights.h5``. A fault from the progress callback in the middle of the writes
leaves every variable bit-identical; the same call without the fault loads what it should."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import assert_untouched, snapshot

import warmstart as ws

BUDGET = 1 << 19  # 512 KiB: the tables below stream


class Stop(Exception):
    pass


def stop_midway():
    calls = {"n": 0}

    def progress(done, total):
        calls["n"] += 1
        if done > total // 2:
            raise Stop("enough")

    return progress


def tower(width, rows=4000, dim=32):
    ids = keras.Input((1,), dtype="int32")
    x = keras.layers.Flatten()(keras.layers.Embedding(rows, dim, name="emb")(ids))
    x = keras.layers.Dense(width, name="wide")(x)
    return keras.Model(ids, keras.layers.Dense(1, name="head")(x))


def test_streamed_preserve_is_undone_and_then_loads(tmp_path):
    keras.utils.set_random_seed(0)
    old = tower(16, rows=4000, dim=64)
    prefix = tf.train.Checkpoint(model=old).write(str(tmp_path / "ckpt"))
    keras.utils.set_random_seed(1)
    new = tower(24, rows=5000, dim=64)
    before = snapshot(new)
    with pytest.raises(ws.AbortedError):
        ws.warm_start(new, prefix, on_mismatch="preserve", memory_budget=BUDGET, progress=stop_midway())
    assert_untouched(before, new)
    report = ws.warm_start(new, prefix, on_mismatch="preserve", memory_budget=BUDGET)
    assert {e.target: str(e.action) for e in report.loaded}["head/kernel"] == "preserve"
    emb = new.get_layer("emb").embeddings.numpy()
    np.testing.assert_array_equal(emb[:4000], old.get_layer("emb").embeddings.numpy())
    head = new.get_layer("head").kernel.numpy()
    np.testing.assert_array_equal(head[:16], old.get_layer("head").kernel.numpy())
    assert (head[16:] == 0).all()  # the new inputs feed the old output: zero
    ids = np.arange(4000, dtype="int32")[:, None]
    np.testing.assert_allclose(new(ids).numpy(), old(ids).numpy(), atol=1e-5)


def test_streamed_mean_rows_are_undone_and_then_load(tmp_path):
    rng = np.random.default_rng(0)
    old_tokens = [f"t{i}" for i in range(6000)]
    new_tokens = old_tokens[:3000] + [f"n{i}" for i in range(1000)] + old_tokens[4000:]
    table = tf.Variable(rng.normal(size=(6000, 32)).astype("float32"))
    prefix = tf.train.Checkpoint(emb=table).write(str(tmp_path / "ckpt"))
    target = {"emb": tf.Variable(np.zeros((len(new_tokens), 32), "float32"))}
    before = snapshot(target)
    vocab = {"emb": ws.Vocab(old_tokens, new_tokens, initializer="mean")}
    with pytest.raises(ws.AbortedError):
        ws.warm_start(target, prefix, vocab=vocab, memory_budget=BUDGET, progress=stop_midway())
    assert_untouched(before, target)
    ws.warm_start(target, prefix, vocab=vocab, memory_budget=BUDGET)
    got, src = target["emb"].numpy(), table.numpy()
    carried = np.concatenate([src[:3000], src[4000:]])
    np.testing.assert_array_equal(got[:3000], src[:3000])
    np.testing.assert_allclose(got[3000:4000], np.broadcast_to(carried.astype("float64").mean(axis=0), (1000, 32)), atol=1e-6)


def test_streamed_keras_weights_file_is_undone_and_then_loads(tmp_path):
    keras.utils.set_random_seed(2)
    old = tower(16, rows=8000, dim=32)
    path = str(tmp_path / "day1.weights.h5")
    old.save_weights(path)
    new = tower(16, rows=8000, dim=32)
    before = snapshot(new)
    with pytest.raises(ws.AbortedError):
        ws.warm_start(new, path, memory_budget=BUDGET, progress=stop_midway())
    assert_untouched(before, new)
    ws.warm_start(new, path, memory_budget=BUDGET, strict=True)
    for a, b in zip(old.weights, new.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
