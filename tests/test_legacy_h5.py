"""Legacy Keras HDF5 files: Keras 3 ``model.save('x.h5')``, tf_keras ``save_weights``/``save``."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest
from support import (
    TOKENS1,
    check_day2,
    check_day2_slots,
    check_format,
    day2_rules,
    keras_slots,
    rec,
    warm_day2,
)

import warmstart as ws

tf_keras = pytest.importorskip("tf_keras")
pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


def _slots_after(path, **extra):
    day2 = rec(day=2, seed=3)
    optimizer = keras.optimizers.Adam()
    report = ws.warm_start(day2, path, optimizer=optimizer, **day2_rules(), **extra)
    before = {k: np.zeros_like(v) for k, v in keras_slots(day2, optimizer).items()}
    return report, day2, optimizer, before


def test_keras3_legacy_h5_every_change_and_adams_slots(day1):
    model, source, files = day1
    check_format(files["h5"], "keras-h5", source)
    report, day2, optimizer, before = _slots_after(files["h5"])
    check_day2_slots(report, day2, optimizer, before, keras_slots(model, model.optimizer))
    assert int(optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())


@pytest.fixture(scope="module")
def tf_keras_files(day1, tmp_path_factory):
    """The day-1 model rebuilt with tf_keras, trained on, and saved both ways."""
    model, _, _ = day1
    d = tmp_path_factory.mktemp("tf_keras")
    tk = tf_keras.Sequential([
        tf_keras.Input((2,), dtype="int32"), tf_keras.layers.Embedding(len(TOKENS1), 4, name="emb"),
        tf_keras.layers.Flatten(name="flat"), tf_keras.layers.Dense(8, name="d1"),
        tf_keras.layers.Dense(3, name="d2"), tf_keras.layers.Dense(1, name="head")], name="tk")
    tk.set_weights(model.get_weights())
    tk.compile(optimizer=tf_keras.optimizers.Adam(0.01), loss="mse")
    rng = np.random.default_rng(1)
    tk.fit(rng.integers(0, 6, (16, 2)).astype("int32"), rng.normal(size=(16, 1)), epochs=2, verbose=0)
    weights, full = str(d / "tk_weights.h5"), str(d / "tk_model.h5")
    tk.save_weights(weights)
    tk.save(full)
    source = {v.name.removesuffix(":0"): v.numpy() for v in tk.variables}
    with h5py.File(full) as f:
        slots = {(name, slot): f[f"optimizer_weights/Adam/{m}/{name}:0"][()]
                 for name in source for m, slot in (("m", "momentums"), ("v", "velocities"))}
    return weights, full, source, slots, int(tk.optimizer.iterations.numpy())


def test_tf_keras_save_weights_h5_every_change(tf_keras_files):
    weights, _, source, _, _ = tf_keras_files
    day2, before, report = warm_day2(weights)
    check_day2(report, day2, before, source)


def test_tf_keras_model_h5_carries_its_adam_into_a_keras3_adam(tf_keras_files):
    _, full, source, slots, steps = tf_keras_files
    day2, before, report = warm_day2(full)
    check_day2(report, day2, before, source)
    report, day2, optimizer, before = _slots_after(full)
    check_day2_slots(report, day2, optimizer, before, slots)
    assert int(optimizer.iterations.numpy()) == steps


def test_inspect_names_legacy_files_as_the_model_does(day1, tf_keras_files):
    _, _, files = day1
    for path in (files["h5"], tf_keras_files[1]):
        entries = ws.inspect_checkpoint(path)
        variables = {e.name for e in entries if e.kind is ws.EntryKind.VARIABLE}
        assert variables == {"emb/embeddings", "d1/kernel", "d1/bias", "d2/kernel", "d2/bias", "head/kernel",
                             "head/bias"}
        slots = {(e.slot_owner, e.slot_name) for e in entries if e.kind is ws.EntryKind.SLOT}
        assert slots == {(v, s) for v in variables for s in ("momentums", "velocities")}
