"""Checkpoint discovery, naming, slot classification, and every way a file can be bad."""

from __future__ import annotations

import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import assert_untouched, mlp, save, snapshot, train

import warmstart as ws
from warmstart.sources import locate


def entries(path, kind=None):
    return {e.name: e for e in ws.inspect_checkpoint(path) if kind is None or e.kind is kind}


def test_names_sequential_functional_and_nested(tmp_path):
    seq = mlp()
    assert set(entries(save(tmp_path, "s", model=seq), ws.EntryKind.VARIABLE)) == {
        "d1/kernel", "d1/bias", "d2/kernel", "d2/bias", "head/kernel", "head/bias"}
    tower = keras.Sequential([keras.layers.Dense(3, name="t0")], name="tower")
    inp = keras.Input((4,))
    x = keras.layers.BatchNormalization(name="bn")(inp)
    out = keras.layers.Dense(1, name="head")(tower(x))
    fn = keras.Model(inp, out, name="fn")
    names = set(entries(save(tmp_path, "f", model=fn), ws.EntryKind.VARIABLE))
    assert names == {"bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance",
                     "tower/t0/kernel", "tower/t0/bias", "head/kernel", "head/bias"}
    assert names == {v.path for v in fn.variables}  # same form as the target side


def test_optimizer_state_is_classified_not_unused(trained):
    _, run = trained
    all_entries = ws.inspect_checkpoint(run)
    slots = [e for e in all_entries if e.kind is ws.EntryKind.SLOT]
    assert len(slots) == 12  # Adam: momentum and velocity for 6 variables
    assert {(e.slot_owner, e.slot_name) for e in slots} >= {("d1/kernel", "momentums"), ("head/bias", "velocities")}
    others = {e.name for e in all_entries if e.kind is ws.EntryKind.OTHER}
    assert {"optimizer/_iterations", "optimizer/_learning_rate", "save_counter"} <= others
    assert ws.warm_start(mlp(), run).unused == ()


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda: keras.optimizers.SGD(momentum=0.9),
        lambda: keras.optimizers.RMSprop(momentum=0.5),
        lambda: keras.optimizers.Adagrad(),
        lambda: keras.optimizers.Ftrl(),
        lambda: keras.optimizers.Lion(),
        lambda: keras.optimizers.Adam(amsgrad=True, use_ema=True),
        lambda: keras.optimizers.Adafactor(),
        lambda: keras.mixed_precision.LossScaleOptimizer(keras.optimizers.Adam()),
    ],
    ids=["sgd", "rmsprop", "adagrad", "ftrl", "lion", "adam-amsgrad-ema", "adafactor", "loss-scale"],
)
def test_every_keras_optimizer_slot_is_never_a_model_variable(tmp_path, make_opt):
    model = mlp()
    model.compile(optimizer=make_opt(), loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), verbose=0)
    prefix = save(tmp_path, model=model, optimizer=model.optimizer)
    variables = entries(prefix, ws.EntryKind.VARIABLE)
    assert set(variables) == {"d1/kernel", "d1/bias", "d2/kernel", "d2/bias", "head/kernel", "head/bias"}
    report = ws.warm_start(mlp(), prefix)
    assert len(report.loaded) == 6 and report.unused == ()


def test_model_saved_without_optimizer_entry_still_tracks_it(trained, tmp_path):
    model, _ = trained
    prefix = save(tmp_path, model=model)  # compiled: model/optimizer/... is saved too
    keys = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    assert any(k.startswith("model/optimizer/") for k in keys)
    assert len(entries(prefix, ws.EntryKind.SLOT)) == 12
    assert ws.warm_start(mlp(), prefix).unused == ()


def test_locate_forms(tmp_path):
    model = mlp()
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(tmp_path / "m"), 1)
    prefix = manager.save()
    assert locate(str(tmp_path / "m")).path == prefix
    assert locate(prefix + ".index").path == prefix
    assert locate(prefix + ".data-00000-of-00001").path == prefix
    single = tmp_path / "single"
    single.mkdir()
    for f in os.listdir(tmp_path / "m"):
        if f != "checkpoint":
            shutil.copy(tmp_path / "m" / f, single / f)
    assert locate(str(single)).path == str(single / os.path.basename(prefix))


