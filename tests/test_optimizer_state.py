"""Optimizer slots follow the variables they belong to (``optimizer=``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import assert_untouched, snapshot

import warmstart as ws

OPTIMIZERS = {
    "sgd-momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    "adam": lambda: keras.optimizers.Adam(0.01),
    "adam-amsgrad": lambda: keras.optimizers.Adam(0.01, amsgrad=True),
    "adamw": lambda: keras.optimizers.AdamW(0.01),
    "adamw-amsgrad": lambda: keras.optimizers.AdamW(0.01, amsgrad=True),
    "rmsprop": lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: keras.optimizers.Adagrad(0.05, initial_accumulator_value=0.1),
    "ftrl": lambda: keras.optimizers.Ftrl(0.05),
    "lion": lambda: keras.optimizers.Lion(0.001),
    "adafactor": lambda: keras.optimizers.Adafactor(0.01),
    "adam-ema": lambda: keras.optimizers.Adam(0.01, use_ema=True),
    "loss-scale-adam": lambda: keras.mixed_precision.LossScaleOptimizer(keras.optimizers.Adam(0.01)),
    "loss-scale-sgd": lambda: keras.mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(0.05, momentum=0.9)),
}


OLD_TOKENS = [f"t{i}" for i in range(20)]
_rng = np.random.default_rng(1)
NEW_TOKENS = [OLD_TOKENS[i] for i in _rng.permutation(20)[:16]] + [f"n{i}" for i in range(8)]  # 4 gone, 8 new
_rng.shuffle(NEW_TOKENS)


def ranker(d1=8, new_layer=False, head="head", vocab=20):
    """Functional (variable paths carry no model name): embedding, tower, head."""
    ids = keras.Input((2,), dtype="int32")
    x = keras.layers.Flatten()(keras.layers.Embedding(vocab, 4, name="emb")(ids))
    x = keras.layers.Dense(d1, activation="relu", name="d1")(x)
    x = keras.layers.Dense(4, activation="relu", name="d2")(x)
    if new_layer:
        x = keras.layers.Dense(4, activation="relu", name="new")(x)
    return keras.Model(ids, keras.layers.Dense(1, name=head)(x))


def data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 20, size=(n, 2)).astype("int32")
    return x, (x.sum(axis=1, keepdims=True) % 3).astype("float32")


def slots_of(opt) -> dict[tuple[str, str], np.ndarray]:
    """Slot values by (variable path, list attribute), read straight off the optimizer."""
    inner = getattr(opt, "inner_optimizer", opt)
    owners = inner._trainable_variables
    out = {}
    for attr, value in vars(inner).items():
        if attr in ("_trainable_variables", "_variables") or not hasattr(value, "__len__") or len(value) != len(owners):
            continue
        if not all(s is None or isinstance(s, keras.Variable) for s in value):
            continue
        for var, s in zip(owners, value, strict=True):
            if s is not None:
                out[(var.path, attr.lstrip("_"))] = np.array(s.numpy())
    return out


def dense_step(model, opt, x, y) -> float:
    """One training step with dense gradients. Keras 3.15's Adafactor fails at random on an
    Embedding's sparse gradients ("indices[0] = 36 is not in [0, 33)"), warm start or not."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]
    opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    return float(loss)


def trained_run(tmp_path, make_opt, *, with_optimizer_entry=True):
    keras.utils.set_random_seed(0)
    old = ranker()
    old.compile(optimizer=make_opt(), loss="mse")
    if isinstance(old.optimizer, keras.optimizers.Adafactor):
        for _ in range(3):
            dense_step(old, old.optimizer, *data())
    else:
        old.fit(*data(), epochs=3, batch_size=16, verbose=0)
    objects = {"model": old, "optimizer": old.optimizer} if with_optimizer_entry else {"model": old}
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(**objects), str(tmp_path / "run"), 1)
    manager.save()
    return old, str(tmp_path / "run")


RULES = {
    "on_mismatch": {r"d[12]/.*": "overlap"},
    "rename": [(r"score/(.*)", r"head/\1")],
    "vocab": {"emb/embeddings": ws.Vocab(OLD_TOKENS, NEW_TOKENS)},
}


