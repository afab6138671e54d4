"""Streamed crc32c checks of a tensor's bytes against the checksum TF stored, string and
variant tensors included."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from ...errors import CheckpointReadError
from .checksum import _U32, CrcJoiner, _crc_extend, unmask
from .dtypes import _STRING, _VARIANT
from .entries import BundleEntry
from .index import BundleIndex
from .rows import Files, _data_file, _DataFile, _resolve, _what, crc_error, damaged_error
from .wire import _Malformed, _varint


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


def verify(src: Files, index: BundleIndex, key: str | BundleEntry, chunk_bytes: int = 64 << 20,
           ranges: Sequence[tuple[int, int]] = ()) -> tuple[int, ...]:
    """Check a tensor's bytes against the crc32c TF stored, streaming ``chunk_bytes`` at a
    time; a sliced tensor is checked slice by slice. Raises CheckpointReadError naming the
    key and the file on a mismatch, a truncated file or a malformed string/variant tensor.

    ``ranges`` (row ranges ``[start, stop)`` of a row-readable tensor, sorted, not
    overlapping) are fingerprinted in the same pass; of a tensor stored in slices, only the
    slices that hold rows of the ranges are read (each checked whole against its own
    crc32c). The result is the crc32c of each range's
    bytes, row-major as :func:`read_rows` returns them, so that a later read of the range can
    be checked against the bytes verified now. Each byte is checksummed once (the crcs of
    the pieces are combined, :class:`CrcJoiner`)."""
    entry = _resolve(index, key)
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    if ranges and not entry.row_readable:
        raise ValueError(f"{_what(entry)} cannot be fingerprinted by rows")
    spans: dict[int, list[tuple[int, int, int]]] = {}  # range -> (row-major byte, crc, length)
    row_bytes = (entry.dtype.itemsize or 0) * (entry.num_elements // entry.shape[0]) if ranges and entry.shape[0] else 0
    for part in index.parts(entry.key) if entry.sliced else (entry,):
        first = 0 if part is entry else part.part.extents[0].bounds(entry.shape[0])[0]  # type: ignore[union-attr]
        marks = _marks(ranges, first, part.shape[0] if part.shape else 0, row_bytes)
        if part is not entry and ranges and not marks:
            continue  # a stored slice no range reads: never read, so not checked either
        with _data_file(src, index, part) as f:
            pieces = _verify_one(f, part, index.header.endianness, chunk_bytes, marks)
        for k, at, crc, n in pieces:
            spans.setdefault(k, []).append((first * row_bytes + at, crc, n))
    out = []
    for k, (start, stop) in enumerate(ranges):
        joined, reached = CrcJoiner(), start * row_bytes
        for at, crc, n in sorted(spans.get(k, ())):
            if at != reached:
                break
            joined.add(crc, n)
            reached += n
        if reached != stop * row_bytes:
            raise CheckpointReadError(
                f"{_what(entry)} in {index.prefix!r}: its stored slices do not cover rows "
                f"[{start}, {stop}).\n  Fix: the checkpoint is incomplete; use another one."
            )
        out.append(joined.value)
    return tuple(out)


def _marks(ranges: Sequence[tuple[int, int]], first: int, rows: int, row_bytes: int) -> list[tuple[int, int, int]]:
    """The byte spans ``(lo, hi, range number)`` of the ranges within one stored piece whose
    first row is ``first`` (bytes counted from the piece's start)."""
    marks = []
    for k, (start, stop) in enumerate(ranges):
        a, b = max(start, first), min(stop, first + rows)
        if a < b:
            marks.append(((a - first) * row_bytes, (b - first) * row_bytes, k))
    return marks


def _verify_one(f: _DataFile, entry: BundleEntry, endianness: str, chunk: int,
                marks: list[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    stream = _Stream(f, chunk)
    pieces: list[tuple[int, int, int, int]] = []
    try:
        if entry.dtype.enum == _STRING:
            crc = _string_crc(stream, entry, endianness)
        elif entry.dtype.enum == _VARIANT:
            crc = _variant_crc(stream, entry, endianness)
        else:
            crc, pieces = _pipelined_crc(f, entry.offset, entry.size, chunk, marks)
    except _Malformed as e:
        raise damaged_error(entry, f.path, e) from None
    if crc != unmask(entry.crc32c):
        raise crc_error(entry, f.path, crc)
    return pieces


def _pipelined_crc(f: _DataFile, offset: int, size: int, chunk: int,
                   marks: Sequence[tuple[int, int, int]] = ()) -> tuple[int, list[tuple[int, int, int, int]]]:
    """crc32c of ``size`` bytes at ``offset``, and the crcs of the pieces that lie in the
    marked spans ``(lo, hi, tag)`` (sorted, relative to ``offset``), as ``(tag, lo, crc, n)``.

    The next half-chunk is read in a thread while the current one is checksummed: preadv
    releases the GIL and crc32c does not, so the two overlap and a warm-cache pass costs
    about one read instead of a read plus a checksum."""
    half = max(1 << 16, min(chunk // 2, size))
    buffers = (np.empty(half, np.uint8), np.empty(half, np.uint8))

    def load(k: int, at: int) -> np.ndarray:
        n = min(half, offset + size - at)
        f.read_into(buffers[k][:n], at)
        return buffers[k][:n]

    whole, pieces, m = CrcJoiner(), [], 0
    at, k = offset, 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, k, at) if size else None
        while pending is not None:
            data = pending.result()
            base, end = at - offset, at - offset + len(data)
            at += len(data)
            k ^= 1
            pending = pool.submit(load, k, at) if at < offset + size else None
            pos = base
            while pos < end:  # split at the marks' edges: each piece in one mark or none
                while m < len(marks) and marks[m][1] <= pos:
                    m += 1
                inside = m < len(marks) and marks[m][0] <= pos
                cut = min(end, marks[m][1] if inside else marks[m][0] if m < len(marks) else end)
                crc = _crc_extend(0, data[pos - base : cut - base])
                whole.add(crc, cut - pos)
                if inside:
                    pieces.append((marks[m][2], pos, crc, cut - pos))
                pos = cut
    return whole.value, pieces


_VARINT_BLOCK = 1 << 16  # bytes of string lengths decoded at a time (the scan takes 8x that)


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
        lengths, used = _decode_varints(data[:_VARINT_BLOCK], left)
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
