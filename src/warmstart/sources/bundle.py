"""A TensorFlow-free reader of TF's tensor-bundle checkpoints (``<prefix>.index`` + data files).

Why it exists: TF's own readers either load a whole tensor (``get_tensor``, ``RestoreV2`` on an
unsliced tensor decodes all of it, see notes §7) or need a TensorFlow import. For huge
embedding tables a warm start wants to stream row ranges straight from the data file with
bounded memory, and still check TF's checksums. This module reads the index itself, finds
each tensor's bytes, reads rows with ``os.preadv`` into numpy buffers, and verifies crc32c.

The format, as TF writes it (``tensorflow/core/util/tensor_bundle``, ``core/lib/io/table*``):

* ``<prefix>.index`` is an SSTable in LevelDB's layout, written uncompressed. It ends in a
  48-byte footer: two block handles (metaindex, index; each two varint64s: offset, size),
  zero padding to 40 bytes, and the magic number ``0xdb4775248b80fb57`` (two little-endian
  uint32s, low half first). Every block is followed by a 5-byte trailer: a compression-type
  byte (0 = none, 1 = snappy) and a fixed32 *masked* crc32c of the block bytes plus that
  type byte. A block holds entries ``varint32 shared, varint32 non_shared, varint32
  value_len, key[shared:], value``, the key sharing ``shared`` leading bytes with the
  previous key (0 at restart points), then ``uint32 restarts[n]`` and ``uint32 n``. The
  index block maps a separator key to each data block's handle.
* Key ``""`` holds a ``BundleHeaderProto`` (num_shards, endianness, version). Every other
  key holds a ``BundleEntryProto``: dtype, shape, shard_id, offset, size, masked crc32c of
  the tensor bytes, and for sliced (partitioned / ``ShardedVariable``) tensors a list of
  ``TensorSliceProto``; then shard_id/offset/size/crc are unused and each slice lives in its
  own entry under the key ``EncodeTensorNameSlice(key, slice)``: OrderedCode of the number
  0 (the byte ``\\x00``), the escaped name (``\\x00`` -> ``\\x00\\xff``, ``\\xff`` ->
  ``\\xff\\x00``) ended by ``\\x00\\x01``, the rank as an OrderedCode number, then per
  dimension the start and the length as OrderedCode *signed* numbers (length -1 = the whole
  dimension). :func:`slice_key` builds it.
* Data files are ``<prefix>.data-%05d-of-%05d``. A fixed-size tensor is its raw bytes in the
  writer's byte order (the header's endianness), row-major. A string tensor is
  ``varint64 len[N]``, a 4-byte masked crc32c of the lengths, then the bytes; its checksum
  covers each length as a uint32 (uint64 above 2**32-1), the 4 checksum bytes and the
  string bytes. A variant tensor is ``[varint64 len][bytes][4-byte masked crc]`` per element.
* Masking (``core/lib/hash/crc32c.h``): ``mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8``
  (mod 2**32): stored checksums are masked so that a crc over bytes that contain crcs stays
  strong. :func:`mask` / :func:`unmask` implement it.

Why ``google-crc32c``: TF checksums with CRC-32C (Castagnoli); the standard library only has
zlib's CRC-32 (another polynomial), and a pure-Python CRC-32C runs at a few MB/s, minutes per
GiB. ``google-crc32c`` is Google's maintained wrapper (googleapis/python-crc32c, Apache-2.0,
used by google-cloud-storage) of the C library that uses the CPU's CRC instructions (about
8 GB/s measured here), ships wheels for the common platforms, has no dependencies, and its
``extend(crc, chunk)`` lets :func:`verify` stream a tensor in bounded memory.

Nothing here imports TensorFlow. Errors: a missing index or data file raises
:class:`~warmstart.errors.CheckpointNotFoundError`; anything malformed, damaged or truncated
raises :class:`~warmstart.errors.CheckpointReadError` naming the file, what is wrong and what
to do. Wrong arguments (a row range outside the tensor, a string tensor asked for rows, an
``out`` of the wrong shape) raise ``ValueError``.
"""

from __future__ import annotations

import difflib
import math
import operator
import os
import struct
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal

import google_crc32c
import numpy as np

from ..errors import CheckpointNotFoundError, CheckpointReadError

__all__ = [
    "BundleEntry",
    "BundleHeader",
    "BundleIndex",
    "DType",
    "Extent",
    "TensorSlice",
    "data_path",
    "decode_slice_key",
    "index_path",
    "mask",
    "read_index",
    "read_rows",
    "read_tensor",
    "slice_key",
    "unmask",
    "verify",
]

