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


# -- one model, every file format (tests of the Keras, TF1 and SavedModel readers) -------------

TOKENS1 = ["a", "b", "c", "d", "e", "f"]
TOKENS2 = ["f", "x", "a", "c", "y", "b", "e", "z"]  # 'd' dropped; x, y, z new; re-sorted


def rec(day=1, seed=None):
    """Day 1: ``emb`` (6 tokens) -> ``d1`` (8) -> ``d2`` (3) -> ``head``. Day 2: ``emb`` grown
    (8 tokens, re-sorted), a layer ``inserted`` before ``d2`` (so every later class key of a
    Keras file shifts), ``d2`` wider (5), the head renamed ``click``."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    vocab = len(TOKENS1 if day == 1 else TOKENS2)
    layers = [keras.Input((2,), dtype="int32"), keras.layers.Embedding(vocab, 4, name="emb"),
              keras.layers.Flatten(name="flat"), keras.layers.Dense(8, name="d1")]
    if day == 2:
        layers.append(keras.layers.Dense(8, name="inserted"))
    layers += [keras.layers.Dense(3 if day == 1 else 5, name="d2"),
               keras.layers.Dense(1, name="head" if day == 1 else "click")]
    return keras.Sequential(layers, name=f"day{day}")


def fit(model, epochs=2, seed=0):
    """Compile with Adam and train a little, so the optimizer has state worth carrying."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, model.layers[0].input_dim, size=(32, 2)).astype("int32")
    y = rng.normal(size=(32, 1)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0)
    return model


def day2_rules():
    """The rules every format is warm-started with: the same names whatever the file."""
    import warmstart as ws

    return {"rename": [(r"click/(.*)", r"head/\1")], "on_mismatch": "overlap",
            "vocab": {"emb/embeddings": ws.Vocab(TOKENS1, TOKENS2)}, "strict": True,
            "expect_missing": [r"inserted/.*"]}


def named(model) -> dict:
    """A Keras model's variables by target name (``variable.path`` without the model's name)."""
    return {v.path.removeprefix(model.name + "/"): v for v in model.variables}


def values(model) -> dict[str, np.ndarray]:
    return {k: np.array(v.numpy()) for k, v in named(model).items()}


def check_day2(report, day2, before: dict[str, np.ndarray], source: dict[str, np.ndarray]) -> None:
    """Every value ``report`` says it loaded into ``rec(day=2)``, checked with numpy against the
    day-1 arrays ``source`` (and what it did not load against ``before``)."""
    got = values(day2)
    assert {e.target: (str(e.action), e.source) for e in report.loaded} == {
        "emb/embeddings": ("vocab", "emb/embeddings"),
        "d1/kernel": ("copy", "d1/kernel"), "d1/bias": ("copy", "d1/bias"),
        "d2/kernel": ("overlap", "d2/kernel"), "d2/bias": ("overlap", "d2/bias"),
        "click/kernel": ("overlap", "head/kernel"), "click/bias": ("copy", "head/bias"),
    }
    assert set(report.missing) == {"inserted/kernel", "inserted/bias"} and not report.skipped
    for i, token in enumerate(TOKENS2):
        want = source["emb/embeddings"][TOKENS1.index(token)] if token in TOKENS1 else before["emb/embeddings"][i]
        np.testing.assert_array_equal(got["emb/embeddings"][i], want, err_msg=f"emb row {token}")
    for name in ("d1/kernel", "d1/bias"):
        np.testing.assert_array_equal(got[name], source[name], err_msg=name)
    for target, src in (("d2/kernel", "d2/kernel"), ("d2/bias", "d2/bias"), ("click/kernel", "head/kernel")):
        block = tuple(slice(0, min(a, b)) for a, b in zip(got[target].shape, source[src].shape, strict=True))
        np.testing.assert_array_equal(got[target][block], source[src][block], err_msg=target)
        rest = np.ones(got[target].shape, bool)
        rest[block] = False
        np.testing.assert_array_equal(got[target][rest], before[target][rest], err_msg=f"{target} outside the block")
    np.testing.assert_array_equal(got["click/bias"], source["head/bias"])
    for name in ("inserted/kernel", "inserted/bias"):
        np.testing.assert_array_equal(got[name], before[name], err_msg=name)


def warm_day2(source_path, seed=7, **extra):
    """``ws.warm_start`` of a fresh day-2 model from ``source_path`` under :func:`day2_rules`."""
    import warmstart as ws

    day2 = rec(day=2, seed=seed)
    before = values(day2)
    report = ws.warm_start(day2, source_path, **{**day2_rules(), **extra})
    return day2, before, report


def keras_slots(model, optimizer) -> dict[tuple[str, str], np.ndarray]:
    """A built Keras 3 Adam's moments by (target name, slot), from Keras' own lists."""
    names = {id(v): n for n, v in named(model).items()}
    out = {}
    for list_name in ("_momentums", "_velocities"):
        for v, s in zip(optimizer._trainable_variables, getattr(optimizer, list_name), strict=True):
            out[(names[id(v)], list_name.strip("_"))] = np.array(s.numpy())
    return out


def check_day2_slots(report, day2, optimizer, before, source) -> None:
    """The day-2 Adam's moments after a warm start with ``optimizer=``: each follows its
    variable (copy, overlap block, vocabulary rows, rename), checked against ``source``
    (``{(day-1 name, slot): array}``); ``inserted``'s stay as they were (``before``)."""
    got = keras_slots(day2, optimizer)
    loaded = {(s.target, s.slot) for s in report.slots if str(s.outcome) == "loaded"}
    want = {(t, s) for t in named(day2) if not t.startswith("inserted") for s in ("momentums", "velocities")}
    assert loaded == want, sorted(want ^ loaded)
    for (target, slot), value in got.items():
        src_name = target.replace("click/", "head/")
        if target.startswith("inserted"):
            np.testing.assert_array_equal(value, before[(target, slot)])
            continue
        src = source[(src_name, slot)]
        if target == "emb/embeddings":
            for i, token in enumerate(TOKENS2):
                want_row = src[TOKENS1.index(token)] if token in TOKENS1 else before[(target, slot)][i]
                np.testing.assert_array_equal(value[i], want_row, err_msg=f"{target} {slot} row {token}")
            continue
        block = tuple(slice(0, min(a, b)) for a, b in zip(value.shape, src.shape, strict=True))
        np.testing.assert_array_equal(value[block], src[block], err_msg=f"{target} {slot}")


def check_format(path, fmt, source, **extra):
    """Warm-start a day-2 model from ``path`` (a file of format ``fmt`` holding the day-1
    ``source`` arrays) under the day-2 rules and check every value; the report."""
    day2, before, report = warm_day2(path, **extra)
    check_day2(report, day2, before, source)
    assert report.location.format == fmt
    return report
