"""Data files: row ranges and whole fixed-size tensors read with ``os.preadv`` into numpy buffers."""

from __future__ import annotations

import operator
import os
from typing import Self

import numpy as np

from ...errors import CheckpointReadError
from .entries import BundleEntry
from .index import BundleIndex, _open_error, data_path

_MAX_PREADV = 0x7FFFF000  # Linux returns at most this many bytes per read call

class _DataFile:
    """An open data file, checked to hold ``[offset, offset + size)`` of an entry."""

    def __init__(self, path: str, entry: BundleEntry) -> None:
        self.path = path
        self.entry = entry
        try:
            self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            raise _open_error(self.path, e, "checkpoint data file") from None
        length = os.fstat(self.fd).st_size
        if entry.offset + entry.size > length:
            os.close(self.fd)
            raise self.truncated(length)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def truncated(self, length: int) -> CheckpointReadError:
        e = self.entry
        return CheckpointReadError(
            f"{_what(e)} needs bytes [{e.offset}, {e.offset + e.size}) of {self.path!r}, but the "
            f"file has {length} bytes: it is truncated.\n"
            f"  Fix: copy the checkpoint again (an interrupted copy or a full disk does this) "
            f"or use another checkpoint."
        )

    def read_into(self, buf: np.ndarray, offset: int) -> None:
        """Fill the uint8 array ``buf`` from ``offset`` with ``os.preadv`` (no extra copy)."""
        view = memoryview(buf)  # type: ignore[arg-type]  # ndarray is a buffer
        done = 0
        while done < len(view):
            n = os.preadv(self.fd, [view[done : done + _MAX_PREADV]], offset + done)
            if n == 0:
                raise self.truncated(offset + done)
            done += n


def _what(entry: BundleEntry) -> str:
    return f"tensor {entry.key!r}" + (f" (slice {entry.part.spec})" if entry.part else "")


def _resolve(index: BundleIndex, key: str | BundleEntry) -> BundleEntry:
    return key if isinstance(key, BundleEntry) else index.entry(key)


def _check_fixed(entry: BundleEntry, path: str) -> None:
    expected = entry.num_elements * (entry.dtype.itemsize or 0)
    if entry.size != expected:
        raise CheckpointReadError(
            f"{_what(entry)} in {path!r} is stored with {entry.size} bytes, but a "
            f"{entry.dtype.name}{list(entry.shape)} tensor has {expected}: the index is damaged.\n"
            f"  Fix: use another checkpoint."
        )


