"""warm_start end to end on real models and real checkpoints."""

from __future__ import annotations

import json
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import assert_untouched, mlp, save, snapshot, train

import warmstart as ws


def kernel(model, layer):
    return model.get_layer(layer).kernel.numpy()


def test_identical_model_loads_everything(trained):
    old, run = trained
    new = mlp(seed=2)
    report = ws.warm_start(new, run)
    assert {e.target for e in report.loaded} == {v.path.split("/", 1)[1] for v in new.variables}
    assert not report.missing and not report.skipped and not report.unused
    assert all(e.action is ws.Action.COPY for e in report.loaded)
    for a, b in zip(old.variables, new.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_compiled_checkpoint_keys_under_optimizer_are_matched_by_structure(trained):
    # keys sit at optimizer/_trainable_variables/N; names must still be the layer paths
    _, run = trained
    reader = tf.train.load_checkpoint(run)
    assert any(k.startswith("optimizer/_trainable_variables/") for k in reader.get_variable_to_shape_map())
    report = ws.warm_start(mlp(seed=3), run)
    assert len(report.loaded) == 6
    assert all(e.strategy is ws.Strategy.NAME for e in report.loaded)


def test_auto_name_drift(tmp_path):
    def unnamed():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(5), keras.layers.Dense(3), keras.layers.Dense(1)])

    old = unnamed()
    prefix = save(tmp_path, model=old)
    for _ in range(3):  # push the counters: dense_N and sequential_N drift
        unnamed()
    new = unnamed()
    assert new.layers[0].name != old.layers[0].name and new.name != old.name
    report = ws.warm_start(new, prefix)
    assert len(report.loaded) == 6 and not report.missing and not report.unused
    assert {e.strategy for e in report.loaded} == {ws.Strategy.AUTO_NAME}
    for a, b in zip(old.layers, new.layers, strict=True):
        np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())


class Rec(keras.Model):
    def __init__(self, width=3, **kw):
        super().__init__(name="rec", **kw)
        self.user_emb = keras.layers.Embedding(10, 4)
        self.tower = keras.Sequential([keras.layers.Dense(width, name="t0"), keras.layers.Dense(1, name="t1")])

    def call(self, x):
        return self.tower(self.user_emb(x))


