"""``targets.layout``: what a Keras file reader learns of the live model and optimizer."""

from __future__ import annotations

import keras
import pytest
from support import rec

from warmstart.targets import walk_target
from warmstart.targets.layout import describe_keras, optimizer_layout


def test_layers_are_described_as_keras_saves_them():
    model = rec(day=2, seed=1)
    bn = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(name="bn")], name="tower")
    layout = describe_keras(model, walk_target(model).variables)
    assert layout.model_name == "day2"
    first, *children = layout.layer(()).children
    assert first.startswith("input_layer") and children == ["emb", "flat", "d1", "inserted", "d2", "click"]
    d1 = layout.layer(("d1",))
    assert (d1.class_name, d1.variables, d1.local_names, d1.trainable) == (
        "Dense", ("d1/kernel", "d1/bias"), ("kernel", "bias"), 2)
    assert layout.layer(("flat",)).variables == ()
    norm = describe_keras(bn, walk_target(bn).variables).layer(("bn",))
    assert norm.local_names == ("gamma", "beta", "moving_mean", "moving_variance") and norm.trainable == 2


@pytest.mark.parametrize(("optimizer", "hyper", "segments"), [
    (keras.optimizers.Adam(), ("iterations", "learning_rate"), (("momentums", "velocities"),)),
    (keras.optimizers.Adam(amsgrad=True), ("iterations", "learning_rate"),
     (("momentums", "velocities"), ("velocity_hats",))),
    (keras.optimizers.SGD(momentum=0.9), ("iterations", "learning_rate"), (("momentums",),)),
    (keras.optimizers.SGD(), ("iterations", "learning_rate"), ()),
    (keras.optimizers.Adagrad(), ("iterations", "learning_rate"), (("accumulators",),)),
], ids=["adam", "amsgrad", "sgd-momentum", "sgd", "adagrad"])
def test_optimizer_layouts_come_from_keras_own_build(optimizer, hyper, segments):
    layout = optimizer_layout(optimizer)
    assert (layout.hyper, layout.segments, layout.same_shape) == (hyper, segments, True)
    assert not optimizer.built  # a scratch copy was built, not the user's optimizer


def test_a_factored_optimizer_is_marked():
    layout = optimizer_layout(keras.optimizers.Adafactor())
    assert layout is None or not layout.same_shape
