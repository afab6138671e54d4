"""``on_mismatch="preserve"`` on real Keras models: the grown day-2 model computes what the
trained day-1 model did, the values written are the plan's (compared with numpy), the new
units still learn, and what cannot be preserved is said (and fails ``strict``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import assert_untouched, save, snapshot

import warmstart as ws

IDS = {"a": 20, "b": 30, "c": 12}


def ranker(*, day: int) -> keras.Model:
    """Day 1: two embedding features and a Conv2D branch concatenated into a Dense tower
    16 -> 8 -> head. Day 2: a third embedding feature concatenated last, the tower 24 -> 12,
    the Conv2D with more filters (4 -> 6) and a 5x5 window instead of 3x3."""
    wide = day == 2
    inputs = {n: keras.Input((), dtype="int32", name=n) for n in ("a", "b") + (("c",) if wide else ())}
    image = keras.Input((8, 8, 2), name="image")
    parts = [keras.layers.Embedding(IDS[n], 4, name=f"emb_{n}")(inputs[n]) for n in ("a", "b")]
    x = keras.layers.Conv2D(6 if wide else 4, 5 if wide else 3, padding="same", activation="relu", name="conv")(image)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    parts.append(keras.layers.GlobalAveragePooling2D(name="pool")(x))
    if wide:
        parts.append(keras.layers.Embedding(IDS["c"], 4, name="emb_c")(inputs["c"]))
    h = keras.layers.Concatenate(name="features")(parts)
    h = keras.layers.Dense(24 if wide else 16, activation="relu", name="tower_0")(h)
    h = keras.layers.Dense(12 if wide else 8, activation="relu", name="tower_1")(h)
    out = keras.layers.Dense(1, name="head")(h)
    return keras.Model({**inputs, "image": image}, out, name="ranker")


def batch(n: int, seed: int, *, day: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = ("a", "b", "c") if day == 2 else ("a", "b")
    x = {k: rng.integers(0, IDS[k], n).astype("int32") for k in names}
    x["image"] = rng.normal(size=(n, 8, 8, 2)).astype("float32")
    return x


@pytest.fixture(scope="module")
def day1(tmp_path_factory):
    """The trained day-1 model and its checkpoint (model and Adam)."""
    keras.utils.set_random_seed(1)
    model = ranker(day=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x = batch(256, 0, day=1)
    y = (x["a"] % 3 - x["b"] % 2 + x["image"].mean(axis=(1, 2, 3))).astype("float32")[:, None]
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    prefix = save(tmp_path_factory.mktemp("day1"), model=model, optimizer=model.optimizer)
    return model, prefix


def warm(prefix, policy, *, optimizer=None, **kw):
    keras.utils.set_random_seed(2)
    model = ranker(day=2)
    initial = {v.path.removeprefix("ranker/"): np.array(v.numpy()) for v in model.weights}
    report = ws.warm_start(model, prefix, on_mismatch=policy, expect_missing=["emb_c/.*"], optimizer=optimizer, **kw)
    return model, initial, report


def gap(day1_model, day2_model) -> float:
    """max |day-2 - day-1| on day-1 inputs; the new feature takes any value."""
    x = batch(64, 7, day=2)
    old = day1_model({k: v for k, v in x.items() if k != "c"}, training=False).numpy()
    return float(np.abs(day2_model(x, training=False).numpy() - old).max())


def test_day2_computes_what_day1_did_under_preserve_not_overlap(day1):
    model1, prefix = day1
    preserved, _, report = warm(prefix, "preserve", strict=True)
    overlapped, _, _ = warm(prefix, "overlap")
    kept, moved = gap(model1, preserved), gap(model1, overlapped)
    print(f"\nmax |day-2 - day-1|: preserve {kept:.3g}, overlap {moved:.3g}")
    assert kept < 1e-5
    assert moved > 1e-2
    actions = {e.target: str(e.action) for e in report.loaded}
    assert {t for t, a in actions.items() if a == "preserve"} == {
        "conv/kernel", "conv/bias", "conv_bn/gamma", "conv_bn/beta", "conv_bn/moving_mean",
        "conv_bn/moving_variance", "tower_0/kernel", "tower_0/bias", "tower_1/kernel", "tower_1/bias",
        "head/kernel"}
    assert report.ok and report.missing == ("emb_c/embeddings",)
    d = report.to_dict()
    assert {e["target"]: e["action"] for e in d["loaded"]}["tower_0/kernel"] == "preserve"


def test_values_written_are_the_plan(day1):
    """Checked with numpy: the old block where the layer used it, zeros that feed old outputs,
    the rest as initialised; Adam's slots land like their variables, new entries at init."""
    model1, prefix = day1
    optimizer = keras.optimizers.Adam()
    model, initial, report = warm(prefix, "preserve", optimizer=optimizer)
    old = {v.path.removeprefix("ranker/"): v.numpy() for v in model1.weights}
    new = {v.path.removeprefix("ranker/"): v.numpy() for v in model.weights}

    k0, k1, init = old["conv/kernel"], new["conv/kernel"], initial["conv/kernel"]
    assert (k0.shape, k1.shape) == ((3, 3, 2, 4), (5, 5, 2, 6))
    np.testing.assert_array_equal(k1[1:4, 1:4, :, :4], k0)  # centred
    ring = np.ones((5, 5), bool)
    ring[1:4, 1:4] = False
    assert (k1[ring][..., :4] == 0).all()
    np.testing.assert_array_equal(k1[..., 4:], init[..., 4:])  # new filters: their init

    t0, i0 = new["tower_0/kernel"], initial["tower_0/kernel"]
    assert t0.shape == (18, 24)  # 4 + 4 + 6 filters + 4 new embedding columns
    np.testing.assert_array_equal(t0[:12, :16], old["tower_0/kernel"])
    assert (t0[12:, :16] == 0).all()  # new inputs (2 filters, 4 emb_c columns) feed old units: zero
    np.testing.assert_array_equal(t0[:, 16:], i0[:, 16:])
    np.testing.assert_array_equal(new["tower_0/bias"][:16], old["tower_0/bias"])
    np.testing.assert_array_equal(new["tower_0/bias"][16:], initial["tower_0/bias"][16:])
    assert (new["tower_1/kernel"][16:, :8] == 0).all() and (new["head/kernel"][8:] == 0).all()
    for name, fill in (("conv_bn/moving_variance", 1.0), ("conv_bn/gamma", 1.0), ("conv_bn/moving_mean", 0.0)):
        np.testing.assert_array_equal(new[name][:4], old[name])
        assert (new[name][4:] == fill).all()

    def momentum(opt):
        return next(v for v in opt.variables if v.path.endswith("/conv_kernel_momentum")).numpy()

    slots = {(s.target, s.slot): s for s in report.slots}
    assert slots[("conv/kernel", "momentums")].action == "preserve"
    m_old, m_new = momentum(model1.optimizer), momentum(optimizer)
    np.testing.assert_array_equal(m_new[1:4, 1:4, :, :4], m_old)
    assert np.count_nonzero(m_new) == np.count_nonzero(m_old)  # no slot entry outside the block: fresh zeros
    assert report.loaded[[e.target for e in report.loaded].index("conv/kernel")].detail == (
        "3x3 window centred in 5x5, around it zero; new filters 4-5 as initialised")


