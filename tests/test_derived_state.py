"""Layers that compute with state derived from their variables (an adapted Normalization)
compute with the warm-started values, eagerly and in the model's traced predict."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import warmstart as ws

X = np.array([[5.0, 5.0, 5.0], [0.0, 1.0, -2.0]], np.float32)


def _model(nested: bool = False) -> keras.Model:
    inp = keras.Input((3,))
    if nested:
        inner = keras.Sequential([keras.Input((3,)), keras.layers.Normalization(name="norm")], name="pre")
        return keras.Model(inp, keras.layers.Dense(2, name="head")(inner(inp)))
    return keras.Model(inp, keras.layers.Dense(2, name="head")(keras.layers.Normalization(name="norm")(inp)))


def _adapted(nested: bool = False) -> keras.Model:
    model = _model(nested)
    norm = model.get_layer("pre").get_layer("norm") if nested else model.get_layer("norm")
    norm.adapt(np.random.default_rng(0).normal(5, 3, size=(100, 3)).astype(np.float32))
    return model


def test_an_adapted_normalization_computes_with_the_loaded_statistics(tmp_path):
    day1 = _adapted()
    tf.train.Checkpoint(model=day1).write(str(tmp_path / "ckpt"))
    day1.save_weights(tmp_path / "m.weights.h5")
    expected = day1(X).numpy()
    for source in (tmp_path / "ckpt", tmp_path / "m.weights.h5"):
        day2 = _model()
        before = day2.predict(X, verbose=0)  # traces predict with the fresh layer's constants
        assert not np.allclose(before, expected)
        report = ws.warm_start(day2, source)
        assert report.summary().startswith(f"warm start from {source}: loaded 5")
        assert any("Normalization 'norm': finalize_state called" in n for n in report.notes)
        np.testing.assert_allclose(day2(X).numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(day2.predict(X, verbose=0), expected, rtol=1e-6)


def test_a_normalization_in_a_nested_model_is_refreshed_and_its_models_retrace(tmp_path):
    day1 = _adapted(nested=True)
    tf.train.Checkpoint(model=day1).write(str(tmp_path / "ckpt"))
    day2 = _model(nested=True)
    day2.predict(X, verbose=0)
    day2.get_layer("pre").predict(X, verbose=0)
    ws.warm_start(day2, tmp_path / "ckpt")
    np.testing.assert_allclose(day2.predict(X, verbose=0), day1(X).numpy(), rtol=1e-6)
    np.testing.assert_allclose(day2.get_layer("pre").predict(X, verbose=0), day1.get_layer("pre")(X).numpy(),
                               rtol=1e-6)


def test_nothing_is_refreshed_by_a_dry_run_or_when_the_layer_was_not_written(tmp_path):
    day1 = _adapted()
    tf.train.Checkpoint(model=day1).write(str(tmp_path / "ckpt"))
    day2 = _model()
    fresh = day2(X).numpy()
    report = ws.warm_start(day2, tmp_path / "ckpt", dry_run=True)
    assert not [n for n in report.notes if "finalize_state" in n]
    np.testing.assert_array_equal(day2(X).numpy(), fresh)
    report = ws.warm_start(day2, tmp_path / "ckpt", exclude=["norm/.*"])
    assert not [n for n in report.notes if "finalize_state" in n]


def test_the_warm_start_callback_refreshes_a_normalization_before_the_first_batch(tmp_path):
    from warmstart.keras import WarmStart

    day1 = _adapted()
    day1.compile(optimizer="sgd", loss="mse")
    tf.train.Checkpoint(model=day1).write(str(tmp_path / "ckpt"))
    day2 = _model()
    day2.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")  # no step moves the weights
    day2.fit(X, np.zeros((2, 2), np.float32), verbose=0)  # traces train_function before the warm start
    seen = {}

    class Evaluate(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.setdefault("loss", logs["loss"])

    day2.fit(X, np.zeros((2, 2), np.float32), batch_size=2, verbose=0,
             callbacks=[WarmStart(tmp_path / "ckpt"), Evaluate()])
    expected = float(np.mean(day1(X).numpy() ** 2))
    np.testing.assert_allclose(float(seen["loss"]), expected, rtol=1e-5)


@pytest.mark.parametrize("adapted_on_day2", [False, True])
def test_a_normalization_adapted_before_its_sequential_is_built_pairs_by_name(tmp_path, adapted_on_day2):
    # Keras 3 names a variable by its layer's path when the layer is built: adapted first, the
    # layer's variables lack the model's name ('pp/mean' beside 'sequential/head/kernel')
    data = np.random.default_rng(0).normal(5, 3, size=(50, 3)).astype(np.float32)

    def build(adapt: bool) -> keras.Model:
        norm = keras.layers.Normalization(name="pp")
        if adapt:
            norm.adapt(data[::-1] if adapted_on_day2 else data)
        return keras.Sequential([keras.Input((3,)), norm, keras.layers.Dense(2, name="head")])

    day1 = build(True)
    prefix = tf.train.Checkpoint(model=day1).write(str(tmp_path / "ckpt"))
    day2 = build(adapted_on_day2)
    report = ws.warm_start(day2, prefix, strict=True)
    assert sorted(e.target for e in report.loaded) == ["head/bias", "head/kernel", "pp/count", "pp/mean",
                                                       "pp/variance"]
    np.testing.assert_allclose(day2(X).numpy(), day1(X).numpy(), rtol=1e-6)
