"""How one write to a variable held by ``tf.distribute`` splits into pieces: the shards its rows
fall in (in each shard's own numbering), the replica groups saved and restored together, and
the byte counts the undo log keeps. Used by :mod:`.undo`."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from ..targets.distributed import Placement, Shard
from ..targets.variables import tf_variable

__all__ = ["cut", "groups", "indices", "nbytes", "replica_nbytes", "scale_for", "split_rows", "tensor_nbytes"]


def groups(shard: Shard) -> list[tuple[Any, ...]]:
    """What is saved and restored together: all equal replicas, or each independent one."""
    return [(r,) for r in shard.replicas] if shard.independent else [shard.replicas]


def scale_for(shard: Shard, value: tf.Tensor) -> tf.Tensor:
    return value if shard.scale is None else value * tf.cast(shard.scale, value.dtype)


def cut(value: tf.Tensor, where: Placement, shard: Shard) -> tf.Tensor:
    """The rows of a whole value that ``shard`` holds (a view where TF can give one)."""
    if len(where.shards) == 1:
        return value
    return value[shard.start : shard.stop]


def split_rows(where: Placement, rows: np.ndarray | range) -> list[tuple[Shard, np.ndarray | range, Any]]:
    """``(shard, rows in the shard's numbering, which of the values)`` for each shard that
    ``rows`` touch: ranges stay ranges (values sliced), an index array is grouped by shard."""
    if len(where.shards) == 1:
        return [(where.shards[0], rows, slice(None))]
    out: list[tuple[Shard, np.ndarray | range, Any]] = []
    if isinstance(rows, range):
        for shard in where.shards:
            a, b = max(rows.start, shard.start), min(rows.stop, shard.stop)
            if a < b:
                out.append((shard, range(a - shard.start, b - shard.start), slice(a - rows.start, b - rows.start)))
        return out
    owner = where.owner(rows)
    if owner.size < 2 or bool(np.all(owner[1:] >= owner[:-1])):  # grouped by shard already: slices
        cuts = np.searchsorted(owner, np.arange(len(where.shards) + 1), side="left")
        return [(shard, rows[cuts[k] : cuts[k + 1]] - shard.start, slice(int(cuts[k]), int(cuts[k + 1])))
                for k, shard in enumerate(where.shards) if cuts[k] < cuts[k + 1]]
    order = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[order], np.arange(len(where.shards) + 1), side="left")
    for k, shard in enumerate(where.shards):
        take = order[cuts[k] : cuts[k + 1]]
        if take.size:
            out.append((shard, rows[take] - shard.start, take))
    return out


def tensor_nbytes(t: tf.Tensor) -> int:
    return int(np.prod(t.shape)) * (t.dtype.size if t.dtype != tf.string else 32)


def replica_nbytes(r: Any) -> int:
    dtype = tf.as_dtype(r.dtype)
    return int(np.prod(r.shape)) * (dtype.size if dtype != tf.string else 32)


def indices(rows: np.ndarray | range) -> np.ndarray:
    return np.arange(rows.start, rows.stop, dtype=np.int64) if isinstance(rows, range) else rows


def nbytes(v: Any) -> int:
    tv = tf_variable(v)
    dtype = tf.as_dtype(tv.dtype)
    return int(np.prod(tv.shape)) * (dtype.size if dtype != tf.string else 32)