def test_new_units_learn_after_preserve(day1):
    _, prefix = day1
    model, _, _ = warm(prefix, "preserve")
    before = {v.path.removeprefix("ranker/"): np.array(v.numpy()) for v in model.weights}
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x = batch(64, 3, day=2)
    model.fit(x, np.ones((64, 1), "float32"), epochs=4, batch_size=16, verbose=0)
    after = {v.path.removeprefix("ranker/"): v.numpy() for v in model.weights}

    def moved(name, index):
        return np.abs(after[name][index] - before[name][index]).max()

    assert moved("tower_0/kernel", np.s_[12:, :16]) > 1e-4  # zeroed rows of the new inputs
    assert moved("tower_0/kernel", np.s_[:, 16:]) > 1e-4  # the new units' incoming weights
    assert moved("tower_1/kernel", np.s_[16:, :8]) > 1e-4  # their outgoing weights, zero at first
    assert moved("head/kernel", np.s_[8:]) > 1e-4
    assert moved("conv/kernel", np.s_[..., 4:]) > 1e-4  # the new filters
    assert moved("emb_c/embeddings", np.s_[:]) > 1e-4


def test_attention_with_more_heads_and_wider_embeddings(tmp_path):
    def model(heads, width, ids):
        tokens = keras.Input((5,), dtype="int32")
        e = keras.layers.Embedding(ids, width, name="emb")(tokens)
        h = keras.layers.Dense(8, name="proj")(e)
        h = keras.layers.MultiHeadAttention(heads, key_dim=4, name="mha")(h, h)
        return keras.Model(tokens, keras.layers.Dense(1, name="out")(keras.layers.Flatten()(h)))

    keras.utils.set_random_seed(3)
    old = model(2, 4, 10)
    prefix = save(tmp_path, model=old)
    new = model(3, 6, 13)
    report = ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    x = np.random.default_rng(0).integers(0, 10, (4, 5)).astype("int32")
    assert float(np.abs(new(x).numpy() - old(x).numpy()).max()) < 1e-5
    detail = {e.target: e.detail for e in report.loaded}
    assert detail["mha/attention_output/kernel"] == "new heads 2 zero"
    assert detail["emb/embeddings"] == "new ids 10-12 as initialised; new columns 4-5 as initialised"
    assert detail["proj/kernel"] == "new inputs 4-5 zero"


