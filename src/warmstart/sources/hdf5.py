"""Reading HDF5 files (Keras ``.weights.h5``, the weights inside ``.keras``, legacy ``.h5``)
as a :class:`~warmstart.sources.base.Source`, with h5py.

The file is opened once, when the source is opened, and every read goes through that handle.
The format modules (:mod:`.keras_weights`, :mod:`.legacy_h5`) only name the datasets; this
one reads them.

**What "verified" means for HDF5.** TF checkpoints carry a crc32c per tensor; HDF5 files
carry none unless a dataset was written with the ``fletcher32`` filter (Keras does not use
it). So a warm start verifies what can be verified: every byte that will be written is read
before the first write (a truncated or damaged file makes h5py or the OS fail, and that is a
``CheckpointReadError`` naming the file and the dataset; a ``fletcher32`` dataset is checked by
HDF5 itself), and for streamed tables the crc32c of each row range is taken in that first pass
and compared when the range is read again to be written, so a file changed between the two
passes is caught. Damaged bytes that still read are not detectable in this format.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Self, TypeVar

import numpy as np
import tensorflow as tf

from ..entries import SourceEntry
from ..errors import CheckpointReadError, join_problems
from .base import RowChecks
from .bundle.checksum import _crc_extend
from .locate import Location

__all__ = ["H5Source", "guarded", "h5py_module", "open_h5", "open_zip_member"]

# What h5py raises on a file that is truncated, damaged or not what it seems.
_H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
T = TypeVar("T")


def guarded(path: str, read: Callable[[], T]) -> T:
    """``read()``, with what h5py raises on damaged metadata as a ``CheckpointReadError``."""
    try:
        return read()
    except _H5_ERRORS as e:
        raise CheckpointReadError(
            f"cannot read the structure of {path!r}: {_first_line(e)}; the file is damaged.\n"
            f"  Fix: save it again or use another file."
        ) from None


def _magic(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(8)
    except OSError:
        return b""


def h5py_module() -> Any:
    """h5py, or a ``CheckpointReadError`` that says how to install it."""
    try:
        import h5py
    except ImportError:
        raise CheckpointReadError(
            "reading Keras files (.weights.h5, .keras, .h5) needs h5py, which is not installed.\n"
            "  Fix: pip install 'warmstart[keras-files]' (or pip install h5py; Keras 3 itself "
            "depends on it, so a Keras 3 install normally has it)."
        ) from None
    return h5py


def open_h5(path: str, fileobj: Any = None, *, what: str = "HDF5 file") -> Any:
    """Open ``path`` (or ``fileobj``, a file-like view of it) read-only with h5py; every
    failure is a ``CheckpointReadError`` that names the file."""
    h5py = h5py_module()
    try:
        return h5py.File(fileobj if fileobj is not None else path, "r")
    except _H5_ERRORS as e:
        text = _first_line(e)
        if "truncated" in text:
            why = "it is truncated (an interrupted copy or a full disk does this)"
        elif "signature" in text and _magic(path).startswith(_ZIP_MAGIC):
            why = "it is a zip, not an HDF5 file (a .keras archive? then name it .keras)"
        elif "signature" in text:
            why = "it is not an HDF5 file"
        else:
            why = f"h5py cannot open it ({text})"
        raise CheckpointReadError(
            f"cannot read the {what} {path!r}: {why}.\n  Fix: save it again or use another file."
        ) from None


class _Window(io.RawIOBase):
    """A read-only file object over bytes ``[start, start + size)`` of an open file
    descriptor: a zip member stored without compression, read in place by h5py."""

    def __init__(self, fd: int, start: int, size: int) -> None:
        super().__init__()
        self.fd, self.start, self.size, self.pos = fd, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self.size - self.pos))
        done = 0
        while done < n:
            got = os.preadv(self.fd, [view[done:n]], self.start + self.pos + done)
            if got == 0:
                break
            done += got
        self.pos += done
        return done


def open_zip_member(path: str, member: str) -> tuple[Any, list[Any]]:
    """A file object for ``member`` of the zip at ``path``, and what to close after it.

    A stored member (Keras writes ``.keras`` without compression) is read in place through
    one file descriptor; a compressed one through ``zipfile`` (correct, slower to seek)."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise not_a_zip(path, e) from None
    try:
        info = zf.getinfo(member)
    except KeyError:
        names = ", ".join(zf.namelist()[:6]) or "nothing"
        zf.close()
        raise CheckpointReadError(
            f"{path!r} has no {member!r}: it is a zip of {names}, not a Keras model archive with weights.\n"
            f"  Fix: pass a file written by model.save('x.keras')."
        ) from None
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return zf.open(info), [zf]
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    header = os.pread(fd, 30, info.header_offset)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        os.close(fd)
        zf.close()
        raise CheckpointReadError(f"the zip {path!r} is damaged: no local header for {member!r}.")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.file_size > os.fstat(fd).st_size:
        os.close(fd)
        zf.close()
        raise CheckpointReadError(f"{path!r} is truncated: {member!r} runs past the end of the file.")
    zf.close()
    return _Window(fd, start, info.file_size), [_FdCloser(fd)]


