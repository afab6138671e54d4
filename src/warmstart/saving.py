"""``ws.save``: a standard TF2 checkpoint of a model (and optimizer) that ``warm_start`` reads
by name, and that TensorFlow's own ``tf.train.Checkpoint.restore`` of the same model reads
wherever TensorFlow can write that model at all.

What ``warmstart apply`` writes, so that a pipeline step can prepare the warm-started
starting point before training starts.

A Keras 3 model whose variables are sharded (``ParameterServerStrategy`` with a
``variable_partitioner``) cannot be checkpointed by TensorFlow through the model: Keras 3's
variable saves its value's ``device``, which a ``ShardedVariable`` does not have. For such a
model the checkpoint holds the variables by name instead (``model/<name>``, the names
``warm_start`` and ``warmstart inspect`` show), each sharded one stored as row slices, one
per shard, and the optimizer as Keras 3 lays it out (``optimizer/_trainable_variables/<i>``
beside its slot lists, ``optimizer/_iterations``), so that its slots carry too.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["save"]


def save(model: Any, path: str | os.PathLike[str], *, optimizer: Any = None) -> str:
    """Write a TF2 checkpoint of ``model`` (and ``optimizer``) to the prefix ``path``; return
    the prefix written.

    For any model TensorFlow can checkpoint it is ``tf.train.Checkpoint(model=model[,
    optimizer=optimizer])``, with ``save_counter`` set: restore it into the same model with
    ``tf.train.Checkpoint(model=model).restore(prefix)`` (``.expect_partial()`` when it holds
    an optimizer you do not restore), or warm-start from it. A Keras 3 model with sharded
    variables is written by name (see the module's note): ``warm_start`` and
    ``tf.train.load_checkpoint`` read it; ``tf.train.Checkpoint(model=...).restore`` does not
    (it matches the model's own object graph, which this checkpoint does not have).

    >>> prefix = ws.save(model, "runs/day2-start/ckpt")  # doctest: +SKIP
    """
    import tensorflow as tf

    from .errors import ArgumentError

    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise ArgumentError(f"path must be a str or os.PathLike prefix, not {type(path).__name__}.")
    if _keras3_sharded(model):
        objects = _by_name(model, optimizer)
    else:
        objects = {"model": model} if optimizer is None else {"model": model, "optimizer": optimizer}
    checkpoint = tf.train.Checkpoint(**objects)
    checkpoint.save_counter.assign_add(1)  # as Checkpoint.save does: a restore then matches every object
    return checkpoint.write(os.fspath(path))


def _keras3_sharded(model: Any) -> bool:
    """A Keras 3 model holding a ``ShardedVariable``: TF cannot checkpoint it (notes §8.5)."""
    import keras
    import tensorflow as tf

    if not isinstance(model, keras.layers.Layer):
        return False
    return any(isinstance(v, keras.Variable) and isinstance(v.value, tf.__internal__.distribute.ShardedVariable)
               for v in model.weights)


def _by_name(model: Any, optimizer: Any) -> dict[str, Any]:
    """The model's variables in a tree of their names, and the optimizer beside them as Keras 3
    keeps it (the TF variables behind the Keras ones, which TF can save)."""
    from tensorflow.python.trackable.autotrackable import AutoTrackable

    from .entries import StateKind
    from .targets import ITERATIONS, walk_target
    from .targets.optimizer import slot_lists, walk_optimizer
    from .targets.variables import tf_variable

    variables = walk_target(model).variables
    objects = {"model": _tree({name: tf_variable(v) for name, v in variables.items()}, AutoTrackable())}
    if optimizer is not None:
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        state = AutoTrackable()
        lists = [("_trainable_variables", list(inner._trainable_variables)), *slot_lists(inner)]
        for list_name, items in lists:
            holder = AutoTrackable()
            for i, item in enumerate(items):
                if item is not None:
                    holder._track_trackable(tf_variable(item), name=str(i))
            state._track_trackable(holder, name=list_name)
        # the step and what goes with it where TensorFlow's own checkpoint puts them: a
        # wrapper's state at the top, the wrapped optimizer's under `inner_optimizer`
        walked = walk_optimizer(optimizer, variables)
        wrapped = inner is not optimizer
        placed = {("inner_optimizer/_iterations" if wrapped else "_iterations"): walked.variables[ITERATIONS]}
        for t in walked.state:
            if t.kind in (StateKind.TIED, StateKind.LEARNING_RATE):
                placed.setdefault(t.handle.removeprefix("optimizer/"), walked.variables[t.handle])
        objects["optimizer"] = _tree({path: tf_variable(v) for path, v in sorted(placed.items())}, state)
    return objects


def _tree(leaves: dict[str, Any], root: Any) -> Any:
    """``root`` with each of ``leaves`` (``a/b/kernel`` -> variable) tracked under trackables
    named by the path's parts; ``root``."""
    from tensorflow.python.trackable.autotrackable import AutoTrackable

    nodes: dict[str, Any] = {"": root}
    for name, v in leaves.items():
        *parents, leaf = name.split("/")
        for depth in range(1, len(parents) + 1):
            path = "/".join(parents[:depth])
            if path not in nodes:
                nodes[path] = AutoTrackable()
                nodes["/".join(parents[: depth - 1])]._track_trackable(nodes[path], name=parents[depth - 1])
        nodes["/".join(parents)]._track_trackable(v, name=leaf)
    return root
