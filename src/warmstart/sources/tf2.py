"""Reader for TF2 object-based checkpoints and SavedModel variables.

Everything is read through one snapshot (:class:`~.bundle.BundleFiles`): the index read once,
every data shard opened once and held until :meth:`TF2Checkpoint.close`. Metadata and the
object graph come from the index and the data file (no tensor is read to plan). Tensors are
read by the TensorFlow-free bundle reader straight into tensors' own buffers and checked
against TF's crc32c; large ones are verified in a first pass that fingerprints the row
ranges a second pass reads again (:meth:`verify`, :meth:`read_rows`). Only dtypes the bundle
reader cannot decode (variant, and dtypes newer than it) go through TF's ``RestoreV2``,
which opens the files by path: those reads are refused if a file's identity (device, inode,
size, mtime) changed since the snapshot was taken.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import trackable_object_graph_pb2

from ..entries import SourceEntry
from ..errors import CheckpointReadError, join_problems
from . import bundle
from .base import RowChecks
from .bundle.checksum import _crc_extend
from .bundle.dtypes import _STRING
from .locate import Location
from .object_graph import entries_from_graph

__all__ = ["TF2Checkpoint"]

_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_READ_ERRORS = (tf.errors.OpError, IndexError, ValueError, RuntimeError)
STRING_OVERHEAD = 64  # bytes a string element takes while read, beyond its characters


class TF2Checkpoint:
    """An opened TF2 checkpoint or SavedModel: a :class:`~warmstart.sources.base.Source`."""

    models: tuple[str, ...] = ()

    def __init__(self, located: Location, *, source_root: str | None = None) -> None:
        self.location = located
        self.prefix = located.path
        self._source_root = source_root
        self._files = bundle.BundleFiles(self.prefix)
        self._string_spans: dict[tuple[str, tuple[tuple[int, int], ...]], tuple[bundle.StringSpan, ...]] = {}
        try:
            self.index = self._files.index
            self._parse_graph(located)
        except BaseException:
            self._files.close()
            raise

    def _parse_graph(self, located: Location) -> None:
        entries = self.index.entries
        if _GRAPH_KEY not in entries:
            raise CheckpointReadError(
                f"{self.prefix!r} is a name-based (TF1) checkpoint without an object graph; this "
                f"version reads TF2 object-based checkpoints (tf.train.Checkpoint, CheckpointManager, "
                f"SavedModel)."
            )
        try:
            _, raw = bundle.read_strings(self._files, self.index, _GRAPH_KEY)
            graph = trackable_object_graph_pb2.TrackableObjectGraph()
            graph.ParseFromString(raw.tobytes())
        except (CheckpointReadError, ValueError) as e:
            raise CheckpointReadError(
                f"cannot read the object graph of {self.prefix!r}: {_first_line(e)}.\n"
                f"  The data file ({', '.join(located.files[1:])}) is truncated or damaged; "
                f"use another checkpoint."
            ) from None
        except DecodeError as e:
            raise CheckpointReadError(
                f"the object graph of {self.prefix!r} does not parse ({type(e).__name__}: "
                f"{_first_line(e)}); the data file is damaged."
            ) from None
        shapes = {k: e.shape for k, e in entries.items()}
        dtypes = {k: e.dtype.name for k, e in entries.items()}
        parsed = entries_from_graph(graph, shapes, dtypes, root_is_model=located.root_is_model,
                                    source_root=self._source_root)
        self.entries: tuple[SourceEntry, ...] = parsed.entries
        self.model_path = parsed.model_path
        self.keras = parsed.keras
        self.models = parsed.models

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the held files (idempotent)."""
        self._files.close()

    # ------------------------------------------------------------------ whole tensors

    def read(self, keys: Sequence[str], labels: Mapping[str, str] | None = None) -> list[tf.Tensor]:
        """The verified tensors of ``keys``, from the snapshot; every unreadable key is named."""
        out, problems = [], []
        for key in keys:
            try:
                out.append(self._read_one(key))
            except (CheckpointReadError, TypeError, *_READ_ERRORS) as e:
                label = (labels or {}).get(key, key)
                problems.append(
                    f"cannot read {label!r} (key {key!r}) from {self.prefix!r}: {_first_line(e)}.\n"
                    f"  The data file is truncated or damaged; nothing was written. Use another checkpoint."
                )
        if problems:
            raise CheckpointReadError(join_problems("the checkpoint's data is unreadable:", problems))
        return out

    def stored_checksums(self, key: str) -> tuple[int, ...]:
        """The crc32c TF stored for ``key`` (one per stored slice), from the snapshot: what
        tells two copies of a checkpoint apart."""
        entry = self.index.entry(key)
        return tuple(p.crc32c for p in self.index.parts(key)) if entry.sliced else (entry.crc32c,)

    def nbytes(self, key: str) -> int:
        """Bytes a read of ``key`` takes at its peak: the dense size; for a string tensor,
        three times its stored bytes and 64 bytes an element (the stored bytes, their copy
        into one TF string, the lengths and offsets, TF's 24-byte header of each string)."""
        entry = self.index.entry(key)
        if entry.dtype.fixed_size:
            return entry.num_elements * (entry.dtype.itemsize or 0)
        parts = self.index.parts(key) if entry.sliced else (entry,)
        return 3 * sum(p.size for p in parts) + STRING_OVERHEAD * entry.num_elements

    def _read_one(self, key: str) -> tf.Tensor:
        entry = self.index.entry(key)
        dtype = _tf_dtype(entry)
        if dtype is not None and entry.dtype.fixed_size and _native(entry):
            with tf.device("/cpu:0"):
                t = tf.raw_ops.Empty(shape=list(entry.shape), dtype=dtype, init=False)
            view = _writable_view(t)
            if view is not None and view.dtype.itemsize == entry.dtype.itemsize:
                bundle.read_tensor(self._files, self.index, entry, out=_as_storage(view, entry), check=True)
                return t
        if dtype is not None and entry.dtype.fixed_size:
            array = bundle.read_tensor(self._files, self.index, entry, check=True)
            return _tensor_of(array, entry, dtype)
        if entry.dtype.enum == _STRING and not entry.sliced:
            lengths, data = bundle.read_strings(self._files, self.index, entry)
            return _strings(lengths, data, entry.shape)
        return self._restore_by_path(key, entry)

    def _restore_by_path(self, key: str, entry: bundle.BundleEntry) -> tf.Tensor:
        """TF's ``RestoreV2`` (it verifies crc32c) for what the bundle reader cannot decode. It
        opens the files by path, so the read is refused if they are not the snapshot's."""
        self._check_unmoved(entry)
        with tf.device("/cpu:0"):
            (value,) = tf.raw_ops.RestoreV2(
                prefix=self.prefix, tensor_names=[key], shape_and_slices=[""], dtypes=[tf.as_dtype(entry.dtype.enum)]
            )
        self._check_unmoved(entry)
        return value

    def _check_unmoved(self, entry: bundle.BundleEntry) -> None:
        moved = self._files.moved()
        if moved:
            raise CheckpointReadError(
                f"{entry.key!r} ({entry.dtype.name}) can only be read by TensorFlow, which opens the "
                f"files by path, and {moved[0]!r} is no longer the file opened at the start (renamed, "
                f"deleted, rewritten or replaced since).\n"
                f"  Fix: do not change the checkpoint while a warm start reads it; run again."
            )

    # ------------------------------------------------------------------ row ranges

    def streamable(self, key: str) -> bool:
        """Can ``key`` be verified and read by rows from the file: a dense tensor of rank
        >= 1, of a fixed-size dtype TF knows in this machine's byte order, or of strings?"""
        entry = self.index.entries.get(key)
        if entry is None:
            return False
        if entry.dtype.enum == _STRING:
            return bool(entry.shape) and not entry.sliced
        return (entry.row_readable and _native(entry) and _tf_dtype(entry) is not None
                and entry.dtype.storage is not None)

    def row_slices(self, key: str) -> tuple[int, ...]:
        """The rows of each stored slice of ``key``, in row order, when it is stored in slices
        along its first axis (a ``ShardedVariable``, a TF1 partitioned variable); else ``()``."""
        entry = self.index.entries.get(key)
        if entry is None or not entry.sliced or not entry.row_readable:
            return ()
        return tuple(b - a for a, b in sorted(s.extents[0].bounds(entry.shape[0]) for s in entry.slices))

    def verify(self, key: str, ranges: Sequence[tuple[int, int]], *, chunk_bytes: int) -> RowChecks:
        """Check ``key``'s crc32c by streaming its bytes (bounded memory), and take the crc32c
        of each row range on the way (for strings, also where its bytes lie)."""
        ranges = tuple((int(a), int(b)) for a, b in ranges)
        if self.index.entry(key).dtype.enum == _STRING:
            crcs, spans = bundle.verify_string_rows(self._files, self.index, key, list(ranges), chunk_bytes)
            self._string_spans[key, ranges] = spans
        else:
            crcs = bundle.verify(self._files, self.index, key, chunk_bytes=chunk_bytes, ranges=ranges)
        return RowChecks(key, ranges, crcs)

    def read_rows(self, checks: RowChecks) -> Iterator[tf.Tensor]:
        """Rows ``[start, stop)`` of ``checks.key`` for each range, as tensors, in order, each
        checked against its fingerprint before it is yielded.

        Two reusable tensors are filled alternately, the next one by a reader thread while
        the caller uses the current one (``preadv`` releases the GIL), straight into the
        tensor's own buffer: no numpy-to-tensor copy, memory two chunks. A yielded tensor is
        valid until the next one is requested.
        """
        ranges = checks.ranges
        if not ranges:
            return
        entry = self.index.entry(checks.key)
        if entry.dtype.enum == _STRING:
            yield from self._string_rows(checks, entry)
            return
        dtype = _tf_dtype(entry)
        longest = max(stop - start for start, stop in ranges)
        with tf.device("/cpu:0"):
            tensors = [tf.raw_ops.Empty(shape=[longest, *entry.shape[1:]], dtype=dtype, init=False) for _ in (0, 1)]
        views = [_writable_view(t) for t in tensors]
        if any(v is None for v in views):  # a TF without writable views: one copy more each
            views = [np.empty((longest, *entry.shape[1:]), entry.dtype.storage) for _ in (0, 1)]
            tensors = []

        def fill(n: int) -> None:
            start, stop = ranges[n]
            out = _as_storage(views[n % 2][: stop - start], entry)
            bundle.read_rows(self._files, self.index, entry, start, stop, out=out)
            crc = _crc_extend(0, out.reshape(-1).view(np.uint8))
            if crc != checks.crcs[n]:
                raise self._changed(checks, n, crc)

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(fill, 0)
            for n, (start, stop) in enumerate(ranges):
                pending.result()
                if n + 1 < len(ranges):
                    pending = pool.submit(fill, n + 1)
                rows = stop - start
                if not tensors:
                    yield _tensor_of(views[n % 2][:rows], entry, dtype)
                else:
                    yield tensors[n % 2] if rows == longest else tensors[n % 2][:rows]


    def _string_rows(self, checks: RowChecks, entry: bundle.BundleEntry) -> Iterator[tf.Tensor]:
        """Row ranges of a string tensor, each checked, the next one read ahead in a thread."""
        spans = self._string_spans.pop((checks.key, checks.ranges), None)
        if spans is None:
            raise ValueError(f"read_rows of {checks.key!r} needs the RowChecks of a verify on this source")

        def load(n: int) -> tuple[np.ndarray, np.ndarray]:
            lengths, chars, crc = bundle.read_string_rows(self._files, self.index, entry, spans[n])
            if crc != checks.crcs[n]:
                raise self._changed(checks, n, crc)
            return lengths, chars

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(load, 0)
            for n, (start, stop) in enumerate(checks.ranges):
                lengths, chars = pending.result()
                if n + 1 < len(checks.ranges):
                    pending = pool.submit(load, n + 1)
                yield _strings(lengths, chars, (stop - start, *entry.shape[1:]))
                del lengths, chars

    def _changed(self, checks: RowChecks, n: int, crc: int) -> CheckpointReadError:
        start, stop = checks.ranges[n]
        return CheckpointReadError(
            f"rows [{start}, {stop}) of {checks.key!r} in {self.prefix!r} changed after they were "
            f"verified (crc32c {checks.crcs[n]:08x} then, {crc:08x} now): the data file was "
            f"modified in place while the warm start ran.\n"
            f"  Fix: do not write into a checkpoint that is being read; run again."
        )


