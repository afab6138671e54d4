"""TF's masked crc32c (``bundle.checksum``). No TensorFlow: the crc32c values are the published
CRC-32C check value and RFC 3720's test vectors, the masked ones are what TF 2.21 stored in a
checkpoint index (the one in test_bundle_index.py)."""

from __future__ import annotations

import google_crc32c
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmstart.sources.bundle import CrcJoiner, crc_combine, mask, unmask
from warmstart.sources.bundle.checksum import _crc_extend

CHECK = b"123456789"
CHECK_CRC = 0xE3069283  # the CRC-32C (Castagnoli) check value of "123456789"

# RFC 3720 (iSCSI), appendix B.4: 32-byte messages and their CRC-32C
RFC3720 = [
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]

# float32 little-endian tensors and the masked crc32c TF 2.21 wrote for them in a bundle index
TF_STORED = [
    ([1.0, 2.0], 0x35E53C59),
    ([0.0, 1.0, 2.0, 3.0], 0x32EB8D93),
    ([4.0, 5.0, 6.0, 7.0], 0xAABBE7F8),
]


def test_the_crc32c_library_is_castagnoli():
    assert google_crc32c.value(CHECK) == CHECK_CRC
    for data, crc in RFC3720:
        assert google_crc32c.value(data) == crc


@pytest.mark.parametrize(("data", "crc"), [(CHECK, CHECK_CRC), *RFC3720])
def test_crc_extend_of_bytes_and_arrays(data, crc):
    assert _crc_extend(0, data) == crc
    array = np.frombuffer(data, np.uint8).copy()
    assert _crc_extend(0, array) == crc
    assert array.flags.writeable  # it checksums a read-only view, not the caller's array
    for cut in range(len(data) + 1):  # streamed in two pieces, as verify does
        assert _crc_extend(_crc_extend(0, array[:cut]), array[cut:]) == crc


def test_mask_known_values():
    assert mask(0) == 0xA282EAD8  # kMaskDelta in tensorflow/core/lib/hash/crc32c.h
    assert mask(1) == 0xA284EAD8  # 1 rotated right by 15 is 1 << 17
    assert mask(0x8000) == 0xA282EAD9  # bit 15 rotates to bit 0
    assert unmask(0xA282EAD8) == 0


@pytest.mark.parametrize(("values", "stored"), TF_STORED)
def test_mask_matches_what_tf_stored(values, stored):
    crc = google_crc32c.value(np.asarray(values, "<f4").tobytes())
    assert mask(crc) == stored
    assert unmask(stored) == crc


def test_masking_changes_the_crc():
    """LevelDB's crc32c test: a masked crc differs from the crc, and masking twice differs again."""
    crc = google_crc32c.value(b"foo")
    assert mask(crc) != crc
    assert mask(mask(crc)) != crc
    assert unmask(unmask(mask(mask(crc)))) == crc


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 0xFFFFFFFF))
def test_mask_unmask_round_trip(crc):
    assert 0 <= mask(crc) <= 0xFFFFFFFF
    assert unmask(mask(crc)) == crc
    assert mask(unmask(crc)) == crc


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_crc_combine_is_the_crc_of_the_concatenation(a, b):
    assert crc_combine(google_crc32c.value(a), google_crc32c.value(b), len(b)) == google_crc32c.value(a + b)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_the_joiner_gives_the_crc_of_every_piece_in_order(pieces):
    joined = CrcJoiner()
    for p in pieces:
        joined.add(google_crc32c.value(p), len(p))
    assert joined.value == google_crc32c.value(b"".join(pieces))


def test_crc_combine_over_long_lengths():
    block = np.random.default_rng(0).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    whole = google_crc32c.value(block * 3)
    one = google_crc32c.value(block)
    assert crc_combine(crc_combine(one, one, len(block)), one, len(block)) == whole
