"""Every way a value gets into a variable: whole assigns, rows, boxes. The only code that writes.

Each writer takes a Keras or TF variable (the TF variable behind a Keras one is written, so no
autocast or copy stands between) and writes in place where TF can: ``scatter_update`` for
rows, ``ResourceStridedSliceAssign`` for a box of a plain variable. Distributed variables get
whole assigns or ``scatter_update``, which reach every replica; a slice write through one
replica's handle would reach only that one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from ..targets.variables import tf_variable

__all__ = ["write_block", "write_full", "write_region", "write_rows"]


def write_full(v: Any, value: tf.Tensor) -> None:
    """Assign a whole value (same shape and dtype). An eager tensor is handed over, not copied."""
    tf_variable(v).assign(value, read_value=False)


def write_block(v: Any, block: tf.Tensor) -> None:
    """Write ``block`` into the leading corner ``[0:b0, 0:b1, ...]`` of ``v``, in place
    (``v[i:j].assign`` would copy the whole variable); see :func:`write_region`."""
    tv = tf_variable(v)
    if len(block.shape) == 0 or tuple(block.shape) == tuple(tv.shape):
        tv.assign(block, read_value=False)
        return
    write_region(v, (0,) * len(block.shape), block)


def write_rows(v: Any, rows: Any, values: tf.Tensor, *, axis: int = 0) -> None:
    """Write ``values`` into rows (``axis=0``) or columns (``axis=1``) ``rows`` of ``v``.

    Whole rows on axis 0 go through ``scatter_update``, in place and on every replica;
    anything else (columns, or rows narrower than the variable) patches a copy.
    """
    tv = tf_variable(v)
    full = list(tv.shape)
    full[axis] = len(rows)
    if axis == 0 and tuple(values.shape) == tuple(full):
        # ResourceScatterUpdate copies rows in place at about memory speed (~5 GB/s here);
        # ResourceStridedSliceAssign is 3-5x slower on the same rows.
        tv.scatter_update(tf.IndexedSlices(values, tf.constant(rows, tf.int64)))
        return
    current = np.array(tv.numpy())
    index: list[Any] = [slice(0, d) for d in values.shape]
    index[axis] = np.asarray(rows)
    current[tuple(index)] = values.numpy()
    tv.assign(current)


def write_region(v: Any, begin: tuple[int, ...], values: tf.Tensor) -> None:
    """Write ``values`` at offset ``begin`` (a box inside ``v``), in place for plain
    variables; distributed ones get a patched whole assign so every replica is written."""
    tv = tf_variable(v)
    end = [b + d for b, d in zip(begin, values.shape, strict=True)]
    if type(tv).__name__ in ("ResourceVariable", "UninitializedVariable"):
        tf.raw_ops.ResourceStridedSliceAssign(
            ref=tv.handle, begin=list(begin), end=end, strides=[1] * len(begin), value=values
        )
        return
    current = np.array(tv.numpy())
    current[tuple(slice(b, e) for b, e in zip(begin, end, strict=True))] = values.numpy()
    tv.assign(current)
