"""Every way a value gets into a variable, and out of it again for the undo log: whole assigns,
rows, boxes; reads of what they will overwrite; and the end of TF's copy-on-read mode. The
only code that writes.

Each writer takes a Keras or TF variable (the TF variable behind a Keras one is written, so no
autocast or copy stands between) and writes in place where TF can: ``scatter_update`` for
rows, ``ResourceStridedSliceAssign`` for a box of a plain variable. Distributed variables get
whole assigns or ``scatter_update``, which reach every replica; a slice write through one
replica's handle would reach only that one.

Variables held by ``tf.distribute`` are written replica by replica and shard by shard with
the ``replica_*`` functions below, each on one resource variable through its own handle
(:class:`~warmstart.targets.distributed.Placement` says which): the op runs on that
variable's device (a GPU, a parameter server), and reads for the undo are cut there, so a
chunk's read moves the chunk, not the shard.

Sparse writes (``scatter_update``, strided-slice assigns) put a resource variable into TF's
copy-on-read mode, in which every later dense read (a forward pass) copies the whole buffer.
:func:`end_copy_on_read` turns it off again once a warm start has finished writing.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import tensorflow as tf

from ..targets.variables import tf_variable

__all__ = [
    "end_copy_on_read",
    "read_box",
    "read_rows",
    "read_whole",
    "replica_assign",
    "replica_box",
    "replica_gather",
    "replica_read_box",
    "replica_read_rows",
    "replica_read_whole",
    "replica_region",
    "replica_rows",
    "write_block",
    "write_full",
    "write_region",
    "write_rows",
]

log = logging.getLogger(__name__)

_DISABLE_COPY_ON_READ = getattr(tf.raw_ops, "DisableCopyOnRead", None)  # TF >= 2.10


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

    Rows on axis 0 go through ``scatter_update``, in place and on every replica; rows
    narrower than the variable are completed with the rows' current values first. Columns
    patch a copy of the whole variable.
    """
    tv = tf_variable(v)
    full = list(tv.shape)
    full[axis] = len(rows)
    indices = tf.constant(rows, tf.int64)
    if axis == 0 and tuple(values.shape) != tuple(full):
        current = np.array(tf.gather(_read(tv), indices))
        current[(slice(None), *(slice(0, d) for d in values.shape[1:]))] = _host(values)
        values = tf.constant(current)
        del current
    if axis == 0:
        # ResourceScatterUpdate copies rows in place at about memory speed (~5 GB/s here);
        # ResourceStridedSliceAssign is 3-5x slower on the same rows.
        tv.scatter_update(tf.IndexedSlices(values, indices))
        return
    current = np.array(tv.numpy())
    index: list[Any] = [slice(0, d) for d in values.shape]
    index[axis] = np.asarray(rows)
    current[tuple(index)] = _host(values)
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
    current[tuple(slice(b, e) for b, e in zip(begin, end, strict=True))] = _host(values)
    tv.assign(current)


# ---------------------------------------------------------------------------- reads, for undo


def read_whole(v: Any) -> tf.Tensor:
    """``v``'s current value sharing its buffer (no copy), for an undo log to hold while a
    whole assign gives the variable a new buffer. Copy-on-read mode is turned off first, or
    the read would copy."""
    return _read(tf_variable(v))


def read_rows(v: Any, rows: np.ndarray) -> np.ndarray:
    """A copy of rows ``rows`` (axis 0) of ``v``, as a host array."""
    return np.asarray(tf.gather(_read(tf_variable(v)), tf.constant(rows, tf.int64)))


