"""Before a warm start writes variables held by ``tf.distribute``: what stops it (a strategy
the writers do not know, a call from a replica context, mirrored replicas out of sync),
each a typed error raised before anything is written; and what the report says of them
(a note per strategy, each sharded table's layout and bytes per shard). Reads only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import ReplicasOutOfSyncError, UnsupportedStrategyError
from ..plan import Step
from ..shards import ShardLayout, bytes_per_shard
from ..validation import Problem
from .distributed import Kind, placement

__all__ = [
    "FULL_COMPARE_BYTES",
    "cross_replica_problem",
    "distribution_notes",
    "distribution_problems",
    "diverged",
    "out_of_sync",
    "shard_layouts",
]

FULL_COMPARE_BYTES = 16 << 20  # replicas up to this size are compared element by element


def cross_replica_problem() -> str | None:
    """Why writing from here is wrong: a warm start called inside ``strategy.run`` (a replica
    context) would run once per replica, each writing every replica."""
    if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
        return ("warm_start was called in a replica context (inside strategy.run or a "
                "replica function), where it would run once per replica.\n"
                "  Fix: call it outside strategy.run: inside `with strategy.scope():` or outside any scope.")
    return None


def distribution_problems(named: Iterable[tuple[str, Any]], *, partial: Iterable[tuple[str, Any]]) -> list[Problem]:
    """What stops a warm start from writing ``named`` ((name, variable) pairs: what it will
    write) on every device, checked before anything is written: a variable held in a way the
    writers do not know, a call from a replica context, and replicas out of sync among
    ``partial`` (those written only in part: the rest of each replica stays as it is). A variable written whole gets the same value on every replica, so
    replicas that differed before (Keras 3's ``fit`` leaves BatchNormalization's moving
    statistics so) end equal, and are not refused."""
    named = list(named)
    refused: dict[str, list[str]] = {}
    for name, v in named:
        where = placement(v)
        if where.kind is Kind.UNSUPPORTED:
            refused.setdefault(where.why, []).append(name)
    problems = [
        Problem(UnsupportedStrategyError,
                f"cannot write {_listed(names)}: {why}.\n"
                f"  Fix: build the model under one of those strategies (or none), or exclude=[{names[0]!r}, ...].")
        for why, names in refused.items()
    ]
    context = cross_replica_problem()
    if context is not None and any(placement(v).kind is not Kind.PLAIN for _, v in named):
        problems.append(Problem(UnsupportedStrategyError, context))
    if not problems:
        problems += [Problem(ReplicasOutOfSyncError, m) for m in out_of_sync(partial)]
    return problems


def _listed(names: list[str]) -> str:
    shown = ", ".join(map(repr, names[:3]))
    return shown if len(names) <= 3 else f"{len(names)} variables ({shown}, ...)"


def distribution_notes(named: Iterable[tuple[str, Any]]) -> list[str]:
    """One line per strategy: how many of the written variables are replicated or sharded."""
    counts: dict[tuple[str, Kind, int], int] = {}
    for _, v in named:
        where = placement(v)
        if where.kind in (Kind.MIRRORED, Kind.SYNC_ON_READ, Kind.SHARDED, Kind.REMOTE):
            key = (where.strategy, where.kind, where.replicas)
            counts[key] = counts.get(key, 0) + 1
    notes = []
    for (strategy, kind, replicas), n in sorted(counts.items()):
        if kind is Kind.MIRRORED:
            notes.append(f"{strategy}: {n} mirrored variable(s) written on each of their {replicas} replicas")
        elif kind is Kind.SYNC_ON_READ:
            notes.append(f"{strategy}: {n} sync-on-read variable(s) written on each of their {replicas} replicas")
        elif kind is Kind.SHARDED:
            notes.append(f"{strategy}: {n} sharded variable(s) written shard by shard on their parameter servers")
        else:
            notes.append(f"{strategy}: {n} variable(s) written on their parameter servers")
    return notes


def shard_layouts(steps: Iterable[Step], variables: Mapping[str, Any],
                  slices_of: Callable[[str], tuple[int, ...]]) -> tuple[ShardLayout, ...]:
    """The report's line for each step whose target is sharded or whose source is stored in
    row slices (``slices_of(key)``: the rows of each, or ``()``)."""
    out = []
    for step in steps:
        if not step.shape or step.target not in variables:  # a dry run's slots of an unbuilt optimizer
            continue
        where = placement(variables[step.target])
        shards = tuple(s.rows for s in where.shards) if where.kind is Kind.SHARDED else (step.shape[0],)
        slices = slices_of(step.key) or (step.source_shape[0],)
        if len(shards) > 1 or len(slices) > 1:
            out.append(ShardLayout(step.target, shards, slices, bytes_per_shard(step, shards)))
    return tuple(out)


def out_of_sync(named: Iterable[tuple[str, Any]]) -> list[str]:
    """The mirrored variables among ``named`` whose replicas differ, one message each.

    A replica of up to :data:`FULL_COMPARE_BYTES` is compared bit for bit with the first. A
    larger one is compared by row digests: the wrapping sum of each row's bits (as 32- or
    64-bit integers; computed on each replica's device, the digests compared on the first),
    which any change to one element alters. A larger one of another element size (1 or 2
    bytes, strings) is compared on its first and last 1,024 rows only.
    """
    out = []
    for name, v in named:
        found = _first_difference(v)
        if found is not None:
            strategy, n, device, first = found
            out.append(
                f"the replicas of {name!r} ({strategy}) are out of sync: replica {n} on "
                f"{device} differs from replica 0 on {first}, and the warm start writes "
                f"only part of it, so the rest would stay different. A write through one replica's "
                f"handle (mv[0:2].assign, a raw strided-slice assign) does this, and so does Keras 3's "
                f"fit to a BatchNormalization's moving statistics.\n"
                f"  Fix: warm-start before fit, make them equal first (v.assign(v.values[0]) in "
                f"cross-replica context), or rebuild the model under the strategy; nothing was written."
            )
    return out


def diverged(named: Iterable[tuple[str, Any]]) -> list[str]:
    """The mirrored variables among ``named`` whose replicas differ (compared as in
    :func:`out_of_sync`): written whole they end equal, but each replica must be saved for
    the undo on its own, or a rollback would give them all replica 0's old value."""
    return [name for name, v in named if _first_difference(v) is not None]


