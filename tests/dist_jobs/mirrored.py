"""MirroredStrategy on two logical CPU devices: every option of warm_start into a model built
under the strategy, called inside and outside its scope; the errors. Run by
tests/test_distributed_mirrored.py as ``python mirrored.py OUT``."""

from __future__ import annotations

import contextlib
import sys

import tensorflow as tf

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
import numpy as np
from common import fit, grown, logical, named, rec, run_cases, slots, tokens

import warmstart as ws
from warmstart.targets.variables import tf_variable

OUT = sys.argv[1]
ROWS = 40_000  # 1.2 MiB of embeddings: streamed under a 1 MiB budget
OLD, NEW = tokens(ROWS), grown(tokens(ROWS))
STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

day1 = fit(rec(ROWS, 4, seed=1))
SOURCE = ws.save(day1, f"{OUT}/day1/ckpt", optimizer=day1.optimizer)
SOURCE_VALUES = {**{n: logical(v) for n, v in named(day1).items()},
                 **{n: logical(v) for n, v in slots(day1, day1.optimizer).items()}}


def day2(width: int = 6):
    """The day-2 model and an Adam, made under the strategy (the optimizer unbuilt)."""
    with STRATEGY.scope():
        return rec(len(NEW), width, seed=2), keras.optimizers.Adam()


def everything(model, optimizer) -> dict:
    return {**named(model), **(slots(model, optimizer) if optimizer.built else {})}


def before_of(variables: dict) -> dict:
    return {n: logical(v) for n, v in variables.items()}


def warm(rec_, name, *, inside: bool, budget: int | None, built: bool, **options):
    model, optimizer = day2()
    if built:
        with STRATEGY.scope():
            optimizer.build(model.trainable_variables)
    before = before_of(everything(model, optimizer))
    with STRATEGY.scope() if inside else contextlib.nullcontext():
        report = ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, on_mismatch="overlap",
                               optimizer=optimizer, memory_budget=budget, **options)
    variables = everything(model, optimizer)
    # an unbuilt optimizer is built by the call, on the model's replicas: Adam's slots start at 0
    before.update({n: np.zeros_like(logical(v)) for n, v in variables.items() if n not in before})
    replicas = tf_variable(model.get_layer("emb").embeddings).values
    # copy-on-read off on every replica written in place: two reads share one buffer (notes §13)
    shared = [np.asarray(r.read_value()).ctypes.data == np.asarray(r.read_value()).ctypes.data for r in replicas]
    rec_.case(name, variables, before, report=report, built_by_call=not built, copy_on_read_off=shared)


def sources(rec_):
    rec_.source("day1", SOURCE_VALUES)


def held_outside(rec_):
    warm(rec_, "held_outside", inside=False, budget=None, built=False)


def held_inside(rec_):
    warm(rec_, "held_inside", inside=True, budget=None, built=True)


def streamed_inside(rec_):
    warm(rec_, "streamed_inside", inside=True, budget=1 << 20, built=True)


def streamed_outside(rec_):
    warm(rec_, "streamed_outside", inside=False, budget=1 << 20, built=True)


def preserve(rec_):
    model, _ = day2()
    before = before_of(named(model))
    report = ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, on_mismatch="preserve")
    rec_.case("preserve", named(model), before, report=report)


def cast(rec_):
    src = {"w": tf.Variable(np.arange(15, dtype="float64").reshape(3, 5) / 7)}
    prefix = tf.train.Checkpoint(**src).write(f"{OUT}/cast/ckpt")
    with STRATEGY.scope():
        target = {"w": tf.Variable(np.zeros((3, 5), "float32"))}
    report = ws.warm_start(target, prefix, cast="float64->float32")
    rec_.case("cast", target, {"w": np.zeros((3, 5), "float32")}, report=report,
              source={"w": src["w"].numpy().tolist()})


def dry_run(rec_):
    model, optimizer = day2()
    before = before_of(named(model))
    report = ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, on_mismatch="overlap",
                           optimizer=optimizer, dry_run=True)
    rec_.case("dry_run", named(model), before, report=report, built=optimizer.built)


def strict(rec_):
    model, _ = day2()
    with STRATEGY.scope():
        target = {**named(model), "extra/w": tf.Variable(np.ones((2, 2), "float32"))}  # not in the checkpoint
    before = before_of(target)
    try:
        ws.warm_start(target, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, on_mismatch="overlap",
                      strict=True)
    except ws.WarmStartError as e:
        rec_.case("strict", target, before, error=e)


def out_of_sync(rec_):
    model, _ = day2()
    kernel = tf_variable(model.get_layer("d1").kernel)
    kernel[0:2].assign(tf.ones((2, 6)))  # outside the scope: reaches replica 0 only (notes §8)
    rec_.case("out_of_sync/before", named(model), before_of(named(model)))
    try:
        ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, on_mismatch="overlap")
    except ws.WarmStartError as e:
        rec_.case("out_of_sync", named(model), before_of(named(model)), error=e)


