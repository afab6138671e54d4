"""String tensors read whole and verified: TF's layout (``varint64`` lengths, a masked crc32c of
the lengths, then the bytes) decoded with numpy, without a Python object per string."""

from __future__ import annotations

import numpy as np

from ...errors import CheckpointReadError
from .checksum import _crc_extend, unmask
from .dtypes import _STRING
from .entries import BundleEntry
from .index import BundleIndex
from .rows import Files, _data_file, _resolve, _what, crc_error
from .verify import _decode_varints, _length_bytes
from .wire import _Malformed

__all__ = ["read_strings"]


def read_strings(src: Files, index: BundleIndex, key: str | BundleEntry) -> tuple[np.ndarray, np.ndarray]:
    """A string tensor as ``(lengths, data)``: each element's length (uint64, in row-major
    order; reshape to ``entry.shape``) and all their bytes back to back (uint8). Checked
    against the crc32c TF stored. Memory: the stored bytes plus 8 bytes an element."""
    entry = _resolve(index, key)
    if entry.dtype.enum != _STRING or entry.sliced:
        raise ValueError(f"{_what(entry)} is not an unsliced string tensor")
    buf = np.empty(entry.size, np.uint8)
    with _data_file(src, index, entry) as f:
        f.read_into(buf, entry.offset)
        try:
            lengths, data, crc = _decode(buf, entry, index.header.endianness)
        except _Malformed as e:
            raise CheckpointReadError(
                f"{_what(entry)} in {f.path!r} is damaged: {e}.\n"
                f"  Fix: restore the file from a backup or use another checkpoint."
            ) from None
        if crc != unmask(entry.crc32c):
            raise crc_error(entry, f.path, crc)
    return lengths, data


def _decode(buf: np.ndarray, entry: BundleEntry, endianness: str) -> tuple[np.ndarray, np.ndarray, int]:
    n = entry.num_elements
    parts, used, count = [], 0, 0
    while count < n:  # in blocks: the scan for varint ends must not see the string bytes
        part, step = _decode_varints(buf[used : used + (1 << 20)], n - count)
        if not step:
            raise _Malformed("the string lengths run past the entry's size")
        parts.append(part)
        used += step
        count += len(part)
    lengths = np.concatenate(parts) if parts else np.empty(0, np.uint64)
    del parts
    order = "<" if endianness == "little" else ">"
    crc = _crc_extend(0, _length_bytes(lengths, order))
    checksum = buf[used : used + 4]
    if len(checksum) != 4:
        raise _Malformed("the entry ends before the checksum of its string lengths")
    stored = int.from_bytes(checksum.tobytes(), "little" if order == "<" else "big")
    if unmask(stored) != crc:
        raise _Malformed(
            f"the checksum of its string lengths does not match (stored {unmask(stored):08x}, computed {crc:08x})"
        )
    crc = _crc_extend(crc, checksum)
    data = buf[used + 4 :]
    total = int(lengths.sum(dtype=np.uint64)) if n else 0
    if total != len(data):
        raise _Malformed(f"its strings add up to {total} bytes but {len(data)} are stored")
    return lengths, data, _crc_extend(crc, data)
