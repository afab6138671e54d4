"""Target names, paths and auto-name marks from live objects."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import mlp

from warmstart.apply.writers import write_block
from warmstart.errors import TargetNotBuiltError
from warmstart.targets import walk_target


def names(target):
    return {e.name: e for e in walk_target(target).entries}


def test_sequential_names_drop_the_model_name():
    got = names(mlp())
    assert set(got) == {"d1/kernel", "d1/bias", "d2/kernel", "d2/bias", "head/kernel", "head/bias"}
    assert got["d1/kernel"].shape == (4, 8) and got["d1/kernel"].dtype == "float32"
    assert "_functional/_operations/1/_kernel" in got["d1/kernel"].paths


def test_untracked_state_is_not_a_target():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5), keras.layers.Dense(2, name="d")])
    assert any("seed_generator" in v.path for v in model.variables)
    assert set(names(model)) == {"d/kernel", "d/bias"}


def test_compiled_model_excludes_optimizer_variables():
    model = mlp()
    model.compile("adam", "mse")
    model.fit(np.ones((4, 4)), np.ones((4, 1)), verbose=0)
    assert len(names(model)) == 6


def test_auto_named_components_are_marked():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2, name="named")])
    got = names(model)
    auto = next(e for n, e in got.items() if n.endswith("/kernel") and not n.startswith("named"))
    assert auto.auto_components == ((0, "dense"),)
    assert got["named/kernel"].auto_components == ()


def test_functional_keeps_nested_model_names():
    tower = keras.Sequential([keras.layers.Dense(3, name="t0")], name="tower")
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(1, name="head")(tower(inp)), name="fn")
    assert set(names(model)) == {"tower/t0/kernel", "tower/t0/bias", "head/kernel", "head/bias"}


def test_module_and_mapping():
    m = tf.Module()
    m.w = tf.Variable(1.0)
    m.layers = [tf.Variable([1.0, 2.0])]
    m.sub = tf.Module()
    m.sub.d = {"a": tf.Variable(3.0)}
    assert set(names(m)) == {"w", "layers/0", "sub/d/a"}
    assert set(names({"x": tf.Variable(1.0)})) == {"x"}
    with pytest.raises(TypeError, match="maps to int"):
        walk_target({"x": 1})


def test_unbuilt():
    with pytest.raises(TargetNotBuiltError, match="build"):
        walk_target(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(TargetNotBuiltError):
        walk_target(tf.Module())


def test_write_block_in_place_and_distributed_fallback():
    v = tf.Variable(np.zeros((4, 5), "float32"))
    handle_before = v.handle
    write_block(v, tf.ones((2, 3)))
    got = v.numpy()
    assert got[:2, :3].sum() == 6 and got.sum() == 6
    assert v.handle is handle_before
    k = keras.Variable(np.zeros((3, 3), "float32"))
    write_block(k, tf.ones((3, 2)))
    assert k.numpy()[:, :2].sum() == 6 and k.numpy()[:, 2].sum() == 0
