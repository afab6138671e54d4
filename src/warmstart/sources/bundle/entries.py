"""The index's records: ``BundleHeaderProto`` and ``BundleEntryProto`` as dataclasses, decoded
from their protobuf bytes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .dtypes import DType, _dtype
from .slices import Extent, TensorSlice
from .wire import _fields, _Malformed


@dataclass(frozen=True)
class BundleHeader:
    """The ``BundleHeaderProto`` under key ``""``."""

    num_shards: int
    endianness: Literal["little", "big"]
    producer: int
    min_consumer: int
    bad_consumers: tuple[int, ...]


@dataclass(frozen=True)
class BundleEntry:
    """One ``BundleEntryProto``.

    ``key`` is the tensor's checkpoint key. For a sliced tensor the logical entry has
    ``slices`` (and no bytes of its own); each slice's bytes are in a physical entry with the
    same ``key``, ``part`` set to the slice, and ``shape`` the slice's own shape.
    ``index_key`` is the exact byte key in the index. ``crc32c`` is the stored, masked value.
    """

    key: str  # undecodable UTF-8 bytes of a key are kept as surrogates (surrogateescape)
    dtype: DType
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int
    slices: tuple[TensorSlice, ...] = ()
    part: TensorSlice | None = None
    index_key: bytes = b""

    @property
    def sliced(self) -> bool:
        """True for the logical entry of a tensor stored in slices."""
        return bool(self.slices)

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def row_readable(self) -> bool:
        """True when :func:`read_rows` can read this entry: a fixed-size dtype, rank >= 1,
        and either unsliced or sliced along the first dimension only."""
        return (
            self.dtype.fixed_size
            and len(self.shape) >= 1
            and all(s.rows_only(self.shape) for s in self.slices)
        )


def _parse_header(buf: bytes) -> BundleHeader:
    num_shards = endianness = producer = min_consumer = 0
    bad: list[int] = []
    for f in _fields(buf):
        if f.number == 1:
            num_shards = f.varint("num_shards", 32)
        elif f.number == 2:
            endianness = f.varint("endianness", 32)
        elif f.number == 3:
            for v in _fields(f.message("version")):
                if v.number == 1:
                    producer = v.varint("version.producer", 32)
                elif v.number == 2:
                    min_consumer = v.varint("version.min_consumer", 32)
                elif v.number == 3:
                    bad.extend(v.int32s("version.bad_consumers"))
    if endianness not in (0, 1):
        raise _Malformed(f"the header's endianness is {endianness}, neither LITTLE (0) nor BIG (1)")
    return BundleHeader(
        num_shards=num_shards,
        endianness="little" if endianness == 0 else "big",
        producer=producer,
        min_consumer=min_consumer,
        bad_consumers=tuple(bad),
    )


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims: list[int] = []
    for f in _fields(buf):
        if f.number == 2:
            size = 0
            for d in _fields(f.message("shape.dim")):
                if d.number == 1:
                    size = d.varint("shape.dim.size")
            if size < 0:
                raise _Malformed(f"a dimension has size {size}; stored tensors have known shapes")
            dims.append(size)
        elif f.number == 3 and f.varint("shape.unknown_rank"):
            raise _Malformed("the shape has unknown rank; stored tensors have known shapes")
    return tuple(dims)


def _parse_slice(buf: bytes) -> TensorSlice:
    extents = []
    for f in _fields(buf):
        if f.number != 1:
            continue
        start, length = 0, None
        for e in _fields(f.message("slice.extent")):
            if e.number == 1:
                start = e.varint("extent.start")
            elif e.number == 2:
                length = e.varint("extent.length")
        if length is not None and length < 0:
            length = None  # TF reads a length of -1 as "the whole dimension"
        extents.append(Extent(start, length))
    return TensorSlice(tuple(extents))


def _parse_entry(buf: bytes, key: str, index_key: bytes, byteorder: str) -> BundleEntry:
    dtype = shard_id = offset = size = crc = 0
    shape: tuple[int, ...] = ()
    slices: list[TensorSlice] = []
    for f in _fields(buf):
        if f.number == 1:
            dtype = f.varint("dtype", 32)
        elif f.number == 2:
            shape = _parse_shape(f.message("shape"))
        elif f.number == 3:
            shard_id = f.varint("shard_id", 32)
        elif f.number == 4:
            offset = f.varint("offset")
        elif f.number == 5:
            size = f.varint("size")
        elif f.number == 6:
            crc = f.fixed32("crc32c")
        elif f.number == 7:
            slices.append(_parse_slice(f.message("slices")))
    if dtype <= 0:
        raise _Malformed(f"it has no valid dtype ({dtype})")
    if offset < 0 or size < 0 or shard_id < 0:
        raise _Malformed(f"it has a negative shard, offset or size ({shard_id}, {offset}, {size})")
    for s in slices:
        if len(s.extents) != len(shape):
            raise _Malformed(f"a slice has {len(s.extents)} extents for a rank-{len(shape)} tensor")
        for (start, stop), dim in zip(s.bounds(shape), shape, strict=True):
            if not 0 <= start <= stop <= dim:
                raise _Malformed(f"slice {s.spec} lies outside the shape {list(shape)}")
    return BundleEntry(
        key=key,
        dtype=_dtype(dtype, "<" if byteorder == "little" else ">"),
        shape=shape,
        shard_id=shard_id,
        offset=offset,
        size=size,
        crc32c=crc,
        slices=tuple(slices),
        index_key=index_key,
    )
