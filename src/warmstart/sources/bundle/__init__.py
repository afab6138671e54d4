"""A TensorFlow-free reader of TF's tensor-bundle checkpoints (``<prefix>.index`` + data files).

Why it exists: TF's own readers either load a whole tensor (``get_tensor``, ``RestoreV2`` on an
unsliced tensor decodes all of it, see notes §7) or need a TensorFlow import. For huge
embedding tables a warm start wants to stream row ranges straight from the data file with
bounded memory, and still check TF's checksums. This package reads the index itself, finds
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

The package, one job a module: ``wire`` (varints, protobuf fields), ``dtypes`` (TF
``DataType`` numbers), ``slices`` (tensor slices and their OrderedCode keys), ``checksum``
(masked crc32c, and combining the crcs of consecutive pieces), ``sstable`` (the index file's
table layout), ``entries`` (header and entry protos), ``index`` (:func:`read_index`, file
paths), ``files`` (:class:`BundleFiles`: the index and every data file opened once, the
snapshot a warm start reads from), ``rows`` (:func:`read_rows`, :func:`read_tensor`),
``strings`` (:func:`read_strings`), ``verify`` (:func:`verify`, streamed, with row-range
fingerprints). Every reading function takes a prefix (each call opens by path) or a
:class:`BundleFiles` (reads go through its held descriptors).
"""

from __future__ import annotations

from .checksum import CrcJoiner, crc_combine, mask, unmask
from .dtypes import DType
from .entries import BundleEntry, BundleHeader
from .files import BundleFiles
from .index import BundleIndex, data_path, index_path, parse_index, read_index
from .rows import read_rows, read_tensor, row_pieces
from .slices import Extent, TensorSlice, decode_slice_key, slice_key
from .strings import StringSpan, read_string_rows, read_strings, verify_string_rows
from .verify import verify

__all__ = [
    "BundleEntry",
    "BundleFiles",
    "BundleHeader",
    "BundleIndex",
    "CrcJoiner",
    "DType",
    "Extent",
    "StringSpan",
    "TensorSlice",
    "crc_combine",
    "data_path",
    "decode_slice_key",
    "index_path",
    "mask",
    "parse_index",
    "read_index",
    "read_rows",
    "read_string_rows",
    "read_strings",
    "read_tensor",
    "row_pieces",
    "slice_key",
    "unmask",
    "verify",
    "verify_string_rows",
]
