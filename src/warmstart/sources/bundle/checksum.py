"""TF's masked crc32c: :func:`mask` / :func:`unmask` and a copy-free running crc."""

from __future__ import annotations

from typing import ClassVar

import google_crc32c
import numpy as np

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF

def mask(crc: int) -> int:
    """TF's stored form of a crc32c: rotate right by 15 bits, add ``0xa282ead8``."""
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def unmask(masked: int) -> int:
    """The crc32c whose :func:`mask` is ``masked``."""
    rot = (masked - _MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32


def _crc_extend(crc: int, data: bytes | np.ndarray) -> int:
    """``google_crc32c.extend`` without a copy: it takes only read-only buffers, so numpy
    chunks are passed as a read-only view (bytes as they are)."""
    if isinstance(data, np.ndarray):
        view = data.view()
        view.flags.writeable = False
        try:
            return google_crc32c.extend(crc, view)
        except TypeError:  # a build that rejects array buffers: pay one copy
            return google_crc32c.extend(crc, view.tobytes())
    return google_crc32c.extend(crc, data)


# crc32c_combine, as zlib's crc32_combine does it for its own polynomial: the crc of A+B from
# crc(A), crc(B) and len(B), by multiplying crc(A) by x^(8 len(B)) modulo the polynomial (in
# the reflected bit order CRC-32C uses). It lets one pass over a tensor's bytes give both the
# crc of every row range and the crc of the whole, each byte checksummed once.
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_X0 = 1 << 31  # the polynomial 1 (x^0) in reflected order


def _multmodp(a: int, b: int) -> int:
    """a(x) * b(x) modulo the polynomial, both reflected."""
    m, p = _X0, 0
    while m and a:
        if a & m:
            p ^= b
            a ^= m
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


_X2N = [_X0 >> 1]  # x^(2^k) mod p for k = 0..31
for _ in range(31):
    _X2N.append(_multmodp(_X2N[-1], _X2N[-1]))


def _x8nmodp(n: int) -> int:
    """x^(8n) mod p: the factor that shifts a crc over n more bytes."""
    p, k = _X0, 3
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


class CrcJoiner:
    """Joins crcs of consecutive pieces into the crc of the whole: ``add(crc, n)`` appends a
    piece of ``n`` bytes whose crc32c is ``crc``; ``value`` is the crc32c of everything
    appended. Shift factors are cached by length (a stream has a few distinct piece sizes)."""

    _factors: ClassVar[dict[int, int]] = {}

    def __init__(self) -> None:
        self.value = 0

    def add(self, crc: int, n: int) -> None:
        if not n:
            return
        factor = self._factors.get(n)
        if factor is None:
            factor = self._factors[n] = _x8nmodp(n)
            if len(self._factors) > 4096:  # bounded: odd sizes from many tensors
                self._factors.clear()
        self.value = _multmodp(factor, self.value) ^ crc if self.value else crc


def crc_combine(crc1: int, crc2: int, len2: int) -> int:
    """The crc32c of ``A + B`` from ``crc1 = crc32c(A)``, ``crc2 = crc32c(B)``, ``len2 = len(B)``."""
    return _multmodp(_x8nmodp(len2), crc1) ^ crc2 if len2 else crc1
