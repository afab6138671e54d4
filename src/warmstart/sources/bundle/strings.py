"""String tensors read whole and verified: TF's layout (``varint64`` lengths, a masked crc32c of
the lengths, then the bytes) decoded with numpy, without a Python object per string."""

from __future__ import annotations

import numpy as np

from .checksum import CrcJoiner, _crc_extend, unmask
from .dtypes import _STRING
from .entries import BundleEntry
from .index import BundleIndex
from .rows import Files, _data_file, _resolve, _what, crc_error, damaged_error
from .verify import _VARINT_BLOCK, _decode_varints, _length_bytes, _Stream
from .wire import _Malformed

__all__ = ["StringSpan", "read_string_rows", "read_strings", "verify_string_rows"]

StringSpan = tuple[int, int, int, int]
"""Where rows of a string tensor lie: their lengths' bytes ``[v0, v1)`` and their characters
``[d0, d1)``, both counted from the entry's first byte."""


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
            raise damaged_error(entry, f.path, e) from None
        if crc != unmask(entry.crc32c):
            raise crc_error(entry, f.path, crc)
    return lengths, data


def _decode(buf: np.ndarray, entry: BundleEntry, endianness: str) -> tuple[np.ndarray, np.ndarray, int]:
    n = entry.num_elements
    parts, used, count = [], 0, 0
    while count < n:  # in blocks: the scan for varint ends must not see the string bytes
        part, step = _decode_varints(buf[used : used + _VARINT_BLOCK], n - count)
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


def verify_string_rows(src: Files, index: BundleIndex, key: str | BundleEntry, ranges: list[tuple[int, int]],
                       chunk_bytes: int) -> tuple[tuple[int, ...], tuple[StringSpan, ...]]:
    """Check a string tensor against its stored crc32c, streaming (bounded memory), and for
    each row range (sorted, not overlapping) find where its bytes lie and fingerprint them:
    the crc32c of its lengths' bytes followed by its characters, which is what
    :func:`read_string_rows` reads back."""
    entry = _resolve(index, key)
    if entry.dtype.enum != _STRING or entry.sliced or not entry.shape:
        raise ValueError(f"{_what(entry)} is not an unsliced string tensor with rows")
    per_row = entry.num_elements // entry.shape[0] if entry.shape[0] else 0
    marks = [(a * per_row, b * per_row, k) for k, (a, b) in enumerate(ranges) if a < b]
    order = "<" if index.header.endianness == "little" else ">"
    with _data_file(src, index, entry) as f:
        stream = _Stream(f, chunk_bytes)
        try:
            return _scan(stream, entry, order, marks, len(ranges))
        except _Malformed as e:
            raise damaged_error(entry, f.path, e) from None
        except _Mismatch as e:
            raise crc_error(entry, f.path, e.args[0]) from None


class _Mismatch(Exception):
    """The whole tensor's crc (args[0]) differs from the stored one."""