_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48  # two handles padded to 2 * 20 bytes, then the 8-byte magic
_TRAILER_SIZE = 5  # compression type byte + fixed32 masked crc
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_BUNDLE_VERSION = 1  # the newest bundle format version this reader understands (TF's too)
_MAX_PREADV = 0x7FFFF000  # Linux returns at most this many bytes per read call

# ----------------------------------------------------------------------------- dtypes


@dataclass(frozen=True)
class DType:
    """A TF ``DataType`` as stored in the index.

    ``enum`` is the ``DataType`` number (``tf.DType.as_datatype_enum``), ``name`` the TF name
    (``tf.DType.name``). ``itemsize`` is None for variable-size types (string, variant,
    resource). ``numpy`` is the exact numpy dtype when numpy has one (float16 yes, bfloat16
    no); ``storage`` is a numpy dtype with the same bytes (``uint16`` for bfloat16, ``int8``
    for qint8), which is what :func:`read_rows` fills when ``numpy`` is None.
    """

    enum: int
    name: str
    itemsize: int | None
    numpy: np.dtype | None
    storage: np.dtype | None

    @property
    def fixed_size(self) -> bool:
        """True when every element has ``itemsize`` bytes, so rows sit at computable offsets."""
        return self.itemsize is not None


_STRING, _RESOURCE, _VARIANT = 7, 20, 21

# enum: (TF name, exact numpy dtype or None, storage dtype or None). Numbers from types.proto.
_DTYPES: dict[int, tuple[str, str | None, str | None]] = {
    1: ("float32", "float32", "float32"),
    2: ("float64", "float64", "float64"),
    3: ("int32", "int32", "int32"),
    4: ("uint8", "uint8", "uint8"),
    5: ("int16", "int16", "int16"),
    6: ("int8", "int8", "int8"),
    _STRING: ("string", None, None),
    8: ("complex64", "complex64", "complex64"),
    9: ("int64", "int64", "int64"),
    10: ("bool", "bool", "bool"),
    11: ("qint8", None, "int8"),
    12: ("quint8", None, "uint8"),
    13: ("qint32", None, "int32"),
    14: ("bfloat16", None, "uint16"),
    15: ("qint16", None, "int16"),
    16: ("quint16", None, "uint16"),
    17: ("uint16", "uint16", "uint16"),
    18: ("complex128", "complex128", "complex128"),
    19: ("float16", "float16", "float16"),
    _RESOURCE: ("resource", None, None),
    _VARIANT: ("variant", None, None),
    22: ("uint32", "uint32", "uint32"),
    23: ("uint64", "uint64", "uint64"),
    24: ("float8_e5m2", None, "uint8"),
    25: ("float8_e4m3fn", None, "uint8"),
    26: ("float8_e4m3fnuz", None, "uint8"),
    27: ("float8_e4m3b11fnuz", None, "uint8"),
    28: ("float8_e5m2fnuz", None, "uint8"),
    29: ("int4", None, "int8"),
    30: ("uint4", None, "uint8"),
    31: ("int2", None, "int8"),
    32: ("uint2", None, "uint8"),
    33: ("float4_e2m1fn", None, "uint8"),
}


def _dtype(enum: int, byteorder: Literal["<", ">"]) -> DType:
    """The :class:`DType` of a ``DataType`` number; unknown numbers are kept, not fatal,
    so a checkpoint from a newer TF still lists (and verifies) its other tensors."""
    if enum not in _DTYPES:
        return DType(enum, f"dtype_{enum}", None, None, None)
    name, exact, storage = _DTYPES[enum]
    store = np.dtype(storage).newbyteorder(byteorder) if storage else None
    return DType(
        enum=enum,
        name=name,
        itemsize=store.itemsize if store is not None else None,
        numpy=np.dtype(exact).newbyteorder(byteorder) if exact else None,
        storage=store,
    )


# ----------------------------------------------------------------------------- slices


@dataclass(frozen=True)
class Extent:
    """One dimension of a :class:`TensorSlice`: ``length`` None means the whole dimension."""

    start: int
    length: int | None

    def bounds(self, dim: int) -> tuple[int, int]:
        """``(start, stop)`` within a dimension of size ``dim``."""
        return (0, dim) if self.length is None else (self.start, self.start + self.length)


