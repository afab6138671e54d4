"""Protobuf wire parsing of the bundle reader (``bundle.wire``), and the numpy varint decoder
the string checksum uses. No TensorFlow: the expected bytes are protobuf's documented encodings
(https://protobuf.dev/programming-guides/encoding/) and a reference encoder written here."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmstart.sources.bundle.verify import _decode_varints
from warmstart.sources.bundle.wire import _Field, _fields, _Malformed, _signed, _varint

U64 = (1 << 64) - 1


def encode_varint(n: int) -> bytes:
    """Base-128, least significant group first, high bit = more follows (the protobuf rule)."""
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("00", 0),
        ("01", 1),
        ("7f", 127),
        ("8001", 128),
        ("9601", 150),  # the encoding guide's example
        ("ac02", 300),
        ("ffffffff0f", 0xFFFFFFFF),
        ("ffffffffffffffffff01", U64),  # ten bytes: int64 -1 on the wire
    ],
)
def test_varint_known_encodings(raw, value):
    buf = bytes.fromhex(raw)
    assert _varint(buf, 0) == (value, len(buf))
    assert _varint(b"\xaa" + buf + b"\x05", 1) == (value, 1 + len(buf))  # from an offset, stops at its end


def test_varint_from_numpy_bytes_does_not_overflow():
    """_Stream hands _varint numpy uint8 chunks; a high group must not wrap at 8 bits."""
    data = np.frombuffer(bytes.fromhex("ffffffffffffffffff01"), np.uint8)
    assert _varint(data, 0) == (U64, 10)


@pytest.mark.parametrize("raw", ["", "80", "ff", "9680", "ffffffffffffffffff"])
def test_truncated_varint(raw):
    with pytest.raises(_Malformed, match="runs past the end"):
        _varint(bytes.fromhex(raw), 0)


def test_varint_stops_at_limit():
    with pytest.raises(_Malformed, match="runs past the end"):
        _varint(bytes.fromhex("9601"), 0, limit=1)


@pytest.mark.parametrize("raw", ["80" * 10 + "01", "ff" * 11, "80" * 10])
def test_overlong_varint(raw):
    with pytest.raises(_Malformed, match="longer than 10 bytes"):
        _varint(bytes.fromhex(raw), 0)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, U64))
def test_varint_round_trip(n):
    raw = encode_varint(n)
    assert _varint(raw, 0) == (n, len(raw))


def test_signed_two_complement():
    assert _signed(U64) == -1
    assert _signed(1 << 63) == -(1 << 63)
    assert _signed((1 << 63) - 1) == (1 << 63) - 1
    assert _signed(U64, 32) == -1  # int32 -1 is sign-extended to ten bytes on the wire
    assert _signed((1 << 31) - 1, 32) == (1 << 31) - 1
    with pytest.raises(_Malformed, match="int32"):
        _signed(1 << 31, 32)


def test_fields_of_each_wire_type():
    buf = (
        bytes.fromhex("089601")  # field 1, varint 150
        + bytes.fromhex("1207") + b"testing"  # field 2, length-delimited
        + bytes.fromhex("35593ce535")  # field 6, fixed32 (a crc32c as TF stores it)
        + bytes.fromhex("410102030405060708")  # field 8, fixed64
        + bytes.fromhex("f80701")  # field 127 (a two-byte tag), varint 1
    )
    assert list(_fields(buf)) == [
        _Field(1, 0, 150),
        _Field(2, 2, b"testing"),
        _Field(6, 5, 0x35E53C59),
        _Field(8, 1, 0x0807060504030201),
        _Field(127, 0, 1),
    ]
    assert list(_fields(b"")) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0001", "number 0"),
        ("0b", "wire type 3"),  # groups are not valid in bundle protos
        ("0c", "wire type 4"),
        ("0e", "wire type 6"),
        ("0f", "wire type 7"),
        ("08", "varint runs past the end"),
        ("0896", "varint runs past the end"),
        ("1205616263", "length-delimited field runs past the end"),
        ("12", "varint runs past the end"),
        ("35010203", "fixed-width field runs past the end"),
        ("0901020304050607", "fixed-width field runs past the end"),
    ],
)
def test_malformed_fields(raw, message):
    with pytest.raises(_Malformed, match=message):
        list(_fields(bytes.fromhex(raw)))


def test_field_accessors_check_the_wire_type():
    assert _Field(1, 0, U64).varint("dtype") == -1
    assert _Field(6, 5, 7).fixed32("crc32c") == 7
    assert _Field(2, 2, b"x").message("shape") == b"x"
    with pytest.raises(_Malformed, match="field dtype has wire type 2, expected 0"):
        _Field(1, 2, b"x").varint("dtype")
    with pytest.raises(_Malformed, match="field crc32c has wire type 0, expected 5"):
        _Field(6, 0, 7).fixed32("crc32c")
    with pytest.raises(_Malformed, match="field shape has wire type 0, expected 2"):
        _Field(2, 0, 1).message("shape")


def test_repeated_int32_packed_and_not():
    (packed,) = _fields(bytes.fromhex("2206038e029ea705"))  # the encoding guide's packed example
    assert packed.int32s("bad_consumers") == [3, 270, 86942]
    assert _Field(4, 0, 3).int32s("bad_consumers") == [3]
    assert _Field(4, 0, U64).int32s("bad_consumers") == [-1]
    with pytest.raises(_Malformed, match="runs past the end"):
        _Field(4, 2, bytes.fromhex("038e")).int32s("bad_consumers")


# ----------------------------------------------------------------------------- numpy varints


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, U64), max_size=40), st.integers(1, 50))
def test_decode_varints_matches_the_reference_encoding(values, limit):
    raw = b"".join(encode_varint(v) for v in values)
    got, used = _decode_varints(np.frombuffer(raw + b"\x80\x80", np.uint8), limit)  # + a cut-off one
    want = values[:limit]
    assert [int(v) for v in got] == want
    assert used == sum(len(encode_varint(v)) for v in want)


def test_decode_varints_edges():
    got, used = _decode_varints(np.frombuffer(b"\x96", np.uint8), 5)  # only a cut-off varint
    assert (len(got), used) == (0, 0)
    with pytest.raises(_Malformed, match="longer than 10 bytes"):
        _decode_varints(np.frombuffer(b"\x80" * 10, np.uint8), 5)
    with pytest.raises(_Malformed, match="longer than 10 bytes"):
        _decode_varints(np.frombuffer(b"\x01" + b"\x80" * 10 + b"\x01", np.uint8), 5)
