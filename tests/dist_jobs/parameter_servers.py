"""ParameterServerStrategy on an in-process localhost cluster (chief, 1 worker, 2 parameter
servers), ``FixedShardsPartitioner(k)`` changed between models: Keras 3 and tf_keras models
whose tables are ``ShardedVariable``s, warm-started across shard counts, through a
vocabulary, with optimizer slots, held and streamed. Run by
tests/test_distributed_ps.py as ``python parameter_servers.py OUT``."""

from __future__ import annotations

import contextlib
import sys

import keras
import numpy as np
import tensorflow as tf
import tf_keras
from common import fit, grown, logical, named, ps_cluster, rec, run_cases, slots, tokens

import warmstart as ws
from warmstart.sources.bundle import read_index

OUT = sys.argv[1]
ROWS = 40_000  # 1.2 MiB of embeddings: streamed under a 1 MiB budget
OLD, NEW = tokens(ROWS), grown(tokens(ROWS))
VOCAB = {"emb/embeddings": ws.Vocab(OLD, NEW)}
STRATEGY, PARTITIONER = ps_cluster(2)

day1 = fit(rec(ROWS, 4, seed=1))  # trained without a strategy; every source below holds its values
DAY1 = named(day1)
DAY1_SLOTS = slots(day1, day1.optimizer)
SOURCE_VALUES = {**{n: logical(v) for n, v in DAY1.items()}, **{n: logical(v) for n, v in DAY1_SLOTS.items()}}


def sharded(shards: int):
    """A day-1 Keras 3 model and Adam under the strategy with ``shards`` shards, holding the
    trained values (slots and step included)."""
    PARTITIONER._num_shards = shards
    with STRATEGY.scope():
        model = rec(ROWS, 4, seed=5)
        optimizer = keras.optimizers.Adam()
        optimizer.build(model.trainable_variables)
    for name, v in {**named(model), **slots(model, optimizer)}.items():
        v.assign(SOURCE_VALUES[name])
    optimizer.iterations.assign(day1.optimizer.iterations)
    return model, optimizer


SOURCES = {"unsliced": ws.save(day1, f"{OUT}/unsliced/ckpt", optimizer=day1.optimizer)}
for k in (1, 2, 3):
    model, optimizer = sharded(k)
    SOURCES[f"slices{k}"] = ws.save(model, f"{OUT}/slices{k}/ckpt", optimizer=optimizer)


def day2(shards: int | None, *, rows: int = len(NEW), api=keras):
    """A day-2 model (wider ``d1``) and its Adam, built under the strategy with ``shards``
    shards (``None``: no strategy)."""
    if shards is None:
        model = rec(rows, 6, seed=2, api=api)
        optimizer = api.optimizers.Adam()
        optimizer.build(model.trainable_variables)
        return model, optimizer
    PARTITIONER._num_shards = shards
    with STRATEGY.scope():
        model = rec(rows, 6, seed=2, api=api)
        optimizer = api.optimizers.Adam()
        optimizer.build(model.trainable_variables)
    return model, optimizer


def everything(model, optimizer) -> dict:
    return {**named(model), **slots(model, optimizer)}


def warm(rec_, name, source, shards, *, vocab=True, budget=256 << 20, api=keras, inside=False, **options):
    model, optimizer = day2(shards, rows=len(NEW) if vocab else ROWS, api=api)
    variables = everything(model, optimizer)
    before = {n: logical(v) for n, v in variables.items()}
    with STRATEGY.scope() if inside else contextlib.nullcontext():
        report = ws.warm_start(model, SOURCES[source], vocab=VOCAB if vocab else None,
                               optimizer=optimizer, memory_budget=budget, **{"on_mismatch": "overlap", **options})
    rec_.case(name, variables, before, report=report, source=source)


def sources(rec_):
    rec_.source("day1", SOURCE_VALUES)
    rec_.cases["_sources"]["slices"] = {
        name: {e.key: [s.extents[0].length for s in e.slices] for e in read_index(prefix).entries.values()
               if e.sliced}
        for name, prefix in SOURCES.items()}