def expected_rows(old: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """A slot laid out by rows after the vocabulary change: carried tokens' rows, else fresh."""
    out = fresh.copy()
    for i, token in enumerate(NEW_TOKENS):
        if token in OLD_TOKENS:
            out[i] = old[OLD_TOKENS.index(token)]
    return out


def check_slots(old_opt, new_opt, fresh, report):
    old_slots, new_slots = slots_of(old_opt), slots_of(new_opt)
    assert new_slots.keys() == fresh.keys()
    for (name, attr), value in new_slots.items():
        source = name.replace("score/", "head/")
        if name.startswith("new/"):
            np.testing.assert_array_equal(value, fresh[(name, attr)], err_msg=f"{name} {attr}")
            continue
        old = old_slots[(source, attr)]
        if name == "emb/embeddings" and value.ndim and value.shape[0] == len(NEW_TOKENS):
            np.testing.assert_array_equal(value, expected_rows(old, fresh[(name, attr)]), err_msg=f"{name} {attr}")
        elif old.shape == value.shape:
            np.testing.assert_array_equal(value, old, err_msg=f"{name} {attr}")
        else:
            block = tuple(slice(0, min(a, b)) for a, b in zip(old.shape, value.shape, strict=True))
            np.testing.assert_array_equal(value[block], old[block], err_msg=f"{name} {attr}")
            rest = np.ones(value.shape, bool)
            rest[block] = False
            np.testing.assert_array_equal(value[rest], fresh[(name, attr)][rest], err_msg=f"{name} {attr}")
    outcomes = {(e.target, e.outcome) for e in report.slots}
    assert ("new/kernel", ws.SlotOutcome.FRESH) in outcomes
    assert all(e.outcome is not ws.SlotOutcome.SKIPPED for e in report.slots)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_slots_follow_copy_overlap_rename_and_new_layers(tmp_path, name):
    old, run = trained_run(tmp_path, OPTIMIZERS[name])
    new = ranker(d1=12, new_layer=True, head="score", vocab=len(NEW_TOKENS))
    opt = OPTIMIZERS[name]()
    opt.build(new.trainable_variables)
    fresh = slots_of(opt)
    assert fresh, "the optimizer has slots"
    report = ws.warm_start(new, run, optimizer=opt, **RULES)
    check_slots(old.optimizer, opt, fresh, report)
    emb = new.get_layer("emb").embeddings.numpy()
    np.testing.assert_array_equal(emb[[NEW_TOKENS.index(t) for t in OLD_TOKENS if t in NEW_TOKENS]],
                                  old.get_layer("emb").embeddings.numpy()[[i for i, t in enumerate(OLD_TOKENS)
                                                                           if t in NEW_TOKENS]])
    assert {(e.target, e.action) for e in report.slots if e.target == "emb/embeddings"} >= {
        ("emb/embeddings", ws.Action.VOCAB)}
    assert int(opt.iterations.numpy()) == int(old.optimizer.iterations.numpy()) > 0
    if name == "adafactor":
        assert np.isfinite(dense_step(new, opt, *data(1)))
        return
    new.compile(optimizer=opt, loss="mse")
    history = new.fit(*data(1), epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_unbuilt_optimizer_is_built_on_the_target(tmp_path):
    old, run = trained_run(tmp_path, OPTIMIZERS["adam"])
    new = ranker()
    opt = keras.optimizers.Adam(0.01)
    report = ws.warm_start(new, run, optimizer=opt)
    assert opt.built and any("was not built" in n for n in report.notes)
    for key, value in slots_of(old.optimizer).items():
        np.testing.assert_array_equal(slots_of(opt)[key], value)
    data_ = report.to_dict()
    assert data_["slots"] and {s["outcome"] for s in data_["slots"]} == {"loaded"}
    assert "Optimizer slots" in str(report)


def test_compiled_model_without_optimizer_entry(tmp_path):
    old, run = trained_run(tmp_path, OPTIMIZERS["adam"], with_optimizer_entry=False)
    opt = keras.optimizers.Adam(0.01)
    ws.warm_start(ranker(), run, optimizer=opt)
    for key, value in slots_of(old.optimizer).items():
        np.testing.assert_array_equal(slots_of(opt)[key], value)


def test_step_counter_carry_or_reset(tmp_path):
    old, run = trained_run(tmp_path, OPTIMIZERS["adam"])
    opt = keras.optimizers.Adam()
    report = ws.warm_start(ranker(), run, optimizer=opt, optimizer_step="reset")
    assert int(opt.iterations.numpy()) == 0 and not any("step carried" in n for n in report.notes)
    opt = keras.optimizers.Adam()
    report = ws.warm_start(ranker(), run, optimizer=opt)
    assert int(opt.iterations.numpy()) == int(old.optimizer.iterations.numpy())
    assert any("step carried" in n for n in report.notes)


def test_dry_run_predicts_slots_and_builds_nothing(tmp_path):
    _, run = trained_run(tmp_path, OPTIMIZERS["adam"])
    opt = keras.optimizers.Adam()
    report = ws.warm_start(ranker(d1=12), run, optimizer=opt, dry_run=True, on_mismatch="overlap")
    assert not opt.built
    assert {(e.target, e.slot) for e in report.slots} >= {("d1/kernel", "momentums"), ("emb/embeddings", "velocities")}


def test_optimizer_built_on_other_variables_is_an_error(tmp_path):
    _, run = trained_run(tmp_path, OPTIMIZERS["adam"])
    new = ranker()
    stranger = keras.optimizers.Adam()
    stranger.build(ranker().trainable_variables)
    before, slots_before = snapshot(new), slots_of(stranger)
    with pytest.raises(ws.OptimizerError, match="not the target's"):
        ws.warm_start(new, run, optimizer=stranger)
    assert_untouched(before, new)
    for k, v in slots_of(stranger).items():
        np.testing.assert_array_equal(v, slots_before[k])


def test_missing_slot_is_reported_and_strict_fails_untouched(tmp_path):
    _, run = trained_run(tmp_path, OPTIMIZERS["sgd-momentum"])  # only 'momentums'
    new = ranker()
    opt = keras.optimizers.Adam()
    opt.build(new.trainable_variables)
    before, slots_before = snapshot(new), slots_of(opt)
    with pytest.raises(ws.IncompleteError, match="velocities"):
        ws.warm_start(new, run, optimizer=opt, strict=True)
    assert_untouched(before, new)
    for k, v in slots_of(opt).items():
        np.testing.assert_array_equal(v, slots_before[k])
    report = ws.warm_start(new, run, optimizer=opt)
    skipped = [e for e in report.slots if e.outcome is ws.SlotOutcome.SKIPPED]
    assert {e.slot for e in skipped} == {"velocities"} and "no 'velocities' slot" in skipped[0].reason
    assert {e.slot for e in report.slots if e.outcome is ws.SlotOutcome.LOADED} == {"momentums"}


def test_optimizer_is_untouched_when_a_read_fails(tmp_path):
    _, run = trained_run(tmp_path, OPTIMIZERS["adam"])
    prefix = tf.train.latest_checkpoint(run)
    data_file = prefix + ".data-00000-of-00001"
    raw = bytearray(open(data_file, "rb").read())
    raw[200] ^= 0xFF  # inside the first tensors, before the object graph
    open(data_file, "wb").write(bytes(raw))
    new = ranker()
    opt = keras.optimizers.Adam()
    opt.build(new.trainable_variables)
    before, slots_before = snapshot(new), slots_of(opt)
    with pytest.raises(ws.CheckpointReadError):
        ws.warm_start(new, run, optimizer=opt)
    assert_untouched(before, new)
    for k, v in slots_of(opt).items():
        np.testing.assert_array_equal(v, slots_before[k])
    assert int(opt.iterations.numpy()) == 0


@pytest.mark.parametrize("legacy", [False, True], ids=["tf_keras-adam", "tf_keras-legacy-adam"])
def test_slots_from_a_tf_keras_checkpoint(tmp_path, legacy):
    tfk = pytest.importorskip("tf_keras")
    old = tfk.Sequential([tfk.layers.Dense(8, name="d1", input_shape=(4,)), tfk.layers.Dense(1, name="head")])
    old_opt = tfk.optimizers.legacy.Adam() if legacy else tfk.optimizers.Adam()
    old.compile(old_opt, "mse")
    old.fit(np.ones((16, 4), "float32"), np.ones((16, 1), "float32"), verbose=0, epochs=2)
    prefix = tf.train.Checkpoint(model=old, optimizer=old_opt).write(str(tmp_path / "c"))
    new = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="d1"), keras.layers.Dense(1, name="head")])
    opt = keras.optimizers.Adam()
    report = ws.warm_start(new, prefix, optimizer=opt)
    assert {e.outcome for e in report.slots} == {ws.SlotOutcome.LOADED}
    expected_m = old_opt.get_slot(old.get_layer("d1").kernel, "m") if legacy else old_opt._momentums[0]
    np.testing.assert_array_equal(slots_of(opt)[(new.get_layer("d1").kernel.path, "momentums")], expected_m.numpy())
    assert int(opt.iterations.numpy()) == int(old_opt.iterations.numpy())