def _prepare_out(
    entry: BundleEntry, shape: tuple[int, ...], out: np.ndarray | None
) -> np.ndarray:
    dtype = entry.dtype.storage
    assert dtype is not None
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or tuple(out.shape) != shape:
        raise ValueError(f"out must be an ndarray of shape {shape} for {_what(entry)}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"out must be C-contiguous and writeable for {_what(entry)}")
    exact = entry.dtype.numpy
    if (exact is not None and out.dtype != exact) or out.dtype.itemsize != dtype.itemsize:
        want = exact if exact is not None else f"any {dtype.itemsize}-byte dtype (e.g. {dtype})"
        raise ValueError(f"out has dtype {out.dtype}; {_what(entry)} needs {want}")
    return out


def _bytes_of(array: np.ndarray) -> np.ndarray:
    """The array's memory as a flat uint8 view (no copy; the array is C-contiguous)."""
    return array.reshape(-1).view(np.uint8)


def _not_row_readable(entry: BundleEntry) -> str | None:
    """Why :func:`read_rows` cannot read ``entry``, or None when it can."""
    if not entry.dtype.fixed_size:
        return f"its dtype {entry.dtype.name} has no fixed element size"
    if not entry.shape:
        return "it is a scalar"
    if not entry.row_readable:
        return "it is stored in slices that split more than the first axis"
    return None


def read_rows(
    prefix: str | os.PathLike[str],
    index: BundleIndex,
    key: str | BundleEntry,
    start: int,
    stop: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Rows ``[start, stop)`` (first axis) of a fixed-size-dtype tensor, read with
    ``os.preadv`` straight into ``out`` (or a new array): memory is the rows, nothing more.

    ``key`` is a checkpoint key or a :class:`BundleEntry` (e.g. one of ``index.parts(key)``,
    whose rows are then the slice's own). A tensor sliced along its first axis only (how
    ``ShardedVariable`` saves) is read from the slices that overlap the range. The result has
    the entry's ``dtype.storage`` (bfloat16 comes back as uint16 bits, float8 as uint8); an
    ``out`` may have any dtype of that itemsize, or must be the exact dtype where numpy has it.
    The bytes are not checksummed here (a row range cannot be: TF's crc covers the whole
    tensor); :func:`verify` checks them.
    """
    entry = _resolve(index, key)
    why = _not_row_readable(entry)
    if why:
        raise ValueError(
            f"{_what(entry)} cannot be read by rows: {why}. Read it with TF "
            f"(tf.train.load_checkpoint(prefix).get_tensor) or, for slices, index.parts(key)."
        )
    rows = entry.shape[0]
    start, stop = operator.index(start), operator.index(stop)  # numpy integers welcome
    if not 0 <= start <= stop <= rows:
        raise ValueError(f"rows [{start}, {stop}) are not within [0, {rows}] of {_what(entry)}")
    result = _prepare_out(entry, (stop - start, *entry.shape[1:]), out)
    if entry.sliced:
        _read_sliced_rows(os.fspath(prefix), index, entry, start, stop, result)
    else:
        _read_piece(_data_file(prefix, index, entry), entry, start, stop, result)
    return result


def _data_file(prefix: str | os.PathLike[str], index: BundleIndex, entry: BundleEntry) -> str:
    return data_path(prefix, entry.shard_id, index.header.num_shards)


def _read_piece(path: str, entry: BundleEntry, start: int, stop: int, out: np.ndarray) -> None:
    """Rows ``[start, stop)`` of one physical entry (in data file ``path``) into ``out``."""
    if start == stop or out.size == 0:
        return
    _check_fixed(entry, path)
    row_bytes = entry.size // entry.shape[0]
    with _DataFile(path, entry) as f:
        f.read_into(_bytes_of(out), entry.offset + start * row_bytes)


def _read_sliced_rows(
    prefix: str, index: BundleIndex, entry: BundleEntry, start: int, stop: int, out: np.ndarray
) -> None:
    """Rows of a tensor sliced along axis 0: each overlapping slice fills its share of ``out``."""
    covered: list[tuple[int, int]] = []
    for s, part in zip(entry.slices, index.parts(entry.key), strict=True):
        lo, hi = s.extents[0].bounds(entry.shape[0])
        a, b = max(lo, start), min(hi, stop)
        if a < b:
            _read_piece(_data_file(prefix, index, part), part, a - lo, b - lo, out[a - start : b - start])
            covered.append((a, b))
    reached = start
    for a, b in sorted(covered):
        if a > reached:
            break
        reached = max(reached, b)
    if reached < stop:
        raise CheckpointReadError(
            f"{_what(entry)} in {prefix!r}: its stored slices do not cover rows "
            f"[{reached}, {stop}).\n  Fix: the checkpoint is incomplete; use another one."
        )


def read_tensor(
    prefix: str | os.PathLike[str], index: BundleIndex, key: str | BundleEntry, out: np.ndarray | None = None
) -> np.ndarray:
    """The whole of a fixed-size-dtype tensor, scalars included, read as :func:`read_rows` does."""
    entry = _resolve(index, key)
    if entry.shape or not entry.dtype.fixed_size:
        rows = entry.shape[0] if entry.shape else 0
        return read_rows(prefix, index, entry, 0, rows, out)  # raises the reason if any
    result = _prepare_out(entry, (), out)
    path = _data_file(prefix, index, entry)
    _check_fixed(entry, path)
    with _DataFile(path, entry) as f:
        f.read_into(_bytes_of(result), entry.offset)
    return result
