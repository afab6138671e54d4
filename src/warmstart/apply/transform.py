"""From the stored tensor to the value a step writes: cut to the block, cast, gather remapped rows.

Values only; :mod:`.writers` puts them into variables.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..plan import Step

__all__ = ["fit", "fresh_values", "prepared"]


def fit(step: Step, value: tf.Tensor, keep: int | None = None) -> tf.Tensor:
    """Cut ``value`` to the step's block (overlap), leaving axis ``keep`` as it is (its
    positions were already chosen: a chunk of rows, or the gathered rows of a remap); cast
    to the target's dtype."""
    block = list(step.block)
    if keep is not None:
        block[keep] = value.shape[keep]
    if tuple(value.shape) != tuple(block):
        value = value[tuple(slice(0, d) for d in block)]
    if step.source_dtype != step.dtype:
        value = tf.cast(value, step.dtype)
    return value


def prepared(step: Step, value: tf.Tensor) -> tf.Tensor:
    """The whole value a held step writes: remapped positions gathered, then fitted."""
    if step.remap is not None:
        axis = step.remap.axis
        return fit(step, tf.gather(value, step.remap.rows.old_rows, axis=axis), keep=axis)
    return fit(step, value)


def fresh_values(step: Step, count: int | None = None) -> Any:
    """Values for a remap's new positions from its initializer (``count`` of them, all by
    default), or None when they keep theirs."""
    remap = step.remap
    if remap is None or remap.initializer is None or remap.rows.fresh == 0:
        return None
    shape = list(step.shape)
    shape[remap.axis] = remap.rows.fresh if count is None else count
    return tf.cast(tf.convert_to_tensor(remap.initializer(tuple(shape), step.dtype)), step.dtype)
