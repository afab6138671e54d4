"""Tensor slices (TF's ``TensorSliceProto``) and the OrderedCode index keys of stored slices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .wire import _Malformed


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
