"""How a live variable's values are held under ``tf.distribute``, for the writers: one resource
variable, or its replicas (``MirroredStrategy``, ``MultiWorkerMirroredStrategy``), or its shards
(``ParameterServerStrategy`` with a ``variable_partitioner``); and what cannot be written
correctly (:mod:`.distributed_checks`: a strategy not listed here, replicas out of sync).

A :class:`Placement` lists the variable's shards (row ranges, disjoint, in order; one for an
unsharded variable); each shard lists its replicas, the resource variables that hold its
rows. The writers write every replica of every shard the rows fall in, through each
replica's own handle (never a slice through a ``MirroredVariable``'s handle, which reaches
replica 0 only). Reads only; :mod:`warmstart.apply.writers` writes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.ops.resource_variable_ops import BaseResourceVariable

from .variables import tf_variable

__all__ = ["Kind", "Placement", "Shard", "placement", "strategy_of"]

_WRAPPERS = ("CachingVariable", "AggregatingVariable")  # resource variables in name only: they wrap one
_MIRRORING = ("MirroredStrategy", "MultiWorkerMirroredStrategy")
_SHARDING = ("ParameterServerStrategy",)


class Kind(enum.StrEnum):
    """How a variable is held."""

    PLAIN = "plain"
    """One resource variable on this process's devices: the writers' own fast paths."""
    REMOTE = "remote"
    """One resource variable on a parameter server (``CachingVariable``)."""
    MIRRORED = "mirrored"
    """Equal replicas, one per device (``MirroredVariable``)."""
    SYNC_ON_READ = "sync_on_read"
    """Replicas that differ by design and are aggregated when read (``SyncOnReadVariable``:
    metrics, tf_keras batch-norm statistics)."""
    SHARDED = "sharded"
    """Row shards on parameter servers (``ShardedVariable``)."""
    UNSUPPORTED = "unsupported"
    """Held in a way the writers cannot write on every device: see ``Placement.why``."""


@dataclass(frozen=True, eq=False)
class Shard:
    """Rows ``[start, stop)`` of a variable and the resource variables holding them.

    ``independent`` replicas (sync-on-read) each keep their own value: each is saved for the
    undo and written on its own (``scale`` times the value: a ``SUM`` variable's replicas
    each hold a share). Otherwise the replicas are equal: the first is saved, all are written.
    """

    start: int
    stop: int
    replicas: tuple[Any, ...]
    independent: bool = False
    scale: float | None = None
    remote: bool = False
    """Held by another task (a parameter server), not this process's devices."""

    @property
    def rows(self) -> int:
        return self.stop - self.start

    @property
    def device(self) -> str:
        return self.replicas[0].device


@dataclass(frozen=True, eq=False)
class Placement:
    kind: Kind
    shards: tuple[Shard, ...] = ()
    strategy: str = ""
    """The strategy's class name ("" when none)."""
    why: str = ""
    """For ``UNSUPPORTED``: what is held how, and why it cannot be written."""

    @property
    def sharded(self) -> bool:
        return self.kind is Kind.SHARDED

    @property
    def replicas(self) -> int:
        return max((len(s.replicas) for s in self.shards), default=1)

    @property
    def bounds(self) -> tuple[int, ...]:
        """The first row of every shard after the first (where shards are cut)."""
        return tuple(s.start for s in self.shards[1:])

    def owner(self, rows: np.ndarray) -> np.ndarray:
        """The shard each row lies in."""
        return np.searchsorted(np.asarray(self.bounds, np.int64), rows, side="right")


_PLAIN = Placement(Kind.PLAIN)


def placement(v: Any) -> Placement:
    """How ``v`` (a Keras or TF variable) is held; ``Kind.PLAIN`` for an ordinary variable."""
    tv = tf_variable(v)
    kind = type(tv).__name__
    if _is_resource(tv) and not _is_distributed(tv):
        return _PLAIN
    rows = int(tv.shape[0]) if len(tv.shape) else 0
    if kind == "CachingVariable":
        inner = tv.get()
        return Placement(Kind.REMOTE, (Shard(0, rows, (inner,), remote=_remote(inner)),), _strategy_name(tv))
    if isinstance(tv, tf.__internal__.distribute.ShardedVariable):
        return _sharded(tv)
    if kind == "MirroredVariable":
        return _replicated(tv, Kind.MIRRORED, rows)
    if kind == "SyncOnReadVariable":
        return _replicated(tv, Kind.SYNC_ON_READ, rows)
    strategy = _strategy_name(tv)
    return Placement(Kind.UNSUPPORTED, strategy=strategy, why=(
        f"each is {_a(kind)}{f' of {strategy}' if strategy else ''}; warmstart writes variables of "
        f"MirroredStrategy, MultiWorkerMirroredStrategy and ParameterServerStrategy (and ordinary ones)"))


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _remote(v: Any) -> bool:
    """Is ``v`` held by another task of the cluster (a parameter server)?"""
    here = tf.constant(0).device  # this task's default device: /job:chief/replica:0/task:0/device:CPU:0
    task = here[: here.find("/device:")] if "/device:" in here else here
    return bool(v.device) and not v.device.startswith(task + "/")