def test_lazily_built_subclassed_model(tmp_path):
    old = Rec()
    old(np.zeros((2,), "int32"))
    full_names = {v.value.name for v in old.variables}
    assert "rec/kernel:0" in full_names  # the duplicated names this must survive
    prefix = save(tmp_path, model=old)
    new = Rec()
    new(np.zeros((2,), "int32"))
    report = ws.warm_start(new, prefix)
    assert len(report.loaded) == 5 and not report.missing and not report.unused
    for a, b in zip(old.variables, new.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_inserted_layer_does_not_take_its_neighbours_weights(trained):
    old, run = trained
    new = mlp(extra_after="d1", seed=5)  # 'inserted' sits where d2 was
    report = ws.warm_start(new, run)
    assert set(report.missing) == {"inserted/kernel", "inserted/bias"}
    np.testing.assert_array_equal(kernel(new, "d2"), kernel(old, "d2"))
    np.testing.assert_array_equal(kernel(new, "head"), kernel(old, "head"))


def test_removed_layer_is_unused(tmp_path):
    old = mlp(widths=(8, 8, 3), names=("d1", "gone", "d2"))
    prefix = save(tmp_path, model=old)
    new = mlp(widths=(8, 3), names=("d1", "d2"))
    report = ws.warm_start(new, prefix)
    assert set(report.unused) == {"gone/kernel", "gone/bias"}
    assert not report.missing


def test_renamed_head_needs_a_rule(trained):
    old, run = trained
    new = mlp(head="score", seed=4)
    report = ws.warm_start(new, run)
    assert set(report.missing) == {"score/kernel", "score/bias"}
    assert set(report.unused) == {"head/kernel", "head/bias"}
    report = ws.warm_start(new, run, rename=[(r"score/(.*)", r"head/\1")])
    assert not report.missing and not report.unused
    e = next(e for e in report.loaded if e.target == "score/kernel")
    assert (e.source, e.strategy, e.rule) == ("head/kernel", ws.Strategy.RENAME, r"score/(.*)")
    np.testing.assert_array_equal(kernel(new, "score"), kernel(old, "head"))


def test_rename_to_none_is_not_loaded(trained):
    _, run = trained
    new = mlp(seed=4)
    before = kernel(new, "head")
    report = ws.warm_start(new, run, rename=[("head/.*", None)])
    assert {s.target for s in report.skipped if s.reason is ws.SkipReason.RENAME_NONE} == {"head/kernel", "head/bias"}
    np.testing.assert_array_equal(kernel(new, "head"), before)


def test_wider_layer_skip_overlap_error(trained):
    old, run = trained
    new = mlp(widths=(12, 3), seed=6)
    before = snapshot(new)
    report = ws.warm_start(new, run)  # default: skip
    skipped = {s.target: s for s in report.skipped}
    assert skipped["d1/kernel"].reason is ws.SkipReason.SHAPE_MISMATCH
    assert "(4, 8)" in skipped["d1/kernel"].detail and "(4, 12)" in skipped["d1/kernel"].detail
    assert "d2/kernel" in skipped  # (8, 3) -> (12, 3)

    new = mlp(widths=(12, 3), seed=6)
    before = snapshot(new)
    with pytest.raises(ws.ShapeMismatchError, match=r"(?s)'d1/kernel'.*\(4, 8\) != model shape \(4, 12\)") as err:
        ws.warm_start(new, run, on_mismatch="error")
    assert "Fix:" in str(err.value) and "overlap" in str(err.value)
    assert_untouched(before, new)

    fresh_d1 = kernel(new, "d1").copy()
    report = ws.warm_start(new, run, on_mismatch={r"d[12]/.*": "overlap"})
    assert {e.target for e in report.loaded if e.action is ws.Action.OVERLAP} == {"d1/kernel", "d1/bias", "d2/kernel"}
    np.testing.assert_array_equal(kernel(new, "d1")[:, :8], kernel(old, "d1"))
    np.testing.assert_array_equal(kernel(new, "d1")[:, 8:], fresh_d1[:, 8:])  # the rest kept its init
    np.testing.assert_array_equal(kernel(new, "d2")[:8], kernel(old, "d2"))


def test_overlap_shrinks_too_and_keeps_rank(tmp_path):
    src = {"w": tf.Variable(np.arange(24, dtype="float32").reshape(2, 3, 4))}
    prefix = save(tmp_path, **src)
    small = {"w": tf.Variable(np.full((3, 2, 5), -1.0, "float32"))}
    ws.warm_start(small, prefix, on_mismatch="overlap")
    got = small["w"].numpy()
    np.testing.assert_array_equal(got[:2, :2, :4], src["w"].numpy()[:2, :2, :4])
    assert (got[2] == -1).all() and (got[:, :, 4] == -1).all()
    bad_rank = {"w": tf.Variable(np.zeros((6, 4), "float32"))}
    report = ws.warm_start({**bad_rank, "z": tf.Variable(0.0)}, save(tmp_path, "c2", w=src["w"], z=tf.Variable(1.0)),
                           on_mismatch="overlap")
    assert "equal ranks" in report.skipped[0].detail


def test_safe_cast_and_dtype_mismatch(tmp_path):
    prefix = save(tmp_path, a=tf.Variable([1.5, 2.5]), b=tf.Variable([1, 2]), c=tf.Variable([0.25]))
    target = {
        "a": tf.Variable(tf.zeros(2, tf.float16)),
        "b": tf.Variable(tf.zeros(2, tf.float32)),
        "c": tf.Variable(tf.zeros(1, tf.bfloat16)),
    }
    report = ws.warm_start(target, prefix)
    actions = {e.target: e.action for e in report.loaded}
    assert actions == {"a": ws.Action.CAST, "c": ws.Action.CAST}
    assert report.skipped[0].reason is ws.SkipReason.DTYPE_MISMATCH and "int32" in report.skipped[0].detail
    np.testing.assert_array_equal(target["a"].numpy(), np.array([1.5, 2.5], "float16"))


def test_strict_and_expect_missing(trained):
    _, run = trained
    new = mlp(extra_after="d1", seed=7)
    before = snapshot(new)
    with pytest.raises(ws.IncompleteError, match="inserted/bias"):
        ws.warm_start(new, run, strict=True)
    assert_untouched(before, new)
    report = ws.warm_start(new, run, strict=True, expect_missing=["inserted/.*"])
    assert report.ok and len(report.loaded) == 6


def test_nothing_to_load_is_an_error(trained):
    _, run = trained
    new = mlp(seed=8)
    before = snapshot(new)
    with pytest.raises(ws.NothingToLoadError, match="nothing would be loaded"):
        ws.warm_start(new, run, exclude=[".*"])
    assert_untouched(before, new)


def test_dry_run_writes_nothing_and_marks_problems(trained):
    _, run = trained
    new = mlp(widths=(12, 3), seed=9)
    before = snapshot(new)
    report = ws.warm_start(new, run, dry_run=True, on_mismatch="error", strict=True)
    assert report.dry_run and not report.ok
    assert any("d1/kernel" in p for p in report.problems)
    assert_untouched(before, new)
    report = ws.warm_start(new, run, dry_run=True)
    assert report.ok and {e.target for e in report.loaded} == {"d2/bias", "head/kernel", "head/bias"}
    assert_untouched(before, new)


@pytest.mark.parametrize("how", ["prefix", "index", "manager_dir", "saved_model", "saved_model_variables"])
def test_source_forms(tmp_path, how):
    old = mlp(seed=10)
    if how.startswith("saved_model"):
        tf.saved_model.save(old, str(tmp_path / "sm"))
        path = str(tmp_path / "sm") + ("/variables" if how == "saved_model_variables" else "")
    else:
        prefix = tf.train.CheckpointManager(tf.train.Checkpoint(model=old), str(tmp_path / "m"), 1).save()
        path = {"prefix": prefix, "index": prefix + ".index", "manager_dir": str(tmp_path / "m")}[how]
    new = mlp(seed=11)
    report = ws.warm_start(new, path)
    assert len(report.loaded) == 6 and not report.unused
    np.testing.assert_array_equal(kernel(new, "d1"), kernel(old, "d1"))


def test_manager_directory_uses_the_latest(tmp_path):
    model = mlp(seed=12)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(tmp_path / "m"), 3)
    manager.save()
    model.get_layer("d1").kernel.assign(np.ones((4, 8), "float32"))
    manager.save()
    new = mlp(seed=13)
    ws.warm_start(new, str(tmp_path / "m"))
    np.testing.assert_array_equal(kernel(new, "d1"), np.ones((4, 8)))


