"""Checkpoints written by tf_keras (Keras 2): names, slot classification, cross-loading.

tf_keras is installed beside tensorflow-cpu with ``pip install --no-deps tf-keras``
(the README's test command does it); its metadata would otherwise pull the full wheel.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from support import mlp

import warmstart as ws

tf_keras = pytest.importorskip("tf_keras")


def legacy_mlp(dropout=False):
    layers = [tf_keras.layers.Dense(8, name="d1", input_shape=(4,))]
    if dropout:
        layers.append(tf_keras.layers.Dropout(0.1))
    layers += [tf_keras.layers.Dense(3, name="d2"), tf_keras.layers.Dense(1, name="head")]
    return tf_keras.Sequential(layers)


@pytest.mark.parametrize("legacy_optimizer", [False, True], ids=["adam", "legacy-adam"])
def test_tf_keras_checkpoint_names_and_slots(tmp_path, legacy_optimizer):
    old = legacy_mlp(dropout=True)
    opt = tf_keras.optimizers.legacy.Adam() if legacy_optimizer else tf_keras.optimizers.Adam()
    old.compile(opt, "mse")
    old.fit(np.ones((8, 4)), np.ones((8, 1)), verbose=0)
    prefix = tf.train.Checkpoint(model=old, optimizer=opt).write(str(tmp_path / "c"))
    found = ws.inspect_checkpoint(prefix)
    variables = {e.name for e in found if e.kind is ws.EntryKind.VARIABLE}
    assert variables == {"d1/kernel", "d1/bias", "d2/kernel", "d2/bias", "head/kernel", "head/bias"}
    slots = {(e.slot_owner, e.slot_name) for e in found if e.kind is ws.EntryKind.SLOT}
    assert len(slots) == 12 and ("d1/kernel", "momentums") in slots and ("head/bias", "velocities") in slots

    new = legacy_mlp()  # no Dropout: tf_keras's positional layer-N keys shift, names do not
    report = ws.warm_start(new, prefix)
    assert len(report.loaded) == 6 and not report.unused
    np.testing.assert_array_equal(new.get_layer("d2").kernel.numpy(), old.get_layer("d2").kernel.numpy())

    keras3 = mlp()  # the same names in a Keras 3 model: a framework migration
    report = ws.warm_start(keras3, prefix)
    assert len(report.loaded) == 6
    np.testing.assert_array_equal(keras3.get_layer("head").kernel.numpy(), old.get_layer("head").kernel.numpy())


def test_tf_keras_target_with_its_optimizer(tmp_path):
    old = legacy_mlp()
    old.compile(tf_keras.optimizers.Adam(), "mse")
    old.fit(np.ones((8, 4)), np.ones((8, 1)), verbose=0, epochs=2)
    prefix = tf.train.Checkpoint(model=old, optimizer=old.optimizer).write(str(tmp_path / "c"))
    new = legacy_mlp()
    opt = tf_keras.optimizers.Adam()
    opt.build(new.trainable_variables)
    report = ws.warm_start(new, prefix, optimizer=opt)
    assert {e.outcome for e in report.slots} == {ws.SlotOutcome.LOADED} and len(report.slots) == 12
    for a, b in zip(old.optimizer._momentums, opt._momentums, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(opt.iterations.numpy()) == int(old.optimizer.iterations.numpy())


def test_slots_of_an_optimizer_built_outside_fit(tmp_path):
    """``opt.build`` names the slots ``m/head/bias`` (``fit`` names them ``Adam/m/head/bias``):
    each slot is still found by the variable its name ends with, and carried."""
    old, old_opt = legacy_mlp(), tf_keras.optimizers.Adam()
    old_opt.build(old.trainable_variables)
    rng = np.random.default_rng(0)
    for s in old_opt._momentums + old_opt._velocities:
        s.assign(rng.normal(size=s.shape).astype("float32"))
    old_opt.iterations.assign(41)
    prefix = tf.train.Checkpoint(model=old, optimizer=old_opt).write(str(tmp_path / "c"))
    assert any(v.name.startswith("m/") for v in old_opt._momentums)
    new, opt = legacy_mlp(), tf_keras.optimizers.Adam()
    opt.build(new.trainable_variables)
    report = ws.warm_start(new, prefix, optimizer=opt)
    assert len(report.loaded) == 6 and not report.skipped and not report.missing
    for a, b in zip(old.weights, new.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert {e.outcome for e in report.slots} == {ws.SlotOutcome.LOADED} and len(report.slots) == 12
    for a, b in zip(old_opt._momentums + old_opt._velocities, opt._momentums + opt._velocities, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(opt.iterations.numpy()) == 41


def test_legacy_optimizer_as_target_is_a_clear_error(tmp_path):
    old = legacy_mlp()
    prefix = tf.train.Checkpoint(model=old).write(str(tmp_path / "c"))
    new = legacy_mlp()
    with pytest.raises(ws.OptimizerError, match="Keras 3 optimizers"):
        ws.warm_start(new, prefix, optimizer=tf_keras.optimizers.legacy.Adam())