def _first_difference(v: Any) -> tuple[str, int, str, str] | None:
    """``(strategy, replica, its device, replica 0's device)`` of the first replica of a
    mirrored ``v`` that differs from replica 0; None when all are equal (or ``v`` is not
    mirrored)."""
    where = placement(v)
    if where.kind is not Kind.MIRRORED or where.replicas < 2:
        return None
    replicas = where.shards[0].replicas
    first = _fingerprint(replicas[0])
    for n, r in enumerate(replicas[1:], start=1):
        if not _equal(first, _fingerprint(r), replicas[0].device):
            return where.strategy, n, r.device, replicas[0].device
    return None


def _fingerprint(r: Any) -> tf.Tensor:
    dtype = r.dtype
    with tf.device(r.device):
        value = tf.raw_ops.ReadVariableOp(resource=r.handle, dtype=dtype)
        size = int(np.prod(value.shape)) * (dtype.size if dtype != tf.string else 32)
        if size <= FULL_COMPARE_BYTES or dtype == tf.string or dtype.size not in (4, 8):
            if size > FULL_COMPARE_BYTES and len(value.shape) >= 1:
                value = tf.concat([value[:1024], value[-1024:]], axis=0)
            if dtype.is_floating or dtype.is_complex:
                value = tf.bitcast(value, tf.int32 if dtype.size == 4 else tf.int64 if dtype.size == 8
                                   else tf.int16 if dtype.size == 2 else tf.uint8)
            return value
        bits = tf.bitcast(value, tf.int32 if dtype.size == 4 else tf.int64)
        if len(bits.shape) == 0:
            return bits
        return tf.reduce_sum(tf.reshape(bits, [bits.shape[0], -1]), axis=1)


def _equal(a: tf.Tensor, b: tf.Tensor, device: str) -> bool:
    if a.shape != b.shape:
        return False
    with tf.device(device):
        return bool(tf.reduce_all(tf.equal(a, b)).numpy())