# -- bad input: each a typed error, each leaves the model untouched ---------------------


@pytest.fixture
def good(tmp_path):
    model = train(mlp(seed=3))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(tmp_path / "run"), 2)
    return manager.save()


def _expect(error, path, match=None):
    target = mlp(seed=4)
    before = snapshot(target)
    with pytest.raises(error, match=match) as info:
        ws.warm_start(target, path)
    assert_untouched(before, target)
    assert isinstance(info.value, ws.WarmStartError)
    return info.value


def test_nonexistent_path(tmp_path):
    err = _expect(ws.CheckpointNotFoundError, str(tmp_path / "nope"), "does not exist")
    assert isinstance(err, FileNotFoundError)


def test_nonexistent_prefix_suggests_neighbours(good, tmp_path):
    _expect(ws.CheckpointNotFoundError, good + "9", "ckpt-1")


def test_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    _expect(ws.CheckpointNotFoundError, str(tmp_path / "empty"), "no checkpoint in directory")


def test_state_file_points_to_missing_prefix(good, tmp_path, capfd):
    for f in os.listdir(tmp_path / "run"):
        if f.startswith("ckpt-1"):
            os.remove(tmp_path / "run" / f)
    _expect(ws.CheckpointNotFoundError, str(tmp_path / "run"), "names 'ckpt-1'")
    assert "Couldn't match files" not in capfd.readouterr().err  # TF's own noise stays out


def test_garbage_index(good):
    with open(good + ".index", "wb") as f:
        f.write(os.urandom(300))
    _expect(ws.CheckpointReadError, good, "cannot read the checkpoint index")


def test_truncated_data_file(good):
    data = good + ".data-00000-of-00001"
    size = os.path.getsize(data)
    with open(data, "r+b") as f:
        f.truncate(size // 2)
    _expect(ws.CheckpointReadError, good, "truncated or damaged")


def test_missing_data_shard(good):
    os.remove(good + ".data-00000-of-00001")
    _expect(ws.CheckpointReadError, good, "no data file")


def test_missing_one_of_several_shards(good):
    data = good + ".data-00000-of-00001"
    os.rename(data, good + ".data-00000-of-00002")
    _expect(ws.CheckpointReadError, good, r"missing 1 of its 2 data shards.*00001-of-00002")


def test_keras_file_under_another_suffix_is_named(tmp_path):
    model = mlp()
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    os.replace(path, tmp_path / "m.keras")
    _expect(ws.CheckpointReadError, str(tmp_path / "m.keras"), "is an HDF5 file, not a .keras archive")


def test_bit_flip_in_a_tensor_is_caught_before_any_write(tmp_path):
    # A large tensor first in the file, so the flip hits its bytes and not the object graph.
    big = tf.Variable(np.arange(200_000, dtype="float32"))
    small = tf.Variable(np.ones(3, "float32"))
    prefix = save(tmp_path, a_small=small, big=big)
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.seek(400_000)
        byte = f.read(1)
        f.seek(400_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    target = {"a_small": tf.Variable(np.zeros(3, "float32")), "big": tf.Variable(np.zeros(200_000, "float32"))}
    before = snapshot(target)
    for hold in (1 << 30, 16):  # held, and verify-then-stream
        with pytest.raises(ws.CheckpointReadError, match=r"(?s)'big'.*(?i:checksum|corrupt|crc)") as info:
            ws.warm_start(target, prefix, memory_budget=hold)
        assert "nothing was written" in str(info.value)
        assert_untouched(before, target)


def test_a_directory_holding_one_keras_file_resolves_to_it_and_several_are_named(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    backup = tmp_path / "backup"  # what keras.callbacks.BackupAndRestore leaves
    backup.mkdir()
    model.save_weights(backup / "latest.weights.h5")
    assert locate(str(backup)).path == str(backup / "latest.weights.h5")
    assert locate(str(backup)).format == "keras-weights"
    model.save(backup / "model.keras")
    with pytest.raises(ws.CheckpointReadError, match=r"holds 2 Keras files and no TF checkpoint: "
                                                  r"latest.weights.h5, model.keras"):
        locate(str(backup))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ws.CheckpointNotFoundError, match="no checkpoint in directory"):
        locate(str(empty))