def test_tf_module_and_mapping_targets(tmp_path):
    class Net(tf.Module):
        def __init__(self, n):
            self.w = tf.Variable(tf.fill([n], 1.0))
            self.sub = tf.Module()
            self.sub.v = tf.Variable(tf.fill([2], 2.0))
            self.lst = [tf.Variable(3.0)]

    prefix = save(tmp_path, net=Net(3))
    assert {e.name for e in ws.inspect_checkpoint(prefix) if e.kind is ws.EntryKind.VARIABLE} == {"w", "sub/v", "lst/0"}
    new = Net(3)
    for v in new.trainable_variables:
        v.assign(tf.zeros_like(v))
    report = ws.warm_start(new, prefix)
    assert {e.target for e in report.loaded} == {"w", "sub/v", "lst/0"}
    assert float(new.lst[0].numpy()) == 3.0
    mapping = {"w": tf.Variable(tf.zeros(3)), "sub/v": tf.Variable(tf.zeros(2))}
    report = ws.warm_start(mapping, prefix)
    assert report.unused == ("lst/0",)
    np.testing.assert_array_equal(mapping["sub/v"].numpy(), [2.0, 2.0])


def test_report_dict_and_table(trained):
    _, run = trained
    report = ws.warm_start(mlp(widths=(12, 3), head="score", seed=14), run)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True and data["dry_run"] is False
    assert {d["reason"] for d in data["skipped"]} == {"shape_mismatch"}
    text = str(report)
    for section in ("Loaded (", "Skipped (", "Missing", "Unused checkpoint variables"):
        assert section in text
    assert "score/kernel" in text and "shape_mismatch" in text