def out_of_sync_whole(rec_):
    """Replicas out of sync in variables the warm start writes whole: each replica gets the
    whole value, so they end equal. d1/kernel desynced by hand; a Keras 3 fit under the
    strategy leaves a BatchNormalization's moving statistics different on each replica."""
    def model_with_bn(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="d"),
                                 keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(1, name="out")])

    model, _ = day2(width=4)
    kernel = tf_variable(model.get_layer("d1").kernel)
    kernel[0:2].assign(tf.ones((2, 4)))  # outside the scope: reaches replica 0 only (notes §8)
    before = before_of(named(model))
    report = ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)})
    rec_.case("out_of_sync_whole", named(model), before, report=report)

    bn_day1 = model_with_bn(4)
    prefix = tf.train.Checkpoint(model=bn_day1).write(f"{OUT}/bn/ckpt")
    with STRATEGY.scope():
        fitted = model_with_bn(5)
        fitted.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    fitted.fit(x, x[:, :1], batch_size=16, epochs=1, verbose=0)
    stats = tf_variable(fitted.get_layer("bn").moving_mean).values
    differed = not np.array_equal(stats[0].numpy(), stats[1].numpy())
    before = before_of(named(fitted))
    report = ws.warm_start(fitted, prefix)
    rec_.case("bn_after_fit", named(fitted), before, report=report, differed=differed,
              source={n: logical(v).tolist() for n, v in named(bn_day1).items()})


def rollback_diverged(rec_):
    """Replicas out of sync in a variable written whole, and the warm start fails at its end:
    each replica is put back as it was (not replica 0's old value into both)."""
    model, _ = day2(width=4)
    kernel = tf_variable(model.get_layer("d1").kernel)
    kernel[0:2].assign(tf.ones((2, 4)))  # outside the scope: reaches replica 0 only (notes §8)
    rec_.case("rollback_diverged/before", named(model), before_of(named(model)))

    def stop(done, total):
        if done >= total:
            raise RuntimeError("stopped on purpose")

    try:
        ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, progress=stop)
    except ws.WarmStartError as e:
        rec_.case("rollback_diverged", named(model), before_of(named(model)), error=e)


def rollback(rec_):
    model, optimizer = day2()
    with STRATEGY.scope():
        optimizer.build(model.trainable_variables)
    variables = everything(model, optimizer)
    before = before_of(variables)
    rec_.case("rollback/before", variables, before)

    def stop(done, total):
        if done > total * 0.7:
            raise RuntimeError("stopped on purpose")

    try:
        ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, on_mismatch="overlap",
                      optimizer=optimizer, memory_budget=1 << 20, progress=stop)
    except ws.WarmStartError as e:
        rec_.case("rollback", variables, before, error=e)


def sync_on_read(rec_):
    """tf_keras batch-norm statistics are sync-on-read (MEAN): each replica holds the value; a
    SUM variable's replicas each hold an equal share."""
    import tf_keras

    def bn_model():
        return tf_keras.Sequential([tf_keras.layers.Dense(3, input_shape=(4,), name="d"),
                                    tf_keras.layers.BatchNormalization(name="bn")])

    old = bn_model()
    old.compile(optimizer="adam", loss="mse")
    old.fit(np.random.default_rng(0).normal(3, 2, (64, 4)), np.ones((64, 3)), verbose=0)
    prefix = tf.train.Checkpoint(model=old).write(f"{OUT}/bn/ckpt")
    with STRATEGY.scope():
        new = bn_model()
    kinds = {n: type(tf_variable(v)).__name__ for n, v in named(new).items()}
    before = before_of(named(new))
    report = ws.warm_start(new, prefix)
    rec_.case("sync_on_read", named(new), before, report=report, kinds=kinds,
              source={n: logical(v).tolist() for n, v in named(old).items()})
    src = {"total": tf.Variable([6.0, 8.0])}
    sum_prefix = tf.train.Checkpoint(**src).write(f"{OUT}/sum/ckpt")
    with STRATEGY.scope():
        target = {"total": tf.Variable([0.0, 0.0], synchronization=tf.VariableSynchronization.ON_READ,
                                       aggregation=tf.VariableAggregation.SUM)}
    ws.warm_start(target, sum_prefix)
    rec_.case("sync_on_read_sum", target, {"total": np.zeros(2, "float32")},
              read=target["total"].numpy().tolist())


def other_scope(rec_):
    """An unbuilt optimizer of a mirrored model cannot be built in another strategy's scope."""
    model, optimizer = day2()
    before = before_of(named(model))
    try:
        with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
            ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, on_mismatch="overlap",
                          optimizer=optimizer)
    except ws.WarmStartError as e:
        rec_.case("other_scope", named(model), before, error=e, built=optimizer.built)


def central_storage(rec_):
    strategy = tf.distribute.experimental.CentralStorageStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = rec(len(NEW), 6, seed=3)
    before = before_of(named(model))
    try:
        ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, on_mismatch="overlap")
    except ws.WarmStartError as e:
        rec_.case("central_storage", named(model), before, error=e)


def replica_context(rec_):
    model, _ = day2()
    before = before_of(named(model))
    errors = []

    def inside():
        try:
            ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)}, on_mismatch="overlap")
        except ws.WarmStartError as e:
            errors.append(e)

    STRATEGY.run(inside)
    rec_.case("replica_context", named(model), before, error=errors[0] if errors else None, count=len(errors))


run_cases(OUT, [(f.__name__, f) for f in (sources, held_outside, held_inside, streamed_inside, streamed_outside, preserve,
                                          cast, dry_run, strict, out_of_sync, out_of_sync_whole, rollback_diverged, rollback, sync_on_read, other_scope,
                                          central_storage, replica_context)])
print("done")
