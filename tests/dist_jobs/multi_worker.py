"""MultiWorkerMirroredStrategy with two worker processes on localhost. Run by
tests/test_distributed_multi_worker.py:

* ``python multi_worker.py OUT prepare``: the day-1 checkpoint both workers read, and its values;
* ``python multi_worker.py OUT INDEX PORT0 PORT1 SOURCE``: worker INDEX of the cluster (writing
  into its own OUT); it builds
  the day-2 model under the strategy and warm-starts it with the same arguments as the other
  worker (held, then streamed into a second model), recording its replica's values.
"""

from __future__ import annotations

import json
import os
import sys

OUT = sys.argv[1]
if sys.argv[2] != "prepare":
    INDEX, PORTS, SOURCE = int(sys.argv[2]), sys.argv[3:5], sys.argv[5]
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"localhost:{p}" for p in PORTS]}, "task": {"type": "worker", "index": INDEX}})

import keras
import tensorflow as tf
from common import Recorder, fit, grown, logical, named, rec, run_cases, slots, tokens

import warmstart as ws

ROWS = 40_000
OLD, NEW = tokens(ROWS), grown(tokens(ROWS))


def prepare() -> None:
    day1 = fit(rec(ROWS, 4, seed=1))
    ws.save(day1, f"{OUT}/day1/ckpt", optimizer=day1.optimizer)
    out = Recorder(OUT)
    out.source("day1", {**{n: logical(v) for n, v in named(day1).items()},
                        **{n: logical(v) for n, v in slots(day1, day1.optimizer).items()}})
    out.write()


def worker() -> None:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()

    def warm(rec_, name, budget, new=NEW, built=True):
        with strategy.scope():
            model = rec(len(NEW), 6, seed=2 + INDEX)  # initial values come from worker 0 either way
            optimizer = keras.optimizers.Adam()
            if built:
                optimizer.build(model.trainable_variables)
        variables = {**named(model), **slots(model, optimizer)}
        before = {n: logical(v) for n, v in variables.items()}
        try:
            report = ws.warm_start(model, SOURCE, vocab={"emb/embeddings": ws.Vocab(OLD, new)},
                                   on_mismatch="overlap", optimizer=optimizer, memory_budget=budget)
        except ws.WarmStartError as e:
            rec_.case(name, variables, before, error=e)
            return
        rec_.case(name, variables, before, report=report, replicas=strategy.num_replicas_in_sync)

    # worker 1 given a vocabulary with two tokens swapped: each alone would load "correctly"
    swapped = list(NEW)
    swapped[3], swapped[10] = swapped[10], swapped[3]
    # worker 1 given a vocabulary 3 tokens short of its table: it fails before writing, and
    # still takes part in the workers' check; then both go on to a warm start that works
    short = NEW[:-3]
    run_cases(OUT, [("held", lambda r: warm(r, "held", None)), ("streamed", lambda r: warm(r, "streamed", 1 << 20)),
                    ("disagree", lambda r: warm(r, "disagree", None, new=swapped if INDEX == 1 else NEW)),
                    ("one_fails", lambda r: warm(r, "one_fails", None, new=short if INDEX == 1 else NEW)),
                    # building the optimizer is itself a collective: the workers agree before it
                    ("one_fails_unbuilt", lambda r: warm(r, "one_fails_unbuilt", None, new=short if INDEX == 1 else NEW,
                                                         built=False)),
                    ("after", lambda r: warm(r, "after", None))])


if sys.argv[2] == "prepare":
    prepare()
else:
    worker()
print("done")