@dataclass(frozen=True)
class TensorSlice:
    """The part of a tensor one stored slice holds (TF's ``TensorSliceProto``)."""

    extents: tuple[Extent, ...]

    def bounds(self, shape: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """Per-dimension ``(start, stop)`` inside the full tensor of ``shape``."""
        return tuple(e.bounds(d) for e, d in zip(self.extents, shape, strict=True))

    def shape(self, full_shape: Sequence[int]) -> tuple[int, ...]:
        """The shape of the slice's own tensor."""
        return tuple(stop - start for start, stop in self.bounds(full_shape))

    @property
    def spec(self) -> str:
        """TF's text form (``"0,5:-"``), as ``RestoreV2``'s ``shape_and_slices`` takes it."""
        return ":".join("-" if e.length is None else f"{e.start},{e.length}" for e in self.extents)

    def rows_only(self, full_shape: Sequence[int]) -> bool:
        """True when the slice spans every dimension but the first (how ShardedVariable
        saves; TF 2.21 writes those spans as explicit ``0,n`` extents, not ``-``)."""
        spans = self.bounds(full_shape)[1:]
        return all(span == (0, dim) for span, dim in zip(spans, full_shape[1:], strict=True))


# ----------------------------------------------------------------------------- entries


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


@dataclass(frozen=True)
class BundleIndex:
    """A parsed ``<prefix>.index``.

    ``entries`` maps every tensor key to its logical entry (the header and the physical slice
    entries left out, as ``tf.train.load_checkpoint(...).get_variable_to_shape_map()`` does);
    :meth:`parts` gives a sliced tensor's physical entries.
    """

    prefix: str
    path: str
    header: BundleHeader
    entries: Mapping[str, BundleEntry]
    slice_entries: Mapping[str, tuple[BundleEntry, ...]]

    def entry(self, key: str) -> BundleEntry:
        """The entry of ``key``; a missing key raises CheckpointReadError with near names."""
        try:
            return self.entries[key]
        except KeyError:
            near = difflib.get_close_matches(key, list(self.entries), n=3)
            hint = f" Close keys: {', '.join(map(repr, near))}." if near else ""
            raise CheckpointReadError(
                f"checkpoint {self.prefix!r} has no tensor {key!r}.{hint}\n"
                f"  Fix: use one of the keys of read_index(prefix).entries."
            ) from None

    def parts(self, key: str) -> tuple[BundleEntry, ...]:
        """The physical entries of a sliced tensor, in the order of its ``slices``; an
        unsliced tensor gives its own entry alone."""
        entry = self.entry(key)
        return self.slice_entries[key] if entry.sliced else (entry,)

    def data_path(self, entry: BundleEntry) -> str:
        """The data file holding ``entry``'s bytes."""
        return data_path(self.prefix, entry.shard_id, self.header.num_shards)


def index_path(prefix: str | os.PathLike[str]) -> str:
    """``<prefix>.index``."""
    return os.fspath(prefix) + ".index"


def data_path(prefix: str | os.PathLike[str], shard_id: int, num_shards: int) -> str:
    """``<prefix>.data-<shard_id>-of-<num_shards>``, both zero-padded to 5 digits as TF does."""
    if not 0 <= shard_id < num_shards:
        raise CheckpointReadError(
            f"checkpoint {os.fspath(prefix)!r}: shard {shard_id} is outside 0..{num_shards - 1}; "
            f"the index is damaged.\n  Fix: use another checkpoint."
        )
    return f"{os.fspath(prefix)}.data-{shard_id:05d}-of-{num_shards:05d}"


# ----------------------------------------------------------------------------- crc32c


def mask(crc: int) -> int:
    """TF's stored form of a crc32c: rotate right by 15 bits, add ``0xa282ead8``."""
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def unmask(masked: int) -> int:
    """The crc32c whose :func:`mask` is ``masked``."""
    rot = (masked - _MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32


def _crc_extend(crc: int, data: bytes | np.ndarray) -> int:
    """``google_crc32c.extend`` without a copy: it takes only read-only buffers, so numpy
    chunks are passed as a read-only view (bytes as they are)."""
    if isinstance(data, np.ndarray):
        view = data.view()
        view.flags.writeable = False
        try:
            return google_crc32c.extend(crc, view)
        except TypeError:  # a build that rejects array buffers: pay one copy
            return google_crc32c.extend(crc, view.tobytes())
    return google_crc32c.extend(crc, data)


# ----------------------------------------------------------------------------- varints / protobuf


class _Malformed(Exception):
    """Internal: what is wrong, turned into CheckpointReadError with the file's path."""


def _varint(buf: Any, pos: int, limit: int | None = None) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return ``(value, next_pos)``."""
    end = len(buf) if limit is None else limit
    result = shift = 0
    while True:
        if pos >= end:
            raise _Malformed("a varint runs past the end of its data")
        byte = int(buf[pos])  # int(): numpy uint8 would overflow on the shift
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Malformed("a varint is longer than 10 bytes")


def _signed(value: int, bits: int = 64) -> int:
    """Protobuf int32/int64 fields are two's complement in a uint64 varint."""
    value &= (1 << 64) - 1
    if value >= 1 << 63:
        value -= 1 << 64
    if bits == 32 and not -(1 << 31) <= value < 1 << 31:
        raise _Malformed(f"an int32 field holds {value}")
    return value


@dataclass(frozen=True)
class _Field:
    """One protobuf field as read off the wire; the accessors check its wire type."""

    number: int
    wire: int
    value: int | bytes

    def _want(self, wire: int, what: str) -> None:
        if self.wire != wire:
            raise _Malformed(f"field {what} has wire type {self.wire}, expected {wire}")

    def varint(self, what: str, bits: int = 64) -> int:
        """An int32 / int64 / enum / bool field (two's complement in a uint64 varint)."""
        self._want(0, what)
        assert isinstance(self.value, int)
        return _signed(self.value, bits)

    def fixed32(self, what: str) -> int:
        self._want(5, what)
        assert isinstance(self.value, int)
        return self.value

    def message(self, what: str) -> bytes:
        self._want(2, what)
        assert isinstance(self.value, bytes)
        return self.value

    def int32s(self, what: str) -> list[int]:
        """A repeated int32 field: one varint, or a packed run of them."""
        if self.wire == 0:
            return [self.varint(what, 32)]
        packed, out, pos = self.message(what), [], 0
        while pos < len(packed):
            v, pos = _varint(packed, pos)
            out.append(_signed(v, 32))
        return out


def _fields(buf: bytes) -> Iterator[_Field]:
    """Protobuf wire format, field by field. Unknown fields are yielded too (callers skip
    them); groups (wire types 3, 4) are not valid in these messages."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise _Malformed("a protobuf field has number 0")
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(buf):
                raise _Malformed("a fixed-width field runs past the end")
            value, pos = int.from_bytes(buf[pos : pos + width], "little"), pos + width
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise _Malformed("a length-delimited field runs past the end")
            value, pos = bytes(buf[pos : pos + n]), pos + n
        else:
            raise _Malformed(f"protobuf wire type {wire} is not valid here")
        yield _Field(number, wire, value)


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


# ----------------------------------------------------------------------------- slice keys (OrderedCode)


def _num_increasing(value: int) -> bytes:
    """OrderedCode unsigned number: a length byte, then the big-endian bytes (0 -> ``\\x00``)."""
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(body)]) + body


def _signed_increasing(value: int) -> bytes:
    """OrderedCode signed number: L bytes of two's complement whose first L bits (then one
    delimiter bit) are flipped to spell the length; L is the least with |value| < 2**(7L-1)."""
    magnitude = ~value if value < 0 else value
    length = 1
    while magnitude >= 1 << (7 * length - 1):
        length += 1
    if length > 10:
        raise ValueError(f"{value} does not fit in 64 bits")
    bits = 8 * length
    header = ((1 << length) - 1) << (bits - length)
    return ((value & ((1 << bits) - 1)) ^ header).to_bytes(length, "big")


_ESCAPES = {0x00: b"\x00\xff", 0xFF: b"\xff\x00"}


def _escape(name: bytes) -> bytes:
    """OrderedCode string body: ``\\x00`` and ``\\xff`` are escaped (in one pass)."""
    return b"".join(_ESCAPES.get(b, bytes((b,))) for b in name)


def slice_key(key: str, part: TensorSlice) -> bytes:
    """The index key of one stored slice of ``key`` (TF's ``EncodeTensorNameSlice``)."""
    out = [_num_increasing(0), _escape(key.encode("utf-8", "surrogateescape")), b"\x00\x01"]
    out.append(_num_increasing(len(part.extents)))
    for e in part.extents:
        out.append(_signed_increasing(e.start))
        out.append(_signed_increasing(-1 if e.length is None else e.length))
    return b"".join(out)


def _read_num(buf: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(buf) or buf[pos] > 8 or pos + 1 + buf[pos] > len(buf):
        raise _Malformed("a bad OrderedCode number")
    n = buf[pos]
    return int.from_bytes(buf[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while True:
        i = min((j for j in (buf.find(b"\x00", pos), buf.find(b"\xff", pos)) if j >= 0), default=-1)
        if i < 0 or i + 1 >= len(buf):
            raise _Malformed("an OrderedCode string has no terminator")
        out += buf[pos:i]
        pair = buf[i : i + 2]
        if pair == b"\x00\x01":
            return bytes(out), i + 2
        if pair == b"\x00\xff":
            out += b"\x00"
        elif pair == b"\xff\x00":
            out += b"\xff"
        else:
            raise _Malformed("a bad escape in an OrderedCode string")
        pos = i + 2


def _leading_ones(byte: int) -> int:
    return 8 - (byte ^ 0xFF).bit_length()


def _read_signed(buf: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise _Malformed("a signed OrderedCode number is missing")
    flip = 0 if buf[pos] & 0x80 else 0xFF  # negative numbers: invert, decode, invert back
    first = buf[pos] ^ flip
    if first != 0xFF:
        length = _leading_ones(first)
    else:
        if pos + 1 >= len(buf):
            raise _Malformed("a signed OrderedCode number is cut short")
        length = 8 + _leading_ones(buf[pos + 1] ^ flip)
    if length > 10 or pos + length > len(buf):
        raise _Malformed("a bad signed OrderedCode number")
    raw = int.from_bytes(bytes(b ^ flip for b in buf[pos : pos + length]), "big")
    magnitude = raw & ((1 << (7 * length - 1)) - 1)
    return (~magnitude if flip else magnitude), pos + length


def decode_slice_key(raw: bytes) -> tuple[str, TensorSlice]:
    """Inverse of :func:`slice_key`: the tensor key and the slice a physical key names."""
    try:
        zero, pos = _read_num(raw, 0)
        if zero != 0:
            raise _Malformed("a slice key must start with the number 0")
        name, pos = _read_string(raw, pos)
        rank, pos = _read_num(raw, pos)
        extents = []
        for _ in range(rank):
            start, pos = _read_signed(raw, pos)
            length, pos = _read_signed(raw, pos)
            extents.append(Extent(start, None if length < 0 else length))
        if pos != len(raw):
            raise _Malformed("trailing bytes after the slice")
        return name.decode("utf-8", "surrogateescape"), TensorSlice(tuple(extents))
    except _Malformed as e:
        raise ValueError(f"{raw!r} is not a tensor-slice key: {e}") from None


# ----------------------------------------------------------------------------- SSTable


def _handle(buf: bytes, pos: int) -> tuple[tuple[int, int], int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return (offset, size), pos


def _read_block(data: bytes, handle: tuple[int, int], what: str) -> memoryview:
    """A block's bytes after checking its trailer's crc and compression type."""
    offset, size = handle
    end = offset + size
    if end + _TRAILER_SIZE > len(data) - _FOOTER_SIZE:
        raise _Malformed(
            f"the {what} block [{offset}, {end + _TRAILER_SIZE}) runs past the end of the file "
            f"({len(data)} bytes): the file is truncated"
        )
    stored = int.from_bytes(data[end + 1 : end + _TRAILER_SIZE], "little")
    actual = google_crc32c.value(bytes(data[offset : end + 1]))
    if unmask(stored) != actual:
        raise _Malformed(
            f"the {what} block at byte {offset} fails its crc32c check (stored "
            f"{unmask(stored):08x}, computed {actual:08x}): the file is damaged"
        )
    kind = data[end]
    if kind == 1:
        raise _Malformed(
            f"the {what} block at byte {offset} is snappy-compressed; TF writes indexes "
            f"uncompressed and this reader does not decompress"
        )
    if kind != 0:
        raise _Malformed(f"the {what} block at byte {offset} has unknown compression type {kind}")
    return memoryview(data)[offset:end]


def _block_items(block: memoryview, what: str) -> Iterator[tuple[bytes, memoryview]]:
    """The (key, value) pairs of a block, undoing the shared-prefix key compression and
    checking that every restart point is an entry stored with a full key."""
    if len(block) < 4:
        raise _Malformed(f"the {what} block is shorter than its restart count")
    count = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 - 4 * count
    if count < 1 or limit < 0:
        raise _Malformed(f"the {what} block has a bad restart count ({count})")
    restarts = set(struct.unpack_from(f"<{count}I", block, limit))
    key = b""
    pos = 0
    while pos < limit:
        start = pos
        shared, pos = _varint(block, pos, limit)
        unshared, pos = _varint(block, pos, limit)
        length, pos = _varint(block, pos, limit)
        if shared > len(key) or pos + unshared + length > limit:
            raise _Malformed(f"an entry of the {what} block at byte {start} is malformed")
        if start in restarts:
            if shared:
                raise _Malformed(f"a restart point of the {what} block shares a key prefix")
            restarts.discard(start)
        key = key[:shared] + bytes(block[pos : pos + unshared])
        pos += unshared
        yield key, block[pos : pos + length]
        pos += length
    if restarts - {0}:
        raise _Malformed(f"the {what} block's restart points do not match its entries")


def _table_items(data: bytes) -> Iterator[tuple[bytes, memoryview]]:
    """Every (key, value) of an SSTable, in order, each block's crc checked."""
    if len(data) < _FOOTER_SIZE:
        raise _Malformed(
            f"the file has {len(data)} bytes, fewer than the {_FOOTER_SIZE}-byte footer of an "
            f"index: it is truncated or not a checkpoint index"
        )
    footer = data[-_FOOTER_SIZE:]
    if int.from_bytes(footer[-8:], "little") != _MAGIC:
        raise _Malformed(
            "it does not end in the SSTable magic number: it is not a TF checkpoint index, "
            "or it is truncated"
        )
    meta, pos = _handle(footer, 0)
    index, _ = _handle(footer, pos)
    for _ in _block_items(_read_block(data, meta, "metaindex"), "metaindex"):
        pass  # TF writes it empty; reading it checks its crc and layout
    last = None
    for separator, value in _block_items(_read_block(data, index, "index"), "index"):
        handle, used = _handle(bytes(value), 0)
        if used != len(value):
            raise _Malformed("an index block entry is not a block handle")
        for key, item in _block_items(_read_block(data, handle, "data"), "data"):
            if last is not None and key <= last:
                raise _Malformed(f"keys are out of order ({last!r} then {key!r})")
            if key > separator:
                raise _Malformed(f"key {key!r} lies beyond its block's index key")
            last = key
            yield key, item


# ----------------------------------------------------------------------------- read_index


def _open_error(path: str, e: OSError, what: str) -> Exception:
    if isinstance(e, FileNotFoundError):
        return CheckpointNotFoundError(
            f"no {what} at {path!r}: the file does not exist.\n"
            f"  Fix: check the checkpoint prefix; a bundle needs <prefix>.index and its "
            f"<prefix>.data-NNNNN-of-NNNNN files side by side."
        )
    return CheckpointReadError(f"cannot read the {what} {path!r}: {e.strerror or e}.")


def read_index(prefix: str | os.PathLike[str]) -> BundleIndex:
    """Parse ``<prefix>.index`` into a :class:`BundleIndex` (every block crc checked)."""
    prefix = os.fspath(prefix)
    path = index_path(prefix)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise _open_error(path, e, "checkpoint index") from None
    try:
        return _parse_index(prefix, path, data)
    except _Malformed as e:
        raise CheckpointReadError(
            f"cannot read the checkpoint index {path!r}: {e}.\n"
            f"  Fix: the index is damaged or not a TF checkpoint index; restore it or use "
            f"another checkpoint."
        ) from None


def _parse_index(prefix: str, path: str, data: bytes) -> BundleIndex:
    items = _table_items(data)
    first = next(items, None)
    if first is None or first[0] != b"":
        raise _Malformed('its first key is not the header key ""')
    try:
        header = _parse_header(bytes(first[1]))
    except _Malformed as e:
        raise _Malformed(f"the header does not decode as a BundleHeaderProto ({e})") from None
    _check_header(header)
    entries: dict[str, BundleEntry] = {}
    physical: dict[bytes, BundleEntry] = {}
    for raw, value in items:
        entry = _decode_entry(raw, bytes(value), header)
        if entry.part is None:
            entries[entry.key] = entry
        else:
            physical[raw] = entry
    slice_entries = {k: _parts_of(e, physical) for k, e in entries.items() if e.sliced}
    return BundleIndex(
        prefix=prefix,
        path=path,
        header=header,
        entries=MappingProxyType(entries),
        slice_entries=MappingProxyType(slice_entries),
    )


def _check_header(header: BundleHeader) -> None:
    if header.num_shards < 1:
        raise _Malformed(f"the header says {header.num_shards} data shards")
    if header.min_consumer > _BUNDLE_VERSION or _BUNDLE_VERSION in header.bad_consumers:
        raise _Malformed(
            f"it needs bundle format version >= {header.min_consumer} (this reader knows "
            f"{_BUNDLE_VERSION}); it was written by a newer TensorFlow"
        )


def _decode_entry(raw: bytes, value: bytes, header: BundleHeader) -> BundleEntry:
    part = None
    try:
        if raw.startswith(b"\x00"):
            key, part = decode_slice_key(raw)
        else:
            key = raw.decode("utf-8", "surrogateescape")
    except ValueError as e:
        raise _Malformed(f"key {raw!r} does not decode ({e})") from None
    try:
        entry = _parse_entry(value, key, raw, header.endianness)
    except _Malformed as e:
        raise _Malformed(f"the entry of {raw!r} does not decode as a BundleEntryProto: {e}") from None
    if part is not None:
        entry = replace(entry, part=part)
    if not entry.sliced and entry.shard_id >= header.num_shards:
        raise _Malformed(f"{key!r} is in shard {entry.shard_id} of {header.num_shards}")
    return entry


def _parts_of(entry: BundleEntry, physical: Mapping[bytes, BundleEntry]) -> tuple[BundleEntry, ...]:
    parts = []
    for s in entry.slices:
        part = physical.get(slice_key(entry.key, s))
        if part is None:
            raise _Malformed(f"{entry.key!r} lists slice {s.spec} but the index has no entry for it")
        if part.shape != s.shape(entry.shape) or part.dtype != entry.dtype:
            raise _Malformed(
                f"slice {s.spec} of {entry.key!r} is stored as {part.dtype.name}{list(part.shape)}, "
                f"expected {entry.dtype.name}{list(s.shape(entry.shape))}"
            )
        parts.append(part)
    return tuple(parts)


# ----------------------------------------------------------------------------- data files


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

    def __enter__(self) -> _DataFile:
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


# ----------------------------------------------------------------------------- verify


class _Stream:
    """Sequential reads of ``[offset, offset + size)`` of a data file through one reusable
    buffer of at most ``chunk`` bytes: how :func:`verify` keeps memory bounded."""

    def __init__(self, f: _DataFile, chunk: int) -> None:
        self.file = f
        self.next = f.entry.offset  # file position of the next byte to load
        self.end = f.entry.offset + f.entry.size
        self.buf = np.empty(max(16, min(chunk, f.entry.size)), dtype=np.uint8)
        self.lo = self.hi = 0  # buffered, unconsumed bytes: buf[lo:hi]

    @property
    def remaining(self) -> int:
        return self.hi - self.lo + self.end - self.next

    def peek(self, want: int = 1) -> np.ndarray:
        """At least ``min(want, remaining)`` buffered bytes (more when available)."""
        if self.hi - self.lo < min(want, self.remaining):
            kept = self.hi - self.lo
            self.buf[:kept] = self.buf[self.lo : self.hi]
            n = min(len(self.buf) - kept, self.end - self.next)
            self.file.read_into(self.buf[kept : kept + n], self.next)
            self.next += n
            self.lo, self.hi = 0, kept + n
        return self.buf[self.lo : self.hi]

    def take(self, n: int) -> np.ndarray:
        """Exactly ``n`` bytes (n <= 16), or a damaged-entry error."""
        data = self.peek(n)
        if len(data) < n:
            raise _Malformed("the entry ends in the middle of an element")
        self.lo += n
        return data[:n]

    def varint(self) -> int:
        data = self.peek(10)
        value, used = _varint(data, 0)
        self.lo += used
        return value

    def crc(self, crc: int, n: int) -> int:
        """Extend ``crc`` over the next ``n`` bytes."""
        while n > 0:
            data = self.peek(n)
            if not len(data):
                raise _Malformed("the element bytes run past the entry's size")
            m = min(n, len(data))
            crc = _crc_extend(crc, data[:m])
            self.lo += m
            n -= m
        return crc


def verify(
    prefix: str | os.PathLike[str], index: BundleIndex, key: str | BundleEntry, chunk_bytes: int = 64 << 20
) -> None:
    """Check a tensor's bytes against the crc32c TF stored, streaming ``chunk_bytes`` at a
    time. A sliced tensor is checked slice by slice. Raises CheckpointReadError naming the
    key and the file on a mismatch, a truncated file or a malformed string/variant tensor."""
    entry = _resolve(index, key)
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    for part in index.parts(entry.key) if entry.sliced else (entry,):
        _verify_one(_data_file(prefix, index, part), part, index.header.endianness, chunk_bytes)


def _verify_one(path: str, entry: BundleEntry, endianness: str, chunk: int) -> None:
    with _DataFile(path, entry) as f:
        stream = _Stream(f, chunk)
        try:
            if entry.dtype.enum == _STRING:
                crc = _string_crc(stream, entry, endianness)
            elif entry.dtype.enum == _VARIANT:
                crc = _variant_crc(stream, entry, endianness)
            else:
                crc = _pipelined_crc(f, entry.offset, entry.size, chunk)
        except _Malformed as e:
            raise CheckpointReadError(
                f"{_what(entry)} in {path!r} is damaged: {e}.\n"
                f"  Fix: restore the file from a backup or use another checkpoint."
            ) from None
    if crc != unmask(entry.crc32c):
        raise CheckpointReadError(
            f"{_what(entry)} fails its crc32c check in {path!r} (bytes [{entry.offset}, "
            f"{entry.offset + entry.size})): stored {unmask(entry.crc32c):08x}, computed "
            f"{crc:08x}. The data file is damaged.\n"
            f"  Fix: restore the file from a backup or use another checkpoint."
        )


def _pipelined_crc(f: _DataFile, offset: int, size: int, chunk: int) -> int:
    """crc32c of ``size`` bytes at ``offset``, reading the next half-chunk in a thread while
    the current one is checksummed: preadv releases the GIL and crc32c does not, so the two
    overlap and a warm-cache pass costs about one read instead of a read plus a checksum."""
    half = max(1 << 16, min(chunk // 2, size))
    buffers = (np.empty(half, np.uint8), np.empty(half, np.uint8))

    def load(k: int, at: int) -> np.ndarray:
        n = min(half, offset + size - at)
        f.read_into(buffers[k][:n], at)
        return buffers[k][:n]

    crc, at, k = 0, offset, 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, k, at) if size else None
        while pending is not None:
            data = pending.result()
            at += len(data)
            k ^= 1
            pending = pool.submit(load, k, at) if at < offset + size else None
            crc = _crc_extend(crc, data)
    return crc


def _decode_varints(data: np.ndarray, limit: int) -> tuple[np.ndarray, int]:
    """Up to ``limit`` complete varints at the start of ``data``, decoded with numpy (a
    vocabulary can hold millions of strings); return them and the bytes they used."""
    ends = np.flatnonzero(data < 0x80)[:limit]
    if not ends.size:
        if len(data) >= 10:
            raise _Malformed("a string length is longer than 10 bytes")
        return np.empty(0, np.uint64), 0
    used = int(ends[-1]) + 1
    starts = np.concatenate(([0], ends[:-1] + 1))
    widths = ends - starts + 1
    if int(widths.max()) > 10:
        raise _Malformed("a string length is longer than 10 bytes")
    shifts = (7 * (np.arange(used) - np.repeat(starts, widths))).astype(np.uint64)
    parts = (data[:used] & 0x7F).astype(np.uint64) << shifts
    return np.add.reduceat(parts, starts), used


def _string_crc(stream: _Stream, entry: BundleEntry, endianness: str) -> int:
    """TF's string checksum: lengths as uint32 (uint64 if larger), the stored masked
    length-checksum (checked too), then the string bytes."""
    order = "<" if endianness == "little" else ">"
    crc, total, left = 0, 0, entry.num_elements
    while left:
        data = stream.peek(10)
        if not len(data):
            raise _Malformed("the string lengths run past the entry's size")
        lengths, used = _decode_varints(data, left)
        if not used and len(data) == stream.remaining:
            raise _Malformed("the string lengths run past the entry's size")
        stream.lo += used
        left -= len(lengths)
        total += int(lengths.sum(dtype=np.uint64)) if len(lengths) else 0
        crc = _crc_extend(crc, _length_bytes(lengths, order))
    checksum = stream.take(4)
    stored = int.from_bytes(checksum.tobytes(), "little" if order == "<" else "big")
    if unmask(stored) != crc:
        raise _Malformed(
            f"the checksum of its string lengths does not match (stored {unmask(stored):08x}, "
            f"computed {crc:08x})"
        )
    crc = _crc_extend(crc, checksum.tobytes())
    if total != stream.remaining:
        raise _Malformed(f"its strings add up to {total} bytes but {stream.remaining} are stored")
    return stream.crc(crc, total)


def _length_bytes(lengths: np.ndarray, order: str) -> bytes:
    if not len(lengths) or int(lengths.max()) <= _U32:
        return lengths.astype(order + "u4").tobytes()
    return b"".join(
        int(n).to_bytes(4 if n <= _U32 else 8, "little" if order == "<" else "big") for n in lengths
    )


def _variant_crc(stream: _Stream, entry: BundleEntry, endianness: str) -> int:
    """TF's variant checksum: per element the length as uint64, the bytes, then a stored
    masked running checksum (checked, then folded in)."""
    byteorder: Literal["little", "big"] = "little" if endianness == "little" else "big"
    crc = 0
    for i in range(entry.num_elements):
        length = stream.varint()
        crc = _crc_extend(crc, length.to_bytes(8, byteorder))
        if length > stream.remaining:
            raise _Malformed(f"variant element {i} runs past the entry's size")
        crc = stream.crc(crc, length)
        checksum = stream.take(4).tobytes()
        if unmask(int.from_bytes(checksum, byteorder)) != crc:
            raise _Malformed(f"the checksum after variant element {i} does not match")
        crc = _crc_extend(crc, checksum)
    if stream.remaining:
        raise _Malformed(f"{stream.remaining} bytes follow its last variant element")
    return crc