def two_to_three(rec_):
    warm(rec_, "two_to_three", "slices2", 3, vocab=False, inside=True)


def preserve_inside(rec_):
    """preserve into shards, inside the scope: new inputs of the head are zero boxes across shards."""
    warm(rec_, "preserve_inside", "slices2", 3, on_mismatch="preserve", inside=True, budget=1 << 20)


def cast(rec_):
    src = {"w": tf.Variable(np.arange(60, dtype="float64").reshape(12, 5) / 7)}
    prefix = tf.train.Checkpoint(**src).write(f"{OUT}/cast/ckpt")
    PARTITIONER._num_shards = 3
    with STRATEGY.scope():
        target = {"w": tf.Variable(np.zeros((12, 5), "float32"))}
    report = ws.warm_start(target, prefix, cast="float64->float32")
    rec_.case("cast", target, {"w": np.zeros((12, 5), "float32")}, report=report,
              source={"w": src["w"].numpy().tolist()})


def strict(rec_):
    model, _ = day2(3)
    PARTITIONER._num_shards = 2
    with STRATEGY.scope():
        target = {**named(model), "extra/w": tf.Variable(np.ones((4, 2), "float32"))}  # not in the checkpoint
    before = {n: logical(v) for n, v in target.items()}
    try:
        ws.warm_start(target, SOURCES["slices2"], vocab=VOCAB, on_mismatch="overlap", strict=True)
    except ws.WarmStartError as e:
        rec_.case("strict", target, before, error=e)


def three_to_two_streamed(rec_):
    warm(rec_, "three_to_two_streamed", "slices3", 2, vocab=False, budget=1 << 20)


def one_to_four(rec_):
    warm(rec_, "one_to_four", "slices1", 4, vocab=False)


def unsliced_to_three(rec_):
    warm(rec_, "unsliced_to_three", "unsliced", 3, vocab=False, budget=1 << 20)


def sliced_to_unsharded(rec_):
    warm(rec_, "sliced_to_unsharded", "slices2", None, vocab=False, budget=1 << 20)


def vocab_held(rec_):
    warm(rec_, "vocab_held", "slices2", 3)


def vocab_streamed(rec_):
    warm(rec_, "vocab_streamed", "slices3", 2, budget=1 << 20)


def vocab_tf_keras(rec_):
    """tf_keras: the table, its shards and its Adam's per-shard slots are one target each."""
    warm(rec_, "vocab_tf_keras", "slices2", 3, api=tf_keras, budget=1 << 20)


def preserve_tf_keras(rec_):
    """tf_keras layers list a sharded variable's shards, the model its ShardedVariable:
    preserve still finds each variable's layer and traces its inputs."""
    warm(rec_, "preserve_tf_keras", "slices2", 3, api=tf_keras, on_mismatch="preserve")


def tf_keras_checkpoint(rec_):
    """A tf_keras model under the strategy checkpoints itself (unlike Keras 3), with its Adam:
    2 shards -> 3. TF names every sharded variable and its slots 'ShardedVariable' in the
    checkpoint, and tf_keras records no owner list: the slots are found by name and shape."""
    PARTITIONER._num_shards = 2
    with STRATEGY.scope():
        old = rec(ROWS, 4, seed=7, api=tf_keras)
        old_adam = tf_keras.optimizers.Adam()
        old_adam.build(old.trainable_variables)
    for name, v in {**named(old), **slots(old, old_adam)}.items():
        v.assign(SOURCE_VALUES[name])
    old_adam.iterations.assign(day1.optimizer.iterations)
    prefix = tf.train.Checkpoint(model=old, optimizer=old_adam).write(f"{OUT}/tf_keras/ckpt")
    model, optimizer = day2(3, rows=ROWS, api=tf_keras)
    variables = everything(model, optimizer)
    before = {n: logical(v) for n, v in variables.items()}
    report = ws.warm_start(model, prefix, on_mismatch="overlap", memory_budget=1 << 20, optimizer=optimizer)
    rec_.case("tf_keras_checkpoint", variables, before, report=report,
              step=int(optimizer.iterations.numpy()), day1_step=int(day1.optimizer.iterations.numpy()))


