"""Keras 3 ``.keras`` archives: weights read in place from the zip, optimizer slots ordered by
the archive's ``config.json``."""

from __future__ import annotations

import keras
import numpy as np
from support import check_day2_slots, check_format, day2_rules, keras_slots, rec

import warmstart as ws
from warmstart.sources.keras_archive import config_layers


def test_every_change_loads_from_a_keras_archive(day1):
    _, source, files = day1
    check_format(files["keras"], "keras-archive", source)


def test_a_compiled_trained_models_archive_carries_adams_slots(day1):
    model, _, files = day1
    source = keras_slots(model, model.optimizer)
    day2 = rec(day=2, seed=3)
    optimizer = keras.optimizers.Adam()  # unbuilt: warm_start builds it on the day-2 model
    report = ws.warm_start(day2, files["keras"], optimizer=optimizer, **day2_rules())
    before = {k: np.zeros_like(v) for k, v in keras_slots(day2, optimizer).items()}  # Adam starts at zero
    check_day2_slots(report, day2, optimizer, before, source)
    assert int(optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) > 0
    # the note names where the file keeps the step, not only the name it is known by
    assert "optimizer step carried from 'optimizer/_iterations' (stored as 'optimizer/vars/0')" in report.notes


def _norms(seed):
    """Two normalisation layers with equal shapes between two Dense layers: from the weights
    file alone, either order of them fits the optimizer's slots."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="a"),
                              keras.layers.LayerNormalization(name="ln"), keras.layers.BatchNormalization(name="bn"),
                              keras.layers.Dense(1, name="b")], name="norms")
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), epochs=2, verbose=0)
    return model


def test_the_archives_config_orders_what_the_weights_file_cannot(tmp_path):
    old = _norms(1)
    old.save(tmp_path / "n.keras")
    old.save_weights(tmp_path / "n.weights.h5")
    source = keras_slots(old, old.optimizer)

    new = _norms(2)
    from_archive = ws.warm_start(new, str(tmp_path / "n.keras"), optimizer=new.optimizer)
    assert all(str(s.outcome) == "loaded" for s in from_archive.slots) and len(from_archive.slots) == 16
    for key, value in keras_slots(new, new.optimizer).items():
        np.testing.assert_array_equal(value, source[key], err_msg=str(key))

    plan = ws.warm_start(_norms(3), str(tmp_path / "n.weights.h5"), optimizer=keras.optimizers.Adam(), dry_run=True)
    assert len(plan.loaded) == 10  # the variables load by name all the same
    assert not any(str(s.outcome) == "loaded" for s in plan.slots)  # but no slot goes to a guessed owner
    assert any("more than one order" in n for n in plan.notes)


def test_config_layers_reads_nested_models():
    config = {"class_name": "Functional", "config": {"name": "fn", "trainable": True, "layers": [
        {"class_name": "InputLayer", "config": {"name": "in"}},
        {"class_name": "Sequential", "config": {"name": "tower", "trainable": False, "layers": [
            {"class_name": "Dense", "config": {"name": "t0", "trainable": True}}]}},
        {"class_name": "Dense", "config": {"name": "head"}}]}}
    layers = config_layers(config)
    assert layers[()].children == ("in", "tower", "head")
    assert layers[("tower",)].class_name == "Sequential" and not layers[("tower",)].trainable
    assert layers[("tower", "t0")].class_name == "Dense" and layers[("tower",)].children == ("t0",)


def _three_dense() -> keras.Model:
    inp = keras.Input((4,))
    x = keras.layers.Dense(4, name="a")(inp)
    x = keras.layers.Dense(4, name="b")(x)
    return keras.Model(inp, keras.layers.Dense(3, name="c")(x), name="m")


def test_slots_of_equal_shaped_variables_come_with_the_order_they_assume(tmp_path):
    # A Keras file does not say which variable a slot belongs to: an optimizer built over
    # [b, a, c] saves a's and b's moments (equal shapes) in each other's places. The slots are
    # attributed as Keras' own loader does (the model's order), and the report says so.
    day1 = _three_dense()
    opt = keras.optimizers.Adam()
    opt.build(day1.get_layer("b").trainable_variables + day1.get_layer("a").trainable_variables
              + day1.get_layer("c").trainable_variables)
    rng = np.random.default_rng(0)
    for v in opt.variables:
        if len(v.shape):
            v.assign(rng.normal(size=v.shape).astype(np.float32))
    day1.compile(optimizer=opt, loss="mse")
    day1.save(tmp_path / "m.keras")

    day2 = _three_dense()
    opt2 = keras.optimizers.Adam()
    opt2.build(day2.trainable_variables)
    report = ws.warm_start(day2, tmp_path / "m.keras", optimizer=opt2)

    note = next(n for n in report.notes if "does not record which variable each optimizer slot" in n)
    assert "a/kernel, b/kernel" in note and "a/bias, b/bias" in note
    assert "c/kernel" not in note  # (4, 3): no other variable has its shape
    momentum = {v.path.split("/", 1)[1]: v.numpy() for v in opt2.variables if v.path.endswith("_momentum")}
    day1_momentum = {v.path.split("/", 1)[1]: v.numpy() for v in opt.variables if v.path.endswith("_momentum")}
    # what the note warns of: in the model's order, a's slots hold what day 1 kept for b
    np.testing.assert_array_equal(momentum["a_kernel_momentum"], day1_momentum["b_kernel_momentum"])
    np.testing.assert_array_equal(momentum["c_kernel_momentum"], day1_momentum["c_kernel_momentum"])


def test_no_order_note_where_every_trained_shape_differs(tmp_path):
    inp = keras.Input((4,))
    day1 = keras.Model(inp, keras.layers.Dense(2, name="b")(keras.layers.Dense(5, name="a")(inp)))
    day1.compile(optimizer="adam", loss="mse")
    day1.fit(np.ones((4, 4), np.float32), np.ones((4, 2), np.float32), verbose=0)
    day1.save(tmp_path / "m.keras")
    inp = keras.Input((4,))
    day2 = keras.Model(inp, keras.layers.Dense(2, name="b")(keras.layers.Dense(5, name="a")(inp)))
    day2.compile(optimizer="adam", loss="mse")
    day2.optimizer.build(day2.trainable_variables)
    report = ws.warm_start(day2, tmp_path / "m.keras", optimizer=day2.optimizer)
    assert not [n for n in report.notes if "optimizer slot belongs to" in n]
    assert all(s.outcome.value == "loaded" for s in report.slots)
