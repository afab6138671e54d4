"""What the distributed jobs share (each job is a process of its own, because TensorFlow fixes
its devices once per process): the day-1/day-2 models, the vocabularies, a local in-process
parameter-server cluster, and how a job writes what it saw for the test to check with numpy.

A job writes ``OUT/result.json`` (a manifest: per case, per variable, the arrays' keys, the
report) and ``OUT/arrays.npz`` (the arrays). Each live variable is dumped per replica
(mirrored) or per shard (parameter servers), beside its value before the warm start.
"""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from ps_cluster import ps_cluster
from tokens import grown, tokens

DIM = 8
__all__ = ["DIM", "Recorder", "fit", "grown", "logical", "named", "pieces", "ps_cluster", "rec", "run_cases", "slots",
           "tokens"]


def rec(rows: int, width: int, *, api=keras, seed: int | None = None, name: str = "rec"):
    """``emb`` (rows x DIM) -> flatten -> ``d1`` (width) -> ``head``: day 1 and day 2 differ in
    ``rows`` (a vocabulary) and ``width`` (overlap)."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
        tf.random.set_seed(seed)
    layers = api.layers
    if api is keras:
        model = keras.Sequential([keras.Input((2,), dtype="int32"), layers.Embedding(rows, DIM, name="emb"),
                                  layers.Flatten(name="flat"), layers.Dense(width, name="d1"),
                                  layers.Dense(1, name="head")], name=name)
    else:  # tf_keras
        model = api.Sequential([layers.Embedding(rows, DIM, name="emb", input_length=2), layers.Flatten(name="flat"),
                                layers.Dense(width, name="d1"), layers.Dense(1, name="head")], name=name)
        model.build((None, 2))
    return model


def fit(model, api=keras, steps: int = 2):
    """A few Adam steps, so that variables and slots hold trained values."""
    rng = np.random.default_rng(1)
    rows = int(model.get_layer("emb").embeddings.shape[0])
    x = rng.integers(0, rows, size=(64, 2)).astype("int32")
    y = rng.normal(size=(64, 1)).astype("float32")
    model.compile(optimizer=api.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, epochs=steps, batch_size=16, verbose=0)
    return model


def named(model) -> dict:
    """Target names (as warm_start names them) -> live variables."""
    from warmstart.targets import walk_target

    return dict(walk_target(model).variables)


def slots(model, optimizer) -> dict:
    """``name@slot`` -> the optimizer's slot variables (as warm_start names them)."""
    from warmstart.targets import walk_optimizer

    opt = walk_optimizer(optimizer, named(model))
    return {k: v for k, v in opt.variables.items() if "@" in k}


def pieces(v) -> list[np.ndarray]:
    """The live arrays behind ``v``: one per replica (mirrored), one per shard (sharded), or one."""
    from warmstart.targets.variables import tf_variable

    tv = tf_variable(v)
    if isinstance(tv, tf.distribute.DistributedValues):
        return [np.array(r.numpy()) for r in tv.values]
    if isinstance(tv, tf.__internal__.distribute.ShardedVariable):
        return [np.array(s.numpy()) for s in tv.variables]
    return [np.array(tv.numpy())]


def is_sharded(v) -> bool:
    from warmstart.targets.variables import tf_variable

    return isinstance(tf_variable(v), tf.__internal__.distribute.ShardedVariable)


def logical(v) -> np.ndarray:
    """The whole value (shards concatenated; replica 0)."""
    from warmstart.targets.variables import tf_variable

    tv = tf_variable(v)
    if isinstance(tv, tf.__internal__.distribute.ShardedVariable):
        return np.concatenate(pieces(v))
    return pieces(v)[0]


class Recorder:
    """Collects each case's arrays and reports; ``write()`` puts them under ``OUT``."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.arrays: dict[str, np.ndarray] = {}
        self.cases: dict[str, dict] = {}

    def array(self, value: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.asarray(value)
        return key

    def source(self, label: str, values: dict[str, np.ndarray]) -> None:
        """The day-1 arrays a checkpoint holds, by name."""
        self.cases.setdefault("_sources", {})[label] = {n: self.array(a) for n, a in values.items()}

    def case(self, name: str, variables: dict, before: dict[str, np.ndarray], *, report=None,
             error: BaseException | None = None, **extra) -> None:
        """``variables``: name -> live variable (dumped per replica or shard) after the call;
        ``before``: name -> whole value before it."""
        self.cases[name] = {
            "vars": {n: {"before": self.array(before[n]), "pieces": [self.array(p) for p in pieces(v)],
                         "sharded": is_sharded(v)}
                     for n, v in variables.items()},
            "report": None if report is None else report.to_dict(),
            "text": None if report is None else report.text(full=True),
            "error": None if error is None else {"type": type(error).__name__, "message": str(error)},
            **extra,
        }

    def write(self) -> None:
        np.savez(self.out / "arrays.npz", **self.arrays)
        (self.out / "result.json").write_text(json.dumps(self.cases))


class _Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run_cases(out: str, cases) -> None:
    """Run each ``(name, fn)``; ``fn(recorder)`` records its case, with what warmstart logged
    meanwhile (``log``). A case that raises is recorded as failed (the test shows its
    traceback), the others still run."""
    rec_ = Recorder(out)
    log = _Log()
    logger = logging.getLogger("warmstart")
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    for name, fn in cases:
        log.lines = []
        try:
            fn(rec_)
        except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
            rec_.cases[name] = {"crashed": traceback.format_exc()}
        if name in rec_.cases:
            rec_.cases[name]["log"] = log.lines
    rec_.write()
