"""Data files: row ranges and whole fixed-size tensors read with ``os.preadv`` into numpy buffers."""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from ...errors import CheckpointReadError
from .checksum import _crc_extend, unmask
from .entries import BundleEntry
from .files import BundleFiles, opened
from .index import BundleIndex

Files = str | os.PathLike[str] | BundleFiles
"""Where data is read from: a prefix (each read opens its file by path) or a held
:class:`BundleFiles` snapshot."""

_MAX_PREADV = 0x7FFFF000  # Linux returns at most this many bytes per read call

class _DataFile:
    """An open data file (``fd``, named ``path`` in messages), checked to hold
    ``[offset, offset + size)`` of an entry. It does not own ``fd``."""

    def __init__(self, fd: int, path: str, entry: BundleEntry) -> None:
        self.fd, self.path, self.entry = fd, path, entry
        length = os.fstat(fd).st_size
        if entry.offset + entry.size > length:
            raise self.truncated(length)

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
            try:
                n = os.preadv(self.fd, [view[done : done + _MAX_PREADV]], offset + done)
            except OSError as e:
                raise CheckpointReadError(
                    f"reading {_what(self.entry)} from {self.path!r} failed: {e.strerror or e}."
                ) from None
            if n == 0:
                raise self.truncated(offset + done)
            done += n


@contextmanager
def _data_file(src: Files, index: BundleIndex, entry: BundleEntry) -> Iterator[_DataFile]:
    with opened(src, index, entry) as (fd, path):
        yield _DataFile(fd, path, entry)


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


def read_rows(src: Files, index: BundleIndex, key: str | BundleEntry, start: int, stop: int,
              out: np.ndarray | None = None) -> np.ndarray:
    """Rows ``[start, stop)`` (first axis) of a fixed-size-dtype tensor, read with
    ``os.preadv`` straight into ``out`` (or a new array): memory is the rows, nothing more.

    ``src`` is the checkpoint prefix or a held :class:`BundleFiles`. ``key`` is a checkpoint
    key or a :class:`BundleEntry` (e.g. one of ``index.parts(key)``, whose rows are then the
    slice's own). A tensor sliced along its first axis only (how ``ShardedVariable`` saves) is
    read from the slices that overlap the range. The result has the entry's ``dtype.storage``
    (bfloat16 comes back as uint16 bits, float8 as uint8); an ``out`` may have any dtype of
    that itemsize, or must be the exact dtype where numpy has it. The bytes are not
    checksummed here (TF's crc covers the whole tensor); :func:`verify` checks them, and
    fingerprints row ranges so that a later read can be checked too.
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
        _read_sliced_rows(src, index, entry, start, stop, result)
    else:
        _read_piece(src, index, entry, start, stop, result)
    return result


def _read_piece(src: Files, index: BundleIndex, entry: BundleEntry, start: int, stop: int,
                out: np.ndarray) -> None:
    """Rows ``[start, stop)`` of one physical entry into ``out``."""
    if start == stop or out.size == 0:
        return
    row_bytes = entry.size // entry.shape[0]
    with _data_file(src, index, entry) as f:
        _check_fixed(entry, f.path)
        f.read_into(_bytes_of(out), entry.offset + start * row_bytes)


def row_pieces(index: BundleIndex, entry: BundleEntry, start: int, stop: int) -> list[tuple[BundleEntry, int, int]]:
    """The physical entries that hold rows ``[start, stop)``, each with the rows (its own
    numbering) taken from it, in row order; raises if the stored slices leave a gap."""
    if not entry.sliced:
        return [(entry, start, stop)] if start < stop else []
    pieces = []
    for s, part in zip(entry.slices, index.parts(entry.key), strict=True):
        lo, hi = s.extents[0].bounds(entry.shape[0])
        a, b = max(lo, start), min(hi, stop)
        if a < b:
            pieces.append((a, part, a - lo, b - lo))
    pieces.sort(key=lambda p: p[0])
    reached = start
    for a, _, lo, hi in pieces:
        if a > reached:
            break
        reached = max(reached, a + hi - lo)
    if reached < stop:
        raise CheckpointReadError(
            f"{_what(entry)} in {index.prefix!r}: its stored slices do not cover rows "
            f"[{reached}, {stop}).\n  Fix: the checkpoint is incomplete; use another one."
        )
    return [(part, lo, hi) for _, part, lo, hi in pieces]


def _read_sliced_rows(src: Files, index: BundleIndex, entry: BundleEntry, start: int, stop: int,
                      out: np.ndarray) -> None:
    """Rows of a tensor sliced along axis 0: each overlapping slice fills its share of ``out``."""
    at = 0
    for part, lo, hi in row_pieces(index, entry, start, stop):
        _read_piece(src, index, part, lo, hi, out[at : at + hi - lo])
        at += hi - lo


def read_tensor(src: Files, index: BundleIndex, key: str | BundleEntry, out: np.ndarray | None = None,
                *, check: bool = False) -> np.ndarray:
    """The whole of a fixed-size-dtype tensor: scalars, and tensors stored in slices of any
    kind (assembled). With ``check``, every stored piece's bytes are compared with the crc32c
    TF stored, so the result is verified."""
    entry = _resolve(index, key)
    if not entry.dtype.fixed_size:
        raise ValueError(f"{_what(entry)} has dtype {entry.dtype.name}, no fixed element size")
    result = _prepare_out(entry, entry.shape, out)
    if not entry.sliced:
        with _data_file(src, index, entry) as f:
            _check_fixed(entry, f.path)
            f.read_into(_bytes_of(result), entry.offset)
            if check:
                _check_crc(f, result)
        return result
    stored = 0
    for s, part in zip(entry.slices, index.parts(entry.key), strict=True):
        box = result[tuple(slice(a, b) for a, b in s.bounds(entry.shape))]
        piece = box if box.flags.c_contiguous else np.empty(box.shape, result.dtype)
        with _data_file(src, index, part) as f:
            _check_fixed(part, f.path)
            f.read_into(_bytes_of(piece), part.offset)
            if check:
                _check_crc(f, piece)
        if piece is not box:
            box[...] = piece
        stored += part.num_elements
    if stored != entry.num_elements:
        raise CheckpointReadError(
            f"{_what(entry)} in {index.prefix!r}: its stored slices hold {stored} of its "
            f"{entry.num_elements} elements.\n  Fix: the checkpoint is incomplete; use another one."
        )
    return result


def _check_crc(f: _DataFile, array: np.ndarray) -> None:
    crc = _crc_extend(0, _bytes_of(array))
    if crc != unmask(f.entry.crc32c):
        raise crc_error(f.entry, f.path, crc)


def damaged_error(entry: BundleEntry, path: str, what: object) -> CheckpointReadError:
    """A tensor whose bytes do not decode (``what`` says how)."""
    return CheckpointReadError(
        f"{_what(entry)} in {path!r} is damaged: {what}.\n"
        f"  Fix: restore the file from a backup or use another checkpoint."
    )


def crc_error(entry: BundleEntry, path: str, computed: int) -> CheckpointReadError:
    """A tensor whose bytes do not match the crc32c TF stored for it."""
    return CheckpointReadError(
        f"{_what(entry)} fails its crc32c check in {path!r} (bytes [{entry.offset}, "
        f"{entry.offset + entry.size})): stored {unmask(entry.crc32c):08x}, computed "
        f"{computed:08x}. The data file is damaged.\n"
        f"  Fix: restore the file from a backup or use another checkpoint."
    )
