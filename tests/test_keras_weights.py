"""Keras 3 ``.weights.h5``: names from the live model, every change, optimizer slots, streaming."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from support import (
    TOKENS1,
    TOKENS2,
    check_day2_slots,
    check_format,
    day2_rules,
    keras_slots,
    named,
    rec,
    values,
    warm_day2,
)

import warmstart as ws


def test_every_change_loads_from_weights_h5(day1):
    _, source, files = day1
    report = check_format(files["weights"], "keras-weights", source)
    assert report.location.files == (files["weights"],)
    # the head is no layer of the model: the note says how its variables were named
    assert any("'head'" in n and "rename" in n for n in report.notes)


def test_same_rules_give_the_same_report_from_weights_h5_and_a_tf_checkpoint(day1):
    _, _, files = day1
    reports = [warm_day2(files[kind])[2].to_dict() for kind in ("weights", "tf2")]
    for key in ("loaded", "skipped", "missing", "unused", "problems", "bytes", "ok", "rules"):
        assert reports[0][key] == reports[1][key], key


def test_inspect_without_a_model_names_by_layer_and_position(day1):
    _, _, files = day1
    entries = {e.name: e for e in ws.inspect_checkpoint(files["weights"])}
    variables = {n for n, e in entries.items() if e.kind is ws.EntryKind.VARIABLE}
    assert variables == {"emb/0", "d1/0", "d1/1", "d2/0", "d2/1", "head/0", "head/1"}
    assert entries["d2/0"].key == "layers/dense_1/vars/0" and entries["d2/0"].shape == (8, 3)
    assert entries["optimizer/_iterations"].kind is ws.EntryKind.OTHER
    assert entries["optimizer/_iterations"].dtype == "int64"


def test_adam_slots_follow_their_variables(day1):
    model, _, files = day1
    source = keras_slots(model, model.optimizer)
    day2 = rec(day=2, seed=3)
    optimizer = keras.optimizers.Adam()
    optimizer.build(day2.trainable_variables)
    before = keras_slots(day2, optimizer)
    report = ws.warm_start(day2, files["weights"], optimizer=optimizer, **day2_rules())
    check_day2_slots(report, day2, optimizer, before, source)
    assert int(optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())


def test_nested_models_and_batch_norm_are_named_as_the_model_names_them(tmp_path):
    def build(seed):
        keras.utils.set_random_seed(seed)
        tower = keras.Sequential([keras.layers.Dense(3, name="t0"), keras.layers.Dropout(0.1)], name="tower")
        inp = keras.Input((4,))
        out = keras.layers.Dense(1, name="head")(tower(keras.layers.BatchNormalization(name="bn")(inp)))
        return keras.Model(inp, out, name="fn")

    old = build(1)
    old.get_layer("bn").moving_mean.assign(np.arange(4, dtype="float32"))
    path = str(tmp_path / "fn.weights.h5")
    old.save_weights(path)
    new = build(2)
    report = ws.warm_start(new, path, strict=True)
    layer_variables = {n for n in named(new) if "seed_generator" not in n}  # Dropout's state is no target
    assert {e.target for e in report.loaded} == layer_variables >= {"tower/t0/kernel", "bn/moving_mean"}
    for name in layer_variables:
        np.testing.assert_array_equal(values(new)[name], values(old)[name], err_msg=name)


def test_a_layer_of_a_class_the_model_lacks_is_unused_with_a_reason(tmp_path):
    keras.utils.set_random_seed(1)
    old = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(name="bn"),
                            keras.layers.Dense(2, name="d1")], name="old")
    path = str(tmp_path / "old.weights.h5")
    old.save_weights(path)
    new = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d1")], name="new")
    report = ws.warm_start(new, path)
    assert [e.target for e in report.loaded] == ["d1/bias", "d1/kernel"]
    assert set(report.unused) == {"bn/0", "bn/1", "bn/2", "bn/3"}
    assert any("'bn'" in n and "named by position" in n for n in report.notes)
    np.testing.assert_array_equal(new.get_layer("d1").kernel.numpy(), old.get_layer("d1").kernel.numpy())


def test_tables_beyond_the_memory_budget_are_streamed(tmp_path):
    def table(tokens, seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((1,), dtype="int32"),
                                 keras.layers.Embedding(len(tokens), 64, name="emb")], name="t")

    old_tokens = [f"t{i}" for i in range(6000)]  # 6000 x 64 float32 = 1.5 MB, above a 1 MiB chunk
    rng = np.random.default_rng(0)
    new_tokens = list(rng.permutation(old_tokens[:5000] + [f"n{i}" for i in range(1500)]))
    old = table(old_tokens, 1)
    path = str(tmp_path / "t.weights.h5")
    old.save_weights(path)
    src = old.get_layer("emb").embeddings.numpy()

    same = table(old_tokens, 2)
    ticks = []
    report = ws.warm_start(same, path, memory_budget=1 << 20, progress=lambda done, total: ticks.append(done))
    np.testing.assert_array_equal(same.get_layer("emb").embeddings.numpy(), src)
    assert ticks[-1] == 2 * report.nbytes  # both passes

    grown = table(new_tokens, 3)
    fresh = grown.get_layer("emb").embeddings.numpy()
    ws.warm_start(grown, path, memory_budget=1 << 20,
                  vocab={"emb/embeddings": ws.Vocab(old_tokens, new_tokens)})
    got = grown.get_layer("emb").embeddings.numpy()
    where = {t: i for i, t in enumerate(old_tokens)}
    for i, token in enumerate(new_tokens):
        np.testing.assert_array_equal(got[i], src[where[token]] if token in where else fresh[i], err_msg=token)


def test_report_saved_and_loaded_is_the_same_report(day1, tmp_path):
    _, _, files = day1
    _, _, report = warm_day2(files["weights"])
    path = report.save(tmp_path / "report.json")
    again = ws.Report.load(path)
    assert again.to_dict() == report.to_dict()
    assert again.location.format == "keras-weights"
    assert again.rules["rename"] == [["click/(.*)", r"head/\1"]]
    assert again.rules["vocab"][0]["pattern"] == "emb/embeddings"
    assert again.rules["vocab"][0]["old"] == f"<{len(TOKENS1)} tokens>"
    assert again.rules["vocab"][0]["new"] == f"<{len(TOKENS2)} tokens>"
    assert again.loaded == report.loaded and again.skipped == report.skipped  # the rows themselves
    assert all(type(e) is ws.LoadedEntry for e in report.loaded)  # no plan step (nor its row map) kept


@pytest.mark.parametrize("name", ["d1/kernel", "emb/embeddings"])
def test_names_match_the_tf_checkpoint_of_the_same_model(day1, name):
    _, _, files = day1
    day2 = rec(day=2, seed=5)
    plans = [ws.warm_start(day2, files[k], dry_run=True, **day2_rules()) for k in ("weights", "tf2")]
    assert [next(e.source for e in p.loaded if e.target == name) for p in plans] == [name, name]


def test_a_loss_scale_optimizers_slots_follow_their_variables(tmp_path):
    def compiled(seed):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="d1"),
                                  keras.layers.Dense(1, name="head")], name="m")
        model.compile(optimizer=keras.mixed_precision.LossScaleOptimizer(keras.optimizers.Adam()), loss="mse")
        return model

    old = compiled(1)
    old.fit(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), epochs=2, verbose=0)
    path = str(tmp_path / "lso.weights.h5")
    old.save_weights(path)
    new = compiled(2)
    optimizer = new.optimizer
    report = ws.warm_start(new, path, optimizer=optimizer)
    assert sum(str(s.outcome) == "loaded" for s in report.slots) == 8
    want = keras_slots(old, old.optimizer.inner_optimizer)
    for key, value in keras_slots(new, optimizer.inner_optimizer).items():
        np.testing.assert_array_equal(value, want[key], err_msg=str(key))


class _Rec(keras.Model):
    """Subclassed: ``emb`` sorts before ``layers``, so Keras saves it as an attribute group at
    the top; the attention layer's sub-layers are attribute groups of equal shapes."""

    def __init__(self):
        super().__init__(name="rec")
        self.emb = keras.layers.Embedding(10, 4, name="uemb")
        self.tower = keras.Sequential([keras.layers.Dense(3, name="t0")], name="tw")
        self.mha = keras.layers.MultiHeadAttention(2, 2, name="mha")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, x):
        e = self.emb(x)
        return self.out(self.tower(self.mha(e, e)))


def test_a_subclassed_model_with_attention_loads_with_its_slots(tmp_path):
    def make(seed):
        keras.utils.set_random_seed(seed)
        model = _Rec()
        model(np.zeros((2, 3), "int32"))
        return model

    old = make(1)
    old.compile(optimizer="adam", loss="mse")
    old.fit(np.zeros((4, 3), "int32"), np.ones((4, 3, 1), "float32"), epochs=2, verbose=0)
    path = str(tmp_path / "rec.weights.h5")
    old.save_weights(path)
    new = make(2)
    optimizer = keras.optimizers.Adam()
    report = ws.warm_start(new, path, optimizer=optimizer, strict=True)
    assert {"uemb/embeddings", "mha/query/kernel", "tw/t0/bias"} <= {e.target for e in report.loaded}
    for name, value in values(old).items():
        if "seed_generator" not in name:
            np.testing.assert_array_equal(values(new)[name], value, err_msg=name)
    assert all(str(s.outcome) == "loaded" for s in report.slots) and len(report.slots) == 26
    want = keras_slots(old, old.optimizer)
    for key, value in keras_slots(new, optimizer).items():
        np.testing.assert_array_equal(value, want[key], err_msg=str(key))
