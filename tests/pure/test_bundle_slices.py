"""Tensor slices and their OrderedCode index keys (``bundle.slices``). No TensorFlow: the keys
below are the ones TF 2.21's SaveV2 wrote (test_bundle_index.py holds that index whole), the
numbers follow OrderedCode's rule (tensorflow/core/lib/strings/ordered_code.cc)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmstart.sources.bundle import Extent, TensorSlice, decode_slice_key, slice_key
from warmstart.sources.bundle.slices import _num_increasing, _read_signed, _signed_increasing

INT64 = st.integers(-(1 << 63), (1 << 63) - 1)


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        (0, "80"),
        (1, "81"),
        (-1, "7f"),
        (63, "bf"),  # the largest one-byte number: 6 value bits after "10"
        (-64, "40"),
        (64, "c040"),  # two bytes: "110" then 13 value bits
        (-65, "3fbf"),
        (0x424242, "f0424242"),  # the two worked examples of ordered_code.cc
        (-0x800, "3800"),
        ((1 << 63) - 1, "ffc07fffffffffffffff"),  # int64 extremes: ten bytes, "1111111111 0" then 69 bits
        (-(1 << 63), "003f8000000000000000"),
    ],
)
def test_signed_numbers(value, raw):
    assert _signed_increasing(value) == bytes.fromhex(raw)
    assert _read_signed(bytes.fromhex(raw), 0) == (value, len(raw) // 2)


def test_unsigned_numbers():
    assert _num_increasing(0) == b"\x00"
    assert _num_increasing(1) == b"\x01\x01"
    assert _num_increasing(255) == b"\x01\xff"
    assert _num_increasing(256) == b"\x02\x01\x00"


@settings(max_examples=300, deadline=None)
@given(INT64, INT64)
def test_signed_numbers_sort_as_the_numbers_do(a, b):
    ka, kb = _signed_increasing(a), _signed_increasing(b)
    assert (ka < kb) == (a < b) and (ka == kb) == (a == b)
    assert _read_signed(ka + b"\x00tail", 0) == (a, len(ka))


# keys TF 2.21's SaveV2 wrote for a [4, 2] tensor "t" saved as "4 2 0,2:-" and "4 2 2,2:-"
TF_KEYS = [
    ("0074000101028082807f", TensorSlice((Extent(0, 2), Extent(0, None)))),
    ("0074000101028282807f", TensorSlice((Extent(2, 2), Extent(0, None)))),
]


@pytest.mark.parametrize(("raw", "part"), TF_KEYS)
def test_keys_as_tf_wrote_them(raw, part):
    assert slice_key("t", part) == bytes.fromhex(raw)
    assert decode_slice_key(bytes.fromhex(raw)) == ("t", part)


def test_name_escapes():
    # \x00 -> \x00\xff, \xff -> \xff\x00 (a key's undecodable bytes are surrogates: surrogateescape)
    assert slice_key("\x00\udcff", TensorSlice(())) == b"\x00" + b"\x00\xff\xff\x00" + b"\x00\x01" + b"\x00"
    assert decode_slice_key(b"\x00\x00\xff\xff\x00\x00\x01\x00") == ("\x00\udcff", TensorSlice(()))


NAMES = st.text(
    alphabet=st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from("\x00\udc80\udcff")),
    max_size=20,
)
EXTENTS = st.builds(
    Extent, st.integers(0, 1 << 62), st.one_of(st.none(), st.integers(0, 1 << 62))
)


@settings(max_examples=300, deadline=None)
@given(NAMES, st.lists(EXTENTS, max_size=8))
def test_slice_key_round_trip(name, extents):
    part = TensorSlice(tuple(extents))
    raw = slice_key(name, part)
    assert raw.startswith(b"\x00")  # sorts before every plain key (TF's rule, and read_index's test)
    assert decode_slice_key(raw) == (name, part)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40))
def test_decoding_garbage_raises_value_error_only(raw):
    try:
        name, part = decode_slice_key(b"\x00" + raw)
    except ValueError as e:
        assert "is not a tensor-slice key" in str(e)
    else:
        assert isinstance(name, str) and isinstance(part, TensorSlice)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "bad OrderedCode number"),
        ("0101", "must start with the number 0"),
        ("00616263", "no terminator"),
        ("0074", "no terminator"),
        ("00740002", "bad escape"),
        ("0074000109", "bad OrderedCode number"),  # a 9-byte rank
        ("00740001", "bad OrderedCode number"),  # no rank
        ("007400010101", "is missing"),  # rank 1, no extent
        ("00740001010180", "is missing"),  # a start, no length
        ("00740001010180ff", "cut short"),
        ("00740001010180ffc0", "bad signed"),  # a ten-byte length with one byte there
        ("0074000101018080ff", "trailing bytes"),
    ],
)
def test_bad_slice_keys(raw, why):
    with pytest.raises(ValueError, match=f"is not a tensor-slice key: .*{why}"):
        decode_slice_key(bytes.fromhex(raw))


def test_tensor_slice_geometry():
    s = TensorSlice((Extent(2, 3), Extent(0, None)))
    assert s.bounds((10, 4)) == ((2, 5), (0, 4))
    assert s.shape((10, 4)) == (3, 4)
    assert s.spec == "2,3:-"
    assert s.rows_only((10, 4))
    assert TensorSlice((Extent(2, 3), Extent(0, 4))).rows_only((10, 4))  # TF 2.21 writes "0,4", not "-"
    assert not TensorSlice((Extent(0, 10), Extent(1, 2))).rows_only((10, 4))
    with pytest.raises(ValueError):
        s.bounds((10,))  # rank mismatch