def test_what_cannot_be_preserved_is_said_and_fails_strict(tmp_path):
    def model(width, key_dim):
        x = keras.Input((3, width))
        h = keras.layers.LayerNormalization(name="ln")(x)
        h = keras.layers.MultiHeadAttention(2, key_dim=key_dim, name="mha")(h, h)
        return keras.Model(x, h)

    keras.utils.set_random_seed(4)
    prefix = save(tmp_path, model=model(6, 4))
    new = model(8, 5)
    before = snapshot(new)
    with pytest.raises(ws.IncompleteError, match="cannot preserve the function") as info:
        ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    assert "'ln/gamma' would load as an overlap, not function-preserving: LayerNormalization normalises over the " \
           "new width" in str(info.value)
    assert_untouched(before, new)
    report = ws.warm_start(new, prefix, on_mismatch="preserve")
    loaded = {e.target: e for e in report.loaded}
    assert (loaded["ln/gamma"].action, loaded["ln/gamma"].detail) == (
        "overlap", "not function-preserving: LayerNormalization normalises over the new width")
    assert loaded["mha/query/kernel"].detail == (
        "not function-preserving: attention with a changed key_dim scores every head differently")
    assert loaded["mha/value/kernel"].action == "preserve"  # value_dim is its own, and did not change


@pytest.mark.parametrize(("padding", "dilation"), [("causal", 1), ("causal", 2), ("same", 2)])
def test_conv1d_windows_follow_tf_padding(tmp_path, padding, dilation):
    def model(k):
        x = keras.Input((11, 2))
        return keras.Model(x, keras.layers.Conv1D(3, k, padding=padding, dilation_rate=dilation, name="c")(x))

    keras.utils.set_random_seed(5)
    old = model(3)
    prefix = save(tmp_path, model=old)
    new = model(5)
    report = ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    assert {e.target: e.action for e in report.loaded}["c/kernel"] == "preserve"
    x = np.random.default_rng(1).normal(size=(2, 11, 2)).astype("float32")
    np.testing.assert_allclose(new(x).numpy(), old(x).numpy(), atol=1e-5)


def test_streamed_preserve_equals_the_held_one(tmp_path):
    """Tables beyond the memory budget are written in row chunks at the step's origin; the
    zero boxes are written in chunks too."""
    def model(rows, units, k):
        x = keras.Input((rows,))
        img = keras.Input((4, 4, 64))
        return keras.Model([x, img], [keras.layers.Dense(units, name="d")(x),
                                      keras.layers.Conv2D(256, k, padding="same", name="c")(img)])

    keras.utils.set_random_seed(6)
    prefix = save(tmp_path, model=model(600, 600, 3))  # 1.4 MiB and 0.6 MiB
    held, streamed = model(640, 620, 5), model(640, 620, 5)
    for v, w in zip(held.weights, streamed.weights, strict=True):
        w.assign(v)
    ws.warm_start(held, prefix, on_mismatch="preserve")
    ws.warm_start(streamed, prefix, on_mismatch="preserve", memory_budget=1 << 20)
    for v, w in zip(held.weights, streamed.weights, strict=True):
        np.testing.assert_array_equal(v.numpy(), w.numpy(), err_msg=v.path)
    kernel = held.get_layer("d").kernel.numpy()
    assert (kernel[600:, :600] == 0).all() and (kernel[:, 600:] != 0).all()
    assert (held.get_layer("c").kernel.numpy()[0] == 0).all()  # the first row of the 5x5 window


