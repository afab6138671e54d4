"""Reader for TF2 object-based checkpoints and SavedModel variables.

Metadata comes from the bundle index (no tensor is read to plan). Small tensors are read
with TF's ``RestoreV2`` kernel, which verifies their crc32c; large ones can be verified and
then read by row ranges straight from the data file (:mod:`.bundle`), so a table never has
to be held whole.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from ..entries import SourceEntry
from ..errors import CheckpointReadError, join_problems
from . import bundle
from .locate import Location
from .object_graph import entries_from_graph

__all__ = ["TF2Checkpoint"]

_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_READ_ERRORS = (tf.errors.OpError, IndexError, ValueError, RuntimeError)


class TF2Checkpoint:
    """An opened TF2 checkpoint or SavedModel: a :class:`~warmstart.sources.base.Source`."""

    models: tuple[str, ...] = ()

    def __init__(self, located: Location, *, source_root: str | None = None) -> None:
        self.location = located
        self.prefix = located.path
        try:
            reader = tf.train.load_checkpoint(self.prefix)
        except _READ_ERRORS as e:
            raise CheckpointReadError(
                f"cannot read the index {self.prefix + '.index'!r}: {_first_line(e)}.\n"
                f"  Fix: the file is not a TF checkpoint index or is damaged; use another checkpoint."
            ) from None
        shapes = reader.get_variable_to_shape_map()
        dtypes = {k: v.name for k, v in reader.get_variable_to_dtype_map().items()}
        self._dtypes = dtypes
        if _GRAPH_KEY not in shapes:
            raise CheckpointReadError(
                f"{self.prefix!r} is a name-based (TF1) checkpoint without an object graph; this "
                f"version reads TF2 object-based checkpoints (tf.train.Checkpoint, CheckpointManager, "
                f"SavedModel)."
            )
        try:
            raw = reader.get_tensor(_GRAPH_KEY)
            graph = trackable_object_graph_pb2.TrackableObjectGraph()
            graph.ParseFromString(raw)
        except _READ_ERRORS as e:
            raise CheckpointReadError(
                f"cannot read the object graph of {self.prefix!r}: {_first_line(e)}.\n"
                f"  The data file ({', '.join(located.files[1:])}) is truncated or damaged; "
                f"use another checkpoint."
            ) from None
        except Exception as e:  # protobuf DecodeError
            raise CheckpointReadError(
                f"the object graph of {self.prefix!r} does not parse ({type(e).__name__}: "
                f"{_first_line(e)}); the data file is damaged."
            ) from None
        shapes = {k: tuple(int(d) for d in v) for k, v in shapes.items()}
        parsed = entries_from_graph(graph, shapes, dtypes, root_is_model=located.root_is_model,
                                    source_root=source_root)
        self.entries: tuple[SourceEntry, ...] = parsed.entries
        self.model_path = parsed.model_path
        self.keras = parsed.keras
        self.models = parsed.models

    def read(self, keys: Sequence[str], labels: Mapping[str, str] | None = None) -> list[tf.Tensor]:
        """Read and verify the tensors of ``keys`` (one batched ``RestoreV2``).

        On failure every key is retried alone, so the error names each bad tensor.
        """
        if not keys:
            return []
        try:
            return self._restore(keys)
        except _READ_ERRORS:
            pass
        problems = []
        for key in keys:
            try:
                self._restore([key])
            except _READ_ERRORS as e:
                label = (labels or {}).get(key, key)
                problems.append(
                    f"cannot read {label!r} (key {key!r}) from {self.prefix!r}: {_first_line(e)}.\n"
                    f"  The data file is truncated or damaged; nothing was written. Use another checkpoint."
                )
        if not problems:  # the batch failed for a reason no single read shows
            raise CheckpointReadError(f"reading {len(keys)} tensors from {self.prefix!r} failed.")
        raise CheckpointReadError(join_problems("the checkpoint's data is unreadable:", problems))

    @functools.cached_property
    def index(self) -> bundle.BundleIndex:
        return bundle.read_index(self.prefix)

    def streamable(self, key: str) -> bool:
        """Can ``key`` be verified and read by rows from the file (a dense, fixed-size
        tensor of rank >= 1 whose numpy dtype is exact)?"""
        try:
            entry = self.index.entries.get(key)
        except CheckpointReadError:
            return False
        return entry is not None and entry.row_readable and entry.dtype.numpy is not None

    def verify(self, key: str, *, chunk_bytes: int) -> None:
        """Check ``key``'s crc32c by streaming its bytes (bounded memory)."""
        bundle.verify(self.prefix, self.index, key, chunk_bytes=chunk_bytes)

    def read_rows(self, key: str, ranges: Sequence[tuple[int, int]]) -> Iterator[tf.Tensor]:
        """Rows ``[start, stop)`` of ``key`` for each range, as tensors, in order.

        Two reusable tensors are filled alternately, the next one by a reader thread while
        the caller uses the current one (``preadv`` releases the GIL), straight into the
        tensor's own buffer: no numpy-to-tensor copy, memory two chunks. A yielded tensor is
        valid until the next one is requested. Not checksummed: call :meth:`verify` first.
        """
        if not ranges:
            return
        entry = self.index.entry(key)
        longest = max(stop - start for start, stop in ranges)
        dtype = tf.as_dtype(self._dtypes[key])
        tensors = [tf.raw_ops.Empty(shape=[longest, *entry.shape[1:]], dtype=dtype, init=False) for _ in (0, 1)]
        views = [_writable_view(t) for t in tensors]
        if any(v is None for v in views):  # a TF without writable views: one copy more each
            for start, stop in ranges:
                yield tf.constant(bundle.read_rows(self.prefix, self.index, entry, start, stop))
            return

        def fill(k: int, start: int, stop: int) -> None:
            bundle.read_rows(self.prefix, self.index, entry, start, stop, out=views[k][: stop - start])

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(fill, 0, *ranges[0])
            for n, (start, stop) in enumerate(ranges):
                pending.result()
                k = n % 2
                if n + 1 < len(ranges):
                    pending = pool.submit(fill, 1 - k, *ranges[n + 1])
                rows = stop - start
                yield tensors[k] if rows == longest else tensors[k][:rows]

    def close(self) -> None:
        """Nothing stays open between reads."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _restore(self, keys: Sequence[str]) -> list[tf.Tensor]:
        with tf.device("/cpu:0"):
            return tf.raw_ops.RestoreV2(
                prefix=self.prefix,
                tensor_names=list(keys),
                shape_and_slices=[""] * len(keys),
                dtypes=[tf.as_dtype(self._dtypes[k]) for k in keys],
            )


def _writable_view(t: tf.Tensor) -> Any:
    """A numpy view of a tensor we allocated, to read file bytes straight into it."""
    view = getattr(t, "_numpy", None)
    buf = view() if view is not None else None
    return buf if buf is not None and buf.flags.writeable else None


def _first_line(e: BaseException) -> str:
    text = getattr(e, "message", None) or str(e) or type(e).__name__
    return text.strip().splitlines()[0].rstrip(".")
