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


class ListHolder(keras.Model):
    """Layers in a plain Python list: Keras 3 counts them in ``weights``, TF's object graph
    (and so every tf.train.Checkpoint of the model) does not see them."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.blocks = [keras.layers.Dense(4, name=f"b{i}") for i in range(3)]
        self.head = keras.layers.Dense(1, name="head")

    def call(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def built_list_holder():
    model = ListHolder()
    model(np.zeros((1, 4), "float32"))
    return model


def test_variables_tf_cannot_checkpoint_are_targets_that_say_why():
    got = names(built_list_holder())
    assert set(got) == {f"b{i}/{w}" for i in range(3) for w in ("kernel", "bias")} | {"head/kernel", "head/bias"}
    assert got["head/kernel"].untracked is None and got["head/kernel"].paths
    why = got["b1/kernel"].untracked
    assert got["b1/kernel"].paths == () and "plain Python list `blocks`" in why and "Fix:" in why


def test_list_held_layers_are_missing_with_the_reason_and_strict_fails(tmp_path):
    import warmstart as ws
    from support import assert_untouched, snapshot

    old = built_list_holder()
    prefix = tf.train.Checkpoint(model=old).write(str(tmp_path / "ckpt"))
    assert {k for k, _ in tf.train.list_variables(prefix)} == {
        "_CHECKPOINTABLE_OBJECT_GRAPH", "model/head/_kernel/.ATTRIBUTES/VARIABLE_VALUE",
        "model/head/bias/.ATTRIBUTES/VARIABLE_VALUE"}  # TF's own checkpoint misses the list
    new = built_list_holder()
    before = snapshot(new)
    with pytest.raises(ws.IncompleteError, match="plain Python list `blocks`"):
        ws.warm_start(new, prefix, strict=True)
    assert_untouched(before, new)
    report = ws.warm_start(new, prefix)
    assert {e.target for e in report.loaded} == {"head/kernel", "head/bias"}
    assert len(report.missing) == 6 and all("plain Python list" in report.missing_detail[n] for n in report.missing)
    np.testing.assert_array_equal(new.head.kernel.numpy(), old.head.kernel.numpy())
    accounted = {e.target for e in report.loaded} | {e.target for e in report.skipped} | set(report.missing)
    assert accounted == {v.path.split("/", 1)[1] for v in new.weights}
