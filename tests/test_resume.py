"""``ws.restore_or_warm_start``: the run's own checkpoint restored exactly, or a warm start."""

from __future__ import annotations

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
    named,
    rec,
    snapshot,
    values,
)

import warmstart as ws


def _run(directory, seed):
    """A day-2 training job's model, optimizer and CheckpointManager."""
    model = rec(day=2, seed=seed)
    optimizer = keras.optimizers.Adam()
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model, optimizer=optimizer), str(directory),
                                         max_to_keep=2)
    return model, optimizer, manager


def test_a_new_run_is_warm_started_model_and_optimizer(day1, tmp_path):
    model1, source, files = day1
    model, optimizer, manager = _run(tmp_path / "run", seed=3)
    before = values(model)
    report = ws.restore_or_warm_start(manager, files["keras"], **day2_rules())
    assert not report.resumed
    check_day2(report, model, before, source)
    zeros = {k: np.zeros_like(v) for k, v in keras_slots(model, optimizer).items()}
    check_day2_slots(report, model, optimizer, zeros, keras_slots(model1, model1.optimizer))


def test_a_run_with_its_own_checkpoint_resumes_exactly(day1, tmp_path):
    _, _, files = day1
    model, optimizer, manager = _run(tmp_path / "run", seed=3)
    ws.restore_or_warm_start(manager, files["keras"], **day2_rules())
    named(model)["d2/kernel"].assign(np.full((8, 5), 7.0, "float32"))  # trained since
    optimizer._momentums[0].assign(np.full(optimizer._momentums[0].shape, 3.0, "float32"))
    optimizer.iterations.assign(41)
    saved = manager.save()
    expected, expected_slots = values(model), keras_slots(model, optimizer)

    again, again_optimizer, again_manager = _run(tmp_path / "run", seed=4)  # the job restarts
    again_optimizer.build(again.trainable_variables)
    report = ws.restore_or_warm_start(again_manager, files["keras"], **day2_rules())
    assert report.resumed and report.source == saved and report.location.format == "tf2-checkpoint"
    assert "resumed from" in report.summary()
    for name, value in expected.items():
        np.testing.assert_array_equal(values(again)[name], value, err_msg=name)
    for key, value in expected_slots.items():
        np.testing.assert_array_equal(keras_slots(again, again_optimizer)[key], value, err_msg=str(key))
    assert int(again_optimizer.iterations.numpy()) == 41


def test_resuming_into_a_changed_model_fails_loudly_and_changes_nothing(tmp_path):
    _, _, manager = _run(tmp_path / "run", seed=3)
    manager.save()
    changed = keras.Sequential([keras.Input((2,), dtype="int32"), keras.layers.Embedding(8, 6, name="emb"),
                                keras.layers.Flatten(name="flat"), keras.layers.Dense(1, name="click")],
                               name="day2")
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=changed, optimizer=keras.optimizers.Adam()),
                                         str(tmp_path / "run"), max_to_keep=2)
    before = snapshot(changed)
    with pytest.raises(ws.ResumeError, match=r"(?s)run's own checkpoint.*'emb/embeddings'.*new run"):
        ws.restore_or_warm_start(manager, "unused")
    assert_untouched(before, changed)


def _towers(extra: bool = False) -> keras.Model:
    inp = keras.Input((4,))
    out = keras.layers.Dense(1, name="head")(keras.layers.Dense(3, name="a")(inp))
    if extra:
        out = keras.layers.Dense(1, name="extra")(out)
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    return model


def test_resuming_into_a_model_with_a_new_layer_changes_nothing(tmp_path):
    # tf.train.Checkpoint.restore writes what matches before it finds the new layer unbound
    run = _towers()
    run.fit(np.ones((8, 4), np.float32), np.ones((8, 1), np.float32), verbose=0)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=run, optimizer=run.optimizer), str(tmp_path / "run"),
                               max_to_keep=2).save()
    again = _towers(extra=True)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=again, optimizer=again.optimizer),
                                         str(tmp_path / "run"), max_to_keep=2)
    before = snapshot(again)
    with pytest.raises(ws.ResumeError, match=r"2 variable\(s\) of the model are not in it: 'extra/bias', "
                                             r"'extra/kernel'; nothing was restored"):
        ws.restore_or_warm_start(manager, "unused")
    assert_untouched(before, again)
    assert int(again.optimizer.iterations.numpy()) == 0