@pytest.mark.parametrize("name", ["adam", "loss-scale-adam", "adafactor"])
def test_failed_call_leaves_an_unbuilt_optimizer_unbuilt(tmp_path, name):
    """Building the optimizer to plan its slots is undone when the call fails afterwards."""
    _, run = trained_run(tmp_path, OPTIMIZERS["sgd-momentum"])  # no 'velocities' for Adam's
    new = ranker()
    opt = OPTIMIZERS[name]()
    variables_before = [v.path for v in opt.variables]
    with pytest.raises(ws.IncompleteError):
        ws.warm_start(new, run, optimizer=opt, strict=True)
    assert not opt.built
    assert [v.path for v in opt.variables] == variables_before
    assert not getattr(opt, "inner_optimizer", opt)._trainable_variables
    # and it still works as a fresh optimizer: fit builds it, trains, and it checkpoints as one
    def train_and_save(model, optimizer, name):
        model.compile(optimizer=optimizer, loss="mse")
        if isinstance(getattr(optimizer, "inner_optimizer", optimizer), keras.optimizers.Adafactor):
            dense_step(model, optimizer, *data())
        else:
            model.fit(*data(), epochs=1, batch_size=16, verbose=0)
        prefix = tf.train.Checkpoint(optimizer=optimizer).write(str(tmp_path / name))
        return sorted((k, tuple(s)) for k, s in tf.train.list_variables(prefix))

    after = train_and_save(new, opt, "after")
    assert opt.built and int(opt.iterations.numpy()) > 0
    assert after == train_and_save(ranker(), OPTIMIZERS[name](), "control")