def test_tf_keras_layers_are_known_too(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")

    def model(width):
        x = tf_keras.Input((3,))
        h = tf_keras.layers.Dense(width, activation="relu", name="d")(x)
        return tf_keras.Model(x, tf_keras.layers.Dense(1, name="out")(h))

    tf.random.set_seed(7)
    old = model(4)
    prefix = save(tmp_path, model=old)
    new = model(6)
    report = ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    assert {e.target: str(e.action) for e in report.loaded}["out/kernel"] == "preserve"
    x = np.random.default_rng(2).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(new(x).numpy(), old(x).numpy(), atol=1e-6)


def test_target_entries_name_the_layer_that_owns_each_variable():
    from warmstart.targets import walk_target

    x = keras.Input((4, 6))
    h = keras.layers.Conv1D(3, 3, padding="causal", dilation_rate=2, name="c")(x)
    h = keras.layers.MultiHeadAttention(2, key_dim=4, name="mha")(h, h)
    layers = {e.name: e.layer for e in walk_target(keras.Model(x, h)).entries}
    c = layers["c/kernel"]
    assert (c.kind, c.variable, c.padding, c.strides, c.dilation, c.parent) == ("Conv1D", "kernel", "causal", (1,),
                                                                              (2,), "")
    q = layers["mha/query/kernel"]
    assert (q.kind, q.variable, q.name, q.parent, q.equation) == ("EinsumDense", "kernel", "query",
                                                                  "MultiHeadAttention", "abc,cde->abde")
    assert walk_target({"v": tf.Variable([1.0])}).entries[0].layer is None


def test_class_vocabulary_output_layer_with_more_inputs(tmp_path):
    """Columns follow their classes (Vocab axis=1) and the new inputs' rows are zero for every
    class: the carried classes score on old inputs what they did."""
    def model(inputs, classes):
        x = keras.Input((inputs,))
        return keras.Model(x, keras.layers.Dense(classes, name="cls")(x))

    old_classes, new_classes = ["cat", "dog", "owl"], ["owl", "yak", "cat", "emu"]
    keras.utils.set_random_seed(8)
    old = model(4, 3)
    prefix = save(tmp_path, model=old)
    new = model(6, 4)
    init = new.get_layer("cls").kernel.numpy()
    vocab = {"cls/kernel": ws.Vocab(old_classes, new_classes, axis=1), "cls/bias": ws.Vocab(old_classes, new_classes)}
    report = ws.warm_start(new, prefix, vocab=vocab, on_mismatch="preserve", strict=True)
    kernel, before = new.get_layer("cls").kernel.numpy(), old.get_layer("cls").kernel.numpy()
    np.testing.assert_array_equal(kernel[:4, [0, 2]], before[:, [2, 0]])
    assert (kernel[4:] == 0).all()
    np.testing.assert_array_equal(kernel[:4, [1, 3]], init[:4, [1, 3]])
    x = np.random.default_rng(3).normal(size=(5, 6)).astype("float32")
    np.testing.assert_allclose(new(x).numpy()[:, [0, 2]], old(x[:, :4]).numpy()[:, [2, 0]], atol=1e-6)
    assert {e.target: e.detail for e in report.loaded}["cls/kernel"] == (
        "2 rows carried, 2 new, 1 old dropped; new inputs 4-5 zero")


def _randomized(model: keras.Model, seed: int) -> keras.Model:
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(rng.normal(size=v.shape).astype("float32"))
    return model


def _max_diff(old: keras.Model, new: keras.Model, x) -> float:
    return float(np.abs(old(x, training=False).numpy() - new(x, training=False).numpy()).max())


def test_conv_filters_through_flatten_move_the_old_inputs_to_their_places(tmp_path):
    """Flatten puts channel c of position s at s*C + c: two new filters land between the old
    ones at all 9 positions, not at rows 36-53. The head's old rows move to s*6 + c, the new
    ones (c = 4, 5) are zero: the function is kept, and the report says how."""
    def model(filters):
        x = keras.Input((3, 3, 2))
        h = keras.layers.Flatten()(keras.layers.Conv2D(filters, 3, padding="same", name="conv")(x))
        return keras.Model(x, keras.layers.Dense(2, name="head")(h))

    old = _randomized(model(4), 10)
    prefix = save(tmp_path, model=old)
    new = _randomized(model(6), 11)
    report = ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    loaded = {e.target: e for e in report.loaded}
    assert (loaded["head/kernel"].action, loaded["head/kernel"].detail) == (
        "preserve", "36 old inputs moved to their places through Flatten, 18 new ('conv') zero")
    kernel, old_kernel = new.get_layer("head").kernel.numpy(), old.get_layer("head").kernel.numpy()
    for pos in range(9):
        np.testing.assert_array_equal(kernel[pos * 6 : pos * 6 + 4], old_kernel[pos * 4 : pos * 4 + 4])
        assert not kernel[pos * 6 + 4 : pos * 6 + 6].any()
    x = np.random.default_rng(5).normal(size=(4, 3, 3, 2)).astype("float32")
    assert _max_diff(old, new, x) < 1e-5


def test_moved_inputs_are_streamed_and_carry_their_slots(tmp_path):
    def model(width):
        ids = keras.Input((2,), dtype="int32")
        h = keras.layers.Flatten()(keras.layers.Embedding(10, width, name="emb")(ids))
        return keras.Model(ids, keras.layers.Dense(2, name="head")(h))

    old = _randomized(model(3), 12)
    old.compile(optimizer="adam", loss="mse")
    old.fit(np.array([[1, 2], [3, 4]], "int32"), np.ones((2, 2), "float32"), verbose=0)
    prefix = save(tmp_path, model=old, optimizer=old.optimizer)
    results = []
    for budget in (None, 1):  # no budget, and the smallest (tables under 1 MiB are held either way)
        new = _randomized(model(4), 13)
        optimizer = keras.optimizers.Adam()
        report = ws.warm_start(new, prefix, on_mismatch="preserve", strict=True, optimizer=optimizer,
                               memory_budget=budget)
        head = next(e for e in report.loaded if e.target == "head/kernel")
        assert (head.action, head.source_shape, head.shape) == ("preserve", (6, 2), (8, 2))
        assert head.detail == "6 old inputs moved to their places through Flatten, 2 new ('emb') zero"
        ids = np.array([[0, 9], [5, 5]], "int32")
        assert _max_diff(old, new, ids) < 1e-5
        slot = next(v for v in optimizer.variables if v.path.endswith("head_kernel_momentum")).numpy()
        old_slot = next(v for v in old.optimizer.variables if v.path.endswith("head_kernel_momentum")).numpy()
        np.testing.assert_array_equal(slot[[0, 1, 2, 4, 5, 6]], old_slot)
        assert not slot[[3, 7]].any()
        head_slots = next(e for e in report.slots if e.target == "head/kernel" and e.slot == "momentums")
        assert head_slots.action == "preserve"
        results.append(new.get_layer("head").kernel.numpy())
    np.testing.assert_array_equal(results[0], results[1])


def test_flatten_of_one_position_and_dropout_keep_the_function(tmp_path):
    """Through Dropout (and a Flatten of a single position) the new units are the last inputs:
    preserved exactly."""
    def model(units, filters):
        x = keras.Input((4,))
        h = keras.layers.Dropout(0.5)(keras.layers.Dense(units, activation="relu", name="d1")(x))
        img = keras.Input((1, 1, 2))
        g = keras.layers.Flatten()(keras.layers.Conv2D(filters, 1, name="conv")(img))
        return keras.Model([x, img], [keras.layers.Dense(3, name="d2")(h), keras.layers.Dense(2, name="g")(g)])

    old = _randomized(model(5, 3), 14)
    prefix = save(tmp_path, model=old)
    new = _randomized(model(8, 4), 15)
    report = ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    detail = {e.target: (str(e.action), e.detail) for e in report.loaded}
    assert detail["d2/kernel"] == ("preserve", "new inputs 5-7 zero")
    assert detail["g/kernel"] == ("preserve", "new inputs 3 zero")
    rng = np.random.default_rng(4)
    x = [rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(6, 1, 1, 2)).astype("float32")]
    for a, b in zip(old(x, training=False), new(x, training=False), strict=True):
        assert float(np.abs(a.numpy() - b.numpy()).max()) < 1e-5