def read_box(v: Any, begin: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """The box of ``shape`` at ``begin`` of ``v``, as a host array. On a CPU variable it is a
    view of the variable's own buffer (no copy): use it, then drop it, before the next write,
    or that write copies the whole variable."""
    whole = _read(tf_variable(v))
    if _on_cpu(whole) and whole.dtype != tf.string:  # strings: numpy would copy every one
        return _host(whole)[tuple(slice(b, b + d) for b, d in zip(begin, shape, strict=True))]
    return np.asarray(tf.slice(whole, list(begin), list(shape)))


def _read(tv: Any) -> tf.Tensor:
    no_copy = getattr(tv, "read_value_no_copy", None)
    return no_copy() if no_copy is not None else tv.read_value()


def _on_cpu(t: Any) -> bool:
    return "CPU" in (getattr(t, "device", "") or "CPU").upper()


def _host(t: Any) -> np.ndarray:
    """A host array of ``t``: a view of a CPU tensor's buffer, a copy otherwise."""
    view = getattr(t, "_numpy", None)
    if view is not None and _on_cpu(t):
        array = view()
        if isinstance(array, np.ndarray):
            return array
    return np.asarray(t)


# ---------------------------------------------------------------------------- one replica or shard


def replica_assign(r: Any, value: tf.Tensor) -> None:
    """Assign a whole value to one resource variable ``r`` (a replica or a shard)."""
    tf.raw_ops.AssignVariableOp(resource=r.handle, value=tf.cast(value, r.dtype))


def replica_rows(r: Any, rows: np.ndarray, values: tf.Tensor) -> None:
    """``scatter_update`` rows ``rows`` (the variable's own numbering) of one resource variable."""
    tf.raw_ops.ResourceScatterUpdate(resource=r.handle, indices=tf.constant(rows, tf.int64),
                                     updates=tf.cast(values, r.dtype))


def replica_region(r: Any, begin: tuple[int, ...], values: tf.Tensor) -> None:
    """Write a box at ``begin`` of one resource variable, in place."""
    end = [b + d for b, d in zip(begin, values.shape, strict=True)]
    tf.raw_ops.ResourceStridedSliceAssign(ref=r.handle, begin=list(begin), end=end, strides=[1] * len(begin),
                                          value=tf.cast(values, r.dtype))


def replica_read_whole(r: Any) -> tf.Tensor:
    """The value of one resource variable on its own device, sharing its buffer (for the undo
    to hold while a whole assign gives the variable a new one)."""
    if _DISABLE_COPY_ON_READ is not None:
        try:
            _DISABLE_COPY_ON_READ(resource=r.handle)
        except (tf.errors.OpError, ValueError, TypeError):
            pass  # then the read copies: correct, only slower
    return tf.raw_ops.ReadVariableOp(resource=r.handle, dtype=r.dtype)


def replica_read_rows(r: Any, rows: np.ndarray | range) -> np.ndarray:
    """A host copy of rows ``rows`` of one resource variable, gathered on its device."""
    return np.asarray(replica_gather(r, rows))


def replica_gather(r: Any, rows: np.ndarray | range) -> tf.Tensor:
    """Rows ``rows`` of one resource variable, copied where it lives (not moved here)."""
    index = np.arange(rows.start, rows.stop, dtype=np.int64) if isinstance(rows, range) else rows
    with tf.device(r.device):
        return tf.raw_ops.ResourceGather(resource=r.handle, indices=tf.constant(index, tf.int64), dtype=r.dtype)


def replica_box(r: Any, begin: tuple[int, ...], shape: tuple[int, ...]) -> tf.Tensor:
    """The box of ``shape`` at ``begin`` of one resource variable, copied where it lives."""
    with tf.device(r.device):
        if not shape:
            return tf.identity(tf.raw_ops.ReadVariableOp(resource=r.handle, dtype=r.dtype))
        rows = tf.raw_ops.ResourceGather(resource=r.handle,
                                         indices=tf.range(begin[0], begin[0] + shape[0], dtype=tf.int64),
                                         dtype=r.dtype)
        if tuple(rows.shape[1:]) != tuple(shape[1:]):
            rows = tf.slice(rows, [0, *begin[1:]], list(shape))
        return rows


def replica_read_box(r: Any, begin: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """A host copy of the box of ``shape`` at ``begin`` of one resource variable, cut on its device."""
    return np.asarray(replica_box(r, begin, shape))


# ---------------------------------------------------------------------------- copy-on-read


def end_copy_on_read(v: Any) -> None:
    """Take ``v`` out of TF's copy-on-read mode, so that a dense read (a forward pass) shares
    its buffer again instead of copying it; a no-op for a variable not in that mode.

    ``DisableCopyOnRead`` only flips the variable's mode flag: a variable in copy-on-read
    mode has no other holder of its buffer (every read copied it). It exists from TF 2.10
    on (``ResourceVariable.read_value_no_copy`` uses it); without it the mode stays, and is
    logged. Each component of a distributed variable is its own resource: mirrored replicas
    (``DistributedValues.values``) and shards (``ShardedVariable.variables``) are turned off
    one by one; a new kind of distributed variable plugs in at :func:`_components`.
    """
    if _DISABLE_COPY_ON_READ is None:
        log.info("this TensorFlow has no DisableCopyOnRead: %s stays in copy-on-read mode", getattr(v, "name", v))
        return
    for part in _components(tf_variable(v)):
        handle = getattr(part, "handle", None)
        if handle is None:
            continue
        try:
            _DISABLE_COPY_ON_READ(resource=handle)
        except (tf.errors.OpError, ValueError, TypeError) as e:  # a handle TF will not take here
            log.info("could not end copy-on-read mode of %s: %s", getattr(part, "name", part), e)


def _components(tv: Any) -> list[Any]:
    """The resource variables that hold ``tv``'s values: itself, or the replicas or shards
    of a distributed variable."""
    if isinstance(tv, tf.distribute.DistributedValues):
        return [c for replica in tv.values for c in _components(replica)]
    if isinstance(tv, tf.__internal__.distribute.ShardedVariable):
        return [c for shard in tv.variables for c in _components(shard)]
    if type(tv).__name__ == "CachingVariable":  # a parameter server's variable, read through a cache
        return [tv.get()]
    return [tv]
