"""Layers of one name in different sub-models: a TF2 checkpoint tells them apart only by
position, so pairing them is flagged (two towers listed in another order would swap)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import warmstart as ws


def _tower(name: str, inner: str) -> keras.Model:
    inp = keras.Input((4,))
    return keras.Model(inp, keras.layers.Dense(4, name=inner)(inp), name=name)


def _model(towers: list[str], inner: str | None = None) -> keras.Model:
    inp = keras.Input((4,))
    outs = [_tower(t, inner or f"{t}_d1")(inp) for t in towers]
    return keras.Model(inp, keras.layers.Add()(outs))


def _kernel(model: keras.Model, tower: str) -> np.ndarray:
    return model.get_layer(tower).layers[-1].kernel.numpy()


def _day1(tmp_path, inner: str | None) -> tuple[keras.Model, str]:
    day1 = _model(["user", "item"], inner)
    for i, w in enumerate(day1.weights):
        w.assign(np.full(w.shape, i + 1, np.float32))
    prefix = tf.train.Checkpoint(model=day1).write(str(tmp_path / "ckpt"))
    return day1, prefix


def test_towers_in_another_order_would_swap_so_the_pairing_is_flagged(tmp_path):
    day1, prefix = _day1(tmp_path, inner="d1")
    day2 = _model(["item", "user"], inner="d1")
    before = [w.numpy() for w in day2.weights]
    with pytest.raises(ws.AmbiguousMatchError, match=r"2 layers named 'd1' .* paired by position"):
        ws.warm_start(day2, prefix, strict=True)
    for w, b in zip(day2.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), b)

    report = ws.warm_start(day2, prefix)
    assert len(report.warnings) == 1 and "(1/1, 2/1)" in report.warnings[0]
    assert "1/1/kernel, 2/1/bias, 2/1/kernel" in report.warnings[0]
    # what the warning is about: by position, day 2's first tower ('item') got day 1's 'user'
    np.testing.assert_array_equal(_kernel(day2, "item"), _kernel(day1, "user"))


def test_unique_inner_names_pair_by_name_whatever_the_order(tmp_path):
    day1, prefix = _day1(tmp_path, inner=None)
    day2 = _model(["item", "user"])
    report = ws.warm_start(day2, prefix, strict=True)
    assert not report.warnings
    for tower in ("user", "item"):
        np.testing.assert_array_equal(_kernel(day2, tower), _kernel(day1, tower))


def test_rename_rules_pair_them_explicitly(tmp_path):
    day1, prefix = _day1(tmp_path, inner="d1")
    day2 = _model(["item", "user"], inner="d1")
    report = ws.warm_start(day2, prefix, strict=True, rename=[(r"1/1/(.*)", r"2/1/\1"), (r"2/1/(.*)", r"1/1/\1")])
    assert not report.warnings
    for tower in ("user", "item"):
        np.testing.assert_array_equal(_kernel(day2, tower), _kernel(day1, tower))
