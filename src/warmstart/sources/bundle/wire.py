"""Protobuf wire format: base-128 varints, fields, and ``_Malformed``, the internal error
that callers turn into CheckpointReadError naming the file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


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