def _tf_dtype(entry: bundle.BundleEntry) -> tf.DType | None:
    try:
        return tf.as_dtype(entry.dtype.enum)
    except TypeError:  # a DataType newer than this TensorFlow
        return None


def _native(entry: bundle.BundleEntry) -> bool:
    storage = entry.dtype.storage
    return storage is not None and storage.isnative


def _as_storage(view: np.ndarray, entry: bundle.BundleEntry) -> np.ndarray:
    """``view`` as the dtype the bundle reader fills (the same bytes)."""
    exact = entry.dtype.numpy
    if exact is not None and view.dtype == exact:
        return view
    storage = entry.dtype.storage
    assert storage is not None  # fixed-size dtypes have one
    return view.view(storage)


def _tensor_of(array: np.ndarray, entry: bundle.BundleEntry, dtype: tf.DType) -> tf.Tensor:
    """A tensor from an array of the stored bytes (any byte order)."""
    native = array.astype(array.dtype.newbyteorder("="), copy=False)
    with tf.device("/cpu:0"):
        if entry.dtype.numpy is not None:
            return tf.constant(native, dtype=dtype)
        return tf.bitcast(tf.constant(native), dtype)


def _strings(lengths: np.ndarray, data: np.ndarray, shape: tuple[int, ...]) -> tf.Tensor:
    """A string tensor from the lengths and the bytes: one scalar of all the bytes, cut with
    ``tf.strings.substr`` (no Python object per string)."""
    with tf.device("/cpu:0"):
        if not lengths.size:
            return tf.fill(list(shape), "")
        lengths = lengths.astype(np.int64)
        starts = np.zeros_like(lengths)
        np.cumsum(lengths[:-1], out=starts[1:])
        whole = tf.constant(data.tobytes())
        return tf.reshape(tf.strings.substr(whole, starts, lengths), list(shape))


def _writable_view(t: tf.Tensor) -> Any:
    """A numpy view of a tensor we allocated, to read file bytes straight into it."""
    view = getattr(t, "_numpy", None)
    buf = view() if view is not None else None
    return buf if isinstance(buf, np.ndarray) and buf.flags.writeable else None


def _first_line(e: BaseException) -> str:
    text = getattr(e, "message", None) or str(e) or type(e).__name__
    return text.strip().splitlines()[0].rstrip(".")