# -- the optimizer's other variables: the step, the learning rate, what goes with the step ---------


def tiny():
    i = keras.Input((4,))
    return keras.Model(i, keras.layers.Dense(2, name="d")(i))


def tiny_data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")


def trained_tiny(tmp_path, make_opt, epochs=25):
    """A trained model and its optimizer, written by tf.train.Checkpoint; the prefix."""
    keras.utils.set_random_seed(0)
    old = tiny()
    old.compile(make_opt(), "mse")
    old.fit(*tiny_data(), epochs=epochs, batch_size=8, verbose=0)
    return old, tf.train.Checkpoint(model=old, optimizer=old.optimizer).write(str(tmp_path / "ckpt"))


def first_update(model, opt) -> list[np.ndarray]:
    x, y = tiny_data()
    before = [v.numpy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables, strict=True))
    return [v.numpy() - b for v, b in zip(model.trainable_variables, before, strict=True)]


def state_of(report) -> dict[str, ws.StateEntry]:
    return {e.target: e for e in report.optimizer_state}


def test_nadam_u_product_is_carried_with_the_step(tmp_path):
    old, prefix = trained_tiny(tmp_path, lambda: keras.optimizers.Nadam(0.01))
    new, opt = tiny(), keras.optimizers.Nadam(0.01)
    report = ws.warm_start(new, prefix, optimizer=opt)
    assert opt._u_product.numpy() == old.optimizer._u_product.numpy() < 1e-6
    state = state_of(report)
    assert state["optimizer/_u_product"].outcome is ws.StateOutcome.CARRIED
    assert state["optimizer/_u_product"].source == "optimizer/_u_product"
    assert state["optimizer/iterations"].outcome is ws.StateOutcome.CARRIED
    assert state["optimizer/_learning_rate"].outcome is ws.StateOutcome.KEPT
    assert len(report.slots) + len(report.optimizer_state) == len(opt.variables)  # every variable
    assert "optimizer/_u_product" in str(report) and not report.warnings
    # the first update is the one after TensorFlow's own restore of the same checkpoint
    ref, ref_opt = tiny(), keras.optimizers.Nadam(0.01)
    ref_opt.build(ref.trainable_variables)
    tf.train.Checkpoint(model=ref, optimizer=ref_opt).read(prefix).assert_consumed()
    for got, want in zip(first_update(new, opt), first_update(ref, ref_opt), strict=True):
        np.testing.assert_array_equal(got, want)