def not_a_zip(path: str, e: BaseException) -> CheckpointReadError:
    if _magic(path) == _HDF5_MAGIC:
        return CheckpointReadError(
            f"{path!r} is an HDF5 file, not a .keras archive (a zip).\n"
            f"  Fix: name it .weights.h5 (model.save_weights) or .h5 (legacy model.save) and pass that."
        )
    return CheckpointReadError(
        f"cannot read {path!r} as a .keras archive: {_first_line(e)} (a .keras file is a zip; "
        f"this one is truncated, damaged or not a zip).\n  Fix: save it again with model.save()."
    )


class _FdCloser:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


class H5Source:
    """An opened HDF5 file whose ``entries`` name some of its datasets (``key`` = the
    dataset's path in the file): a :class:`~warmstart.sources.base.Source`."""

    models: tuple[str, ...] = ()  # one model a file

    def __init__(self, location: Location, h5: Any, entries: Sequence[SourceEntry], *,
                 closers: Sequence[Any] = (), notes: Sequence[str] = ()) -> None:
        self.location = location
        self.entries: tuple[SourceEntry, ...] = tuple(entries)
        self.notes: tuple[str, ...] = tuple(notes)
        self.path = location.path
        self._h5 = h5
        self._closers = list(closers)
        self._dtypes = {e.key: e.dtype for e in self.entries}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (and the archive around it). Reading after this is an error."""
        h5, self._h5 = self._h5, None
        if h5 is not None:
            h5.close()
        for c in self._closers:
            c.close()
        self._closers = []

    def read(self, keys: Sequence[str], labels: Mapping[str, str] | None = None) -> list[tf.Tensor]:
        """The whole datasets of ``keys`` as tensors of the stored dtype. Every key that cannot
        be read is named in one ``CheckpointReadError``."""
        out, problems = [], []
        for key in keys:
            try:
                ds = self._dataset(key)
                tensor, array = _tensor_buffer(tuple(ds.shape), self._dtypes[key], ds.dtype)
                if array.size:
                    ds.read_direct(array)  # straight into the tensor's memory where TF allows
                out.append(tensor if tensor is not None else self._tensor(key, array))
            except CheckpointReadError as e:
                problems.append(str(e))
            except _H5_ERRORS as e:
                problems.append(self._unreadable(key, labels, e))
        if problems:
            raise CheckpointReadError(join_problems("the file's data is unreadable:", problems))
        return out

    def nbytes(self, key: str) -> int:
        """Bytes a read of ``key`` takes: the dataset's dense size (strings: what h5py stores)."""
        ds = self._dataset(key)
        return int(ds.size) * int(ds.dtype.itemsize or 8)

    def streamable(self, key: str) -> bool:
        try:
            ds = self._dataset(key)
        except CheckpointReadError:
            return False
        return len(ds.shape) >= 1 and ds.dtype.kind in "biufcV" and ds.dtype.itemsize > 0

    def verify(self, key: str, ranges: Sequence[tuple[int, int]], *, chunk_bytes: int) -> RowChecks:
        """Read all of ``key`` in chunks of at most ``chunk_bytes`` (h5py reads row slices of a
        dataset without the rest), failing on anything h5py or the OS reports, and take the
        crc32c of each row range on the way."""
        ranges = tuple((int(a), int(b)) for a, b in ranges)
        ds = self._dataset(key)
        rows = ds.shape[0]
        step = max(1, chunk_bytes // max(1, _row_bytes(ds)))
        buf = np.empty((min(step, rows), *ds.shape[1:]), dtype=ds.dtype)
        crcs = [0] * len(ranges)
        for a in range(0, rows, step):
            b = min(rows, a + step)
            view = buf[: b - a]
            self._read_into(ds, key, a, b, view)
            for i, (start, stop) in enumerate(ranges):
                lo, hi = max(start, a), min(stop, b)
                if lo < hi:
                    crcs[i] = _crc_extend(crcs[i], _bytes(view[lo - a : hi - a]))
        return RowChecks(key, ranges, tuple(crcs))

    def read_rows(self, checks: RowChecks) -> Iterator[tf.Tensor]:
        """Each range of ``checks`` read into one reusable tensor, its crc32c compared with
        what :meth:`verify` saw before it is yielded."""
        if not checks.ranges:
            return
        ds = self._dataset(checks.key)
        longest = max(b - a for a, b in checks.ranges)
        tensor, view = _tensor_buffer((longest, *ds.shape[1:]), self._dtypes[checks.key], ds.dtype)
        for (a, b), crc in zip(checks.ranges, checks.crcs, strict=True):
            part = view[: b - a]
            self._read_into(ds, checks.key, a, b, part)
            if _crc_extend(0, _bytes(part)) != crc:
                raise CheckpointReadError(
                    f"rows [{a}, {b}) of {checks.key!r} in {self.path!r} changed after they were "
                    f"verified (the file was rewritten during the warm start).\n"
                    f"  Fix: warm-start from a file nothing is writing to."
                )
            if tensor is None:
                yield self._tensor(checks.key, part.copy())
            else:
                yield tensor if b - a == longest else tensor[: b - a]

    def _dataset(self, key: str) -> Any:
        if self._h5 is None:
            raise CheckpointReadError(f"{self.path!r} was closed; open the source again to read {key!r}.")
        try:
            ds = self._h5[key]
        except _H5_ERRORS as e:
            raise CheckpointReadError(f"cannot read dataset {key!r} of {self.path!r}: {_first_line(e)}.") from None
        if not hasattr(ds, "read_direct"):
            raise CheckpointReadError(f"{key!r} in {self.path!r} is a group, not a dataset.")
        return ds

    def _read_into(self, ds: Any, key: str, a: int, b: int, out: np.ndarray) -> None:
        try:
            ds.read_direct(out, np.s_[a:b], np.s_[0 : b - a])
        except _H5_ERRORS as e:
            raise CheckpointReadError(self._unreadable(key, None, e, rows=(a, b))) from None

    def _unreadable(self, key: str, labels: Mapping[str, str] | None, e: BaseException,
                    rows: tuple[int, int] | None = None) -> str:
        label = (labels or {}).get(key) or self._label(key)
        where = f"rows [{rows[0]}, {rows[1]}) of " if rows else ""
        return (
            f"cannot read {where}{label!r} (dataset {key!r}) from {self.path!r}: {_first_line(e)}.\n"
            f"  The file is truncated or damaged; nothing was written. Use another file."
        )

    def _label(self, key: str) -> str:
        for e in self.entries:
            if e.key == key:
                return e.name
        return key

    def _tensor(self, key: str, array: np.ndarray) -> tf.Tensor:
        dtype = self._dtypes.get(key, "")
        if dtype == "bfloat16" and array.dtype.kind == "V":
            return tf.bitcast(tf.constant(array.view(np.uint16)), tf.bfloat16)
        return tf.constant(array)


def _row_bytes(ds: Any) -> int:
    return int(ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64)))


def _bytes(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1).view(np.uint8)


def _tensor_buffer(shape: tuple[int, ...], dtype: str, stored: np.dtype) -> tuple[Any, np.ndarray]:
    """A tensor we allocate and a writable numpy view of its memory typed as stored in the
    file, so h5py reads straight into it (no numpy-to-tensor copy). Where TF gives no such
    view: ``(None, numpy buffer)``."""
    if not shape or dtype == "string" or stored.kind not in "biufcV":
        return None, np.empty(shape, dtype=stored)
    tensor = tf.raw_ops.Empty(shape=list(shape), dtype=tf.as_dtype(dtype), init=False)
    fetch = getattr(tensor, "_numpy", None)
    view = fetch() if fetch is not None else None
    if view is None or not view.flags.writeable or view.dtype.itemsize != stored.itemsize:
        return None, np.empty(shape, dtype=stored)
    return tensor, view.view(stored)


def _first_line(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text.strip().splitlines()[0].rstrip(".")
