"""No lasting after-effect (issue 16): a variable written in row chunks (``scatter_update``)
is taken out of TF's copy-on-read mode, so dense reads after a streamed warm start share the
variable's buffer, as after ``tf.train.Checkpoint.restore``.

The check is deterministic: in copy-on-read mode every dense read copies the buffer, so two
reads of a CPU variable return different addresses; otherwise both alias the variable.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

import warmstart as ws
from warmstart.apply import writers

ROWS, WIDTH = 20_000, 16  # 1.25 MiB: streamed under BUDGET
BUDGET = 512 << 10


def shares_buffer(v) -> bool:
    tv = v.value if isinstance(v, keras.Variable) else v
    first = np.asarray(tv.read_value())
    second = np.asarray(tv.read_value())  # while the first is alive: copies cannot share an address
    return first.ctypes.data == second.ctypes.data


def model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    ids = keras.Input((1,), dtype="int32")
    x = keras.layers.Flatten()(keras.layers.Embedding(ROWS, WIDTH, name="emb")(ids))
    x = keras.layers.Dense(ROWS, name="wide")(x)  # a (16, 20000) kernel: not row-streamed...
    return keras.Model(ids, keras.layers.Dense(WIDTH, name="tall")(x))  # ...a (20000, 16) one is


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    m = model(1)
    opt = keras.optimizers.Adam()
    m.compile(optimizer=opt, loss="mse")
    m.fit(np.arange(64).reshape(-1, 1), np.ones((64, WIDTH)), epochs=1, verbose=0)
    prefix = tf.train.Checkpoint(model=m, optimizer=opt).write(str(tmp_path_factory.mktemp("cor") / "ckpt"))
    return prefix, m


def streamed(m: keras.Model, opt) -> list:
    """The table, the tall kernel and their Adam slots: what the budget makes stream."""
    big = [m.get_layer("emb").embeddings, m.get_layer("tall").kernel]
    return big + [s for s in opt.variables if tuple(s.shape) == (ROWS, WIDTH)]


def test_the_check_sees_copy_on_read_mode():
    v = tf.Variable(np.zeros((100, 4), "float32"))
    assert shares_buffer(v)
    v.scatter_update(tf.IndexedSlices(tf.ones((1, 4)), tf.constant([3], tf.int64)))
    assert not shares_buffer(v)  # what a streamed warm start left behind before
    writers.end_copy_on_read(v)
    assert shares_buffer(v)


def test_streamed_table_kernel_and_slots_share_their_buffer_after_a_warm_start(checkpoint):
    prefix, trained = checkpoint
    m, opt = model(2), keras.optimizers.Adam()
    report = ws.warm_start(m, prefix, optimizer=opt, memory_budget=BUDGET)
    assert report.ok
    big = streamed(m, opt)
    assert len(big) == 6
    for v in big:
        assert shares_buffer(v), v.path
    for got, want in zip(m.weights, trained.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_and_after_a_rolled_back_one(checkpoint):
    m, opt = model(2), keras.optimizers.Adam()
    opt.build(m.trainable_variables)
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == 30:  # mid-write
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ws.warm_start(m, checkpoint[0], optimizer=opt, memory_budget=BUDGET, progress=progress)
    for v in streamed(m, opt):
        assert shares_buffer(v), v.path


def test_without_disable_copy_on_read_the_mode_stays_and_is_logged(checkpoint, monkeypatch, caplog):
    """The fallback for a TensorFlow without the op (it exists from 2.10; the project needs
    2.16): values are right, dense reads copy until training's next sparse update."""
    monkeypatch.setattr(writers, "_DISABLE_COPY_ON_READ", None)
    m = model(2)
    with caplog.at_level(logging.INFO, logger="warmstart.apply.writers"):
        ws.warm_start(m, checkpoint[0], memory_budget=BUDGET)
    table = m.get_layer("emb").embeddings
    assert not shares_buffer(table)
    assert "stays in copy-on-read mode" in caplog.text
    ws.warm_start(model(3), checkpoint[0])  # within the budget: whole assigns, no mode to leave
