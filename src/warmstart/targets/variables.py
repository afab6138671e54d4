"""What both walkers and the writers need to know of a live variable."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ..entries import Shape

__all__ = ["dtype_of", "is_variable", "shape_of", "tf_variable"]


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