def _scan(stream: _Stream, entry: BundleEntry, order: str, marks: list[tuple[int, int, int]],
          count: int) -> tuple[tuple[int, ...], tuple[StringSpan, ...]]:
    spans = [[0, 0, 0, 0] for _ in range(count)]
    heads: list[list[tuple[int, int]]] = [[] for _ in range(count)]  # crcs of each range's length bytes
    crc, left, elem, at, chars = 0, entry.num_elements, 0, 0, 0
    m = 0
    while left:
        data = stream.peek(10)
        lengths, used = _decode_varints(data[:_VARINT_BLOCK], left)
        if not used:
            raise _Malformed("the string lengths run past the entry's size")
        ends = np.flatnonzero(data[:used] < 0x80) + 1  # byte after each element's varint
        sums = np.cumsum(lengths, dtype=np.uint64)
        hi_elem = elem + len(lengths)
        while m < len(marks) and marks[m][0] < hi_elem:  # ranges that start or go on here
            a, b, k = marks[m]
            lo, hi = max(a, elem) - elem, min(b, hi_elem) - elem
            byte_lo = int(ends[lo - 1]) if lo else 0
            byte_hi = int(ends[hi - 1])
            if a >= elem:
                spans[k][0], spans[k][2] = at + byte_lo, chars + (int(sums[lo - 1]) if lo else 0)
            heads[k].append((_crc_extend(0, data[byte_lo:byte_hi]), byte_hi - byte_lo))
            if b > hi_elem:
                break  # the range goes on in the next block
            spans[k][1], spans[k][3] = at + byte_hi, chars + int(sums[hi - 1])
            m += 1
        crc = _crc_extend(crc, _length_bytes(lengths, order))
        stream.lo += used
        at += used
        chars += int(sums[-1])
        elem = hi_elem
        left -= len(lengths)
    checksum = stream.take(4)
    stored = int.from_bytes(checksum.tobytes(), "little" if order == "<" else "big")
    if unmask(stored) != crc:
        raise _Malformed(f"the checksum of its string lengths does not match (stored {unmask(stored):08x}, "
                         f"computed {crc:08x})")
    crc = _crc_extend(crc, checksum)
    if chars != stream.remaining:
        raise _Malformed(f"its strings add up to {chars} bytes but {stream.remaining} are stored")
    tails: list[list[tuple[int, int]]] = [[] for _ in range(count)]
    pos, m2 = 0, 0
    by_chars = sorted((spans[k][2], spans[k][3], k) for _, _, k in marks)
    while pos < chars:  # the characters, split at the ranges' edges
        data = stream.peek(1)
        n = min(len(data), chars - pos)
        end = pos + n
        cut_pos = pos
        while cut_pos < end:
            while m2 < len(by_chars) and by_chars[m2][1] <= cut_pos:
                m2 += 1
            inside = m2 < len(by_chars) and by_chars[m2][0] <= cut_pos
            cut = min(end, by_chars[m2][1] if inside else by_chars[m2][0] if m2 < len(by_chars) else end)
            piece = data[cut_pos - pos : cut - pos]
            crc = _crc_extend(crc, piece)
            if inside:
                tails[by_chars[m2][2]].append((_crc_extend(0, piece), cut - cut_pos))
            cut_pos = cut
        stream.lo += n
        pos = end
    if crc != unmask(entry.crc32c):
        raise _Mismatch(crc)
    crcs = []
    for k in range(count):
        joined = CrcJoiner()
        for piece_crc, size in heads[k] + tails[k]:
            joined.add(piece_crc, size)
        crcs.append(joined.value)
    first_char = at + 4  # the characters start after the lengths and their checksum
    return tuple(crcs), tuple((a, b, c + first_char, d + first_char) for a, b, c, d in spans)


def read_string_rows(src: Files, index: BundleIndex, key: str | BundleEntry,
                     span: StringSpan) -> tuple[np.ndarray, np.ndarray, int]:
    """The rows of a string tensor at ``span`` (from :func:`verify_string_rows`): their
    lengths, their characters, and the crc32c of the bytes read (to compare with the
    range's fingerprint before use)."""
    entry = _resolve(index, key)
    v0, v1, d0, d1 = span
    heads = np.empty(v1 - v0, np.uint8)
    chars = np.empty(d1 - d0, np.uint8)
    with _data_file(src, index, entry) as f:
        f.read_into(heads, entry.offset + v0)
        f.read_into(chars, entry.offset + d0)
    crc = _crc_extend(_crc_extend(0, heads), chars)
    n = int(np.count_nonzero(heads < 0x80))
    lengths, used = _decode_varints(heads, n) if n else (np.empty(0, np.uint64), 0)
    if used != len(heads) or int(lengths.sum(dtype=np.uint64)) != len(chars):
        lengths = np.zeros(0, np.uint64)  # damaged: the crc comparison reports it
    return lengths, chars, crc