def test_nadam_u_product_stays_initial_when_the_step_is_reset(tmp_path):
    _, prefix = trained_tiny(tmp_path, lambda: keras.optimizers.Nadam(0.01))
    opt = keras.optimizers.Nadam(0.01)
    report = ws.warm_start(tiny(), prefix, optimizer=opt, optimizer_step="reset")
    assert opt._u_product.numpy() == 1.0 and int(opt.iterations.numpy()) == 0
    state = state_of(report)
    assert state["optimizer/_u_product"].outcome is ws.StateOutcome.KEPT
    assert "optimizer_step='reset'" in state["optimizer/_u_product"].reason
    assert state["optimizer/iterations"].outcome is ws.StateOutcome.KEPT
    assert not report.warnings


def test_state_missing_from_the_checkpoint_is_a_warning(tmp_path):
    _, prefix = trained_tiny(tmp_path, lambda: keras.optimizers.Adam(0.01))  # no _u_product
    opt = keras.optimizers.Nadam(0.01)
    report = ws.warm_start(tiny(), prefix, optimizer=opt)
    assert int(opt.iterations.numpy()) > 0 and opt._u_product.numpy() == 1.0
    assert state_of(report)["optimizer/_u_product"].outcome is ws.StateOutcome.SKIPPED
    assert any("'optimizer/_u_product'" in w and "Nadam" in w for w in report.warnings)