def test_logs_summary_and_warning(trained, caplog):
    _, run = trained
    with caplog.at_level(logging.INFO, logger="warmstart"):
        ws.warm_start(mlp(head="score", seed=15), run)
    levels = {r.levelno for r in caplog.records if r.name == "warmstart"}
    assert logging.INFO in levels and logging.WARNING in levels
    assert any("score/kernel" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_unbuilt_model(trained):
    _, run = trained
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ws.TargetNotBuiltError, match=r"model.build"):
        ws.warm_start(unbuilt, run)
    with pytest.raises(ws.TargetNotBuiltError):
        ws.warm_start(Rec(), run)
    assert isinstance(ws.TargetNotBuiltError("x"), ws.WarmStartError)


def test_unsupported_target_type(trained):
    _, run = trained
    with pytest.raises(TypeError, match="keras.Model"):
        ws.warm_start(object(), run)


def test_streaming_mode_gives_the_same_result(trained):
    old, run = trained
    new = mlp(seed=16)
    ws.warm_start(new, run, memory_budget=64)  # forces verify-then-stream, one small batch at a time
    for a, b in zip(old.variables, new.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_training_continues_after_warm_start(trained):
    old, run = trained
    new = mlp(widths=(12, 3), seed=17)
    ws.warm_start(new, run, on_mismatch="overlap")
    kernel = new.get_layer("d1").kernel
    np.testing.assert_array_equal(kernel.numpy()[:, :8], old.get_layer("d1").kernel.numpy())
    before = [v.numpy().copy() for v in new.trainable_variables]
    history = train(new, steps=2).history.history["loss"]
    assert all(np.isfinite(history))
    moved = [not np.array_equal(b, v.numpy()) for b, v in zip(before, new.trainable_variables, strict=True)]
    assert all(moved), "every trainable variable takes gradient steps after the warm start"


@pytest.mark.parametrize(
    "rules, match",
    [
        ({"exclude": ["head/(kernel"]}, r"exclude\[0\].*invalid regex"),
        ({"include": ["nothing/.*"]}, "matched no variable"),
        ({"rename": [("score/(.*)", r"head/\2")]}, "group"),
        ({"rename": [("d1/(.*)", r"head/\1"), ("d2/(.*)", r"head/\1")], "exclude": ["head/.*"]}, "loaded into 2 targets"),
        ({"rename": [("head/(.*)", r"old_head/\1")]}, "found none of their sources"),
        ({"on_mismatch": {"tower/.*": "overlap"}}, "Perhaps you meant|matched no variable"),
        ({"on_mismatch": "squeeze"}, "unknown policy"),
    ],
    ids=["bad-regex", "include-nothing", "bad-backref", "two-targets-one-source", "rename-to-nothing",
         "mismatch-rule-nothing", "bad-policy"],
)
def test_rule_errors_leave_the_model_untouched(trained, rules, match):
    _, run = trained
    new = mlp(seed=18)
    before = snapshot(new)
    with pytest.raises(ws.RuleError, match=match):
        ws.warm_start(new, run, **rules)
    with pytest.raises(ws.RuleError, match=match):  # a dry run cannot plan with bad rules either
        ws.warm_start(new, run, dry_run=True, **rules)
    assert_untouched(before, new)


def test_rule_that_matched_nothing_suggests_names(trained):
    _, run = trained
    with pytest.raises(ws.RuleError, match=r"Perhaps you meant one of: .*head/kernel"):
        ws.warm_start(mlp(), run, exclude=["haed/kernel"])


def test_duplicate_keras_paths_are_told_apart_by_structure(tmp_path):
    class Pair(keras.Model):
        def __init__(self):
            super().__init__(name="pair")
            self.left = keras.Sequential([keras.layers.Dense(2, name="proj")], name="enc")
            self.right = keras.Sequential([keras.layers.Dense(2, name="proj")], name="enc")

        def build(self, shape):
            self.left.build(shape)
            self.right.build(shape)

        def call(self, x):
            return self.left(x) + self.right(x)

    old = Pair()
    old.build((None, 3))
    assert old.left.layers[0].kernel.path == old.right.layers[0].kernel.path  # the trap
    prefix = save(tmp_path, model=old)
    new = Pair()
    new.build((None, 3))
    report = ws.warm_start(new, prefix)
    assert len(report.loaded) == 4 and not report.missing and not report.unused
    np.testing.assert_array_equal(new.left.layers[0].kernel.numpy(), old.left.layers[0].kernel.numpy())
    np.testing.assert_array_equal(new.right.layers[0].kernel.numpy(), old.right.layers[0].kernel.numpy())


# --- errors that name the reason ------------------------------------------------------------


def test_float64_needs_an_opt_in_cast_and_nothing_to_load_names_the_reason(tmp_path):
    class Weights(tf.Module):
        def __init__(self, dtype):
            super().__init__()
            self.w = tf.Variable(np.arange(6.0).reshape(2, 3).astype(dtype))  # numpy's float64 by default
            self.b = tf.Variable(np.ones(3, dtype))

    prefix = tf.train.Checkpoint(model=Weights("float64")).write(str(tmp_path / "ckpt"))
    target = Weights("float32")
    before = snapshot(target)
    with pytest.raises(ws.NothingToLoadError) as e:
        ws.warm_start(target, prefix)
    message = str(e.value)
    assert "'w': dtype_mismatch: checkpoint dtype float64 != model dtype float32 (no safe cast; " \
           "cast='float64->float32' allows it)" in message
    assert "'b': dtype_mismatch" in message
    assert_untouched(before, target)
    report = ws.warm_start(target, prefix, cast="float64->float32")
    assert {e.target: e.action for e in report.loaded} == {"w": ws.Action.CAST, "b": ws.Action.CAST}
    assert {(e.dtype, e.source_dtype) for e in report.loaded} == {("float32", "float64")}
    np.testing.assert_array_equal(target.w.numpy(), np.arange(6.0, dtype="float32").reshape(2, 3))
    with pytest.raises(ws.RuleError, match=r"cast\[0\]: expected 'SOURCE->TARGET'"):
        ws.warm_start(target, prefix, cast="float64->int32")


def test_every_shape_differing_names_each_reason(trained):
    _, run = trained
    new = mlp(widths=(12, 5), inputs=6, seed=30)
    with pytest.raises(ws.NothingToLoadError) as e:
        ws.warm_start(new, run, exclude=["head/.*"])
    message = str(e.value)
    assert "'d1/kernel': shape_mismatch: checkpoint shape (4, 8) != model shape (6, 12)" in message
    assert "'head/bias': excluded: exclude 'head/.*'" in message


def test_one_error_names_every_problem(trained):
    _, run = trained
    new = mlp(widths=(12, 3), extra_after="d2", seed=31)
    with pytest.raises(ws.ShapeMismatchError) as e:
        ws.warm_start(new, run, on_mismatch="error", strict=True)
    message = str(e.value)
    assert "cannot warm-start 'd1/kernel'" in message
    assert "Also: strict warm start is incomplete" in message and "'inserted/kernel' would not be loaded" in message


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"memory_budget": -1}, "memory_budget must be None"),
    ({"memory_budget": 1.5}, "memory_budget must be None"),
    ({"optimizer_step": "keep"}, "optimizer_step must be 'carry' or 'reset'"),
    ({"progress": 3}, "progress must be a callable"),
    ({"strict": "yes"}, "strict must be True or False"),
    ({"source_root": ""}, "source_root must be"),
])
def test_bad_arguments_are_warm_start_errors(trained, kwargs, match):
    _, run = trained
    with pytest.raises(ws.ArgumentError, match=match) as e:
        ws.warm_start(mlp(seed=32), run, **kwargs)
    assert isinstance(e.value, ws.WarmStartError) and isinstance(e.value, ValueError)