def test_a_part_widened_in_the_middle_of_a_concatenate_keeps_the_function(tmp_path):
    def model(first):
        a, b = keras.Input((3,)), keras.Input((2,))
        h = keras.layers.Concatenate()([keras.layers.Dense(first, name="da")(a), keras.layers.Dense(4, name="db")(b)])
        return keras.Model([a, b], keras.layers.Dense(1, name="head")(h))

    old = _randomized(model(4), 16)
    prefix = save(tmp_path, model=old)
    new = _randomized(model(6), 17)
    report = ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    head = next(e for e in report.loaded if e.target == "head/kernel")
    assert (head.action, head.detail) == (
        "preserve", "8 old inputs moved to their places through Concatenate, 2 new ('da') zero")
    rng = np.random.default_rng(6)
    x = [rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=(5, 2)).astype("float32")]
    assert _max_diff(old, new, x) < 1e-5


def test_a_concatenate_part_that_lost_inputs_is_not_preserved(tmp_path):
    def model(first):
        a, b = keras.Input((3,)), keras.Input((2,))
        h = keras.layers.Concatenate()([keras.layers.Dense(first, name="da")(a), keras.layers.Dense(4, name="db")(b)])
        return keras.Model([a, b], keras.layers.Dense(1, name="head")(h))

    prefix = save(tmp_path, model=_randomized(model(4), 16))
    new = _randomized(model(3), 17)
    before = snapshot(new)
    with pytest.raises(ws.IncompleteError, match="'head/kernel' would load as an overlap"):
        ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    assert_untouched(before, new)


