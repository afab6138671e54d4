"""The undo log of the write pass: every write goes through a :class:`Journal`, which first
saves what the write will overwrite, so that any failure can put every variable back.

How each kind of write is undone:

* a **whole assign** gives the variable a new buffer; the old one is kept by reference (no
  copy), up to ``keep_limit`` bytes, and beyond that spilled to the undo file;
* **rows** (``scatter_update``) and **boxes** (strided-slice assigns) overwrite in place: the
  rows or the box are copied out first and spilled to the undo file.

A variable held by ``tf.distribute`` (:func:`~warmstart.targets.distributed.placement`) is
written shard by shard (a row write becomes a scatter into each shard its rows fall in, with
the shard's own row numbers; a box or a whole value is cut at the shard boundaries) and, in
each shard, replica by replica. Equal replicas (mirrored) are saved once, from the first,
and restored into all; sync-on-read replicas, which differ by design, are each saved and
restored on their own. What a write overwrites on a parameter server stays there: the rows
are copied on the parameter server, a whole shard kept by reference, and nothing crosses the
network or reaches this process's undo file (``ps_kept_bytes``); the parameter server holds
them until the call ends, at most the shards written once more.

The undo file (:mod:`.spill`) is an anonymous temporary file in ``$TMPDIR``, written
without the page cache where the OS allows, in a background thread through two aligned
buffers: memory stays at two writes' worth whatever the table size, and the disk holds what
was overwritten. It is written only by in-place writes, and read only by a rollback.

Write-ahead: a record is complete before its write starts, and a write is one TF op, so an
exception or ``KeyboardInterrupt`` between any two Python instructions leaves the log
describing at least everything written. The rollback runs in reverse order with SIGINT
deferred (on the main thread), and raises :class:`~warmstart.errors.RollbackError` naming
every variable's state if a restore itself fails.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import RollbackError
from ..targets.distributed import Kind, Placement, Shard, placement
from .pieces import cut, groups, indices, nbytes, replica_nbytes, scale_for, split_rows, tensor_nbytes
from .spill import Spill, SpillRecord
from .writers import (
    end_copy_on_read,
    read_box,
    read_rows,
    read_whole,
    replica_assign,
    replica_box,
    replica_gather,
    replica_read_box,
    replica_read_rows,
    replica_read_whole,
    replica_region,
    replica_rows,
    write_full,
    write_region,
    write_rows,
)

__all__ = ["Journal"]

log = logging.getLogger(__name__)

@dataclass(slots=True)
class _Record:
    name: str
    v: Any  # the variable, or for a distributed one the replicas the saved value goes back into
    kind: str  # "whole" | "rows" | "box"
    where: Any = None  # rows (int64 array) or begin (tuple)
    kept: Any = None  # a whole old value, held by reference
    spilled: SpillRecord | None = None  # or where it lies in the undo file
    dtype: Any = None
    shape: tuple[int, ...] = ()
    strings: int = 0  # for a string value: bytes of its lengths (int64), then its characters


class Journal:
    """Writes with undo. ``keep_limit``: bytes of old whole values held by reference (they
    cost no copy, but keep the old buffer alive until the end); ``None`` = no limit.
    ``diverged``: ids of mirrored variables whose replicas differ (written whole): each
    replica is saved and put back on its own, not replica 0's value into all."""

    def __init__(self, *, keep_limit: int | None = None, diverged: Collection[int] = ()) -> None:
        self.keep_limit = keep_limit
        self._diverged = frozenset(diverged)
        self.kept_bytes = 0
        self.spilled_bytes = 0
        self.ps_kept_bytes = 0
        self._records: list[_Record] = []
        self._sparse: dict[int, Any] = {}
        self._placements: dict[int, Placement | None] = {}
        self._whole_kept: set[int] = set()  # shards (by id) whose old buffer is kept on their parameter server
        self._spill = Spill()

    @property
    def writes(self) -> int:
        """Writes recorded so far."""
        return len(self._records)

    # ------------------------------------------------------------------ writes

    def assign(self, name: str, v: Any, value: tf.Tensor) -> None:
        """Assign a whole value (see :func:`~.writers.write_full`)."""
        where = self._placed(v)
        if where is not None:
            for shard in where.shards:
                self._shard_assign(name, shard, cut(value, where, shard))
            return
        self._save_whole(name, v)
        write_full(v, value)

    def block(self, name: str, v: Any, value: tf.Tensor) -> None:
        """Write ``value`` into the leading corner of ``v`` (an overlap)."""
        if len(value.shape) == 0 or tuple(value.shape) == tuple(v.shape):
            self.assign(name, v, value)
        else:
            self.region(name, v, (0,) * len(value.shape), value)

    def rows(self, name: str, v: Any, rows: np.ndarray | range, values: tf.Tensor, *, axis: int = 0) -> None:
        """Write rows (``axis=0``) or columns (``axis=1``) (see :func:`~.writers.write_rows`).
        ``rows`` may be a ``range`` (consecutive rows: saved straight from the variable's
        buffer, and recorded without an index array)."""
        where = self._placed(v)
        if where is not None:
            self._sparse[id(v)] = v
            if axis != 0:
                self._shard_columns(name, where, np.asarray(rows), values, axis)
                return
            for shard, local, take in split_rows(where, rows):
                piece = values[take] if isinstance(take, slice) else tf.gather(values, take)
                self._shard_rows(name, shard, local, piece)
            return
        if axis != 0:  # a column write replaces the whole buffer
            self._save_whole(name, v)
        elif isinstance(rows, range):
            old = read_box(v, (rows.start,) + (0,) * (len(v.shape) - 1), (len(rows), *map(int, v.shape[1:])))
            record = self._spilled(_Record(name, v, "rows", where=rows), old)
            del old  # a view of the variable's buffer: gone before the write, or it copies
            self._append(record)
            self._sparse[id(v)] = v
        else:
            old = read_rows(v, rows)
            self._append(self._spilled(_Record(name, v, "rows", where=rows), old))
            del old
            self._sparse[id(v)] = v
        write_rows(v, indices(rows), values, axis=axis)

    def region(self, name: str, v: Any, begin: tuple[int, ...], values: tf.Tensor) -> None:
        """Write a box at ``begin`` (see :func:`~.writers.write_region`)."""
        where = self._placed(v)
        if where is not None:
            self._sparse[id(v)] = v
            height = int(values.shape[0])
            for shard in where.shards:
                a, b = max(begin[0], shard.start), min(begin[0] + height, shard.stop)
                if a < b:
                    piece = values if len(where.shards) == 1 else values[a - begin[0] : b - begin[0]]
                    self._shard_region(name, shard, (a - shard.start, *begin[1:]), piece)
            return
        old = read_box(v, begin, tuple(values.shape))
        record = self._spilled(_Record(name, v, "box", where=begin), old)
        del old  # a view of the variable's buffer: gone before the write, or it copies
        self._append(record)
        self._sparse[id(v)] = v
        write_region(v, begin, values)

    def keep_shards(self, name: str, v: Any, shards: list[int]) -> None:
        """Before many in-place writes into ``v``'s shards ``shards`` (indices) that live on
        parameter servers: keep each one's current buffer there, by reference, so that its
        rows need not be saved write by write (the first write copies the shard, on its
        parameter server: TF's copy-on-write). The parameter server holds the old shard until
        the call ends."""
        where = self._placed(v)
        if where is None:
            return
        for k in shards:
            shard = where.shards[k]
            if not shard.remote or id(shard) in self._whole_kept:
                continue
            for group in groups(shard):
                self._append(_Record(name, group, "whole", kept=replica_read_whole(group[0])))
                self.ps_kept_bytes += replica_nbytes(group[0])
            self._whole_kept.add(id(shard))

    # ------------------------------------------------------------------ end

    def commit(self) -> None:
        """The writes stand: take every variable written in place out of copy-on-read mode,
        drop the saved values and the undo file."""
        for v in self._sparse.values():
            end_copy_on_read(v)
        self.close()

    def rollback(self) -> None:
        """Put back every saved value, newest first. Raises RollbackError, naming each
        variable's state, if a restore fails; a SIGINT meanwhile waits for the end."""
        with _interrupts_deferred():
            records = self._records
            for i in range(len(records) - 1, -1, -1):
                try:
                    self._restore(records[i])
                except BaseException as e:  # reported with every variable's state
                    raise RollbackError(_states(records, i, e)) from e
            for v in self._sparse.values():
                end_copy_on_read(v)
        self.close()

    def close(self) -> None:
        self._records = []
        self._sparse = {}
        self._whole_kept = set()
        self._spill.close()

    # ------------------------------------------------------------------ internals

    def _append(self, record: _Record) -> None:
        self._records.append(record)  # only now is the write allowed to start

    def _save_whole(self, name: str, v: Any) -> None:
        size = nbytes(v)
        if self.keep_limit is None or self.kept_bytes + size <= self.keep_limit:
            self._append(_Record(name, v, "whole", kept=read_whole(v)))
            self.kept_bytes += size
            return
        old = read_box(v, (0,) * len(v.shape), tuple(int(d) for d in v.shape))
        record = self._spilled(_Record(name, v, "whole"), old)
        del old
        self._append(record)

    def _spilled(self, record: _Record, old: np.ndarray) -> _Record:
        """Put ``old`` in the undo file; the record says where."""
        record.dtype, record.shape = old.dtype, tuple(old.shape)
        if old.dtype == object:  # strings: their lengths, then their bytes
            flat = old.reshape(-1)
            lengths = np.fromiter(map(len, flat), np.int64, count=flat.size)
            record.strings = lengths.nbytes
            old = np.concatenate([lengths.view(np.uint8), np.frombuffer(b"".join(flat), np.uint8)])
        record.spilled = self._spill.put(old)
        self.spilled_bytes += record.spilled.size
        return record

    # ------------------------------------------------------------------ replicas and shards

    def _placed(self, v: Any) -> Placement | None:
        """How ``v`` is held, None for an ordinary variable (its writes take the paths above)."""
        key = id(v)
        if key not in self._placements:
            where = placement(v)
            if where.kind is Kind.UNSUPPORTED:  # validation refuses these before any write
                raise TypeError(f"cannot write {getattr(v, 'name', v)!r}: {where.why}")
            if key in self._diverged and where.kind is Kind.MIRRORED:
                where = replace(where, shards=tuple(replace(s, independent=True) for s in where.shards))
            self._placements[key] = None if where.kind is Kind.PLAIN else where
        return self._placements[key]

    def _shard_assign(self, name: str, shard: Shard, value: tf.Tensor) -> None:
        shape = tuple(int(d) for d in value.shape)
        for group in () if id(shard) in self._whole_kept else groups(shard):
            size = replica_nbytes(group[0])
            if shard.remote:  # kept on its parameter server: the old buffer, no copy
                self._append(_Record(name, group, "whole", kept=replica_read_whole(group[0])))
                self.ps_kept_bytes += size
            elif self.keep_limit is None or self.kept_bytes + size <= self.keep_limit:
                self._append(_Record(name, group, "whole", kept=replica_read_whole(group[0])))
                self.kept_bytes += size
            else:
                old = replica_read_box(group[0], (0,) * len(shape), shape)
                self._append(self._spilled(_Record(name, group, "whole"), old))
                del old
        scaled = scale_for(shard, value)
        for r in shard.replicas:
            replica_assign(r, scaled)

    def _shard_rows(self, name: str, shard: Shard, local: np.ndarray | range, values: tf.Tensor) -> None:
        width = tuple(int(d) for d in shard.replicas[0].shape[1:])
        narrow = tuple(values.shape[1:]) != width
        scaled = scale_for(shard, values)
        saved: list[np.ndarray | None] = []
        for group in groups(shard):
            if id(shard) in self._whole_kept and not narrow:  # its old buffer is kept whole already
                saved.append(None)
                continue
            if shard.remote and not narrow:  # copied on its parameter server, kept there
                kept = replica_gather(group[0], local)
                self._append(_Record(name, group, "rows", where=local, kept=kept))
                self.ps_kept_bytes += tensor_nbytes(kept)
                saved.append(None)
                continue
            host = replica_read_rows(group[0], local)
            self._append(self._spilled(_Record(name, group, "rows", where=local), host))
            saved.append(host)
        index = indices(local)
        for group, current in zip(groups(shard), saved, strict=True):
            new = scaled
            if narrow:  # rows narrower than the variable: completed with their current values
                assert current is not None
                full = current.copy()
                full[(slice(None), *(slice(0, d) for d in values.shape[1:]))] = np.asarray(scaled)
                new = tf.constant(full)
                del full
            for r in group:
                replica_rows(r, index, new)

    def _shard_region(self, name: str, shard: Shard, begin: tuple[int, ...], values: tf.Tensor) -> None:
        for group in () if id(shard) in self._whole_kept else groups(shard):
            if shard.remote:  # copied on its parameter server, kept there
                kept = replica_box(group[0], begin, tuple(int(d) for d in values.shape))
                self._append(_Record(name, group, "box", where=begin, kept=kept))
                self.ps_kept_bytes += tensor_nbytes(kept)
                continue
            old = replica_read_box(group[0], begin, tuple(int(d) for d in values.shape))
            self._append(self._spilled(_Record(name, group, "box", where=begin), old))
            del old
        scaled = scale_for(shard, values)
        for r in shard.replicas:
            replica_region(r, begin, scaled)

    def _shard_columns(self, name: str, where: Placement, cols: np.ndarray, values: tf.Tensor, axis: int) -> None:
        """Columns (``axis``) of a distributed variable: each shard's rows patched and assigned."""
        host = np.asarray(values)
        for shard in where.shards:
            stop = min(shard.stop, host.shape[0])
            if stop <= shard.start:
                continue
            piece = host[shard.start : stop]
            shape = tuple(int(d) for d in shard.replicas[0].shape)
            current = np.array(replica_read_box(shard.replicas[0], (0,) * len(shape), shape))
            index: list[Any] = [slice(0, d) for d in piece.shape]
            index[0] = slice(0, stop - shard.start)
            index[axis] = cols
            current[tuple(index)] = piece
            self._shard_assign(name, shard, tf.constant(current))

    def _read(self, record: _Record) -> Any:
        assert record.spilled is not None
        buf = self._spill.get(record.spilled)
        if record.strings:
            lengths = buf[: record.strings].view(np.int64)
            starts = np.zeros_like(lengths)
            np.cumsum(lengths[:-1], out=starts[1:])
            whole = tf.constant(buf[record.strings :].tobytes())
            return tf.reshape(tf.strings.substr(whole, starts, lengths), list(record.shape))
        return tf.constant(buf.view(record.dtype).reshape(record.shape))

    def _restore(self, r: _Record) -> None:
        if isinstance(r.v, tuple):  # replicas of a shard of a distributed variable
            value = r.kept if r.kept is not None else self._read(r)
            for replica in r.v:
                if r.kind == "whole":
                    replica_assign(replica, value)
                elif r.kind == "rows":
                    replica_rows(replica, indices(r.where), value)
                else:
                    replica_region(replica, r.where, value)
            return
        if r.kind == "whole":
            write_full(r.v, r.kept if r.kept is not None else self._read(r))
        elif r.kind == "rows":
            write_rows(r.v, indices(r.where), self._read(r))
        else:
            write_region(r.v, r.where, self._read(r))


def _states(records: list[_Record], failed: int, error: BaseException) -> str:
    """Which variables a failed rollback left in which state."""
    order: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        order.setdefault(r.name, []).append(i)
    restored = [n for n, ix in order.items() if min(ix) > failed]
    written = [n for n, ix in order.items() if max(ix) <= failed]
    partly = [n for n, ix in order.items() if min(ix) <= failed < max(ix)]
    lines = [
        (f"the warm start failed and undoing its writes failed too, at {records[failed].name!r}: "
         f"{type(error).__name__}: {error}."),
        f"  restored to their values before the call ({len(restored)}): {', '.join(restored) or '-'}",
        f"  NOT restored, holding what this warm start wrote ({len(written)}): {', '.join(written) or '-'}",
    ]
    if partly:
        lines.append(f"  partly restored (some rows as before, some as written) ({len(partly)}): "
                     f"{', '.join(partly)}")
    lines.append("  Every other variable was not written. Fix: rebuild the model (or restore it from "
                 "a checkpoint) before using it.")
    return "\n".join(lines)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """On the main thread, with Python's default SIGINT handler: hold a SIGINT until the block
    ends, then raise the KeyboardInterrupt. Elsewhere (another thread, a custom handler): as is."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt
