"""What both walkers and the writers need to know of a live variable."""

from __future__ import annotations

import re
from typing import Any

import keras
import tensorflow as tf

from ..entries import Shape

__all__ = ["dtype_of", "is_variable", "layer_variables", "shape_of", "sharded_container", "short_name", "tf_variable"]


def is_variable(obj: Any) -> bool:
    return isinstance(obj, (keras.Variable, tf.Variable, tf.__internal__.distribute.ShardedVariable))


def shape_of(v: Any) -> Shape:
    return tuple(int(d) for d in v.shape)


def dtype_of(v: Any) -> str:
    """A variable's dtype name: Keras variables give a string, TF ones a ``tf.DType``."""
    d = v.dtype
    return d if isinstance(d, str) else d.name


def tf_variable(v: Any) -> Any:
    """The TF variable behind a Keras variable (its ``value`` outside autocast): a
    ``tf.Variable``, or under ``ParameterServerStrategy`` a ``ShardedVariable``."""
    if isinstance(v, keras.Variable):
        # `_value` is what `value` returns outside autocast, without the scope lookups that
        # made this 0.2 s of a 5,000-variable warm start (each variable is asked for often)
        inner = getattr(v, "_value", None)
        if inner is None:
            inner = v.value
        return inner if isinstance(inner, (tf.Variable, tf.__internal__.distribute.ShardedVariable)) else v
    return v


def sharded_container(v: Any) -> Any:
    """The ``ShardedVariable`` a shard belongs to (a tf_keras layer and optimizer list the
    shards, the model the ``ShardedVariable``), or None."""
    ref = getattr(v, "_sharded_container", None)
    return ref() if callable(ref) else None


def layer_variables(layer: Any, *, trainable_only: bool = False) -> list[Any]:
    """The variables ``layer`` created itself (not its sublayers'). A tf_keras layer under
    ParameterServerStrategy lists the shards of a sharded one, so their ``ShardedVariable``
    (the model's variable) is added."""
    own: list[Any] = []
    attrs = (("_trainable_variables", "_trainable_weights") if trainable_only else  # Keras 3, tf_keras
             ("_trainable_variables", "_non_trainable_variables", "_trainable_weights", "_non_trainable_weights"))
    for attr in attrs:
        own.extend(getattr(layer, attr, None) or [])
    containers = {id(c): c for c in map(sharded_container, own) if c is not None}
    return own + list(containers.values())


def short_name(v: Any) -> str:
    """``kernel`` of ``d/kernel:0``; a ``ShardedVariable`` (which TF names so) by its first
    shard's name, less its ``part_<k>``."""
    if isinstance(v, tf.__internal__.distribute.ShardedVariable) and v.variables:
        v = v.variables[0]
    name = _PART.sub("", str(getattr(v, "name", "")).split(":", 1)[0])
    return name.rsplit("/", 1)[-1]


_PART = re.compile(r"/part_\d+$")
