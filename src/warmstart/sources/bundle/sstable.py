"""The LevelDB-layout SSTable of ``<prefix>.index``: footer, block trailers (crc, compression),
shared-prefix block entries, every (key, value) in order."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import google_crc32c

from .checksum import unmask
from .wire import _Malformed, _varint

_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48  # two handles padded to 2 * 20 bytes, then the 8-byte magic
_TRAILER_SIZE = 5  # compression type byte + fixed32 masked crc

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