@pytest.mark.parametrize("fmt", ["tf2", "keras"])
def test_loss_scale_is_carried(tmp_path, fmt):
    def make():
        return keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.01), dynamic_growth_steps=3)

    old, prefix = trained_tiny(tmp_path, make, epochs=3)
    if fmt == "keras":
        prefix = str(tmp_path / "m.keras")
        old.save(prefix)
    opt = make()
    report = ws.warm_start(tiny(), prefix, optimizer=opt)
    assert opt.dynamic_scale.numpy() == old.optimizer.dynamic_scale.numpy() != opt.initial_scale
    assert int(opt.step_counter.numpy()) == int(old.optimizer.step_counter.numpy())
    for a, b in zip(old.optimizer.variables, opt.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    state = state_of(report)
    assert state["optimizer/dynamic_scale"].outcome is ws.StateOutcome.CARRIED
    assert state["optimizer/iterations"].source == "optimizer/inner_optimizer/_iterations"


def test_a_nadam_inside_a_loss_scale_optimizer_carries_its_u_product(tmp_path):
    # the wrapper's `variables` leaves out the inner Nadam's `_u_product`; the checkpoint has it
    def make():
        return keras.optimizers.LossScaleOptimizer(keras.optimizers.Nadam(0.01))

    old, prefix = trained_tiny(tmp_path, make, epochs=3)
    new, opt = tiny(), make()
    report = ws.warm_start(new, prefix, optimizer=opt)
    inner_u = opt.inner_optimizer._u_product.numpy()
    assert inner_u == old.optimizer.inner_optimizer._u_product.numpy() < 1.0
    assert state_of(report)["optimizer/inner_optimizer/_u_product"].outcome is ws.StateOutcome.CARRIED
    ref, ref_opt = tiny(), make()
    ref_opt.build(ref.trainable_variables)
    tf.train.Checkpoint(model=ref, optimizer=ref_opt).read(prefix).assert_consumed()
    for got, want in zip(first_update(new, opt), first_update(ref, ref_opt), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("built", [True, False])
def test_gradient_accumulation_carries_the_step_and_leaves_accumulators_at_zero(tmp_path, built):
    def make():
        return keras.optimizers.Adam(0.01, gradient_accumulation_steps=3)

    old, prefix = trained_tiny(tmp_path, make, epochs=3)
    new, opt = tiny(), make()
    if built:
        opt.build(new.trainable_variables)
    report = ws.warm_start(new, prefix, optimizer=opt)
    assert int(opt._iterations.numpy()) == int(old.optimizer._iterations.numpy()) > 0
    assert all(not v.numpy().any() for v in opt._accumulated_gradients)
    assert all(e.outcome is ws.SlotOutcome.LOADED for e in report.slots)
    accumulators = [e for e in report.optimizer_state if e.kind is ws.StateKind.ACCUMULATOR]
    assert {e.target for e in accumulators} == {"d/kernel@accumulated_gradients", "d/bias@accumulated_gradients"}
    assert all(e.outcome is ws.StateOutcome.KEPT and "zero" in e.reason for e in accumulators)
    assert len(report.slots) + len(report.optimizer_state) == len(opt.variables)
    for a, b in zip(old.optimizer._momentums, opt._momentums, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", ["nadam", "loss-scale-nadam", "accumulating-nadam"])
def test_a_failure_after_the_last_write_rolls_the_state_back(tmp_path, name):
    make = {
        "nadam": lambda: keras.optimizers.Nadam(0.01),
        "loss-scale-nadam": lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.Nadam(0.01)),
        "accumulating-nadam": lambda: keras.optimizers.Nadam(0.01, gradient_accumulation_steps=2),
    }[name]
    _, prefix = trained_tiny(tmp_path, make, epochs=3)
    new, opt = tiny(), make()
    opt.build(new.trainable_variables)
    first_update(new, opt)  # nothing at its initial value
    before, opt_before = snapshot(new), [np.array(v.numpy()) for v in opt.variables]

    def stop_at_the_end(done: int, total: int) -> None:
        if done >= total:
            raise RuntimeError("stop")

    with pytest.raises(ws.AbortedError):
        ws.warm_start(new, prefix, optimizer=opt, progress=stop_at_the_end)
    assert_untouched(before, new)
    for v, b in zip(opt.variables, opt_before, strict=True):
        assert v.numpy().tobytes() == b.tobytes(), v.path
    report = ws.warm_start(new, prefix, optimizer=opt)  # and then it loads
    assert all(e.outcome is not ws.StateOutcome.SKIPPED for e in report.optimizer_state)


def test_slots_from_another_optimizer_class_are_warned_about(tmp_path):
    # an SGD's momentum buffer is a step in parameter units; an Adam's momentums a gradient
    # average: the names meet, the meanings do not, and the checkpoint's slot kinds say so
    _, prefix = trained_tiny(tmp_path, lambda: keras.optimizers.SGD(0.01, momentum=0.9), epochs=3)
    opt = keras.optimizers.Adam(0.01)
    report = ws.warm_start(tiny(), prefix, optimizer=opt)
    (warning,) = [w for w in report.warnings if "another optimizer class" in w]
    assert warning.startswith("the checkpoint's optimizer keeps {momentums} slots for each variable, "
                              "this optimizer {momentums, velocities}")
    same = ws.warm_start(tiny(), prefix, optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    assert not same.warnings