def test_inputs_through_a_reshape_are_not_guessed(tmp_path):
    def model(units):
        x = keras.Input((4,))
        h = keras.layers.Reshape((units,), name="r")(keras.layers.Dense(units, name="d1")(x))
        return keras.Model(x, keras.layers.Dense(1, name="head")(h))

    prefix = save(tmp_path, model=_randomized(model(3), 18))
    report = ws.warm_start(_randomized(model(5), 19), prefix, on_mismatch="preserve")
    head = next(e for e in report.loaded if e.target == "head/kernel")
    assert (head.action, head.detail) == (
        "overlap", "not function-preserving: inputs come through Reshape 'r'; the new inputs may not be appended")


def _two(units: int, *, act: str | None = None, between=None, dot: bool = False) -> keras.Model:
    x = keras.Input((3,))
    h = keras.layers.Dense(units, activation=act, name="a")(x)
    if dot:
        g = keras.layers.Dense(units, name="c")(x)
        return keras.Model(x, keras.layers.Dot(axes=1, name="dot")([h, g]))
    if between is not None:
        h = between(h)
    return keras.Model(x, keras.layers.Dense(2, name="b")(h))


@pytest.mark.parametrize("case", ["softmax", "activation_softmax", "layer_norm", "dot"])
def test_new_units_that_change_the_old_ones_outputs_are_not_called_preserved(tmp_path, case):
    make = {
        "softmax": lambda u: _two(u, act="softmax"),
        "activation_softmax": lambda u: _two(u, between=keras.layers.Activation("softmax")),
        "layer_norm": lambda u: _two(u, between=keras.layers.LayerNormalization(center=False, scale=False)),
        "dot": lambda u: _two(u, dot=True),
    }[case]
    old = _randomized(make(4), 20)
    prefix = save(tmp_path, model=old)
    new = _randomized(make(6), 21)
    before = snapshot(new)
    with pytest.raises(ws.IncompleteError, match="would load as an overlap"):
        ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    assert_untouched(before, new)
    report = ws.warm_start(new, prefix, on_mismatch="preserve")
    x = np.random.default_rng(7).normal(size=(5, 3)).astype("float32")
    assert _max_diff(old, new, x) > 1e-3  # the function did change: the report must not say preserve
    assert any(e.action == "overlap" and e.detail.startswith("not function-preserving") for e in report.loaded)


def test_moved_inputs_keep_the_new_units_entries_as_initialised(tmp_path):
    """Where the old inputs move, a new input row is zero for the old units only: its entries
    for new units (new outputs) keep their initial values, as when new inputs are appended."""
    def model(first, units):
        a, b = keras.Input((3,)), keras.Input((2,))
        h = keras.layers.Concatenate()([keras.layers.Dense(first, name="da")(a), keras.layers.Dense(2, name="db")(b)])
        return keras.Model([a, b], keras.layers.Dense(units, name="head")(h))

    old = _randomized(model(3, 4), 22)
    prefix = save(tmp_path, model=old)
    new = _randomized(model(4, 6), 23)
    init = new.get_layer("head").kernel.numpy()
    report = ws.warm_start(new, prefix, on_mismatch="preserve", strict=True)
    head = next(e for e in report.loaded if e.target == "head/kernel")
    assert head.detail == ("5 old inputs moved to their places through Concatenate, 1 new ('da') zero; "
                           "new units 4-5 as initialised")
    kernel, old_kernel = new.get_layer("head").kernel.numpy(), old.get_layer("head").kernel.numpy()
    np.testing.assert_array_equal(kernel[[0, 1, 2, 4, 5], :4], old_kernel)
    assert not kernel[3, :4].any()
    np.testing.assert_array_equal(kernel[:, 4:], init[:, 4:])