def test_a_restore_that_fails_half_way_is_put_back(tmp_path):
    # past the dry-run check (the model fits), the checkpoint tracks an object the saved run
    # did not have: restore writes the model, then the assertion fails; every value goes back
    run = _towers()
    run.fit(np.ones((8, 4), np.float32), np.ones((8, 1), np.float32), verbose=0)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=run, optimizer=run.optimizer), str(tmp_path / "run"),
                               max_to_keep=2).save()
    again = _towers()
    extra = tf.Variable(5.0)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=again, optimizer=again.optimizer, epoch=extra),
                                         str(tmp_path / "run"), max_to_keep=2)
    before = snapshot(again)
    with pytest.raises(ws.ResumeError, match="nothing was restored"):
        ws.restore_or_warm_start(manager, "unused")
    assert_untouched(before, again)
    assert float(extra.numpy()) == 5.0


def test_the_checkpoint_must_track_one_keras_model(tmp_path):
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=tf.Variable(0)), str(tmp_path / "run"),
                                         max_to_keep=1)
    with pytest.raises(ws.UnsupportedTargetError, match="tracks no Keras model"):
        ws.restore_or_warm_start(manager, "unused")


def test_a_tf_keras_run_warm_starts_then_resumes(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")

    def build():
        model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(4, name="d1"),
                                     tf_keras.layers.Dense(1, name="d2")])
        model.compile(tf_keras.optimizers.Adam(1e-2), "mse")
        return model

    x, y = np.ones((8, 3), np.float32), np.zeros((8, 1), np.float32)
    day1 = build()
    day1.fit(x, y, verbose=0)
    source = tf.train.Checkpoint(model=day1, optimizer=day1.optimizer).write(str(tmp_path / "src" / "c"))

    def manager_of(model):
        return tf.train.CheckpointManager(tf.train.Checkpoint(model=model, optimizer=model.optimizer),
                                          str(tmp_path / "run"), max_to_keep=2)

    fresh = build()
    before = [v.numpy() for v in fresh.weights]
    with pytest.raises(ws.OptimizerError, match="tf_keras optimizer 'Adam' is not built"):
        ws.restore_or_warm_start(manager_of(fresh), source)
    for v, b in zip(fresh.weights, before, strict=True):  # refused before any write
        np.testing.assert_array_equal(v.numpy(), b)
    fresh.optimizer.build(fresh.trainable_variables)
    report = ws.restore_or_warm_start(manager_of(fresh), source)
    assert not report.resumed and report.summary().endswith("loaded 4, skipped 0, missing 0, unused 0")
    for a, b in zip(day1.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    fresh.fit(x, y, verbose=0)
    manager_of(fresh).save()
    again = build()
    again.optimizer.build(again.trainable_variables)
    assert ws.restore_or_warm_start(manager_of(again), source).resumed
    assert int(again.optimizer.iterations.numpy()) == int(fresh.optimizer.iterations.numpy()) == 2


@pytest.mark.parametrize("kind", ["sequential", "subclassed"])
def test_the_warm_start_callback_refuses_a_tf_keras_fit_with_what_to_do(tmp_path, kind):
    tf_keras = pytest.importorskip("tf_keras")
    from warmstart.keras import WarmStart

    if kind == "sequential":
        model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(1)])
    else:  # a class of the user's own module: tf_keras only among its bases
        class Ranker(tf_keras.Model):
            def __init__(self):
                super().__init__(name="ranker")
                self.head = tf_keras.layers.Dense(1)

            def call(self, x):
                return self.head(x)

        model = Ranker()
        model(np.ones((1, 3), np.float32))
    model.compile("sgd", "mse")
    before = [v.numpy() for v in model.weights]
    with pytest.raises(TypeError, match=r"(?s)WarmStart is a Keras 3 callback.*restore_or_warm_start"):
        model.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), verbose=0,
                  callbacks=[WarmStart(str(tmp_path / "none"))])
    for v, b in zip(model.weights, before, strict=True):  # refused before the first batch
        np.testing.assert_array_equal(v.numpy(), b)


def test_an_unbuilt_subclass_of_a_tf_keras_optimizer_is_told_to_build(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")

    class TunedAdam(tf_keras.optimizers.Adam):  # the user's module, not tf_keras
        pass

    model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(1, name="d")])
    source = tf.train.Checkpoint(model=model).write(str(tmp_path / "src" / "c"))
    before = [v.numpy() for v in model.weights]
    with pytest.raises(ws.OptimizerError, match="tf_keras optimizer .* is not built"):
        ws.warm_start(model, source, optimizer=TunedAdam())
    for v, b in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(v.numpy(), b)