def _is_resource(v: Any) -> bool:
    """One resource variable of this process (``ResourceVariable``, ``UninitializedVariable``,
    ``UnliftedInitializerVariable`` made in a ``tf.function``), not a parameter server's cache."""
    return (isinstance(v, BaseResourceVariable) and type(v).__name__ not in _WRAPPERS
            and not isinstance(v, tf.distribute.DistributedValues))


def _is_distributed(tv: Any) -> bool:
    return getattr(tv, "_distributed_container", None) is not None


_PUBLIC_NAMES = {"ParameterServerStrategyV2": "ParameterServerStrategy",
                 "CollectiveAllReduceStrategy": "MultiWorkerMirroredStrategy"}


def _strategy_name(tv: Any) -> str:
    """The strategy's class name, as users know it (``tf.distribute.<name>``)."""
    strategy = getattr(tv, "_distribute_strategy", None)
    name = "" if strategy is None else type(strategy).__name__
    return _PUBLIC_NAMES.get(name, name)


def strategy_of(v: Any) -> Any:
    """The ``tf.distribute.Strategy`` that created ``v``, or None."""
    tv = tf_variable(v)
    strategy = getattr(tv, "_distribute_strategy", None)
    if strategy is None and isinstance(tv, tf.__internal__.distribute.ShardedVariable) and tv.variables:
        strategy = getattr(tv.variables[0], "_distribute_strategy", None)
    return strategy


def _replicated(tv: Any, kind: Kind, rows: int) -> Placement:
    strategy = _strategy_name(tv)
    if strategy not in _MIRRORING:
        return Placement(Kind.UNSUPPORTED, strategy=strategy, why=(
            f"each is {_a(type(tv).__name__)} of {strategy or 'an unknown strategy'}; warmstart writes the replicas "
            f"of MirroredStrategy and MultiWorkerMirroredStrategy variables only"))
    replicas = tuple(tv.values)
    bad = [type(r).__name__ for r in replicas if not _is_resource(r)]
    if bad:
        return Placement(Kind.UNSUPPORTED, strategy=strategy,
                         why=f"their replicas are {bad[0]}s, not resource variables")
    if kind is Kind.MIRRORED:
        return Placement(kind, (Shard(0, rows, replicas),), strategy)
    aggregation = tv.aggregation
    scale = None
    if aggregation == tf.VariableAggregation.SUM:
        if not tv.dtype.is_floating:
            return Placement(Kind.UNSUPPORTED, strategy=strategy, why=(
                f"each is a sync-on-read {tv.dtype.name} variable summed over its replicas: a value cannot "
                f"be split into equal integer shares"))
        scale = 1.0 / len(replicas)
    elif aggregation not in (tf.VariableAggregation.MEAN, tf.VariableAggregation.ONLY_FIRST_REPLICA):
        return Placement(Kind.UNSUPPORTED, strategy=strategy,
                         why=f"each is a sync-on-read variable with aggregation {aggregation.name}")
    return Placement(kind, (Shard(0, rows, replicas, independent=True, scale=scale),), strategy)


def _sharded(sv: Any) -> Placement:
    strategy = type(strategy_of(sv)).__name__ if strategy_of(sv) is not None else ""
    strategy = _PUBLIC_NAMES.get(strategy, strategy)
    if strategy and strategy not in _SHARDING:
        return Placement(Kind.UNSUPPORTED, strategy=strategy,
                         why=f"each is a ShardedVariable of {strategy}, not of ParameterServerStrategy")
    shards, start = [], 0
    for part in sv.variables:
        inner = part.get() if type(part).__name__ == "CachingVariable" else part
        if not _is_resource(inner):
            return Placement(Kind.UNSUPPORTED, strategy=strategy,
                             why=f"their shards are {type(inner).__name__}s, not resource variables")
        rows = int(inner.shape[0])
        shards.append(Shard(start, start + rows, (inner,), remote=_remote(inner)))
        start += rows
    return Placement(Kind.SHARDED, tuple(shards), strategy or "ParameterServerStrategy")
