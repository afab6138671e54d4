"""TensorFlow helpers for the tests: tiny real Keras models and real checkpoints written by TF
in tmp_path. ``tests/pure`` never imports this module."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf


def mlp(widths=(8, 3), names=("d1", "d2"), head="head", inputs=4, extra_after=None, seed=None):
    """A Sequential MLP with an Input, so it is built. ``extra_after`` inserts a named layer."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    layers = [keras.Input((inputs,))]
    for w, n in zip(widths, names, strict=True):
        layers.append(keras.layers.Dense(w, name=n))
        if extra_after == n:
            layers.append(keras.layers.Dense(w, name="inserted"))
    layers.append(keras.layers.Dense(1, name=head))
    return keras.Sequential(layers)


def snapshot(target) -> dict[str, np.ndarray]:
    variables = target.values() if isinstance(target, dict) else target.variables
    return {f"{i}:{getattr(v, 'path', getattr(v, 'name', ''))}": np.array(v.numpy()) for i, v in enumerate(variables)}


def assert_untouched(before: dict[str, np.ndarray], target) -> None:
    after = snapshot(target)
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)


def save(tmp_path, name="ckpt", **objects) -> str:
    """Write a checkpoint with tf.train.Checkpoint(**objects).write; return the prefix."""
    return tf.train.Checkpoint(**objects).write(str(tmp_path / name))


def train(model, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, model.inputs[0].shape[-1])).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=steps, batch_size=16, verbose=0)
    return model


def trained_run(tmp_path):
    """A compiled, trained MLP and a CheckpointManager directory holding model and optimizer."""
    model = train(mlp(seed=1))
    ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path / "run"), max_to_keep=2)
    manager.save()
    manager.save()
    return model, str(tmp_path / "run")
