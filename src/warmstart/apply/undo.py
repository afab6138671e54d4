"""The undo log of the write pass: every write goes through a :class:`Journal`, which first
saves what the write will overwrite, so that any failure can put every variable back.

How each kind of write is undone:

* a **whole assign** gives the variable a new buffer; the old one is kept by reference (no
  copy), up to ``keep_limit`` bytes, and beyond that spilled to the undo file;
* **rows** (``scatter_update``) and **boxes** (strided-slice assigns) overwrite in place: the
  rows or the box are copied out first and spilled to the undo file.

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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import RollbackError
from ..targets.variables import tf_variable
from .spill import Spill, SpillRecord
from .writers import (
    end_copy_on_read,
    read_box,
    read_rows,
    read_whole,
    write_full,
    write_region,
    write_rows,
)

__all__ = ["Journal"]

log = logging.getLogger(__name__)

@dataclass(slots=True)
class _Record:
    name: str
    v: Any
    kind: str  # "whole" | "rows" | "box"
    where: Any = None  # rows (int64 array) or begin (tuple)
    kept: Any = None  # a whole old value, held by reference
    spilled: SpillRecord | None = None  # or where it lies in the undo file
    dtype: Any = None
    shape: tuple[int, ...] = ()
    strings: int = 0  # for a string value: bytes of its lengths (int64), then its characters


class Journal:
    """Writes with undo. ``keep_limit``: bytes of old whole values held by reference (they
    cost no copy, but keep the old buffer alive until the end); ``None`` = no limit."""

    def __init__(self, *, keep_limit: int | None = None) -> None:
        self.keep_limit = keep_limit
        self.kept_bytes = 0
        self.spilled_bytes = 0
        self._records: list[_Record] = []
        self._sparse: dict[int, Any] = {}
        self._spill = Spill()

    @property
    def writes(self) -> int:
        """Writes recorded so far."""
        return len(self._records)

    # ------------------------------------------------------------------ writes

    def assign(self, name: str, v: Any, value: tf.Tensor) -> None:
        """Assign a whole value (see :func:`~.writers.write_full`)."""
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
        write_rows(v, _indices(rows), values, axis=axis)

    def region(self, name: str, v: Any, begin: tuple[int, ...], values: tf.Tensor) -> None:
        """Write a box at ``begin`` (see :func:`~.writers.write_region`)."""
        old = read_box(v, begin, tuple(values.shape))
        record = self._spilled(_Record(name, v, "box", where=begin), old)
        del old  # a view of the variable's buffer: gone before the write, or it copies
        self._append(record)
        self._sparse[id(v)] = v
        write_region(v, begin, values)

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
        self._spill.close()

    # ------------------------------------------------------------------ internals

    def _append(self, record: _Record) -> None:
        self._records.append(record)  # only now is the write allowed to start

    def _save_whole(self, name: str, v: Any) -> None:
        size = _nbytes(v)
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
        if r.kind == "whole":
            write_full(r.v, r.kept if r.kept is not None else self._read(r))
        elif r.kind == "rows":
            write_rows(r.v, _indices(r.where), self._read(r))
        else:
            write_region(r.v, r.where, self._read(r))


def _indices(rows: np.ndarray | range) -> np.ndarray:
    return np.arange(rows.start, rows.stop, dtype=np.int64) if isinstance(rows, range) else rows


def _nbytes(v: Any) -> int:
    tv = tf_variable(v)
    dtype = tf.as_dtype(tv.dtype)
    return int(np.prod(tv.shape)) * (dtype.size if dtype != tf.string else 32)


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