def dry_run(rec_):
    model, optimizer = day2(3)
    variables = everything(model, optimizer)
    before = {n: logical(v) for n, v in variables.items()}
    report = ws.warm_start(model, SOURCES["slices2"], vocab=VOCAB, on_mismatch="overlap", optimizer=optimizer,
                           dry_run=True)
    rec_.case("dry_run", variables, before, report=report)


def rollback(rec_, name="rollback", budget=1 << 20):
    """Stopped at 70 %: streamed, the old shards were kept whole on their parameter servers;
    held, the overwritten rows were copied there."""
    model, optimizer = day2(3)
    variables = everything(model, optimizer)
    before = {n: logical(v) for n, v in variables.items()}

    def stop(done, total):
        if done > total * 0.7:
            raise RuntimeError("stopped on purpose")

    try:
        ws.warm_start(model, SOURCES["slices2"], vocab=VOCAB, on_mismatch="overlap", optimizer=optimizer,
                      memory_budget=budget, progress=stop)
    except ws.WarmStartError as e:
        rec_.case(name, variables, before, error=e)


def rollback_held(rec_):
    rollback(rec_, "rollback_held", None)


def saved(rec_):
    """ws.save of a Keras 3 model with 3 shards: what tf.train.load_checkpoint reads of it."""
    model, _ = sharded(3)
    reader = tf.train.load_checkpoint(SOURCES["slices3"])
    read = {name: reader.get_tensor(f"model/{name}/.ATTRIBUTES/VARIABLE_VALUE") for name in named(model)}
    keys = sorted(reader.get_variable_to_shape_map())
    rec_.case("saved", {}, {}, keys=keys, read_equal={n: bool(np.array_equal(a, SOURCE_VALUES[n]))
                                                       for n, a in read.items()})


def saved_state(rec_):
    """ws.save of a sharded model with a LossScaleOptimizer around a Nadam: the state that goes
    with the step (the scale, its counter, Nadam's _u_product) is saved where TensorFlow puts
    it, and a warm start into another shard count carries it."""
    def make(shards):
        PARTITIONER._num_shards = shards
        with STRATEGY.scope():
            model = rec(ROWS, 4, seed=5)
            optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Nadam(0.01), initial_scale=1024.0)
            optimizer.build(model.trainable_variables)
        return model, optimizer

    model, optimizer = make(2)
    optimizer.dynamic_scale.assign(4096.0)
    optimizer.step_counter.assign(7)
    optimizer.inner_optimizer._iterations.assign(11)
    optimizer.inner_optimizer._u_product.assign(0.25)
    path = ws.save(model, f"{OUT}/saved_state/ckpt", optimizer=optimizer)
    model2, optimizer2 = make(3)
    report = ws.warm_start(model2, path, optimizer=optimizer2)
    got = {"dynamic_scale": float(logical(optimizer2.dynamic_scale)),
           "step_counter": int(logical(optimizer2.step_counter)),
           "iterations": int(logical(optimizer2.iterations)),
           "u_product": float(logical(optimizer2.inner_optimizer._u_product))}
    rec_.case("saved_state", {}, {}, report=report, got=got,
              keys=sorted(tf.train.load_checkpoint(path).get_variable_to_shape_map()))


run_cases(OUT, [(f.__name__, f) for f in (sources, two_to_three, preserve_inside, cast, strict, three_to_two_streamed, one_to_four, unsliced_to_three,
                                          sliced_to_unsharded, vocab_held, vocab_streamed, vocab_tf_keras, preserve_tf_keras,
                                          tf_keras_checkpoint, dry_run, rollback, rollback_held, saved, saved_state)])
print("done")