def test_a_bytes_path_is_an_argument_error(trained):
    _, run = trained
    with pytest.raises(ws.ArgumentError, match="source must be a path") as e:
        ws.warm_start(mlp(seed=33), run.encode())
    assert isinstance(e.value, TypeError)


# --- two models in one checkpoint -----------------------------------------------------------


def test_source_root_picks_one_of_two_models(tmp_path):
    generator, discriminator = mlp(seed=34), mlp(seed=35)  # same layer names
    prefix = tf.train.Checkpoint(generator=generator, discriminator=discriminator).write(str(tmp_path / "gan"))
    new = mlp(seed=36)
    before = snapshot(new)
    with pytest.raises(ws.NothingToLoadError, match=r"holds 2 models \(discriminator, generator\).*"
                                                      r"source_root='discriminator'"):
        ws.warm_start(new, prefix)
    assert_untouched(before, new)
    for root, source_model in (("generator", generator), ("discriminator", discriminator)):
        report = ws.warm_start(new, prefix, source_root=root, strict=True)
        assert report.unused == () and len(report.loaded) == 6
        for a, b in zip(source_model.variables, new.variables, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    names = {e.name for e in ws.inspect_checkpoint(prefix, source_root="generator") if e.kind == "variable"}
    assert names == {"d1/kernel", "d1/bias", "d2/kernel", "d2/bias", "head/kernel", "head/bias"}
    with pytest.raises(ws.RuleError, match=r"source_root 'gen': the checkpoint's root has no 'gen'; it holds "
                                           r"discriminator, generator"):
        ws.warm_start(new, prefix, source_root="gen")


# --- auto-named layers ----------------------------------------------------------------------


def test_an_inserted_auto_named_layer_is_flagged_and_strict_refuses_the_guess(tmp_path):
    def model(extra):
        layers = [keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(8)]
        layers += [keras.layers.Dense(8)] if extra else []
        return keras.Sequential(layers + [keras.layers.Dense(1)])

    keras.backend.clear_session()
    prefix = tf.train.Checkpoint(model=model(False)).write(str(tmp_path / "day1"))
    keras.backend.clear_session()  # day 2 in a fresh process: dense, dense_1, dense_2, dense_3
    new = model(True)
    before = snapshot(new)
    with pytest.raises(ws.AmbiguousMatchError, match=r"auto-named 'dense' layers: the model has 4") as e:
        ws.warm_start(new, prefix, strict=True)
    assert isinstance(e.value, ws.IncompleteError)
    assert_untouched(before, new)
    report = ws.warm_start(new, prefix)
    assert any(w.startswith("auto-named 'dense' layers") for w in report.warnings)
    assert "dense_3/kernel" in report.missing
    assert "by a rename" not in json.dumps(report.to_dict())  # no rename was given


def test_save_writes_what_tf_restores_and_warm_start_reads(trained, tmp_path):
    old, _ = trained
    old.compile(optimizer="adam", loss="mse")
    prefix = ws.save(old, tmp_path / "saved" / "ckpt", optimizer=old.optimizer)
    assert prefix == str(tmp_path / "saved" / "ckpt")
    fresh = mlp(seed=40)
    tf.train.Checkpoint(model=fresh).restore(prefix).expect_partial().assert_existing_objects_matched()
    for a, b in zip(old.variables, fresh.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    again = mlp(seed=41)
    assert len(ws.warm_start(again, prefix, strict=True).loaded) == 6
    with pytest.raises(ws.ArgumentError):
        ws.save(old, b"bytes/prefix")
