"""Casts never change a value's magnitude: a finite checkpoint value the model's dtype cannot
hold is a CastOverflowError (held or streamed, variable or optimizer slot), and the model is
left bit-identical."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import assert_untouched, save, snapshot

import warmstart as ws

ROWS, WIDTH = 40_000, 16  # 2.5 MiB of float32: streamed under a 64 KiB budget
BUDGET = 1 << 16


def batchnorm(dtype):
    inputs = keras.Input((3,))
    x = keras.layers.BatchNormalization(name="bn", dtype=dtype)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="head", dtype=dtype)(x))


def test_float32_to_float16_overflow_is_an_error_and_changes_nothing(tmp_path):
    old = batchnorm("float32")
    old.get_layer("bn").moving_variance.assign([1e6, 7e4, 1.0])  # raw count features
    prefix = save(tmp_path, model=old)
    new = batchnorm("float16")
    before = snapshot(new)
    with pytest.raises(ws.CastOverflowError) as e:
        ws.warm_start(new, prefix)
    message = str(e.value)
    assert "cannot warm-start 'bn/moving_variance' from 'bn/moving_variance'" in message
    assert "2 of 3 value(s) do not fit float16 (float32 -> float16 would make them inf)" in message
    assert "the largest magnitude is 1e+06, float16 holds up to 65504" in message
    assert "Fix: exclude=['bn/moving_variance']" in message and "float32" in message.split("Fix:")[1]
    assert_untouched(before, new)
    report = ws.warm_start(new, prefix, exclude=["bn/moving_variance"])
    assert {e.target for e in report.loaded} == {"bn/gamma", "bn/beta", "bn/moving_mean", "head/kernel", "head/bias"}


def test_every_overflowing_variable_is_named_in_one_error(tmp_path):
    prefix = save(tmp_path, a=tf.Variable([1.0, 7e4]), b=tf.Variable([-1e5, -2e5, 3.0]), c=tf.Variable([2.0]))
    target = {k: tf.Variable(tf.zeros(n, tf.float16)) for k, n in (("a", 2), ("b", 3), ("c", 1))}
    before = snapshot(target)
    with pytest.raises(ws.CastOverflowError) as e:
        ws.warm_start(target, prefix)
    message = str(e.value)
    assert "(2 problems)" in message and "'a'" in message and "'b'" in message
    assert "the largest magnitude is 200000" in message
    assert_untouched(before, target)


def test_streamed_overflow_in_a_late_chunk_undoes_the_chunks_written(tmp_path):
    table = np.random.default_rng(0).normal(size=(ROWS, WIDTH)).astype("float32")
    table[ROWS - 3, 5] = 1e5
    table[ROWS - 2, :2] = [-3e38, np.inf]  # the checkpoint's own inf is not overflow
    prefix = save(tmp_path, emb=tf.Variable(table), small=tf.Variable(np.ones(3, "float32")))
    target = {"emb": tf.Variable(np.full((ROWS, WIDTH), -1, "float16")), "small": tf.Variable(np.zeros(3, "float16"))}
    before = snapshot(target)
    with pytest.raises(ws.CastOverflowError) as e:
        ws.warm_start(target, prefix, memory_budget=BUDGET)
    message = str(e.value)
    assert "cannot warm-start 'emb' from 'emb'" in message
    assert "2 of " in message and " in rows " in message and "(streamed: the first chunk that overflows)" in message
    assert "the largest magnitude is 3e+38" in message
    assert_untouched(before, target)


def test_in_range_values_still_load_held_and_streamed_keeping_infs_nans_and_underflow(tmp_path):
    table = np.random.default_rng(1).normal(size=(ROWS, WIDTH)).astype("float32")
    table[7, :4] = [np.inf, -np.inf, np.nan, 1e-9]  # 1e-9 is below float16's smallest subnormal: 0
    table[9, 0] = 65504.0  # float16's largest
    prefix = save(tmp_path, emb=tf.Variable(table), small=tf.Variable(np.array([1.0, -np.inf, 6e4], "float32")))
    for budget in (None, BUDGET):
        target = {"emb": tf.Variable(np.zeros((ROWS, WIDTH), "float16")), "small": tf.Variable(np.zeros(3, "float16"))}
        report = ws.warm_start(target, prefix, memory_budget=budget)
        assert {e.action for e in report.loaded} == {ws.Action.CAST}
        np.testing.assert_array_equal(target["emb"].numpy(), table.astype("float16"))
        np.testing.assert_array_equal(target["small"].numpy(), np.array([1.0, -np.inf, 6e4], "float16"))


@pytest.mark.parametrize("budget", [None, BUDGET], ids=["held", "streamed"])
def test_explicit_integer_cast_that_would_wrap_is_an_error(tmp_path, budget):
    ids = np.arange(ROWS * 4, dtype="int64").reshape(ROWS, 4)
    ids[ROWS // 2, 1], ids[ROWS // 2, 2] = 2**40, -(2**35)
    prefix = save(tmp_path, ids=tf.Variable(ids), w=tf.Variable(np.ones(3, "float32")))
    target = {"ids": tf.Variable(np.full((ROWS, 4), -1, "int32")), "w": tf.Variable(np.zeros(3, "float32"))}
    before = snapshot(target)
    with pytest.raises(ws.CastOverflowError) as e:
        ws.warm_start(target, prefix, cast="int64->int32", memory_budget=budget)
    message = str(e.value)
    assert "cannot warm-start 'ids' from 'ids'" in message
    assert "(int64 -> int32 would wrap them); the largest magnitude is 1099511627776, " \
           "int32 holds -2147483648..2147483647" in message
    assert ("2 of 160000 value(s) do not fit" in message) == (budget is None)
    assert "drop 'int64->int32' from cast=" in message
    assert_untouched(before, target)


def test_narrow_integer_and_float64_casts(tmp_path):
    prefix = save(tmp_path, i=tf.Variable(np.array([1, 300, -200, 7], "int32")),
                  f=tf.Variable(np.array([1.0, 1e39, 1e-50, np.inf, np.nan])))
    for cast, dtype, name, expect in (("int32->int8", "int8", "i", "2 of 4 value(s) do not fit int8"),
                                      ("int32->uint8", "uint8", "i", "2 of 4 value(s) do not fit uint8"),
                                      ("float64->float32", "float32", "f", "1 of 5 value(s) do not fit float32")):
        target = {name: tf.Variable(tf.zeros(4 if name == "i" else 5, dtype))}
        before = snapshot(target)
        with pytest.raises(ws.CastOverflowError, match=f"'{name}'") as e:
            ws.warm_start(target, prefix, cast=cast)
        assert expect in str(e.value)
        assert_untouched(before, target)
    prefix = save(tmp_path, name="fits", i=tf.Variable(np.array([1, 127, -128], "int32")),
                  f=tf.Variable(np.array([1.0, 3e38, 1e-50, np.inf, np.nan])))
    target = {"i": tf.Variable(tf.zeros(3, tf.int8)), "f": tf.Variable(tf.zeros(5, tf.float32))}
    ws.warm_start(target, prefix, cast=["int32->int8", "float64->float32"])
    np.testing.assert_array_equal(target["i"].numpy(), [1, 127, -128])
    np.testing.assert_array_equal(target["f"].numpy(), np.array([1.0, 3e38, 0.0, np.inf, np.nan], "float32"))


def test_optimizer_slot_overflow_names_the_slot_and_leaves_the_optimizer_as_it_was(tmp_path):
    def model(dtype):
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(2, name="d", dtype=dtype)(inputs))

    old, old_opt = model("float32"), keras.optimizers.Adam(0.01)
    old_opt.build(old.trainable_variables)
    old_opt._velocities[0].assign(np.full((4, 2), 1e6, "float32"))  # d/kernel's second moment
    prefix = save(tmp_path, model=old, optimizer=old_opt)
    new, opt = model("float16"), keras.optimizers.Adam(0.01)
    opt.build(new.trainable_variables)
    before, before_slots = snapshot(new), [np.array(v.numpy()) for v in opt.variables]
    with pytest.raises(ws.CastOverflowError) as e:
        ws.warm_start(new, prefix, optimizer=opt)
    message = str(e.value)
    assert "cannot warm-start 'd/kernel@" in message and "8 of 8 value(s) do not fit float16" in message
    assert "exclude=['d/kernel'] (the variable and its slots)" in message
    assert_untouched(before, new)
    for v, b in zip(opt.variables, before_slots, strict=True):
        np.testing.assert_array_equal(np.array(v.numpy()), b, err_msg=v.path)
